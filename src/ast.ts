/**
 * The AST of a `.plan` file: the parser's only output and the checker's only input.
 *
 * The tree is deliberately generic (declarations hold blocks of `key = value`
 * entries): which keys exist, their types and units are facts of `src/facts/keys.ts`,
 * checked by `src/check/`. That keeps the grammar small and lets one table drive
 * validation, did-you-mean, `explain` and the docs. Every node has a Span.
 */
import type { Span } from './source.js';

/** `42`, `1.5`, `24 GiB`, `5ms`, `10%`. */
export interface NumberValue {
  kind: 'number';
  /** The numeric part, as written (no unit applied). */
  value: number;
  /** The literal as written, without the unit (e.g. `1_000`). */
  raw: string;
  /** The unit as written, if any (`GiB`, `ms`, `%`). Unknown units are kept here and reported by the checker. */
  unit?: { text: string; span: Span };
  span: Span;
}

/** `0..15`: an inclusive range of whole numbers (layer ranges in `stages`). */
export interface RangeValue {
  kind: 'range';
  from: NumberValue;
  to: NumberValue;
  span: Span;
}

/** A bare word: an enum value (`bf16`, `1f1b`), a boolean (`true`), or a reference to a declaration (`llama3_8b`). */
export interface IdentValue {
  kind: 'ident';
  name: string;
  span: Span;
}

/** `"RTX 4090"`; `value` is unescaped. */
export interface StringValue {
  kind: 'string';
  value: string;
  span: Span;
}

/** `[a, b, c]`. */
export interface ListValue {
  kind: 'list';
  items: Value[];
  span: Span;
}

/** `{ key = value ... }`: a declaration's body, or a nested block such as `batch { ... }`. */
export interface BlockValue {
  kind: 'block';
  entries: Entry[];
  span: Span;
}

export type Value = NumberValue | RangeValue | IdentValue | StringValue | ListValue | BlockValue;

/** `key = value`, or `key { ... }` (then `value` is a BlockValue). */
export interface Entry {
  key: string;
  keySpan: Span;
  value: Value;
  /** From the key to the end of the value. */
  span: Span;
}

/** `model llama3_8b { ... }`, `cluster node { ... }`, `plan serve { ... }`. */
export interface Declaration {
  kind: 'declaration';
  /** The declaration keyword as written; the checker validates it (model | cluster | plan). */
  keyword: string;
  keywordSpan: Span;
  name: string;
  nameSpan: Span;
  body: BlockValue;
  span: Span;
}

/** `import "models/llama.plan"`: a path relative to the importing file. */
export interface Import {
  kind: 'import';
  path: string;
  pathSpan: Span;
  span: Span;
}

/** One parsed `.plan` file. */
export interface PlanFile {
  /** The path as given to the parser (used in spans). */
  file: string;
  imports: Import[];
  declarations: Declaration[];
}
