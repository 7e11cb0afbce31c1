/**
 * Pruning by memory monotonicity. Within a group (same mesh, schedule and microbatch,
 * src/search/space.ts) candidates differ only in ZeRO stage, recompute and sequence
 * parallelism, and on every device (src/memory/):
 *   - activations: recompute full ≤ selective ≤ none, and sequence parallel ≤ not
 *     (per layer 2sbh/t ≤ sbh(18 + c)/t ≤ sbh(10 + (8 + c)/t) for t > 1; the embedding
 *     and output terms shrink by t with SP and do not depend on recompute);
 *   - ZeRO 0 → 1 → 2 shard more of the optimizer states and gradients and change
 *     nothing else;
 *   - ZeRO 3 also shards the weights but adds a gather buffer to the workspace, so it is
 *     not always lighter than ZeRO 2 (a stage of few layers and a large embedding): it is
 *     compared only with ZeRO 3.
 * So when `heavier(x, y)`, x needs at least y's bytes on every device, and if y does not
 * fit, neither does x: x is pruned without running the memory model. Candidates are sized
 * lightest first, so every misfit prunes what lies above it. test/search checks the claim
 * against the full memory model.
 */
import type { TrainKnobs } from './space.js';

// selective_op (never searched) lies between full and selective: it saves less than Megatron's selective for the dense layers it is checked for.
const RECOMPUTE_WEIGHT = { full: 0, selective_op: 0.5, selective: 1, none: 2 } as const;

/** x needs at least what y needs on every device (same group assumed). */
export function heavier(x: TrainKnobs, y: TrainKnobs): boolean {
  const zero = x.zero === y.zero || (x.zero <= 2 && y.zero <= 2 && x.zero <= y.zero);
  return zero && RECOMPUTE_WEIGHT[x.recompute] >= RECOMPUTE_WEIGHT[y.recompute] && (!x.sequenceParallel || y.sequenceParallel);
}

/** A sort key under which a heavier candidate never comes before a lighter one. */
export function weight(k: TrainKnobs): number {
  return RECOMPUTE_WEIGHT[k.recompute] + (k.sequenceParallel ? 0 : 1) + (k.zero === 3 ? 0 : 3 - k.zero);
}
