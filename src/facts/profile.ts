/**
 * The step-time profile file (`parplan profile` writes it, `gpu { profile = "…" }` reads it):
 * its format, here so that the checked plan (src/plan.ts) can carry one without depending on
 * the latency stage. Reading, checking and interpolating it: src/latency/profile.ts.
 */
export const PROFILE_FORMAT = 'parplan-profile';
/** 2: `host`, the serving loop's own time per turn (version 1 files lack it: measure again). */
export const PROFILE_VERSION = 2;
/** How far past the grid's largest batch, context or prompt the profile is extrapolated (a factor). */
export const EXTRAPOLATE = 2;

/** One measured point, seconds: the median of the repeats, and their spread. */
export interface Measured {
  median: number;
  min: number;
  max: number;
}

/** The model facts a step's time depends on (the name and the spans aside). */
export interface ModelShape {
  arch: string;
  layers: number;
  hidden: number;
  vocab: number;
  dtype: string;
  layer: unknown;
  overrides?: unknown;
  quant?: unknown;
}

export interface StepProfile {
  format: typeof PROFILE_FORMAT;
  version: typeof PROFILE_VERSION;
  /** When it was measured (ISO 8601). */
  created: string;
  /** The device as the WebGPU adapter describes itself. */
  device: { description: string; vendor: string; architecture: string };
  /** What was measured: one data replica of this graph. */
  graph: {
    plan: string;
    model: ModelShape;
    tensor: number;
    pipeline: number;
    data: number;
    maxBatch: number;
    seq: number;
    maxPrefillTokens: number;
  };
  method: { warmup: number; repeats: number; statistic: 'median' };
  /**
   * The batching server's own time per turn of its loop that made engine calls, outside them
   * (handing tokens out, releasing and admitting slots, its turn of the event loop): measured by
   * serving requests through the runtime's server on the profiled engine, one value per repeat.
   */
  host: Measured;
  /** One prompt's prefill, by prompt length, ascending. */
  prefill: ({ tokens: number } & Measured)[];
  /** One decode step, for every batch × context of the grid (batch-major, both ascending). */
  decode: ({ batch: number; context: number } & Measured)[];
}
