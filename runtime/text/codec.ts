/**
 * A checkpoint's tokenizer and chat template (`TextCodec`, runtime/text/types.ts), from the
 * files Hugging Face puts beside the weights:
 *
 * - `tokenizer.json`: the tokenizer (normalizer, pre-tokenizer, model, post-processor,
 *   decoder), run by Hugging Face's own JS port (@huggingface/tokenizers);
 * - `tokenizer_config.json`: the special tokens (`bos_token`, `eos_token`, …) and the
 *   `chat_template` (`chat_template.jinja` beside it wins, as in transformers), rendered by Hugging Face's Jinja (@huggingface/jinja) with the
 *   variables transformers passes (`apply_chat_template`: `messages`, `add_generation_prompt`,
 *   and the special-tokens map — `template_kwargs = {**self.special_tokens_map, **kwargs}`,
 *   src/transformers/tokenization_utils_base.py);
 * - `generation_config.json`, else `config.json`: `eos_token_id` (one id or a list), the
 *   ids that end a generation, together with the tokenizer's `eos_token`.
 *
 * Every problem with these files is a `TextCodecError` that names the file and what is wrong.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { LIMITS, limitText } from '../../src/facts/limits.js';
import type { ChatMessage, StreamDecoder, TextCodec } from './types.js';

/** A tokenizer file is missing, too large or malformed, or a chat template fails to render. */
export class TextCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TextCodecError';
  }
}

/** The codec of a checkpoint directory, with what it was read from. */
export interface CheckpointTextCodec extends TextCodec {
  /** The directory the files were read from. */
  readonly dir: string;
  /** Vocabulary size the tokenizer can produce: its largest id + 1 (added tokens included). */
  readonly vocabSize: number;
}

/** The files a directory must hold for `loadTextCodec` (the others are optional). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

/** Whether `dir` holds a tokenizer (`tokenizer.json`), so that `loadTextCodec` applies. */
export function hasTokenizer(dir: string): boolean {
  try {
    return statSync(join(dir, 'tokenizer.json')).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads the tokenizer, chat template and EOS ids of the checkpoint directory `dir`.
 * Throws `TextCodecError` for a missing, oversized or malformed file.
 */
export function loadTextCodec(dir: string): CheckpointTextCodec {
  const tokenizerJson = readJson(dir, 'tokenizer.json', LIMITS.tokenizerFileBytes, true)!;
  const config = readJson(dir, 'tokenizer_config.json', LIMITS.tokenizerConfigBytes, true)!;
  const generation = readJson(dir, 'generation_config.json', LIMITS.tokenizerConfigBytes, false);
  const model =
    generation === undefined || !('eos_token_id' in generation)
      ? readJson(dir, 'config.json', LIMITS.tokenizerConfigBytes, false)
      : undefined;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, config);
  } catch (e) {
    throw new TextCodecError(`${join(dir, 'tokenizer.json')}: not a tokenizer this runtime can load: ${errorText(e)}`);
  }
  const vocabSize = largestId(tokenizer) + 1;
  const eos = new Set<number>();
  const eosFile = generation !== undefined && 'eos_token_id' in generation ? 'generation_config.json' : 'config.json';
  const eosField = generation !== undefined && 'eos_token_id' in generation ? generation.eos_token_id : model?.eos_token_id;
  if (eosField !== undefined && eosField !== null) {
    const ids = Array.isArray(eosField) ? eosField : [eosField];
    for (const id of ids) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= vocabSize)
        throw new TextCodecError(
          `${join(dir, eosFile)}: eos_token_id holds ${JSON.stringify(id)}, not a token id of the tokenizer (an integer from 0 to ${vocabSize - 1})`,
        );
      eos.add(id);
    }
  }
  const eosToken = tokenText(config.eos_token);
  if (eosToken !== undefined) {
    const id = tokenizer.token_to_id(eosToken);
    if (id === undefined)
      throw new TextCodecError(
        `${join(dir, 'tokenizer_config.json')}: eos_token ${JSON.stringify(eosToken)} is not in tokenizer.json's vocabulary`,
      );
    eos.add(id);
  }
  // chat_template.jinja, when present, wins over tokenizer_config.json's chat_template, as in
  // transformers ≥ 4.47 (CHAT_TEMPLATE_FILE, src/transformers/tokenization_utils_base.py).
  const jinja = readText(dir, 'chat_template.jinja', LIMITS.tokenizerConfigBytes);
  const template = jinja ?? config.chat_template;
  const templateFile = join(dir, jinja !== undefined ? 'chat_template.jinja' : 'tokenizer_config.json');
  let chatTemplate: Template | undefined;
  if (template !== undefined && template !== null) {
    const source = templateSource(template, templateFile);
    try {
      chatTemplate = new Template(source);
    } catch (e) {
      throw new TextCodecError(`${templateFile}: chat_template is not a valid template: ${errorText(e)}`);
    }
  }
  return new HfTextCodec(dir, tokenizer, config, [...eos], chatTemplate, templateFile, vocabSize);
}

