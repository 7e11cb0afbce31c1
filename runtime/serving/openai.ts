/**
 * The OpenAI-compatible protocol (what vLLM, TGI and llama.cpp's server speak, so that
 * existing clients work): the request bodies of `POST /v1/completions` and
 * `POST /v1/chat/completions` turned into a text generation, the answers and stream chunks
 * in OpenAI's shapes, and its error object. The transport (bodies, limits, SSE, disconnects)
 * is runtime/serving/http.ts; the tokenizer and chat template are the `TextCodec`
 * (runtime/text/types.ts). Fields supported and refused: docs/serving.md.
 *
 * Unknown fields are ignored, as OpenAI-compatible servers do (clients send vendor fields).
 * A known field that would change the answer in a way this server cannot honour (n > 1,
 * logprobs, echo, tools, penalties …) is refused with 400 and its name in `param`, never
 * silently dropped.
 */
import { randomUUID } from 'node:crypto';
import { LIMITS } from '../../src/facts/limits.js';
import { generateText } from '../text/generate.js';
import type { ChatMessage, SamplingOptions, TextCodec } from '../text/types.js';
import { DeadlineError, ServingError } from './errors.js';
import type { GenerateResult, Server } from './server.js';

/** An error as OpenAI answers it: `{ "error": { "message", "type", "param", "code" } }` with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get type(): string {
    return errorType(this.status);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** OpenAI's `type` for a status: what its clients (and vLLM's) put there. */
export function errorType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'server_error';
  if (status === 499) return 'cancelled';
  return 'invalid_request_error';
}

/** A batching-server error as an ApiError (same status and code). */
export function fromServingError(err: ServingError): ApiError {
  return new ApiError(err.status, err.code, err.message);
}

export type Endpoint = 'completion' | 'chat';

/** A parsed request, ready to generate. */
export interface TextRequest {
  endpoint: Endpoint;
  model: string;
  prompt: number[];
  maxNewTokens: number;
  stopStrings: string[];
  sampling: SamplingOptions;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage and no choices. */
  includeUsage: boolean;
  /** vLLM's extensions: keep generating past EOS; more token ids that end the answer. */
  ignoreEos: boolean;
  stopTokenIds: number[];
  /** parplan's extension: the request's time budget, as `deadline_ms` of /v1/generate. */
  deadlineMs?: number;
}

export interface ServedModel {
  /** The id clients send as `model` and /v1/models lists. */
  id: string;
  /** Sequence limit (prompt and output), the plan's seq. */
  maxSeq: number;
  /** Unix seconds when the server started (the model object's `created`). */
  created: number;
  /** Longer prompt text cannot fit `maxSeq` tokens: refused before it is tokenized (see `promptCharsLimit`). */
  maxPromptChars?: number;
}

/**
 * The most characters a prompt that fits `maxSeq` tokens can have, when the codec tells its
 * vocabulary size: `maxSeq` times twice its longest token's text (the margin covers bytes of
 * one character split over tokens and normalizers). Tokenizing is synchronous and costs up
 * to ~20 µs per character (a long run without spaces: 18 s for 1 MiB of "x" with Qwen3's
 * tokenizer), so a body of text far longer than the model can read is refused before it
 * holds the event loop. Decoding every id once takes ~0.3 s for a 150k vocabulary.
 */
export function promptCharsLimit(codec: TextCodec, maxSeq: number): number | undefined {
  if (!longestToken.has(codec)) {
    const vocab = (codec as { vocabSize?: unknown }).vocabSize;
    let longest: number | undefined;
    if (typeof vocab === 'number' && Number.isSafeInteger(vocab) && vocab > 0) {
      longest = 1;
      for (let id = 0; id < vocab; id++) longest = Math.max(longest, codec.decode([id], { skipSpecialTokens: false }).length);
    }
    longestToken.set(codec, longest);
  }
  const longest = longestToken.get(codec);
  return longest === undefined ? undefined : maxSeq * 2 * longest;
}

/** Characters of each codec's longest token (once per codec: it decodes the whole vocabulary). */
const longestToken = new WeakMap<TextCodec, number | undefined>();

type Json = Record<string, unknown>;

/** A value from the request as JSON, cut to LIMITS.messageArgChars: a message never echoes a megabyte back. */
function quote(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > LIMITS.messageArgChars ? `${text.slice(0, LIMITS.messageArgChars)}…` : text;
}

