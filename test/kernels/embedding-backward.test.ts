/**
 * Embedding backward against the f64 reference (checked against torch in
 * backward-oracle.test.ts): repeated ids, a vocab split in two shards (ids of the other shard
 * and ids beyond the table contribute nothing), accumulation onto a non-zero gradient (the
 * tied head's, or an earlier microbatch), hidden below and above the workgroup, and learned
 * positions (ids = positions). Tolerance (repeats + 2)·2⁻²⁴·Σ|terms|: sums in token order.
 */
import { describe, it } from 'vitest';
import { embeddingBackwardProgram } from '../../runtime/kernels/embedding-backward.js';
import { embeddingBackward } from '../../runtime/reference/backward.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32 } from './util.js';

describe('embedding backward', async () => {
  const g = await testGpu();
  let seed = 21000;
  it('scatter-add into two vocab shards, accumulated; positions', async () => {
    for (const { vocab, hidden, ids } of [
      { vocab: 11, hidden: 5, ids: [3, 7, 3, 10, 0, 5, 3, 99] },
      { vocab: 9, hidden: 70, ids: [8, 8, 8, 1, 0, 4, 4, 2, 6, 7, 8] },
      { vocab: 16, hidden: 3, ids: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] }, // positions 0 … T−1
    ]) {
      const r = rng(seed++);
      const T = ids.length;
      const dX = normal(r, T * hidden);
      const split = Math.ceil(vocab / 2);
      for (const [rowBase, rows] of [
        [0, split],
        [split, vocab - split],
      ] as const) {
        const prior = normal(r, rows * hidden);
        const out = await runOnce(
          g,
          embeddingBackwardProgram({ hidden, rows, rowBase }),
          { ids: Uint32Array.from(ids), dX, grad: prior },
          { T },
          ['grad'],
        );
        const want = embeddingBackward(ids, dX, hidden, rows, rowBase, prior);
        const mag = embeddingBackward(ids, dX.map(Math.abs), hidden, rows, rowBase, prior.map(Math.abs));
        expectClose(
          f32s(out['grad']!, rows * hidden),
          want,
          (i) => (T + 2) * U32 * mag[i]! + 1e-30,
          `embedding grad rows ${rowBase}+${rows} of ${vocab}`,
        );
      }
    }
  });
});
