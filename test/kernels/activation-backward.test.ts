/**
 * GELU (tanh), SwiGLU and GeGLU backward against the f64 reference (checked against torch in
 * backward-oracle.test.ts), out of place and in place, n = 1, 37, 1000 (not a multiple of the
 * workgroup), inputs up to ±12 (tanh and exp saturate). Tolerance: 16·2⁻²⁴ of the magnitude of
 * the terms (a few roundings of tanh/exp and products; tanh's absolute error is bounded too).
 */
import { describe, it } from 'vitest';
import { gegluBackwardProgram, geluBackwardProgram, swigluBackwardProgram } from '../../runtime/kernels/activation-backward.js';
import { geluBackward, gluBackward } from '../../runtime/reference/backward.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32 } from './util.js';

describe('activation backward', async () => {
  const g = await testGpu();
  let seed = 18000;
  for (const inplace of [false, true]) {
    it(`gelu${inplace ? ' in place (dy ← dx)' : ''}`, async () => {
      for (const n of [1, 37, 1000]) {
        const r = rng(seed++);
        const x = normal(r, n, 3);
        x[0] = 12;
        const dy = normal(r, n);
        const out = await runOnce(g, geluBackwardProgram({ inplace }), inplace ? { x, dy } : { x, dy, dx: { bytes: n * 4 } }, { n }, [
          inplace ? 'dy' : 'dx',
        ]);
        const want = geluBackward(x, dy);
        // gelu′ = 0.5(1+t) + 0.5·x(1−t²)·k(1+3k₁x²): each term's size bounds its rounding
        const mag = (i: number) => Math.abs(dy[i]!) * (1 + Math.abs(x[i]!) * (1 + 0.14 * x[i]! * x[i]!));
        expectClose(f32s(out[inplace ? 'dy' : 'dx']!, n), want, (i) => 32 * U32 * mag(i) + 1e-30, `gelu backward n=${n}`);
      }
    });
    for (const kind of ['swiglu', 'geglu'] as const)
      it(`${kind}${inplace ? ' in place (gate ← dgate, up ← dup)' : ''}`, async () => {
        for (const n of [1, 37, 1000]) {
          const r = rng(seed++);
          const gate = normal(r, n, 3);
          gate[0] = -12;
          const up = normal(r, n);
          const dy = normal(r, n);
          const p = (kind === 'swiglu' ? swigluBackwardProgram : gegluBackwardProgram)({ inplace });
          const out = await runOnce(
            g,
            p,
            inplace ? { gate, up, dy } : { gate, up, dy, dgate: { bytes: n * 4 }, dup: { bytes: n * 4 } },
            { n },
            inplace ? ['gate', 'up'] : ['dgate', 'dup'],
          );
          const want = gluBackward(kind, gate, up, dy);
          const mag = (i: number) =>
            Math.abs(dy[i]!) * (1 + Math.abs(up[i]!)) * (1 + Math.abs(gate[i]!) * (1 + 0.14 * gate[i]! * gate[i]!));
          expectClose(f32s(out[inplace ? 'gate' : 'dgate']!, n), want.dgate, (i) => 32 * U32 * mag(i) + 1e-30, `${kind} dgate n=${n}`);
          expectClose(f32s(out[inplace ? 'up' : 'dup']!, n), want.dup, (i) => 32 * U32 * mag(i) + 1e-30, `${kind} dup n=${n}`);
        }
      });
  }
});