/**
 * Fields that change the answer in ways this server does not support, each with the
 * value(s) that mean "off" (sent by clients that fill in every default). Anything else → 400.
 */
const REFUSED: readonly [field: string, isOff: (v: unknown) => boolean, why: string][] = [
  ['n', (v) => v === 1, 'only n = 1 is supported (one choice per request); send several requests instead'],
  ['best_of', (v) => v === 1, 'only best_of = 1 is supported'],
  ['echo', (v) => v === false, 'echo is not supported (the answer never repeats the prompt)'],
  ['logprobs', (v) => v === false, 'logprobs are not supported'],
  ['top_logprobs', (v) => v === 0, 'logprobs are not supported'],
  ['suffix', (v) => v === '', 'suffix (insertion) is not supported'],
  ['logit_bias', (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0, 'logit_bias is not supported'],
  ['frequency_penalty', (v) => v === 0, 'frequency_penalty is not supported (only 0)'],
  ['presence_penalty', (v) => v === 0, 'presence_penalty is not supported (only 0)'],
  ['tools', (v) => Array.isArray(v) && v.length === 0, 'tools (function calling) are not supported'],
  ['functions', (v) => Array.isArray(v) && v.length === 0, 'functions (function calling) are not supported'],
  ['tool_choice', (v) => v === 'none', 'tools (function calling) are not supported'],
  ['function_call', (v) => v === 'none', 'functions (function calling) are not supported'],
  [
    'response_format',
    (v) => typeof v === 'object' && v !== null && (v as Json).type === 'text',
    'response_format other than {"type": "text"} (JSON mode, schemas) is not supported',
  ],
  ['audio', () => false, 'audio output is not supported'],
  ['modalities', (v) => Array.isArray(v) && v.every((m) => m === 'text'), 'only text output is supported'],
  // vLLM's sampling extensions that this sampler does not have.
  ['repetition_penalty', (v) => v === 1, 'repetition_penalty is not supported (only 1)'],
  ['min_p', (v) => v === 0, 'min_p is not supported (only 0)'],
];

/** The OpenAI default of max_tokens for /v1/completions (chat: up to the sequence limit). */
export const COMPLETION_DEFAULT_MAX_TOKENS = 16;

export function parseCompletionRequest(body: unknown, model: ServedModel, codec: TextCodec): TextRequest {
  const o = commonChecks(body, model);
  const prompt = completionPrompt(o.prompt, (text) => encodeBounded(codec, text, model, 'prompt', true));
  return finishRequest('completion', o, prompt, 'prompt', model);
}

export function parseChatRequest(body: unknown, model: ServedModel, codec: TextCodec): TextRequest {
  const o = commonChecks(body, model);
  const messages = chatMessages(o.messages);
  if (!codec.hasChatTemplate) {
    throw new ApiError(
      400,
      'no_chat_template',
      "the model's tokenizer_config.json has no chat_template, so chat messages cannot be turned into a prompt; use /v1/completions with the prompt text",
      'messages',
    );
  }
  // vLLM's extension: more variables for the template (e.g. Qwen3's enable_thinking), as
  // transformers' apply_chat_template(**kwargs) passes them.
  const kwargs = o.chat_template_kwargs;
  if (kwargs !== undefined && kwargs !== null && (typeof kwargs !== 'object' || Array.isArray(kwargs)))
    throw new ApiError(400, 'invalid_type', '"chat_template_kwargs" must be an object of template variables', 'chat_template_kwargs');
  let text: string;
  try {
    text = codec.applyChatTemplate(messages, {
      addGenerationPrompt: true,
      ...(kwargs ? { variables: kwargs as Record<string, unknown> } : {}),
    });
  } catch (err) {
    // The template's own checks (e.g. "roles must alternate") speak to the caller.
    throw new ApiError(400, 'invalid_messages', `the chat template refused the messages: ${errorText(err)}`, 'messages');
  }
  // The template writes the special tokens (BOS …) itself.
  const prompt = encodeBounded(codec, text, model, 'messages', false);
  return finishRequest('chat', o, prompt, 'messages', model);
}

/** The body as an object; `model` and the refused fields checked. */
function commonChecks(body: unknown, model: ServedModel): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError(400, 'invalid_request', 'the body must be a JSON object');
  const o = body as Json;
  if (o.model !== undefined && o.model !== null) {
    if (typeof o.model !== 'string') throw new ApiError(400, 'invalid_type', '"model" must be a string', 'model');
    if (o.model !== model.id)
      throw new ApiError(
        404,
        'model_not_found',
        `the model ${quote(o.model)} does not exist; this server serves ${JSON.stringify(model.id)}`,
        'model',
      );
  }
  for (const [field, isOff, why] of REFUSED) {
    const v = o[field];
    if (v !== undefined && v !== null && !isOff(v)) throw new ApiError(400, 'unsupported_field', `${field}: ${why}`, field);
  }
  return o;
}

