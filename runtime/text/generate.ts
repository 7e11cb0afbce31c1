/**
 * Text in, text out over a batching server: encode the prompt, generate, decode — with
 * stop strings (the generation ends when the decoded text contains one; the text returned
 * ends before it, as OpenAI's `stop` does) and the checkpoint's EOS ids (unless `ignoreEos`).
 * `onText` streams the text as it is produced, holding back what could still become a stop
 * string, so nothing streamed is ever taken back.
 */
import { InvalidRequestError } from '../serving/errors.js';
import type { FinishReason, GenerateOptions, GenerateResult, Server } from '../serving/server.js';
import type { TextCodec } from './types.js';

export interface TextGenerateOptions extends Omit<GenerateOptions, 'stop' | 'onToken'> {
  /** Stop strings: the generation ends when its text contains one; `text` ends before it. */
  stop?: readonly string[];
  /** Token ids that end the generation besides EOS (as `GenerateOptions.stop`). */
  stopTokens?: readonly number[];
  /** Do not end at the checkpoint's EOS ids (`TextCodec.eosIds`); default false. */
  ignoreEos?: boolean;
  /** Encode a string prompt with the tokenizer's special tokens (e.g. BOS); default true. For a chat-templated prompt pass false: the template writes them. */
  addSpecialTokens?: boolean;
  /** Keep special tokens in the text (default false: they are skipped, as Hugging Face's decode(skip_special_tokens=True)). */
  keepSpecialTokens?: boolean;
  /** Each piece of new text, in order, as soon as it is final (never part of a stop string). Returning true ends the generation ('stop'). */
  onText?: (delta: string) => boolean | void;
  /** Each generated token, in order (as `GenerateOptions.onToken`); returning true ends the generation ('stop'). */
  onToken?: (token: number) => boolean | void;
}

export interface TextGenerateResult {
  /** The generated text: special tokens skipped, cut before a stop string. */
  text: string;
  /** The generated token ids (the prompt excluded), the EOS / stop token or the one completing a stop string included. */
  tokens: number[];
  /** The prompt's token ids as encoded. */
  promptTokens: number[];
  /** 'stop': EOS, a stop token, a stop string or a callback; 'length': maxNewTokens were generated. */
  finish: FinishReason;
  /** The stop string that ended the generation, when one did. */
  stopString?: string;
  timing: GenerateResult['timing'];
}

/** Why `stop` is not a list of stop strings, or undefined. */
export function stopStringsProblem(stop: unknown): string | undefined {
  if (stop === undefined) return undefined;
  if (!Array.isArray(stop)) return 'stop must be an array of strings';
  for (let i = 0; i < stop.length; i++) {
    const s: unknown = stop[i];
    if (typeof s !== 'string' || s.length === 0) return `stop[${i}] must be a non-empty string`;
  }
  return undefined;
}

/**
 * Generates from `prompt` (text, encoded with `codec`, or token ids) on `server`. Rejects as
 * `server.generate` does (ServingError: an empty prompt, too many tokens …); a `stop` that
 * is not a list of non-empty strings rejects with `InvalidRequestError` too.
 */
export async function generateText(
  server: Server,
  codec: TextCodec,
  prompt: string | readonly number[],
  options: TextGenerateOptions,
): Promise<TextGenerateResult> {
  const { stop, stopTokens, ignoreEos, addSpecialTokens, keepSpecialTokens, onText, onToken, ...rest } = options;
  const problem = stopStringsProblem(stop);
  if (problem !== undefined) throw new InvalidRequestError(problem);
  const ids = typeof prompt === 'string' ? codec.encode(prompt, { addSpecialTokens: addSpecialTokens ?? true }) : [...prompt];
  const stopIds = [...(stopTokens ?? []), ...(ignoreEos ? [] : codec.eosIds)];
  const watch = new StopWatcher(stop ?? [], codec.streamDecoder({ skipSpecialTokens: !keepSpecialTokens }), onText);
  const result = await server.generate(ids, {
    ...rest,
    ...(stopIds.length > 0 ? { stop: stopIds } : {}),
    onToken: (token) => {
      // Both run for every token; either may end the generation.
      const byCaller = onToken?.(token) === true;
      const byText = watch.push(token);
      return byCaller || byText;
    },
  });
  watch.end();
  return {
    text: watch.text,
    tokens: result.tokens,
    promptTokens: ids,
    finish: result.finish,
    ...(watch.matched !== undefined ? { stopString: watch.matched } : {}),
    timing: result.timing,
  };
}

/**
 * Decoded text of a generation, watched for stop strings. Text is final (passed to
 * `onText`) once no stop string can start in it: what is held back is the longest tail
 * that is a prefix of some stop string.
 */
export class StopWatcher {
  /** All text decoded so far (cut before the stop string once one is found). */
  private full = '';
  /** Characters of `full` already passed to onText. */
  private emitted = 0;
  private readonly longest: number;
  private stopped = false;
  private ended = false;
  /** The stop string found, if any. */
  matched: string | undefined;

  constructor(
    private readonly stops: readonly string[],
    private readonly decoder: { push(id: number): string; flush(): string },
    private readonly onText: ((delta: string) => boolean | void) | undefined,
  ) {
    this.longest = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  get text(): string {
    return this.full;
  }

  /** Adds a token; true when the generation must end (a stop string is complete, or onText said so). */
  push(token: number): boolean {
    if (this.stopped) return true;
    return this.add(this.decoder.push(token), false);
  }

  /** The generation ended (any reason): the held-back text is final. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.stopped) this.add(this.decoder.flush(), true);
  }

  private add(delta: string, last: boolean): boolean {
    if (delta.length === 0 && !last) return false;
    // Only a stop string that ends in the new text can be new: search from where it could start.
    const from = Math.max(0, this.full.length - this.longest + 1);
    this.full += delta;
    let at = -1;
    for (const s of this.stops) {
      const i = this.full.indexOf(s, from);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        this.matched = s;
      }
    }
    if (at >= 0) {
      this.full = this.full.slice(0, at);
      this.stopped = true;
      this.emit(this.full.length);
      return true;
    }
    return this.emit(last ? this.full.length : this.full.length - this.heldBack());
  }

  /** Length of the longest tail of `full` that is a proper prefix of a stop string. */
  private heldBack(): number {
    const max = Math.min(this.longest - 1, this.full.length);
    for (let n = max; n > 0; n--) {
      const tail = this.full.slice(this.full.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }

  private emit(upTo: number): boolean {
    if (upTo <= this.emitted) return false;
    const delta = this.full.slice(this.emitted, upTo);
    this.emitted = upTo;
    if (this.onText?.(delta) === true) {
      this.stopped = true;
      return true;
    }
    return false;
  }
}
