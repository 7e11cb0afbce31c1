/**
 * The TypeScript option types of `model()`, `cluster()` and `plan()`, derived from the
 * key table (src/facts/keys.ts), the GPU catalog and the dtypes: one source of truth, so a
 * key added there is a typed option here. Types catch what types can (an unknown key, a
 * wrong enum, a size without a unit); the checker catches the rest with the same codes.
 */
import type { Dtype } from '../facts/dtypes.js';
import type { GpuId } from '../facts/gpus.js';
import type { BlockKind, ByteUnit, KeyTable, Mode, TimeUnit } from '../facts/keys.js';

/** `'24 GiB'`, `'256MiB'`. */
export type ByteSize = `${number} ${ByteUnit}` | `${number}${ByteUnit}`;
/** `'5 ms'`, `'200us'`. */
export type Duration = `${number} ${TimeUnit}` | `${number}${TimeUnit}`;
/** `'10%'`. */
export type Percent = `${number}%`;
/** An inclusive range of layers: `'0..15'`. */
export type LayerRange = `${number}..${number}`;

declare const DECLARED: unique symbol;

/** A value made by a builder or a template; `kind` and `name` are the declaration's. */
export interface Declared<K extends 'model' | 'cluster' | 'plan'> {
  readonly kind: K;
  readonly name: string;
  /** Brands the value: only builders make one (a look-alike object is not a reference). */
  readonly [DECLARED]: K;
}
export type Model = Declared<'model'>;
export type Cluster = Declared<'cluster'>;
export type Plan = Declared<'plan'>;

/** What `planFile\`…\`` returns: a whole file's declarations. */
export interface PlanFileValue {
  readonly kind: 'file';
  /** The names declared, in order. */
  readonly names: readonly string[];
  readonly [DECLARED]: 'file';
}

/** Anything `analyzePlans` takes. */
export type Embedded = Model | Cluster | Plan | PlanFileValue;

/** What `${…}` may hold in a plan template: numbers, strings (inserted as written) and declarations (by name). */
export type Interpolation = number | string | boolean | Model | Cluster | Plan;

type Table = KeyTable;
type Spec = { type: { kind: string }; required?: boolean; modes?: readonly Mode[] };

/** The modes a key applies to (all when the table gives none). */
type ModesOf<S> = S extends { modes: readonly (infer M)[] } ? M : Mode;
/** Non-distributive on purpose: a key applies when it applies to every mode in M. */
type AppliesTo<S, M extends Mode> = [M] extends [ModesOf<S>] ? true : false;
type IsRequired<S> = S extends { required: true } ? true : false;

/** The TypeScript type of one key's value. */
type ValueOf<T, M extends Mode> = T extends { kind: 'int' | 'number' }
  ? number
  : T extends { kind: 'bytes' }
    ? ByteSize
    : T extends { kind: 'duration' }
      ? Duration
      : T extends { kind: 'fraction' }
        ? Percent | number
        : T extends { kind: 'bool' }
          ? boolean
          : T extends { kind: 'enum'; values: readonly (infer V)[] }
            ? V
            : T extends { kind: 'ref'; to: 'model' }
              ? Model
              : T extends { kind: 'ref'; to: 'cluster' }
                ? Cluster
                : T extends { kind: 'gpu' }
                  ? GpuId | GpuOptions
                  : T extends { kind: 'string' }
                    ? string
                    : T extends { kind: 'ranges' }
                      ? readonly LayerRange[]
                      : T extends { kind: 'strings' }
                        ? readonly string[]
                        : T extends { kind: 'block'; block: infer B extends BlockKind }
                          ? BlockOptions<B, M>
                          : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type RequiredKeys<B extends BlockKind, M extends Mode> = {
  [K in keyof Table[B]]: AppliesTo<Table[B][K], M> extends true ? (IsRequired<Table[B][K]> extends true ? K : never) : never;
}[keyof Table[B]];
type OptionalKeys<B extends BlockKind, M extends Mode> = {
  [K in keyof Table[B]]: AppliesTo<Table[B][K], M> extends true ? (IsRequired<Table[B][K]> extends true ? never : K) : never;
}[keyof Table[B]];

/** The options of one block kind in mode M: required keys required, the rest optional, keys of the other mode absent. */
export type BlockOptions<B extends BlockKind, M extends Mode = Mode> = Simplify<
  { [K in RequiredKeys<B, M>]: Table[B][K] extends Spec ? ValueOf<Table[B][K]['type'], M> : never } & {
    [K in OptionalKeys<B, M>]?: Table[B][K] extends Spec ? ValueOf<Table[B][K]['type'], M> : never;
  }
>;

export type ModelOptions = BlockOptions<'model'>;
/** A model from a Hugging Face config.json (relative to the calling file): `hf_config`, and any keys that override it. */
export type HfModelOptions = Simplify<Partial<ModelOptions> & { hf_config: string }>;
export type ClusterOptions = BlockOptions<'cluster'>;
/** A GPU that is not in the catalog: `{ name: 'RTX 4090', memory: '24 GiB' }`. */
export type GpuOptions = BlockOptions<'gpu'>;
export type ServePlanOptions = Simplify<Omit<BlockOptions<'plan', 'serve'>, 'mode'> & { mode: 'serve' }>;
export type TrainPlanOptions = Simplify<Omit<BlockOptions<'plan', 'train'>, 'mode'> & { mode: 'train' }>;
/** A plan's options, by `mode`: serving keys for `'serve'`, training keys for `'train'`. */
export type PlanOptions = ServePlanOptions | TrainPlanOptions;

export type { Dtype, GpuId, Mode };
