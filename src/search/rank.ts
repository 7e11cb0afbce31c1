/**
 * Ranking by the cost model (docs/cost.md). Training: the shortest estimated step.
 * Serving: the most decode tokens/s (all replicas) among plans whose time per output
 * token at max_batch is within the bound, then the shortest time to first token (a prefill
 * chunk, max_prefill_tokens, changes it and the memory, not the decode). Ties go to more memory headroom, then to the
 * earlier candidate in enumeration order, so the order is total and deterministic.
 * Under traffic (`byTraffic`): every ranked plan meets the SLO at the traffic's rate; the fewest
 * GPUs first, then the largest load headroom, the highest rate that still meets the SLO over
 * the traffic's rate (how much the traffic may grow before the plan misses: the margin a
 * capacity planner buys; memory headroom is the tie-break, as above).
 * Before all that, a plan that `parplan check` would warn about (under 2% headroom,
 * fewer microbatches than stages) ranks after every plan it would pass clean, and a plan
 * whose cost is unknown (a custom GPU without rates) after every known one.
 */
import type { Fitting } from './types.js';

const stepSeconds = (f: Fitting) => f.cost.train?.stepSeconds ?? Infinity;
const tokensPerSecond = (f: Fitting) => f.cost.serve?.decodeTokensPerSecond ?? -Infinity;
const tpotSeconds = (f: Fitting) => f.cost.serve?.tpotSeconds ?? Infinity;
const ttftSeconds = (f: Fitting) => f.cost.serve?.prefillSeconds ?? Infinity;

function tieBreak(a: Fitting, b: Fitting): number {
  return b.size.headroomBytes - a.size.headroomBytes || a.index - b.index;
}

const warned = (f: Fitting) => (f.warnings.length > 0 ? 1 : 0);

export function byRank(mode: 'train' | 'serve'): (a: Fitting, b: Fitting) => number {
  if (mode === 'train') return (a, b) => warned(a) - warned(b) || compare(stepSeconds(a), stepSeconds(b)) || tieBreak(a, b);
  return (a, b) =>
    warned(a) - warned(b) ||
    compare(tokensPerSecond(b), tokensPerSecond(a)) ||
    compare(tpotSeconds(a), tpotSeconds(b)) ||
    compare(ttftSeconds(a), ttftSeconds(b)) ||
    tieBreak(a, b);
}

/** GPUs a candidate uses. */
export const gpusOf = (f: { plan: Fitting['plan'] }) => f.plan.mesh.tensor * f.plan.mesh.pipeline * f.plan.mesh.data * f.plan.mesh.context;
/** The highest rate meeting the SLO over the traffic's rate (0 when unknown). */
export const loadHeadroom = (f: Fitting) => (f.latency?.maxRateMeetingSlo ?? 0) / (f.latency?.rate ?? 1);
const judged = (f: Fitting) => (f.latency ? 0 : 1);

export function byTraffic(a: Fitting, b: Fitting): number {
  return (
    judged(a) - judged(b) ||
    // Those predicted again as check predicts them (the pinned plan among them) lead their GPU count.
    gpusOf(a) - gpusOf(b) ||
    (b.confirmed ? 1 : 0) - (a.confirmed ? 1 : 0) ||
    warned(a) - warned(b) ||
    compare(loadHeadroom(b), loadHeadroom(a)) ||
    compare(tokensPerSecond(b), tokensPerSecond(a)) ||
    tieBreak(a, b)
  );
}

/** How far a plan is from its SLO: the worst predicted / target over the objectives (rejected share + 1 against max_rejected + 1). */
export function sloShortfall(f: Fitting): number {
  let worst = 0;
  for (const r of f.latency?.slo ?? []) {
    const ratio = r.metric === 'max_rejected' ? (1 + r.predicted) / (1 + r.target) : r.predicted / r.target;
    worst = Math.max(worst, Number.isFinite(ratio) ? ratio : Infinity);
  }
  return worst;
}

/** SLO misses: fewest GPUs first, then nearest to meeting it. */
export function bySloMiss(a: Fitting, b: Fitting): number {
  return gpusOf(a) - gpusOf(b) || compare(sloShortfall(a), sloShortfall(b)) || a.index - b.index;
}

/** Fastest time per output token first: the nearest to meeting a latency bound. */
export function byLatency(a: Fitting, b: Fitting): number {
  return compare(tpotSeconds(a), tpotSeconds(b)) || tieBreak(a, b);
}

/** TPOT at max_batch ≤ the bound; a plan whose TPOT is unknown is not held to it (it ranks last). */
export function withinLatency(f: Fitting, maxTpotSeconds: number): boolean {
  const t = f.cost.serve?.tpotSeconds;
  return t === null || t === undefined || t <= maxTpotSeconds;
}

/** Infinity-safe ascending comparison (Infinity − Infinity is NaN). */
function compare(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
