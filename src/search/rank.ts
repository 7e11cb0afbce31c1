/**
 * Ranking by the cost model (docs/cost.md). Training: the shortest estimated step.
 * Serving: the most decode tokens/s (all replicas) among plans whose time per output
 * token at max_batch is within the bound, then the shortest time to first token (a prefill
 * chunk, max_prefill_tokens, changes it and the memory, not the decode). Ties go to more memory headroom, then to the
 * earlier candidate in enumeration order, so the order is total and deterministic.
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
