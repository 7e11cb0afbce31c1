/**
 * RoPE (rotate-half) against the f64 reference: prefill positions p0 … p0+T−1 and scattered
 * decode positions up to maxSeq − 1, partial rotary dims, a row stride wider than the
 * heads, theta 10 000 and 500 000. Tolerance: 4·2⁻²⁴·(|x₁| + |x₂|) + 1e-12 — the table holds
 * cos/sin of the exact angle rounded to f32, then two products and a sum.
 */
import { describe, expect, it } from 'vitest';
import { ropeProgram, ropeTable } from '../../runtime/kernels/rope.js';
import { rope, ropeInvFreq } from '../../runtime/reference/rope.js';
import { expectClose, f32s, rng, runOnce, testGpu, U32, uniform } from './util.js';

describe('rope', async () => {
  const g = await testGpu();
  let seed = 5000;
  const CASES = [
    { heads: 3, headDim: 8, maxSeq: 64, positions: [0, 1, 2, 3, 4], theta: 10000 },
    { heads: 2, headDim: 10, rotaryDim: 6, maxSeq: 2048, positions: [2047, 0, 513, 1000], theta: 10000 },
    { heads: 4, headDim: 16, rowStride: 80, maxSeq: 4096, positions: [7, 8, 9, 10, 11, 12, 13], theta: 500000 },
    { heads: 1, headDim: 2, maxSeq: 8, positions: [5], theta: 10000 },
  ];
  it('rotate-half convention at prefill and decode positions', async () => {
    for (const c of CASES) {
      const stride = c.rowStride ?? c.heads * c.headDim;
      const T = c.positions.length;
      const x = uniform(rng(seed++), T * stride, -2, 2);
      const p = ropeProgram({ heads: c.heads, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: c.rowStride, maxSeq: c.maxSeq });
      const table = ropeTable(c.maxSeq, c.rotaryDim ?? c.headDim, c.theta);
      const out = await runOnce(g, p, { x, positions: Uint32Array.from(c.positions), table }, { T }, ['x']);
      const want = rope(x, c.positions, {
        heads: c.heads,
        headDim: c.headDim,
        rotaryDim: c.rotaryDim,
        rowStride: c.rowStride,
        theta: c.theta,
      });
      const half = (c.rotaryDim ?? c.headDim) / 2;
      const tol = (i: number) => {
        const col = (i % stride) % c.headDim;
        const base = i - col;
        const j = col % half;
        return 4 * U32 * (Math.abs(x[base + j]!) + Math.abs(x[base + j + half]!)) + 1e-12;
      };
      expectClose(f32s(out['x']!, T * stride), want, tol, `rope ${JSON.stringify(c)}`);
    }
  });
  it('a table of scaled frequencies (llama3, linear) gives the reference rotation with them', async () => {
    const headDim = 8;
    const positions = [0, 3, 17, 40];
    for (const invFreq of [
      ropeInvFreq(headDim, 500, { type: 'llama3', factor: 8, originalMaxSeq: 32, lowFreqFactor: 1, highFreqFactor: 4 }),
      ropeInvFreq(headDim, 10000, { type: 'linear', factor: 2 }),
    ]) {
      const x = uniform(rng(seed++), positions.length * 2 * headDim, -2, 2);
      const p = ropeProgram({ heads: 2, headDim, maxSeq: 64 });
      const out = await runOnce(g, p, { x, positions: Uint32Array.from(positions), table: ropeTable(64, headDim, invFreq) }, { T: 4 }, [
        'x',
      ]);
      const want = rope(x, positions, { heads: 2, headDim, invFreq });
      expectClose(f32s(out['x']!, x.length), want, () => 8 * U32 * 4 + 1e-12, 'scaled rope');
    }
  });

  it('llama3 scaling keeps high frequencies, divides low ones by the factor and blends between (modeling_rope_utils.py)', () => {
    // theta 500, R = 8: wavelengths 2π·500^(i/4) ≈ 6.3, 29.8, 140, 664 against 32/4 = 8 and 32/1 = 32.
    const base = ropeInvFreq(8, 500);
    const s = ropeInvFreq(8, 500, { type: 'llama3', factor: 8, originalMaxSeq: 32, lowFreqFactor: 1, highFreqFactor: 4 });
    expect(s[0]).toBe(base[0]); // 6.3 < 8: kept
    const smooth = (32 / ((2 * Math.PI) / base[1]!) - 1) / (4 - 1);
    expect(s[1]).toBeCloseTo((1 - smooth) * (base[1]! / 8) + smooth * base[1]!, 15); // 8 ≤ 29.8 ≤ 32: blended
    expect(s[2]).toBeCloseTo(base[2]! / 8, 15); // 140 > 32: scaled
    expect(s[3]).toBeCloseTo(base[3]! / 8, 15);
    expect(Array.from(ropeInvFreq(8, 500, { type: 'linear', factor: 4 }))).toEqual(Array.from(base, (f) => f / 4));
    expect(() => ropeInvFreq(8, 500, { type: 'yarn', factor: 4 })).toThrow('rope_scaling = yarn');
  });

  it('position 0 is the identity; columns past the heads are untouched', async () => {
    const x = uniform(rng(seed++), 2 * 12, -1, 1);
    const p = ropeProgram({ heads: 1, headDim: 8, rowStride: 12, maxSeq: 4 });
    const out = f32s((await runOnce(g, p, { x, positions: Uint32Array.from([0, 3]), table: ropeTable(4, 8) }, { T: 2 }, ['x']))['x']!, 24);
    expect(Array.from(out.subarray(0, 12))).toEqual(Array.from(x.subarray(0, 12)));
    expect(Array.from(out.subarray(20, 24))).toEqual(Array.from(x.subarray(20, 24)));
  });
});
