/**
 * Row-wise softmax against the f64 reference, rows × cols from 1×1 to 3×1000, with a
 * large spread of logits (±30, so an unstable implementation overflows). Tolerance:
 * (cols + 16)·2·2⁻²⁴·want + 1e-12 (the row sum is O(cols·u) relative; exp a few ulp).
 */
import { describe, it } from 'vitest';
import { softmaxProgram } from '../../runtime/kernels/softmax.js';
import { softmax } from '../../runtime/reference/softmax.js';
import { expectClose, f32s, rng, runOnce, testGpu, U32, uniform } from './util.js';

describe('softmax', async () => {
  const g = await testGpu();
  let seed = 4000;
  for (const inplace of [false, true]) {
    it(`row-wise, stable${inplace ? ', in place' : ''}`, async () => {
      for (const [rows, cols] of [
        [1, 1],
        [4, 3],
        [2, 100],
        [3, 1000],
        [5, 65],
      ] as const) {
        const x = uniform(rng(seed++), rows * cols, -30, 30);
        x[0] = 88; // exp(88) overflows f32 unless the maximum is subtracted
        const p = softmaxProgram({ inplace });
        const out = await runOnce(g, p, inplace ? { x } : { x, y: { bytes: x.byteLength } }, { rows, cols }, [inplace ? 'x' : 'y']);
        const want = softmax(x, rows, cols);
        expectClose(
          f32s(out[inplace ? 'x' : 'y']!, rows * cols),
          want,
          (i) => (cols + 16) * 2 * U32 * want[i]! + 1e-12,
          `softmax ${rows}×${cols}`,
        );
      }
    });
  }
});
