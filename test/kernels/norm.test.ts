/**
 * layernorm and rmsnorm against the f64 reference: rows × cols from 1×1 to 7×300 (fewer
 * and more columns than the 64 invocations), eps 1e-5 or 1e-6, gains and biases in every
 * storage type. Tolerance: (cols + 32)·2⁻²⁴·(|x̂·w| + |b| + 1) — the mean and variance sums
 * are O(cols·u) relative, the rest a few roundings.
 */
import { describe, it } from 'vitest';
import { layerNormProgram, rmsNormProgram } from '../../runtime/kernels/norm.js';
import { encode, roundAll } from '../../runtime/reference/dtype.js';
import { layerNorm, rmsNorm } from '../../runtime/reference/norm.js';
import { expectClose, f32s, rng, runOnce, tensorTypes, testGpu, U32, uniform, normal } from './util.js';

const SHAPES = [
  { rows: 1, cols: 1 },
  { rows: 3, cols: 5 },
  { rows: 7, cols: 37 },
  { rows: 2, cols: 300 },
  { rows: 5, cols: 64 },
];

describe('norms', async () => {
  const g = await testGpu();
  let seed = 2000;
  it('in place (Qwen3 q/k norms: one row per head): the result over x, as the reference', async () => {
    for (const kind of ['rmsnorm', 'layernorm'] as const) {
      const [rows, cols] = [6, 16];
      const r = rng(seed++);
      const x = normal(r, rows * cols, 2);
      const w = uniform(r, cols, 0.5, 1.5);
      const b = uniform(r, cols);
      const eps = 1e-6;
      const f32 = { format: 'f32' as const };
      const out =
        kind === 'rmsnorm'
          ? await runOnce(g, rmsNormProgram({ cols, eps, weight: f32, inplace: true }), { x, weight: w }, { rows }, ['x'])
          : await runOnce(g, layerNormProgram({ cols, eps, weight: f32, bias: f32, inplace: true }), { x, weight: w, bias: b }, { rows }, [
              'x',
            ]);
      const want = kind === 'rmsnorm' ? rmsNorm(x, rows, cols, w, eps) : layerNorm(x, rows, cols, w, b, eps);
      expectClose(f32s(out['x']!, rows * cols), want, (i) => (cols + 32) * U32 * (Math.abs(want[i]!) + 2), `${kind} in place`);
    }
  });
  describe.each(tensorTypes(g))('weights $tag', ({ t }) => {
    it('layernorm', async () => {
      for (const [si, { rows, cols }] of SHAPES.entries()) {
        {
          const eps = si % 2 === 0 ? 1e-5 : 1e-6;
          const r = rng(seed++);
          const x = normal(r, rows * cols, 3);
          for (let i = 0; i < x.length; i += 3) x[i] = x[i]! + 5; // an offset mean, so the centring matters
          const w0 = uniform(r, cols, 0.5, 1.5);
          const b0 = uniform(r, cols);
          const w = roundAll(t.format, w0);
          const b = roundAll(t.format, b0);
          const p = layerNormProgram({ cols, eps, weight: t, bias: t, workgroupSize: 64 });
          const out = await runOnce(
            g,
            p,
            { x, weight: encode(t.format, w0), bias: encode(t.format, b0), y: { bytes: rows * cols * 4 } },
            { rows },
            ['y'],
          );
          const want = layerNorm(x, rows, cols, w, b, eps);
          const xhatw = layerNorm(x, rows, cols, w.map(Math.abs), new Float32Array(cols), eps);
          expectClose(
            f32s(out['y']!, rows * cols),
            want,
            (i) => (cols + 32) * U32 * (Math.abs(xhatw[i]!) + Math.abs(b[i % cols]!) + 1),
            `layernorm ${rows}×${cols} eps ${eps}`,
          );
        }
      }
    });
    it('rmsnorm', async () => {
      for (const [si, { rows, cols }] of SHAPES.entries()) {
        {
          const eps = si % 2 === 0 ? 1e-5 : 1e-6;
          const r = rng(seed++);
          // Every other shape as Gemma's: the gain is 1 + weight, weights stored around 0.
          const offset = si % 2;
          const x = normal(r, rows * cols, 2);
          const w0 = uniform(r, cols, 0.5 - offset, 1.5 - offset);
          const w = roundAll(t.format, w0);
          const p = rmsNormProgram({ cols, eps, offset, weight: t, workgroupSize: 64 });
          const out = await runOnce(g, p, { x, weight: encode(t.format, w0), y: { bytes: rows * cols * 4 } }, { rows }, ['y']);
          const want = rmsNorm(x, rows, cols, w, eps, offset);
          expectClose(
            f32s(out['y']!, rows * cols),
            want,
            (i) => (cols + 32) * U32 * (Math.abs(want[i]!) + 1),
            `rmsnorm ${rows}×${cols} eps ${eps} offset ${offset}`,
          );
        }
      }
    });
  });

  it('layernorm with f32 gain and bf16 bias; a zero row (variance 0 → output = bias)', async () => {
    const cols = 9;
    const rows = 2;
    const x = new Float32Array(rows * cols);
    x.set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const w = new Float32Array(cols).fill(2);
    const b0 = Float32Array.from({ length: cols }, (_, i) => i / 7);
    const b = roundAll('bf16', b0);
    const p = layerNormProgram({ cols, eps: 1e-5, weight: { format: 'f32' }, bias: { format: 'bf16' } });
    const out = await runOnce(g, p, { x, weight: w, bias: encode('bf16', b0), y: { bytes: rows * cols * 4 } }, { rows }, ['y']);
    const want = layerNorm(x, rows, cols, w, b, 1e-5);
    expectClose(f32s(out['y']!, rows * cols), want, () => 64 * U32 * 4, 'layernorm mixed types');
  });
});