function finishRequest(endpoint: Endpoint, o: Json, prompt: number[], promptParam: string, model: ServedModel): TextRequest {
  const { maxSeq } = model;
  if (prompt.length === 0)
    throw new ApiError(400, 'invalid_value', `the ${promptParam} is empty: at least one token is needed`, promptParam);
  if (prompt.length >= maxSeq) {
    throw new ApiError(
      400,
      'context_length_exceeded',
      `this model's maximum context length is ${maxSeq} tokens (prompt and output); the ${promptParam} has ${prompt.length} tokens, so nothing can be generated`,
      promptParam,
    );
  }
  const room = maxSeq - prompt.length;
  // max_completion_tokens is chat's newer name for max_tokens.
  const maxField = o.max_completion_tokens !== undefined && o.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  const given = optionalInteger(o, maxField, 1);
  if (given !== undefined && given > room) {
    throw new ApiError(
      400,
      'context_length_exceeded',
      `this model's maximum context length is ${maxSeq} tokens; the ${promptParam} has ${prompt.length} tokens and ${maxField} = ${given}, ${prompt.length + given} in all; at most ${room} new tokens fit`,
      maxField,
    );
  }
  const maxNewTokens = given ?? (endpoint === 'completion' ? Math.min(COMPLETION_DEFAULT_MAX_TOKENS, room) : room);

  const sampling: SamplingOptions = {};
  const temperature = optionalNumber(o, 'temperature', 0, 2);
  // OpenAI's default temperature is 1: sampled unless the client asks for 0 (greedy).
  sampling.temperature = temperature ?? 1;
  const topP = optionalNumber(o, 'top_p', 0, 1);
  if (topP !== undefined) {
    if (topP === 0) throw new ApiError(400, 'invalid_value', 'top_p must be > 0 (and ≤ 1)', 'top_p');
    sampling.topP = topP;
  }
  // vLLM's extension, in the codec's SamplingOptions: -1 or 0 mean all tokens.
  const topK = optionalInteger(o, 'top_k', -1);
  if (topK !== undefined && topK > 0) sampling.topK = topK;
  const seed = optionalInteger(o, 'seed', Number.MIN_SAFE_INTEGER);
  if (seed !== undefined) sampling.seed = seed;

  const stopStrings = stopField(o.stop);
  const stream = optionalBoolean(o, 'stream') ?? false;
  let includeUsage = false;
  const so = o.stream_options;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so))
      throw new ApiError(400, 'invalid_type', '"stream_options" must be an object', 'stream_options');
    if (!stream) throw new ApiError(400, 'invalid_value', '"stream_options" is only allowed with "stream": true', 'stream_options');
    includeUsage = optionalBoolean(so as Json, 'include_usage', 'stream_options.include_usage') ?? false;
  }
  const ignoreEos = optionalBoolean(o, 'ignore_eos') ?? false;
  let stopTokenIds: number[] = [];
  if (o.stop_token_ids !== undefined && o.stop_token_ids !== null) {
    if (!Array.isArray(o.stop_token_ids) || !o.stop_token_ids.every((t) => typeof t === 'number'))
      throw new ApiError(400, 'invalid_type', '"stop_token_ids" must be an array of token ids', 'stop_token_ids');
    stopTokenIds = tokenIds(o.stop_token_ids as number[], 'stop_token_ids');
  }
  const deadline = optionalNumber(o, 'deadline_ms', Number.MIN_VALUE, Infinity);
  return {
    endpoint,
    model: model.id,
    prompt,
    maxNewTokens,
    stopStrings,
    sampling,
    stream,
    includeUsage,
    ignoreEos,
    stopTokenIds,
    ...(deadline !== undefined ? { deadlineMs: deadline } : {}),
  };
}

