/**
 * Text in and text out (issue 12): the contract between the checkpoint's tokenizer and chat
 * template (runtime/text/, from tokenizer.json and tokenizer_config.json) and what serves text
 * (`Runtime.generate` with a string, the OpenAI-compatible routes of runtime/serving/http.ts).
 * The batching server itself works on token ids only.
 */

/** One chat message, as OpenAI's chat API and Hugging Face chat templates take it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  content: string;
}

/** A checkpoint's tokenizer and chat template. */
export interface TextCodec {
  /** Ids of `text`; `addSpecialTokens` (default true) adds what the tokenizer's post-processor adds (e.g. BOS). */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids`; `skipSpecialTokens` default true. */
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** A decoder that turns ids into text as they arrive, holding back bytes of an unfinished character. */
  streamDecoder(opts?: { skipSpecialTokens?: boolean }): StreamDecoder;
  /** Whether the checkpoint ships a chat template (else chat requests are refused with a clear error). */
  readonly hasChatTemplate: boolean;
  /**
   * The prompt text for `messages` through the checkpoint's chat template. `variables`:
   * more template variables, as transformers' `apply_chat_template(**kwargs)` passes them
   * (e.g. Qwen3's `enable_thinking`); they override the special tokens of the same name.
   */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    opts?: { addGenerationPrompt?: boolean; variables?: Readonly<Record<string, unknown>> },
  ): string;
  /** Token ids that end a generation (the config's eos_token_id, one or several). */
  readonly eosIds: readonly number[];
}

export interface StreamDecoder {
  /** The text that `id` completes (possibly empty). */
  push(id: number): string;
  /** What is held back at the end (an unfinished character decodes to U+FFFD). */
  flush(): string;
}

/** How the next token is chosen from the logits. temperature 0 (or absent): greedy (argmax). */
export interface SamplingOptions {
  /** > 0 samples from softmax(logits / temperature); 0: greedy. */
  temperature?: number;
  /** Nucleus: the smallest set of most likely tokens whose probability reaches topP (0 < topP ≤ 1). */
  topP?: number;
  /** Only the topK most likely tokens (≥ 1; absent or 0: all). */
  topK?: number;
  /** Seeds the request's random stream: the same seed, prompt and options give the same tokens. */
  seed?: number;
}
