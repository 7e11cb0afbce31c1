/**
 * sampleToken (runtime/text/sampling.ts) against a direct computation: the distribution
 * it draws from must be softmax(logits / T) restricted to the top-k tokens, then to the
 * smallest most-likely set reaching top-p, renormalized — computed here naively (a full
 * sort, the textbook softmax) and compared with the empirical frequencies over many seeds.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/util/random.js';
import { argmax, sampleToken, samplingProblem, samplingRandom } from '../../runtime/text/sampling.js';
import type { SamplingOptions } from '../../runtime/text/types.js';

/** The distribution sampling must follow, computed the plain way. */
function expected(logits: readonly number[], o: SamplingOptions): number[] {
  const t = o.temperature!;
  const z = logits.map((l) => l / t);
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / s);
  const order = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  let keep = o.topK && o.topK > 0 ? order.slice(0, o.topK) : order;
  if (o.topP !== undefined && o.topP < 1) {
    const mass = keep.reduce((a, i) => a + p[i]!, 0);
    let cum = 0;
    const out: number[] = [];
    for (const i of keep) {
      out.push(i);
      cum += p[i]! / mass;
      if (cum >= o.topP) break;
    }
    keep = out;
  }
  const kept = new Set(keep);
  const total = keep.reduce((a, i) => a + p[i]!, 0);
  return p.map((v, i) => (kept.has(i) ? v / total : 0));
}

/** Frequencies of the first draw of `n` seeded streams (seeds 0 … n−1). */
function empirical(logits: readonly number[], o: SamplingOptions, n: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  const row = Float32Array.from(logits);
  for (let seed = 0; seed < n; seed++) counts[sampleToken(row, o, samplingRandom(seed))]!++;
  return counts.map((c) => c / n);
}

function randomLogits(n: number, seed: number, scale = 3): number[] {
  const r = mulberry32(seed);
  // f32 values, as the engine hands them over.
  return Array.from(Float32Array.from({ length: n }, () => scale * (r() * 2 - 1)));
}