function encodeBounded(codec: TextCodec, text: string, model: ServedModel, param: string, addSpecialTokens: boolean): number[] {
  const max = model.maxPromptChars;
  if (max !== undefined && text.length > max) {
    throw new ApiError(
      400,
      'context_length_exceeded',
      `this model's maximum context length is ${model.maxSeq} tokens; the ${param} has ${text.length} characters, more than any text of ${model.maxSeq} tokens (at most ${max} characters with this tokenizer)`,
      param,
    );
  }
  return codec.encode(text, { addSpecialTokens });
}

/** /v1/completions' prompt: text, token ids, or a list holding one of either (one prompt per request). */
function completionPrompt(p: unknown, encode: (text: string) => number[]): number[] {
  if (p === undefined || p === null) throw new ApiError(400, 'missing_field', '"prompt" is required', 'prompt');
  if (typeof p === 'string') return encode(p);
  if (!Array.isArray(p))
    throw new ApiError(
      400,
      'invalid_type',
      '"prompt" must be a string, an array of token ids, or an array holding one of either',
      'prompt',
    );
  if (p.length > 0 && p.every((t) => typeof t === 'number')) return tokenIds(p, 'prompt');
  if (p.length === 1) {
    const only: unknown = p[0];
    if (typeof only === 'string') return encode(only);
    if (Array.isArray(only) && only.every((t) => typeof t === 'number')) return tokenIds(only, 'prompt');
  }
  if (p.length > 1 && p.every((x) => typeof x === 'string' || Array.isArray(x)))
    throw new ApiError(
      400,
      'unsupported_value',
      `"prompt" holds ${p.length} prompts; this server answers one prompt per request`,
      'prompt',
    );
  if (p.length === 0) throw new ApiError(400, 'invalid_value', 'the prompt is empty: at least one token is needed', 'prompt');
  throw new ApiError(400, 'invalid_type', '"prompt" must be a string, an array of token ids, or an array holding one of either', 'prompt');
}

function tokenIds(ids: readonly number[], param: string): number[] {
  for (const [i, t] of ids.entries()) {
    if (!Number.isSafeInteger(t) || t < 0)
      throw new ApiError(400, 'invalid_value', `${param}[${i}] = ${t} is not a token id (an integer ≥ 0)`, param);
  }
  return [...ids];
}

const ROLES: readonly string[] = ['system', 'user', 'assistant', 'tool', 'developer'];

function chatMessages(m: unknown): ChatMessage[] {
  if (m === undefined || m === null) throw new ApiError(400, 'missing_field', '"messages" is required', 'messages');
  if (!Array.isArray(m)) throw new ApiError(400, 'invalid_type', '"messages" must be an array of { "role", "content" }', 'messages');
  if (m.length === 0) throw new ApiError(400, 'invalid_value', '"messages" is empty: at least one message is needed', 'messages');
  return m.map((msg: unknown, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
      throw new ApiError(400, 'invalid_type', `${at} must be an object { "role", "content" }`, at);
    const { role, content } = msg as Json;
    if (typeof role !== 'string' || !ROLES.includes(role))
      throw new ApiError(400, 'invalid_value', `${at}.role = ${quote(role)}: one of ${ROLES.join(', ')}`, `${at}.role`);
    return { role: role as ChatMessage['role'], content: messageContent(content, `${at}.content`) };
  });
}

/** A message's text: a string, or text parts (OpenAI's content array), joined. */
function messageContent(c: unknown, at: string): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    return c
      .map((part: unknown, j) => {
        const p = part as Json | null;
        if (typeof p !== 'object' || p === null || p.type !== 'text' || typeof p.text !== 'string') {
          const kind = typeof p === 'object' && p !== null && typeof p.type === 'string' ? ` of type ${quote(p.type)}` : '';
          throw new ApiError(
            400,
            'unsupported_value',
            `${at}[${j}]: a content part${kind} is not supported; only { "type": "text", "text" } parts`,
            `${at}[${j}]`,
          );
        }
        return p.text;
      })
      .join('');
  }
  throw new ApiError(400, 'invalid_type', `${at} must be a string or an array of text parts`, at);
}

function stopField(s: unknown): string[] {
  if (s === undefined || s === null) return [];
  const list = typeof s === 'string' ? [s] : s;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))
    throw new ApiError(400, 'invalid_type', '"stop" must be a string or an array of strings', 'stop');
  if (list.some((x) => x === ''))
    throw new ApiError(400, 'invalid_value', '"stop" holds an empty string, which would stop at once', 'stop');
  return list;
}

