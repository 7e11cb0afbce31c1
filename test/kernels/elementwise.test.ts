/**
 * gelu (tanh approximation), swiglu, geglu, the residual add, softcap and scale, out of place and in place,
 * against the f64 reference; n from 1 to a size whose grid folds into two dimensions
 * (more than 65 535 workgroups). Tolerances: add is exact (one f32 rounding of an exact
 * sum); gelu and swiglu 8·2⁻²⁴·(|want| + |x|) + 1e-7 (a few roundings and the
 * transcendental's error).
 */
import { describe, expect, it } from 'vitest';
import { addProgram, gegluProgram, geluProgram, scaleProgram, softcapProgram, swigluProgram } from '../../runtime/kernels/elementwise.js';
import { add, geglu, gelu, softcap, swiglu } from '../../runtime/reference/activations.js';
import { grid1d } from '../../runtime/wgsl/common.js';
import { expectClose, f32s, rng, runOnce, testGpu, U32, uniform } from './util.js';

describe('element-wise', async () => {
  const g = await testGpu();
  let seed = 3000;
  const SIZES = [1, 7, 1000, 4099];

  for (const inplace of [false, true]) {
    it(`gelu${inplace ? ' in place' : ''}`, async () => {
      for (const n of SIZES) {
        const x = uniform(rng(seed++), n, -12, 12);
        const p = geluProgram({ inplace });
        const out = await runOnce(g, p, inplace ? { x } : { x, y: { bytes: n * 4 } }, { n }, [inplace ? 'x' : 'y']);
        const want = gelu(x);
        expectClose(
          f32s(out[inplace ? 'x' : 'y']!, n),
          want,
          (i) => 8 * U32 * (Math.abs(want[i]!) + Math.abs(x[i]!)) + 1e-7,
          `gelu n=${n}`,
        );
      }
    });
    it(`swiglu${inplace ? ' in place (up = silu(gate)·up)' : ''}`, async () => {
      for (const n of SIZES) {
        const r = rng(seed++);
        const gate = uniform(r, n, -20, 20);
        const up = uniform(r, n, -3, 3);
        const p = swigluProgram({ inplace });
        const out = await runOnce(g, p, inplace ? { gate, up } : { gate, up, y: { bytes: n * 4 } }, { n }, [inplace ? 'up' : 'y']);
        const want = swiglu(gate, up);
        expectClose(
          f32s(out[inplace ? 'up' : 'y']!, n),
          want,
          (i) => 8 * U32 * (Math.abs(want[i]!) + Math.abs(gate[i]! * up[i]!)) + 1e-7,
          `swiglu n=${n}`,
        );
      }
    });
    it(`geglu${inplace ? ' in place (up = gelu_tanh(gate)·up)' : ''}`, async () => {
      for (const n of SIZES) {
        const r = rng(seed++);
        const gate = uniform(r, n, -12, 12);
        const up = uniform(r, n, -3, 3);
        const p = gegluProgram({ inplace });
        const out = await runOnce(g, p, inplace ? { gate, up } : { gate, up, y: { bytes: n * 4 } }, { n }, [inplace ? 'up' : 'y']);
        const want = geglu(gate, up);
        expectClose(
          f32s(out[inplace ? 'up' : 'y']!, n),
          want,
          (i) => 8 * U32 * (Math.abs(want[i]!) + Math.abs(gate[i]! * up[i]!)) + 1e-7,
          `geglu n=${n}`,
        );
      }
    });
    it(`softcap${inplace ? ' in place' : ''}: 30·tanh(x / 30), past saturation`, async () => {
      for (const n of SIZES) {
        const x = uniform(rng(seed++), n, -400, 400);
        const out = await runOnce(g, softcapProgram({ c: 30, inplace }), inplace ? { x } : { x, y: { bytes: n * 4 } }, { n }, [
          inplace ? 'x' : 'y',
        ]);
        const want = softcap(x, 30);
        expectClose(f32s(out[inplace ? 'x' : 'y']!, n), want, (i) => 8 * U32 * (Math.abs(want[i]!) + 30) + 1e-7, `softcap n=${n}`);
      }
    });
    it(`scale${inplace ? ' in place' : ''}: x·c, one rounding`, async () => {
      for (const n of SIZES) {
        const x = uniform(rng(seed++), n, -3, 3);
        const c = 59.75;
        const out = await runOnce(g, scaleProgram({ c, inplace }), inplace ? { x } : { x, y: { bytes: n * 4 } }, { n }, [
          inplace ? 'x' : 'y',
        ]);
        expectClose(
          f32s(out[inplace ? 'x' : 'y']!, n),
          x.map((v) => v * c),
          () => 0,
          `scale n=${n}`,
        );
      }
    });
    it(`add${inplace ? ' in place (a += b)' : ''}`, async () => {
      for (const n of SIZES) {
        const r = rng(seed++);
        const a = uniform(r, n, -100, 100);
        const b = uniform(r, n);
        const p = addProgram({ inplace });
        const out = await runOnce(g, p, inplace ? { a, b } : { a, b, y: { bytes: n * 4 } }, { n }, [inplace ? 'a' : 'y']);
        expectClose(f32s(out[inplace ? 'a' : 'y']!, n), add(a, b), () => 0, `add n=${n}`);
      }
    });
  }

  it('grid folding: more than 65 535 workgroups (add in place over 2²⁴ + 300 values)', async () => {
    const n = 2 ** 24 + 300;
    const p = addProgram({ inplace: true });
    const grid = p.dispatch({ n });
    expect(grid[1]).toBeGreaterThan(1);
    expect(grid[0]).toBeLessThanOrEqual(65535);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = i % 1024;
    const b = new Float32Array(n).fill(0.5);
    const out = f32s((await runOnce(g, p, { a, b }, { n }, ['a']))['a']!, n);
    let bad = -1;
    for (let i = 0; i < n; i++)
      if (out[i] !== (i % 1024) + 0.5) {
        bad = i;
        break;
      }
    expect(bad).toBe(-1);
  });

  it('grid1d folds into ≤ 65 535 per dimension and covers every group', () => {
    for (const groups of [1, 65535, 65536, 200000, 2 ** 24]) {
      const [x, y] = grid1d(groups);
      expect(x).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(groups);
      expect(x * (y - 1)).toBeLessThan(groups);
    }
    expect(grid1d(0)).toEqual([0, 1, 1]);
  });
});
