/**
 * LayerNorm / RMSNorm backward against the f64 reference (checked against torch in
 * backward-oracle.test.ts): the forward's saved statistics (saveStats), dx (written and
 * accumulated), dγ and dβ accumulated over two microbatches; rows × cols odd (cols not a
 * multiple of 4 nor of the workgroup), gains f32 and bf16, Gemma's offset 1.
 * Tolerance: (cols + 32)·2⁻²⁴ times the magnitude of the terms that cancel
 * (rstd·(|g| + mean|g| + |x̂|·mean|g·x̂|) for dx; Σ|dy·x̂| for dγ).
 */
import { describe, expect, it } from 'vitest';
import { normBackwardProgram, normGradWeightProgram } from '../../runtime/kernels/norm-backward.js';
import { layerNormProgram, rmsNormProgram } from '../../runtime/kernels/norm.js';
import { normBackward, normStats } from '../../runtime/reference/backward.js';
import { encode, roundAll } from '../../runtime/reference/dtype.js';
import type { TensorType } from '../../runtime/wgsl/dtype.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32, uniform } from './util.js';

const SHAPES = [
  { rows: 1, cols: 1 },
  { rows: 5, cols: 37 },
  { rows: 3, cols: 300 },
];

describe('norm backward', async () => {
  const g = await testGpu();
  let seed = 17000;
  for (const kind of ['layernorm', 'rmsnorm'] as const)
    for (const wt of [{ format: 'f32' }, { format: 'bf16' }] as TensorType[])
      it(`${kind}, gain ${wt.format}: saved stats, dx (= and +=), dγ${kind === 'layernorm' ? ', dβ' : ''} accumulated`, async () => {
        const ln = kind === 'layernorm';
        for (const [si, { rows, cols }] of SHAPES.entries()) {
          const offset = !ln && si === 1 ? 1 : 0;
          const eps = 1e-5;
          const r = rng(seed++);
          const w0 = uniform(r, cols, 0.5 - offset, 1.5 - offset);
          const w = roundAll(wt.format, w0);
          const b = uniform(r, cols);
          const mbs = [0, 1].map(() => {
            const x = normal(r, rows * cols, 2);
            for (let i = 0; i < x.length; i += 3) x[i] = x[i]! + 3;
            return { x, dy: normal(r, rows * cols) };
          });
          // forward with stats
          const x = mbs[0]!.x;
          const st = normStats(kind, x, rows, cols, eps);
          const fwd = ln
            ? layerNormProgram({ cols, eps, weight: wt, bias: wt, saveStats: true })
            : rmsNormProgram({ cols, eps, offset, weight: wt, saveStats: true });
          const fo = await runOnce(
            g,
            fwd,
            {
              x,
              weight: encode(wt.format, w0),
              ...(ln ? { bias: encode(wt.format, b), mean: { bytes: rows * 4 } } : {}),
              y: { bytes: rows * cols * 4 },
              rstd: { bytes: rows * 4 },
            },
            { rows },
            ln ? ['rstd', 'mean'] : ['rstd'],
          );
          expectClose(f32s(fo['rstd']!, rows), st.rstd, (i) => (cols + 32) * U32 * st.rstd[i]!, `${kind} rstd`);
          if (ln) expectClose(f32s(fo['mean']!, rows), st.mean, () => (cols + 32) * U32 * 8, `${kind} mean`);

          // dx, written and accumulated onto a prior gradient
          for (const accumulate of [false, true]) {
            const { x, dy } = mbs[0]!;
            const prior = normal(r, rows * cols);
            const p = normBackwardProgram(kind, { cols, offset, weight: wt, accumulate, workgroupSize: 32 });
            const out = await runOnce(
              g,
              p,
              {
                x,
                ...(ln ? { mean: Float32Array.from(st.mean) } : {}),
                rstd: Float32Array.from(st.rstd),
                weight: encode(wt.format, w0),
                dy,
                dx: accumulate ? prior : { bytes: rows * cols * 4 },
              },
              { rows },
              ['dx'],
            );
            const want = normBackward(kind, x, st.rstd, st.mean, w, dy, rows, cols, { offset }).dx;
            if (accumulate) for (let i = 0; i < want.length; i++) want[i] = want[i]! + prior[i]!;
            const mag = new Float64Array(rows * cols);
            for (let row = 0; row < rows; row++) {
              let sg = 0;
              let sgx = 0;
              for (let c = 0; c < cols; c++) {
                const gg = Math.abs(dy[row * cols + c]! * (offset + w[c]!));
                sg += gg;
                sgx += gg * Math.abs((x[row * cols + c]! - st.mean[row]!) * st.rstd[row]!);
              }
              for (let c = 0; c < cols; c++) {
                const xh = Math.abs((x[row * cols + c]! - st.mean[row]!) * st.rstd[row]!);
                mag[row * cols + c] =
                  st.rstd[row]! * (Math.abs(dy[row * cols + c]! * (offset + w[c]!)) + sg / cols + (xh * sgx) / cols) +
                  (accumulate ? Math.abs(prior[row * cols + c]!) : 0);
              }
            }
            expectClose(
              f32s(out['dx']!, rows * cols),
              want,
              (i) => 4 * (cols + 32) * U32 * mag[i]! + 1e-30,
              `${kind} dx ${rows}×${cols}${accumulate ? ' +=' : ''}`,
            );
          }

          // dγ, dβ over two microbatches
          const pw = normGradWeightProgram(kind, { cols });
          const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
          const dweight = g.device.createBuffer({ size: cols * 4, usage });
          const dbias = g.device.createBuffer({ size: cols * 4, usage });
          let want: ReturnType<typeof normBackward> | undefined;
          let out!: Record<string, ArrayBuffer>;
          const mag = new Float64Array(cols);
          for (const { x, dy } of mbs) {
            const s = normStats(kind, x, rows, cols, eps);
            out = await runOnce(
              g,
              pw,
              { x, ...(ln ? { mean: Float32Array.from(s.mean), dbias } : {}), rstd: Float32Array.from(s.rstd), dy, dweight },
              { rows },
              ln ? ['dweight', 'dbias'] : ['dweight'],
            );
            want = normBackward(kind, x, s.rstd, s.mean, w, dy, rows, cols, { offset, dweight: want?.dweight, dbias: want?.dbias });
            for (let row = 0; row < rows; row++)
              for (let c = 0; c < cols; c++)
                mag[c] =
                  mag[c]! +
                  Math.abs(dy[row * cols + c]! * (x[row * cols + c]! - s.mean[row]!) * s.rstd[row]!) +
                  Math.abs(dy[row * cols + c]!);
          }
          expectClose(f32s(out['dweight']!, cols), want!.dweight, (i) => 4 * (rows + 8) * U32 * mag[i]! + 1e-30, `${kind} dγ`);
          if (ln) expectClose(f32s(out['dbias']!, cols), want!.dbias, (i) => 4 * (rows + 8) * U32 * mag[i]! + 1e-30, `${kind} dβ`);
          expect(g.errors).toEqual([]);
          dweight.destroy();
          dbias.destroy();
        }
      });
});