type Json = Record<string, unknown>;

/** The file's text; undefined when an optional file does not exist. */
function readText(dir: string, name: string, limit: number, required = false): string | undefined {
  const path = join(dir, name);
  const cannot = (e: unknown) =>
    new TextCodecError(
      `${path}: cannot read the tokenizer file (${(e as NodeJS.ErrnoException).code ?? errorText(e)})${required ? `; a checkpoint directory for text needs ${TOKENIZER_FILES.join(' and ')}` : ''}`,
    );
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new TextCodecError(`${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof TextCodecError) throw e;
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cannot(e);
  }
  if (size > limit) throw new TextCodecError(`${path}: ${size} bytes is over the limit of ${limitText(limit)} for this file`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw cannot(e);
  }
}

function readJson(dir: string, name: string, limit: number, required: boolean): Json | undefined {
  const path = join(dir, name);
  const text = readText(dir, name, limit, required);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TextCodecError(`${path}: not valid JSON: ${errorText(e)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TextCodecError(`${path}: must hold a JSON object`);
  return value as Json;
}

/** A special token as tokenizer_config.json writes it: a string or an AddedToken object `{ content }`. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** `chat_template`: a string, or a list of named templates (the one named "default" is used, as transformers does without a name). */
function templateSource(t: unknown, path: string): string {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x): x is Json => typeof x === 'object' && x !== null && (x as Json).name === 'default');
    if (named && typeof named.template === 'string') return named.template;
    throw new TextCodecError(`${path}: chat_template is a list of templates with none named "default"`);
  }
  throw new TextCodecError(`${path}: chat_template must be a string, not ${typeof t}`);
}

function largestId(tokenizer: Tokenizer): number {
  let max = -1;
  for (const id of tokenizer.get_vocab(true).values()) if (id > max) max = id;
  return max;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The special-tokens map transformers adds to the template's variables (`special_tokens_map`). */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

class HfTextCodec implements CheckpointTextCodec {
  private readonly specialTokens: Record<string, unknown> = {};

  constructor(
    readonly dir: string,
    private readonly tokenizer: Tokenizer,
    config: Json,
    readonly eosIds: readonly number[],
    private readonly template: Template | undefined,
    /** Where the template came from (chat_template.jinja or tokenizer_config.json), for messages. */
    private readonly templateFile: string,
    readonly vocabSize: number,
  ) {
    for (const key of SPECIAL_TOKEN_KEYS) {
      const text = tokenText(config[key]);
      if (text !== undefined) this.specialTokens[key] = text;
    }
    const extra = config.additional_special_tokens;
    if (Array.isArray(extra)) this.specialTokens.additional_special_tokens = extra.map(tokenText).filter((s) => s !== undefined);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ''; // the library refuses an empty list
    return this.tokenizer.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  streamDecoder(opts: { skipSpecialTokens?: boolean } = {}): StreamDecoder {
    return new IncrementalDecoder((ids) => this.decode(ids, opts));
  }

  applyChatTemplate(
    messages: readonly ChatMessage[],
    opts: { addGenerationPrompt?: boolean; variables?: Readonly<Record<string, unknown>> } = {},
  ): string {
    if (!this.template)
      throw new TextCodecError(
        `${join(this.dir, 'tokenizer_config.json')} has no chat_template (nor is there a chat_template.jinja): this checkpoint takes plain text prompts, not chat messages`,
      );
    try {
      return this.template.render({
        ...this.specialTokens,
        ...opts.variables,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: opts.addGenerationPrompt ?? true,
      });
    } catch (e) {
      throw new TextCodecError(`the chat template of ${this.templateFile} failed to render: ${errorText(e)}`);
    }
  }
}

/**
 * Decodes ids as they arrive, as Hugging Face's and vLLM's incremental detokenizers do: it
 * decodes a short window of recent ids twice — up to the last emitted id (`read`), and up
 * to the newest — and emits the difference, unless the newest text ends in U+FFFD (bytes
 * of a character not yet complete). Decoding a window rather than one id keeps what
 * depends on the neighbours (a leading space, merged bytes) as the whole decode has it.
 */
export class IncrementalDecoder implements StreamDecoder {
  private readonly ids: number[] = [];
  /** Start of the window: ids before it are emitted and no longer affect the text. */
  private prefix = 0;
  /** Ids before it are emitted. */
  private read = 0;

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  push(id: number): string {
    this.ids.push(id);
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const now = this.decode(this.ids.slice(this.prefix));
    if (now.length <= before.length || now.endsWith('\uFFFD')) return '';
    this.prefix = this.read;
    this.read = this.ids.length;
    return now.slice(before.length);
  }

  flush(): string {
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const now = this.decode(this.ids.slice(this.prefix));
    this.prefix = this.read = this.ids.length;
    return now.length > before.length ? now.slice(before.length) : '';
  }
}
