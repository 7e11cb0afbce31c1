/**
 * What the search produces: sized and fitting candidates, rejections, the summary.
 * Its own module so that the ranking (rank.ts) and the printing (render.ts) need not
 * import the engine (index.ts) that uses them.
 */
import type { Code } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { PlanCost } from '../cost/types.js';
import type { MemoryPlan } from '../memory/types.js';
import type { CheckedPlan } from '../plan.js';
import type { LatencyResult, SloResult } from '../latency/check.js';
import type { Size } from './size.js';
import type { Knobs } from './space.js';

/** A valid candidate sized by the memory model. */
export interface Sized {
  /** Position in the enumeration: the last tie-breaker, so output is deterministic. */
  index: number;
  knobs: Knobs;
  plan: CheckedPlan;
  /** The checker's warnings and notes. */
  diagnostics: Diagnostic[];
  /** The fullest device and its headroom, from the stage footprints (size.ts). */
  size: Size;
}

export interface Fitting extends Sized {
  /** The whole memory plan (what `check` shows), built only for plans that fit. */
  memory: MemoryPlan;
  cost: PlanCost;
  /** What `parplan check` would warn about (the checker's warnings and PP4002, low headroom): such plans rank last. */
  warnings: Code[];
  /** Under traffic: the latency `parplan check` predicts for the plan (src/latency/check.ts). */
  latency?: LatencyResult;
  /** Under traffic: `latency` is check's own prediction (all the traffic's requests), not the search's bounded one. */
  confirmed?: boolean;
}

/** Why a candidate was set aside. `pruned`: does not fit, proven by prune.ts without sizing it. */
export type Rejection =
  | { kind: 'invalid'; code: Code; message: string }
  | { kind: 'misfit' }
  | { kind: 'pruned' }
  | { kind: 'slow' }
  /** Under traffic: fits, but misses these objectives at the traffic's rate. */
  | { kind: 'slo'; missed: SloResult[] };

export interface Rejected {
  index: number;
  knobs: Knobs;
  why: Rejection;
}

export interface Summary {
  considered: number;
  fit: number;
  /** Sized and over memory. */
  misfit: number;
  /** Over memory by the monotonicity argument of prune.ts (not sized). */
  pruned: number;
  /** Serving: fits, but the time per output token is over the bound. */
  slow: number;
  /** Under traffic: fits, but misses the SLO at the traffic's rate. */
  sloMissed: number;
  /** Under traffic: the GPU counts searched, fewest first (the search stops after the first count with a plan that meets the SLO). */
  gpuCounts?: number[];
  /** Invalid candidates by the checker's first error, most frequent first, with the first such message. */
  invalid: { code: Code; title: string; count: number; example: string }[];
}

export interface SearchResult {
  /** Fitting candidates (within the latency bound when serving), best first. */
  ranked: Fitting[];
  rejected: Rejected[];
  summary: Summary;
  /** When nothing is ranked: the sized candidate nearest to working (least over memory, or fastest over the latency bound). */
  closest?: Sized | Fitting;
  /** Under traffic: the plans that fit but miss the SLO, fewest GPUs first, then nearest to meeting it. */
  sloMisses: Fitting[];
}
