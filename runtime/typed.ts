/**
 * Compile-time checks for the runtime API, driven by the graph's type.
 *
 * A module from `parplan compile --emit ts` (docs/codegen.md) exports its graph with
 * literal types (`mode: 'serve'`, `maxBatch: 8`, …); `createRuntime`, `forward` and
 * `generate` read those literals, so using a plan wrongly is a type error where a
 * literal is involved. A plain `Graph` (read from JSON) has `string` and `number`
 * there, and every check below passes: the runtime checks at run time, as before.
 *
 * Each check is `unknown` (no constraint) when it passes and `PlanMisuse<Message>`,
 * an object type with one property named after the mistake, when it fails:
 * intersected with the argument's type, it makes the compiler report the mistake in
 * words (`Property '"parplan: a batch of 9 prompts; …"' is missing`).
 */
import type { Graph } from '../src/graph/types.js';

export type { Graph };

/** Deeply readonly: what `as const` makes of a literal. */
export type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** A graph as the runtime reads it: a `Graph`, or a literal of one written `as const` (the runtime never writes to it). */
export type GraphInput = DeepReadonly<Graph>;

/** A check that failed: the property's name is the message. */
export type PlanMisuse<Message extends string> = { readonly [K in `parplan: ${Message}`]: never };

type PlanOf<G extends GraphInput> = G['plan'];
type BatchOf<G extends GraphInput> = G extends { readonly batch: infer B extends object } ? B : NonNullable<Graph['batch']>;

/** The plan's `max_batch` (per replica) when the graph's type knows it, else `number`. */
export type MaxBatchOf<G extends GraphInput> = BatchOf<G> extends { readonly maxBatch: infer N extends number } ? N : number;

/** The plan's `seq` (prompt plus generated tokens) when the graph's type knows it, else `number`. */
export type SeqOf<G extends GraphInput> = BatchOf<G> extends { readonly seq: infer N extends number } ? N : number;

type EngineOf<G extends GraphInput> = PlanOf<G> extends { readonly engine?: infer E } ? E : undefined;

/** `createRuntime` runs serving plans compiled for `engine = webgpu`. */
export type ServingCheck<G extends GraphInput> = PlanOf<G>['mode'] extends 'train'
  ? PlanMisuse<`plan '${PlanOf<G>['name']}' is a training plan; createRuntime runs serving plans (mode = serve, engine = webgpu)`>
  : 'webgpu' extends EngineOf<G>
    ? unknown
    : [EngineOf<G>] extends [undefined | 'generic']
      ? PlanMisuse<`plan '${PlanOf<G>['name']}' was not compiled for engine = webgpu; add engine = webgpu to the plan and compile it again`>
      : unknown;

/** Prompts for `forward`: any array; a tuple literal holds at most `max_batch` prompts. */
export type Prompts = readonly (readonly number[])[];

/** A tuple with an element at index `N` has more than `N` elements (a non-tuple array has no such key). */
type LongerThan<P extends readonly unknown[], N extends number> = number extends N ? false : `${N}` extends keyof P ? true : false;

export type BatchCheck<G extends GraphInput, P extends Prompts> =
  LongerThan<P, MaxBatchOf<G>> extends true
    ? PlanMisuse<`a batch of ${P['length']} prompts; plan '${PlanOf<G>['name']}' has max_batch = ${MaxBatchOf<G>}`>
    : unknown;

/** `A <= B` for non-negative whole literals (decimal digits compared), true when either is not a literal. */
export type NotAbove<A extends number, B extends number> = number extends A
  ? true
  : number extends B
    ? true
    : DigitsNotAbove<Digits<`${A}`>, Digits<`${B}`>>;

type Digits<
  S extends string,
  Acc extends string[] = [],
> = S extends `${infer D extends '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9'}${infer Rest}`
  ? Digits<Rest, [...Acc, D]>
  : S extends ''
    ? Acc
    : never; // a sign, a fraction or an exponent: not compared

type DigitsNotAbove<A extends string[], B extends string[]> = [A] extends [never]
  ? true
  : [B] extends [never]
    ? true
    : A['length'] extends B['length']
      ? SameLengthNotAbove<A, B>
      : Shorter<A, B>;

/** Fewer digits (no leading zeros in a literal's decimal form): smaller. */
type Shorter<A extends string[], B extends string[]> = A extends [string, ...infer RA extends string[]]
  ? B extends [string, ...infer RB extends string[]]
    ? Shorter<RA, RB>
    : false
  : true;

type SameLengthNotAbove<A extends string[], B extends string[]> = A extends [infer X extends string, ...infer RA extends string[]]
  ? B extends [infer Y extends string, ...infer RB extends string[]]
    ? X extends Y
      ? SameLengthNotAbove<RA, RB>
      : '0123456789' extends `${string}${X}${string}${Y}${string}`
        ? true
        : false
    : true
  : true;

/** More new tokens than `seq` leaves after a prompt of at least one token: `N >= S`. */
type TooManyNewTokens<N extends number, S extends number> =
  NotAbove<N, S> extends false ? true : number extends S | N ? false : [N] extends [S] ? true : false;

/** `generate`: a literal `maxNewTokens` leaves room for a prompt within `seq`. */
export type NewTokensCheck<G extends GraphInput, N extends number> =
  TooManyNewTokens<N, SeqOf<G>> extends true
    ? PlanMisuse<`maxNewTokens = ${N}; plan '${PlanOf<G>['name']}' has seq = ${SeqOf<G>} for the prompt (at least 1 token) and the new tokens together`>
    : unknown;