describe('sampleToken', () => {
  const N = 60_000;
  const cases: [string, SamplingOptions][] = [
    ['T = 1', { temperature: 1 }],
    ['T = 0.5', { temperature: 0.5 }],
    ['T = 2, top-k 5', { temperature: 2, topK: 5 }],
    ['T = 1, top-p 0.6', { temperature: 1, topP: 0.6 }],
    ['T = 0.7, top-k 10, top-p 0.8', { temperature: 0.7, topK: 10, topP: 0.8 }],
  ];
  it.each(cases)('%s: frequencies over 60,000 seeds match the restricted softmax', (_, o) => {
    const logits = randomLogits(24, 7);
    const want = expected(logits, o);
    const got = empirical(logits, o, N);
    for (let i = 0; i < logits.length; i++) {
      const sd = Math.sqrt(Math.max(want[i]! * (1 - want[i]!), 1e-12) / N);
      if (want[i] === 0) expect(got[i], `token ${i} is outside the kept set`).toBe(0);
      else expect(Math.abs(got[i]! - want[i]!), `token ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(5 * sd + 1e-9);
    }
  });

  it('temperature 0 or absent is the argmax (first of equal maxima), without a draw', () => {
    const row = Float32Array.from([1, 5, 3, 5, -2]);
    const never = () => {
      throw new Error('no draw for greedy');
    };
    expect(sampleToken(row, {}, never)).toBe(1);
    expect(sampleToken(row, { temperature: 0, topK: 1, topP: 0.1 }, never)).toBe(1);
    expect(argmax(row)).toBe(1);
  });

  /** Tokens drawn over many seeds. */
  function support(logits: readonly number[], o: SamplingOptions, n = 4000): number[] {
    const row = Float32Array.from(logits);
    const seen = new Set<number>();
    for (let seed = 0; seed < n; seed++) seen.add(sampleToken(row, o, samplingRandom(seed)));
    return [...seen].sort((a, b) => a - b);
  }

  it('top-p keeps exactly the smallest most likely set reaching p', () => {
    // Probabilities 1/2, 1/4, 1/8, 1/16, 1/16 at T = 1.
    const logits = [0.5, 0.25, 0.125, 0.0625, 0.0625].map(Math.log);
    expect(support(logits, { temperature: 1, topP: 0.5 - 1e-6 })).toEqual([0]);
    expect(support(logits, { temperature: 1, topP: 0.5 + 1e-6 })).toEqual([0, 1]);
    expect(support(logits, { temperature: 1, topP: 0.75 - 1e-6 })).toEqual([0, 1]);
    expect(support(logits, { temperature: 1, topP: 0.75 + 1e-6 })).toEqual([0, 1, 2]);
    expect(support(logits, { temperature: 1, topP: 0.875 + 1e-6 })).toEqual([0, 1, 2, 3]); // equal probabilities: the lower index first
    expect(support(logits, { temperature: 1, topP: 1e-9 })).toEqual([0]);
    expect(support(logits, { temperature: 1, topP: 1 })).toEqual([0, 1, 2, 3, 4]);
  });

  it('top-k keeps exactly k tokens, ties broken by the lower index; then top-p within them', () => {
    expect(support([1, 3, 2, 0], { temperature: 1, topK: 2 })).toEqual([1, 2]);
    expect(support([1, 1, 1, 0], { temperature: 1, topK: 2 })).toEqual([0, 1]);
    expect(support([1, 3, 2, 0], { temperature: 1, topK: 1 })).toEqual([1]);
    expect(support([1, 3, 2, 0], { temperature: 1, topK: 99 })).toEqual([0, 1, 2, 3]);
    // Within the top 2 (probabilities ∝ e^3, e^2: 0.73, 0.27), top-p 0.7 keeps one.
    expect(support([1, 3, 2, 0], { temperature: 1, topK: 2, topP: 0.7 })).toEqual([1]);
  });

  it('never picks a padding column (at or past vocab) or a NaN logit', () => {
    const row = Float32Array.from([0, 1, NaN, 0.5, 100, 100]); // vocab 4, two padding columns
    for (let seed = 0; seed < 2000; seed++) {
      const t = sampleToken(row, { temperature: 5 }, samplingRandom(seed), 4);
      expect(t).toBeLessThan(4);
      expect(t).not.toBe(2);
    }
    expect(sampleToken(row, {}, Math.random, 4)).toBe(1);
  });

  it('a large vocabulary with top-p: the same tokens as the plain computation', () => {
    const logits = randomLogits(50_000, 3, 8);
    const o = { temperature: 0.8, topP: 0.9 };
    const want = expected(logits, o);
    const row = Float32Array.from(logits);
    for (let seed = 0; seed < 100; seed++) expect(want[sampleToken(row, o, samplingRandom(seed))]).toBeGreaterThan(0);
    const keptWant = want.filter((p) => p > 0).length;
    expect(keptWant).toBeGreaterThan(10);
  });

  it('the same seed gives the same stream; different seeds differ', () => {
    const row = Float32Array.from(randomLogits(100, 1));
    const run = (seed: number) => {
      const r = samplingRandom(seed);
      return Array.from({ length: 30 }, () => sampleToken(row, { temperature: 1 }, r));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
    expect(run(2 ** 40)).not.toEqual(run(0)); // high bits count
  });

  it('samplingProblem names the field', () => {
    expect(samplingProblem({ temperature: 0.7, topP: 0.9, topK: 40, seed: -3 })).toBeUndefined();
    expect(samplingProblem({ temperature: -1 })).toMatch(/sampling\.temperature = -1/);
    expect(samplingProblem({ temperature: NaN })).toMatch(/temperature/);
    expect(samplingProblem({ topP: 0 })).toMatch(/sampling\.topP = 0 must be a number in \(0, 1\]/);
    expect(samplingProblem({ topP: 1.5 })).toMatch(/topP/);
    expect(samplingProblem({ topK: 2.5 })).toMatch(/sampling\.topK = 2\.5/);
    expect(samplingProblem({ seed: 1.5 })).toMatch(/sampling\.seed/);
    expect(samplingProblem('hot')).toMatch(/must be an object/);
  });
});
