/**
 * The error a runtime API call rejects with when its input is wrong (as opposed to the
 * serving errors a request gets, runtime/serving/errors.ts): a graph that cannot be served,
 * options that are not options, token ids outside the vocabulary, a call after `close()`.
 * Each carries a stable `code`, so callers can branch on it without parsing messages.
 */
import { graphProblemsText, type GraphProblem } from '../src/graph/validate.js';

export type RuntimeInputErrorCode =
  | 'invalid_graph'
  | 'invalid_options'
  /** The checkpoint directory's config.json describes another model than the graph's, or cannot be read (runtime/weights/config.ts). */
  | 'invalid_checkpoint'
  | 'invalid_tokens'
  | 'invalid_batch'
  | 'runtime_closed'
  /** The tokenizer files (tokenizer.json, tokenizer_config.json …) are missing, too large or malformed, or do not fit the model. */
  | 'invalid_tokenizer'
  /** A text prompt, but the runtime has no tokenizer (`RuntimeOptions.tokenizer`, or a checkpoint directory with tokenizer.json). */
  | 'no_tokenizer';

export class RuntimeInputError extends Error {
  constructor(
    readonly code: RuntimeInputErrorCode,
    message: string,
    /** `invalid_graph`: every problem found, with its JSON path (at most 20). */
    readonly problems: readonly GraphProblem[] = [],
  ) {
    super(message);
    this.name = 'RuntimeInputError';
  }

  static graph(problems: readonly GraphProblem[]): RuntimeInputError {
    return new RuntimeInputError('invalid_graph', `cannot serve this graph: ${graphProblemsText(problems)}`, problems);
  }
}

/** A value as a message shows it (`null`, `an object`, `"x"`). */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Why `prompt` is not a list of token ids of a `vocab`-token vocabulary, or undefined when it is.
 * `what` names it in the message (`prompts[2]`).
 */
export function tokenProblem(prompt: unknown, vocab: number, what: string): string | undefined {
  if (!Array.isArray(prompt)) return `${what} must be an array of token ids, not ${describeValue(prompt)}`;
  if (prompt.length === 0) return `${what} is empty: give at least one token id`;
  for (let i = 0; i < prompt.length; i++) {
    const t: unknown = prompt[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocab)
      return `${what}[${i}] = ${describeValue(t)} is not a token id (an integer from 0 to ${vocab - 1})`;
  }
  return undefined;
}
