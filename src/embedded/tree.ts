/**
 * What a builder call or a plan template says, before it becomes `.plan` text: the
 * common form of the two roads in (run-time JavaScript values, src/embedded/runtime.ts;
 * TypeScript source read without running it, src/embedded/static/). Each part keeps its
 * origin in the real file when one is known, so diagnostics point there.
 */
import type { Origin } from './mapped-text.js';

export type Keyword = 'model' | 'cluster' | 'plan';

export type Item =
  | { kind: 'number'; value: number; origin?: Origin }
  /** `origin` covers the characters of the value (inside the quotes) when they are written verbatim. */
  | { kind: 'string'; value: string; origin?: Origin }
  | { kind: 'bool'; value: boolean; origin?: Origin }
  | { kind: 'list'; items: Item[]; origin?: Origin }
  | { kind: 'object'; props: Prop[]; origin?: Origin }
  /** A builder value used by reference (`model: llama`, `${llama}`): the declaration's name. */
  | { kind: 'ref'; decl: Decl; origin?: Origin }
  /** An expression the static reader cannot evaluate (PP7001); `text` is how it is written. */
  | { kind: 'unknown'; text: string; origin?: Origin }
  /** A value no plan can hold: a function, null, an object in a template (PP7002/PP7004). */
  | { kind: 'invalid'; found: string; origin?: Origin };

export interface Prop {
  key: string;
  keyOrigin?: Origin;
  value: Item;
}

/** A template's parts, as written (raw, so offsets match the source), and the values between them. */
export interface Template {
  parts: { raw: string; origin?: Origin }[];
  values: Item[];
}

/**
 * One `model(…)`, `cluster(…)`, `plan(…)` call, or one template. `keyword` is 'file' for
 * `planFile\`…\``. A builder call has `name` and `options`; a template has `template`.
 */
export interface Decl {
  keyword: Keyword | 'file';
  /** Where the builder or tag is called (the `plan` of `plan(…)`): the declaration keyword maps here. */
  origin?: Origin;
  name?: Item;
  options?: Item;
  template?: Template;
}
