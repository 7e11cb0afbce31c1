/**
 * Choosing the next token from one row of logits (SamplingOptions, runtime/text/types.ts),
 * on the host. The order is transformers' and vLLM's: temperature, then top-k, then top-p
 * over the top-k tokens renormalized (transformers' TemperatureLogitsWarper,
 * TopKLogitsWarper, TopPLogitsWarper: src/transformers/generation/logits_process.py).
 * Temperature 0 (or absent) is greedy: the first index of the largest logit, as the
 * engine's own argmax.
 */
import { mulberry32 } from '../../src/util/random.js';
import type { SamplingOptions } from './types.js';

let scratch = new Float64Array(0);

/** Whether `options` asks for sampling (temperature > 0) rather than greedy decoding. */
export function isSampling(options: SamplingOptions | undefined): boolean {
  return options !== undefined && typeof options.temperature === 'number' && options.temperature > 0;
}

/** Why `options` are not sampling options, or undefined when they are (messages name the field). */
export function samplingProblem(options: unknown): string | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return 'sampling must be an object';
  const o = options as Record<string, unknown>;
  const { temperature: t, topP: p, topK: k, seed } = o;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 0))
    return `sampling.temperature = ${String(t)} must be a finite number ≥ 0 (0: greedy)`;
  if (p !== undefined && (typeof p !== 'number' || !(p > 0 && p <= 1))) return `sampling.topP = ${String(p)} must be a number in (0, 1]`;
  if (k !== undefined && (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0))
    return `sampling.topK = ${String(k)} must be an integer ≥ 0 (0: every token)`;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isSafeInteger(seed)))
    return `sampling.seed = ${String(seed)} must be an integer`;
  return undefined;
}

/** The random stream of one request: mulberry32 (src/util/random.ts) from the seed, its high bits folded in. */
export function samplingRandom(seed: number): () => number {
  return mulberry32((seed ^ Math.floor(seed / 2 ** 32)) >>> 0);
}

/**
 * The token drawn from `logits[0 … vocab)` (columns at or past `vocab`, the padding of a
 * padded vocabulary, are never chosen) with `random()` uniform in [0, 1), one draw per
 * call. NaN logits count as −∞.
 */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, random: () => number, vocab = logits.length): number {
  const n = Math.min(vocab, logits.length);
  if (!isSampling(options)) return argmax(logits, n);
  const t = options.temperature!;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (v > max) max = v;
  }
  if (max === -Infinity || !Number.isFinite(max)) return argmax(logits, n);
  // Unnormalized probabilities exp((l − max) / T), in f64 (one scratch row, reused: sampling is synchronous).
  if (scratch.length < n) scratch = new Float64Array(n);
  const prob = scratch.subarray(0, n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    const e = v > -Infinity ? Math.exp((v - max) / t) : 0; // NaN > −∞ is false
    prob[i] = e;
    total += e;
  }
  const topK = options.topK !== undefined && options.topK > 0 && options.topK < n ? options.topK : 0;
  const topP = options.topP ?? 1;
  if (topK === 0 && topP >= 1) return draw(prob, undefined, total, random);
  const kept = nucleus(prob, total, topK, topP);
  let sum = 0;
  for (const i of kept) sum += prob[i]!;
  return draw(prob, kept, sum, random);
}

/**
 * The tokens top-k and top-p keep, most likely first (ties: lower index first). Only the
 * tokens above a threshold are sorted, the threshold lowered until they are enough: a
 * token below it is less likely than every one above, so the sorted prefix is the same as
 * that of sorting the whole vocabulary.
 */
function nucleus(prob: Float64Array, total: number, topK: number, topP: number): number[] {
  let threshold = 1 / 1024; // relative to the largest, which is 1
  for (;;) {
    const cand: number[] = [];
    let sum = 0;
    for (let i = 0; i < prob.length; i++) {
      if (prob[i]! >= threshold) {
        cand.push(i);
        sum += prob[i]!;
      }
    }
    const enough = threshold === 0 || (topK > 0 ? cand.length >= topK : sum >= topP * total);
    if (!enough) {
      threshold = threshold < 1e-300 ? 0 : threshold / 1024;
      continue;
    }
    cand.sort((a, b) => prob[b]! - prob[a]! || a - b);
    let set = cand;
    let mass = total;
    if (topK > 0) {
      set = cand.slice(0, topK);
      mass = 0;
      for (const i of set) mass += prob[i]!;
    }
    if (topP >= 1) return set;
    // The smallest prefix whose probability (within the top-k set) reaches topP; at least one token.
    let cum = 0;
    for (let j = 0; j < set.length; j++) {
      cum += prob[set[j]!]!;
      if (cum >= topP * mass) return set.slice(0, j + 1);
    }
    return set;
  }
}

function draw(prob: Float64Array, kept: readonly number[] | undefined, sum: number, random: () => number): number {
  const target = random() * sum;
  let acc = 0;
  if (kept === undefined) {
    let last = 0;
    for (let i = 0; i < prob.length; i++) {
      if (prob[i]! === 0) continue;
      acc += prob[i]!;
      last = i;
      if (acc > target) return i;
    }
    return last;
  }
  for (const i of kept) {
    acc += prob[i]!;
    if (acc > target) return i;
  }
  return kept[kept.length - 1]!;
}

/** First index of the largest of `logits[0 … n)`; NaN never wins. */
export function argmax(logits: ArrayLike<number>, n = logits.length): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}