function optionalNumber(o: Json, field: string, min: number, max: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ApiError(400, 'invalid_type', `"${field}" must be a number`, field);
  if (v < min || v > max) {
    const range = max === Infinity ? (min === Number.MIN_VALUE ? '> 0' : `≥ ${min}`) : `from ${min} to ${max}`;
    throw new ApiError(400, 'invalid_value', `"${field}" = ${v} is out of range: ${range}`, field);
  }
  return v;
}

function optionalInteger(o: Json, field: string, min: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ApiError(400, 'invalid_type', `"${field}" must be an integer`, field);
  if (v < min) throw new ApiError(400, 'invalid_value', `"${field}" = ${v} must be ≥ ${min}`, field);
  return v;
}

function optionalBoolean(o: Json, field: string, param = field): boolean | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ApiError(400, 'invalid_type', `"${param}" must be true or false`, param);
  return v;
}

// ── generation ────────────────────────────────────────────────────────────────

export interface TextResult {
  text: string;
  finish: 'stop' | 'length';
  promptTokens: number;
  /** Generated tokens, the one that ended the text (EOS, or completing a stop string) included. */
  completionTokens: number;
  timing: GenerateResult['timing'];
}

/**
 * Generates `req` as text (runtime/text/generate.ts: EOS ids end it, stop strings cut it,
 * finish 'stop'). `onToken` runs for every generated token (the stream starts with the
 * first), `onText` for each piece of text once final. Rejects with the server's
 * ServingError (cancelled through `signal`, deadline …).
 */
export async function generateRequest(
  server: Server,
  codec: TextCodec,
  req: TextRequest,
  signal: AbortSignal,
  stream: { onToken?: () => void; onText?: (delta: string) => void } = {},
): Promise<TextResult> {
  const { onToken, onText } = stream;
  const r = await generateText(server, codec, req.prompt, {
    maxNewTokens: req.maxNewTokens,
    stop: req.stopStrings,
    ...(req.stopTokenIds.length > 0 ? { stopTokens: req.stopTokenIds } : {}),
    ...(req.ignoreEos ? { ignoreEos: true } : {}),
    sampling: req.sampling,
    signal,
    ...(req.deadlineMs !== undefined ? { deadlineMs: req.deadlineMs } : {}),
    ...(onToken ? { onToken: () => void onToken() } : {}),
    ...(onText ? { onText: (delta: string) => void onText(delta) } : {}),
  });
  return { text: r.text, finish: r.finish, promptTokens: r.promptTokens.length, completionTokens: r.tokens.length, timing: r.timing };
}

// ── answers ─────────────────────────────────────────────────────────────────

export function newId(endpoint: Endpoint): string {
  return `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
}

export function usage(r: { promptTokens: number; completionTokens: number }) {
  return { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
}

export function completionBody(id: string, created: number, req: TextRequest, r: TextResult): Json {
  const base = { id, created, model: req.model };
  if (req.endpoint === 'chat') {
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: r.finish }],
      usage: usage(r),
    };
  }
  return {
    ...base,
    object: 'text_completion',
    choices: [{ index: 0, text: r.text, logprobs: null, finish_reason: r.finish }],
    usage: usage(r),
  };
}

/** One stream chunk: text (a delta), the end (finish reason), or the usage (no choices). */
export function chunkBody(
  id: string,
  created: number,
  req: TextRequest,
  part: { text: string; role?: boolean } | { finish: 'stop' | 'length' } | { usage: TextResult },
): Json {
  const base = { id, created, model: req.model, object: req.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion' };
  if ('usage' in part) return { ...base, choices: [], usage: usage(part.usage) };
  const finish = 'finish' in part ? part.finish : null;
  const text = 'text' in part ? part.text : '';
  if (req.endpoint === 'chat') {
    const delta = 'text' in part ? { ...(part.role ? { role: 'assistant' } : {}), content: text } : {};
    return { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
  }
  return { ...base, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] };
}

export function modelObject(model: ServedModel): Json {
  return { id: model.id, object: 'model', created: model.created, owned_by: 'parplan', max_model_len: model.maxSeq };
}

/** Any error of a generation as an ApiError (a 504 keeps the partial-answer note in its message). */
export function apiErrorOf(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DeadlineError) return new ApiError(504, err.code, err.message);
  if (err instanceof ServingError) return fromServingError(err);
  return new ApiError(500, 'internal_error', `internal error: ${errorText(err)} (this is a bug in parplan)`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
