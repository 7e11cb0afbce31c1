/**
 * The batch policy the server runs with: the plan's serve-mode `batch { … }` block
 * (`max_batch`, `max_wait`, `queue`, `seq`, `max_prefill_tokens`).
 */

export interface BatchPolicy {
  /** Most sequences decoded together; the server uses KV-cache slots 0 … maxBatch − 1. */
  maxBatch: number;
  /** Longest time a request waits for companions before an idle server starts a batch (ms). */
  maxWaitMs: number;
  /** Most requests waiting beyond the free slots; further requests are refused (`QueueFullError`). */
  queue: number;
  /** Most tokens in one sequence, prompt plus output (the plan's `seq`). */
  maxSeq: number;
  /** Prompt-token budget of the prefills run between two decode steps. */
  maxPrefillTokens: number;
}

/** The plan's checked serve batch (`ServeBatch` in src/plan.ts) as a policy. */
export function policyFromPlan(batch: {
  maxBatch: number;
  maxWaitMs: number;
  queue: number;
  seq: number;
  maxPrefillTokens: number;
}): BatchPolicy {
  return {
    maxBatch: batch.maxBatch,
    maxWaitMs: batch.maxWaitMs,
    queue: batch.queue,
    maxSeq: batch.seq,
    maxPrefillTokens: batch.maxPrefillTokens,
  };
}

/** Throws a `RangeError` naming the first bad field, or one that the engine cannot honour. */
export function checkPolicy(policy: BatchPolicy, engine: { slots: number; maxSeq: number }): void {
  const int = (name: keyof BatchPolicy, min: number) => {
    const v = policy[name];
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`batch policy: ${name} = ${String(v)} must be an integer ≥ ${min}`);
  };
  int('maxBatch', 1);
  int('queue', 0);
  int('maxSeq', 2);
  int('maxPrefillTokens', 1);
  if (!Number.isFinite(policy.maxWaitMs) || policy.maxWaitMs < 0) {
    throw new RangeError(`batch policy: maxWaitMs = ${String(policy.maxWaitMs)} must be a finite number ≥ 0`);
  }
  if (policy.maxBatch > engine.slots) {
    throw new RangeError(`batch policy: maxBatch = ${policy.maxBatch} exceeds the engine's ${engine.slots} KV-cache slots`);
  }
  if (policy.maxSeq > engine.maxSeq) {
    throw new RangeError(`batch policy: maxSeq = ${policy.maxSeq} exceeds the engine's sequence limit of ${engine.maxSeq} tokens`);
  }
}
