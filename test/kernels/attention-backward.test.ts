/**
 * Training attention against the f64 reference (checked against torch autograd in
 * backward-oracle.test.ts): the forward's out and lse, then delta, dQ, dK, dV from the
 * reference's own forward outputs, for GQA (groups of 2 and 3, and none), a sliding window,
 * several sequences per buffer and a last partial one, head sizes not a multiple of 4, and a
 * sequence longer than the 64-invocation workgroup. Tolerance 8·(d + seq)·2⁻²⁴ of each tensor's
 * largest magnitude (dot products of d terms, softmax sums of up to seq terms, a few
 * exponentials); a masking or indexing slip gives errors of order one.
 */
import { describe, it } from 'vitest';
import {
  attentionBackwardDkvProgram,
  attentionBackwardDqProgram,
  attentionBackwardPreProgram,
  attentionTrainProgram,
  type TrainAttentionOptions,
} from '../../runtime/kernels/attention-backward.js';
import { attentionBackward, attentionTrain } from '../../runtime/reference/backward.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32 } from './util.js';

const CASES: (TrainAttentionOptions & { T: number })[] = [
  { T: 14, seq: 7, heads: 4, kvHeads: 2, headDim: 6 },
  { T: 18, seq: 9, heads: 3, kvHeads: 1, headDim: 6, window: 4 },
  { T: 13, seq: 5, heads: 2, kvHeads: 2, headDim: 5 },
  { T: 70, seq: 70, heads: 1, kvHeads: 1, headDim: 5, scale: 0.3 },
];

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

describe('attention backward', async () => {
  const g = await testGpu();
  let seed = 20000;
  it('forward out and lse; delta; dQ; dK and dV summed over the group', async () => {
    for (const c of CASES) {
      const { T, heads: H, kvHeads: KVH, headDim: D } = c;
      const r = rng(seed++);
      const q = normal(r, T * H * D);
      const k = normal(r, T * KVH * D);
      const v = normal(r, T * KVH * D);
      const dO = normal(r, T * H * D);
      const label = JSON.stringify(c);
      const tol = (x: ArrayLike<number>) => {
        const t = 8 * (D + c.seq) * U32 * maxAbs(x);
        return () => t;
      };

      const ref = attentionTrain(q, k, v, T, c);
      const fo = await runOnce(g, attentionTrainProgram(c), { q, k, v, out: { bytes: T * H * D * 4 }, lse: { bytes: T * H * 4 } }, { T }, [
        'out',
        'lse',
      ]);
      expectClose(f32s(fo['out']!, T * H * D), ref.out, tol(ref.out), `out ${label}`);
      expectClose(f32s(fo['lse']!, T * H), ref.lse, tol(ref.lse), `lse ${label}`);

      // the backward from the reference forward's (f32-rounded) outputs
      const out = Float32Array.from(ref.out);
      const lse = Float32Array.from(ref.lse);
      const want = attentionBackward(q, k, v, out, lse, dO, T, c);
      const pre = await runOnce(g, attentionBackwardPreProgram(c), { dO, out, delta: { bytes: T * H * 4 } }, { T }, ['delta']);
      const delta = f32s(pre['delta']!, T * H);
      const wantDelta = Array.from({ length: T * H }, (_, i) => {
        let s = 0;
        for (let e = 0; e < D; e++) s += dO[i * D + e]! * out[i * D + e]!;
        return s;
      });
      expectClose(delta, wantDelta, tol(wantDelta), `delta ${label}`);
      const common = { q, k, v, lse, delta: Float32Array.from(delta), dO };
      const dq = await runOnce(g, attentionBackwardDqProgram(c), { ...common, dq: { bytes: T * H * D * 4 } }, { T }, ['dq']);
      expectClose(f32s(dq['dq']!, T * H * D), want.dq, tol(want.dq), `dq ${label}`);
      const dkv = await runOnce(
        g,
        attentionBackwardDkvProgram(c),
        { ...common, dk: { bytes: T * KVH * D * 4 }, dv: { bytes: T * KVH * D * 4 } },
        { T },
        ['dk', 'dv'],
      );
      expectClose(f32s(dkv['dk']!, T * KVH * D), want.dk, tol(want.dk), `dk ${label}`);
      expectClose(f32s(dkv['dv']!, T * KVH * D), want.dv, tol(want.dv), `dv ${label}`);
    }
  });
  it('refuses soft-capped scores clearly', async () => {
    const { expect } = await import('vitest');
    expect(() => attentionTrainProgram({ seq: 4, heads: 1, kvHeads: 1, headDim: 4, softcap: 50 })).toThrow(
      /soft-capped .* no training kernels/,
    );
  });
});
