/**
 * Fused vocab-parallel cross-entropy against the f64 reference (itself equal to torch's
 * F.cross_entropy in backward-oracle.test.ts): one shard of an odd vocabulary, and the same
 * vocabulary over two shards where the second holds padded columns (filled with large values
 * that would dominate were they not masked), combined on the GPU; labels in either shard, at the
 * first and last real column. Tolerances: stats (cols + 8)·2⁻²⁴ relative; dlogits
 * 16·2⁻²⁴·(1 + |x − lse|)·(p + onehot)·scale; loss 16·2⁻²⁴·(|lse| + |x|).
 */
import { describe, expect, it } from 'vitest';
import { crossEntropyCombineProgram, crossEntropyGradProgram, crossEntropyStatsProgram } from '../../runtime/kernels/cross-entropy.js';
import { combineStats, crossEntropyGrad, crossEntropyStats } from '../../runtime/reference/backward.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32 } from './util.js';

describe('cross-entropy', async () => {
  const g = await testGpu();
  let seed = 22000;
  for (const { vocab, shard, T } of [
    { vocab: 13, shard: 13, T: 5 },
    { vocab: 13, shard: 7, T: 5 },
    { vocab: 301, shard: 160, T: 3 },
  ])
    it(`vocab ${vocab} in shards of ${shard}${shard * Math.ceil(vocab / shard) > vocab ? ' (padded)' : ''}`, async () => {
      const r = rng(seed++);
      const ranks = Math.ceil(vocab / shard);
      const full = normal(r, T * vocab, 3);
      const labels = Uint32Array.from({ length: T }, (_, t) => (t === 0 ? 0 : t === 1 ? vocab - 1 : Math.floor(r() * vocab)));
      const scale = 1 / 17;
      const shards = Array.from({ length: ranks }, (_, s) => {
        const x = new Float32Array(T * shard).fill(80); // padding: exp(80) would swamp every real column
        for (let t = 0; t < T; t++)
          for (let c = 0; c < shard && s * shard + c < vocab; c++) x[t * shard + c] = full[t * vocab + s * shard + c]!;
        return x;
      });
      // pass 1 per shard
      const parts = new Float32Array(ranks * T * 2);
      const refParts = [];
      for (const [s, x] of shards.entries()) {
        const o = { cols: shard, vocabBase: s * shard, vocab };
        const out = await runOnce(g, crossEntropyStatsProgram(o), { logits: x, stats: { bytes: T * 8 } }, { T }, ['stats']);
        const st = f32s(out['stats']!, 2 * T);
        const ref = crossEntropyStats(x, T, shard, s * shard, vocab);
        refParts.push(ref);
        expectClose(
          Float64Array.from({ length: T }, (_, t) => st[2 * t]!),
          ref.max,
          () => 0,
          `max shard ${s}`,
        );
        expectClose(
          Float64Array.from({ length: T }, (_, t) => st[2 * t + 1]!),
          ref.sumexp,
          (t) => 8 * (shard + 8) * U32 * ref.sumexp[t]!,
          `sumexp shard ${s}`,
        );
        parts.set(st, s * T * 2);
      }
      // combine across the ranks
      const comb = await runOnce(g, crossEntropyCombineProgram({ ranks }), { parts, stats: { bytes: T * 8 } }, { T }, ['stats']);
      const stats = f32s(comb['stats']!, 2 * T).slice();
      const ref = combineStats(refParts);
      for (let t = 0; t < T; t++) {
        expect(stats[2 * t]).toBe(Math.fround(ref.max[t]!));
        expect(Math.abs(stats[2 * t + 1]! - ref.sumexp[t]!)).toBeLessThanOrEqual(16 * (vocab + 8) * U32 * ref.sumexp[t]!);
      }
      // pass 2 per shard, in place, from the combined stats
      const loss = new Float64Array(T);
      for (const [s, x] of shards.entries()) {
        const o = { cols: shard, vocabBase: s * shard, vocab };
        const out = await runOnce(g, crossEntropyGradProgram(o), { logits: x, labels, stats, loss: { bytes: T * 4 } }, { T, scale }, [
          'logits',
          'loss',
        ]);
        const want = crossEntropyGrad(
          x,
          labels,
          Float64Array.from({ length: T }, (_, t) => stats[2 * t]!),
          Float64Array.from({ length: T }, (_, t) => stats[2 * t + 1]!),
          shard,
          s * shard,
          vocab,
          scale,
        );
        const lse = (t: number) => stats[2 * t]! + Math.log(stats[2 * t + 1]!);
        expectClose(
          f32s(out['logits']!, T * shard),
          want.dlogits,
          (i) => {
            const t = Math.floor(i / shard);
            return 16 * U32 * (1 + Math.abs(x[i]! - lse(t))) * (Math.abs(want.dlogits[i]!) + scale) + 1e-30;
          },
          `dlogits shard ${s}`,
        );
        const l = f32s(out['loss']!, T);
        expectClose(l, want.loss, (t) => 16 * U32 * (Math.abs(lse(t)) + 10), `loss shard ${s}`);
        for (let t = 0; t < T; t++) loss[t] = loss[t]! + l[t]!;
        // padded columns get no probability
        for (let t = 0; t < T; t++) for (let c = vocab - s * shard; c < shard; c++) expect(f32s(out['logits']!)[t * shard + c]).toBe(0);
      }
      // the summed loss is each row's cross-entropy over the whole vocabulary
      const whole = crossEntropyGrad(
        full,
        labels,
        ...(Object.values(crossEntropyStats(full, T, vocab, 0, vocab)) as [Float64Array, Float64Array]),
        vocab,
        0,
        vocab,
        scale,
      );
      expectClose(loss, whole.loss, (t) => 64 * U32 * (Math.abs(whole.loss[t]!) + 10), 'loss over shards');
    });
});
