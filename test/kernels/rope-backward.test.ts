/**
 * RoPE backward (`rope` with `inverse`: rotation by −θ from the forward's table) against the f64
 * reference (checked against torch autograd in backward-oracle.test.ts): unscaled, linear and
 * llama3-scaled frequencies, partial rotary dims, a row wider than the heads, odd head counts.
 * Also: backward(forward(x)) = x. Tolerance as the forward's: 4·2⁻²⁴·(|d₁| + |d₂|).
 */
import { describe, it } from 'vitest';
import { ropeProgram, ropeTable } from '../../runtime/kernels/rope.js';
import { ropeBackward } from '../../runtime/reference/backward.js';
import { ropeInvFreq } from '../../runtime/reference/rope.js';
import { expectClose, f32s, rng, runOnce, testGpu, U32, uniform } from './util.js';

describe('rope backward', async () => {
  const g = await testGpu();
  let seed = 19000;
  const CASES = [
    { heads: 3, headDim: 8, maxSeq: 64, positions: [0, 1, 2, 3, 4], invFreq: ropeInvFreq(8, 10000) },
    {
      heads: 2,
      headDim: 10,
      rotaryDim: 6,
      maxSeq: 2048,
      positions: [2047, 0, 513, 1000],
      invFreq: ropeInvFreq(6, 10000, { type: 'linear', factor: 4 }),
    },
    {
      heads: 5,
      headDim: 16,
      rowStride: 96,
      maxSeq: 128,
      positions: [7, 8, 9, 10, 11, 12, 127],
      invFreq: ropeInvFreq(16, 500, { type: 'llama3', factor: 8, originalMaxSeq: 32, lowFreqFactor: 1, highFreqFactor: 4 }),
    },
  ];
  it('dx = dy rotated by −θ, from the forward table', async () => {
    for (const c of CASES) {
      const stride = c.rowStride ?? c.heads * c.headDim;
      const T = c.positions.length;
      const R = c.rotaryDim ?? c.headDim;
      const dy = uniform(rng(seed++), T * stride, -2, 2);
      const table = ropeTable(c.maxSeq, R, c.invFreq);
      const o = { heads: c.heads, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: c.rowStride, maxSeq: c.maxSeq };
      const out = await runOnce(
        g,
        ropeProgram({ ...o, inverse: true }),
        { x: dy, positions: Uint32Array.from(c.positions), table },
        { T },
        ['x'],
      );
      const want = ropeBackward(dy, c.positions, { ...o, invFreq: c.invFreq });
      const half = R / 2;
      const tol = (i: number) => {
        const col = (i % stride) % c.headDim;
        const j = col % half;
        const base = i - col;
        return 4 * U32 * (Math.abs(dy[base + j]!) + Math.abs(dy[base + j + half]!)) + 1e-12;
      };
      expectClose(f32s(out['x']!, T * stride), want, tol, `rope backward ${JSON.stringify(c.positions)}`);
      // the inverse undoes the forward
      const fwd = await runOnce(g, ropeProgram(o), { x: dy, positions: Uint32Array.from(c.positions), table }, { T }, ['x']);
      const back = await runOnce(
        g,
        ropeProgram({ ...o, inverse: true }),
        { x: f32s(fwd['x']!, T * stride), positions: Uint32Array.from(c.positions), table },
        { T },
        ['x'],
      );
      expectClose(f32s(back['x']!, T * stride), dy, (i) => 4 * tol(i), 'inverse(forward(x)) = x');
    }
  });
});
