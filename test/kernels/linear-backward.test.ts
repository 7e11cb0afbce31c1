/**
 * Linear-layer gradients against the f64 reference (itself checked against torch in
 * backward-oracle.test.ts): dX = dY·W for W f32 and bf16 in both layouts, dW += dYᵀX and
 * db += Σ dY accumulated onto a non-zero gradient (two microbatches), on odd sizes (T not a
 * multiple of the 16-row step, N and K not multiples of 4, and over several 64-wide dW tiles).
 * Tolerance as the forward matmul's: 2·(terms + 8)·2⁻²⁴·Σ|products| (+ |accumulator|·2⁻²⁴).
 */
import { describe, it } from 'vitest';
import { biasGradProgram, matmulGradInputProgram, matmulGradWeightProgram } from '../../runtime/kernels/linear-backward.js';
import { biasGrad, linearGradInput, linearGradWeight } from '../../runtime/reference/backward.js';
import { encode, roundAll } from '../../runtime/reference/dtype.js';
import type { TensorType } from '../../runtime/wgsl/dtype.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32 } from './util.js';

const CASES = [
  { T: 5, N: 7, K: 3 },
  { T: 37, N: 19, K: 33 },
  { T: 1, N: 1, K: 1 },
  { T: 18, N: 40, K: 12 },
  { T: 20, N: 70, K: 131 }, // dW spans 2 × 3 of its 64×64 tiles
];

describe('linear backward', async () => {
  const g = await testGpu();
  let seed = 16000;
  for (const w of [{ format: 'f32' }, { format: 'bf16' }] as TensorType[])
    for (const layout of ['nk', 'kn'] as const)
      it(`dX = dY·W, W ${w.format} ${layout}`, async () => {
        for (const { T, N, K } of CASES) {
          const r = rng(seed++);
          const dy = normal(r, T * N);
          const w0 = normal(r, N * K);
          const wv = roundAll(w.format, w0);
          const p = matmulGradInputProgram({ N, K, w, wLayout: layout });
          const out = await runOnce(g, p, { A: dy, W: encode(w.format, w0), C: { bytes: T * K * 4 } }, { M: T }, ['C']);
          const want = linearGradInput(dy, wv, T, N, K, layout);
          const mag = linearGradInput(dy.map(Math.abs), wv.map(Math.abs), T, N, K, layout);
          expectClose(f32s(out['C']!, T * K), want, (i) => 2 * (N + 8) * U32 * mag[i]! + 1e-30, `dX ${T}×${N}×${K} ${w.format} ${layout}`);
        }
      });

  for (const layout of ['nk', 'kn'] as const)
    it(`dW += dYᵀ·X (${layout}), db += Σ dY: two microbatches accumulate`, async () => {
      for (const { T, N, K } of CASES) {
        const r = rng(seed++);
        const mbs = [0, 1].map(() => ({ dy: normal(r, T * N), x: normal(r, T * K) }));
        const pw = matmulGradWeightProgram({ N, K, wLayout: layout });
        const pb = biasGradProgram({ N });
        const dW = g.device.createBuffer({
          size: N * K * 4,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        const db = g.device.createBuffer({
          size: N * 4,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        let wantW: Float64Array | undefined;
        let wantB: Float64Array | undefined;
        let outW!: ArrayBuffer;
        let outB!: ArrayBuffer;
        for (const { dy, x } of mbs) {
          outW = (await runOnce(g, pw, { dY: dy, X: x, dW }, { T }, ['dW']))['dW']!;
          outB = (await runOnce(g, pb, { dY: dy, db }, { T }, ['db']))['db']!;
          wantW = linearGradWeight(dy, x, T, N, K, layout, wantW);
          wantB = biasGrad(dy, T, N, wantB);
        }
        const magW = mbs.reduce<Float64Array | undefined>(
          (a, { dy, x }) => linearGradWeight(dy.map(Math.abs), x.map(Math.abs), T, N, K, layout, a),
          undefined,
        )!;
        const magB = mbs.reduce<Float64Array | undefined>((a, { dy }) => biasGrad(dy.map(Math.abs), T, N, a), undefined)!;
        expectClose(f32s(outW, N * K), wantW!, (i) => 2 * (T + 8) * U32 * magW[i]! + 1e-30, `dW ${T}×${N}×${K} ${layout}`);
        expectClose(f32s(outB, N), wantB!, (i) => 2 * (T + 8) * U32 * magB[i]! + 1e-30, `db ${T}×${N}`);
        dW.destroy();
        db.destroy();
      }
    });
});
