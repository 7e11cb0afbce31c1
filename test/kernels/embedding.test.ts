/**
 * Embedding gather (token table in every storage type, optional learned positions in
 * another) and argmax, against the reference. Both are exact: a gather reads decoded
 * values, one f32 addition rounds like the reference's, argmax compares.
 */
import { describe, expect, it } from 'vitest';
import { argmaxProgram } from '../../runtime/kernels/argmax.js';
import { embeddingProgram } from '../../runtime/kernels/embedding.js';
import { argmax } from '../../runtime/reference/argmax.js';
import { encode, roundAll } from '../../runtime/reference/dtype.js';
import { embedding } from '../../runtime/reference/embedding.js';
import { f32s, rng, runOnce, tensorTypes, testGpu, u32s, uniform } from './util.js';

describe('embedding', async () => {
  const g = await testGpu();
  let seed = 6000;
  describe.each(tensorTypes(g))('table $tag', ({ t }) => {
    it('token rows, odd hidden, an out-of-range id gives zeros; GPT-2 learned positions (f32 and bf16)', async () => {
      for (const hidden of [7, 8, 1]) {
        const vocab = 11;
        const r = rng(seed++);
        const table0 = uniform(r, vocab * hidden);
        const table = roundAll(t.format, table0);
        const ids = Uint32Array.from([3, 0, 10, 3, 11, 5]);
        const T = ids.length;
        const plain = embeddingProgram({ hidden, vocab, table: t });
        const got = f32s((await runOnce(g, plain, { ids, table: encode(t.format, table0), out: { bytes: T * hidden * 4 } }, { T }, ['out']))['out']!, T * hidden);
        expect(Array.from(got)).toEqual(Array.from(embedding(ids, table, hidden)));
        for (const pf of ['f32', 'bf16'] as const) {
          const maxPositions = 9;
          const pos0 = uniform(r, maxPositions * hidden);
          const pos = roundAll(pf, pos0);
          const positions = Uint32Array.from([0, 1, 2, 8, 4, 9]);
          const p = embeddingProgram({ hidden, vocab, table: t, positional: { maxPositions, table: { format: pf } } });
          const out = await runOnce(g, p, { ids, table: encode(t.format, table0), positions, posTable: encode(pf, pos0), out: { bytes: T * hidden * 4 } }, { T }, ['out']);
          expect(Array.from(f32s(out['out']!, T * hidden))).toEqual(Array.from(embedding(ids, table, hidden, { positions, table: pos })));
        }
      }
    });
  });
});

describe('argmax', async () => {
  const g = await testGpu();
  let seed = 7000;
  it('first index of the row maximum; padded rows (stride > cols); ties; index base and values', async () => {
    for (const [rows, cols, stride] of [
      [1, 1, 1],
      [3, 5, 5],
      [4, 1000, 1000],
      [2, 1001, 1024],
      [9, 300, 300],
    ] as const) {
      const x = uniform(rng(seed++), rows * stride, -5, 5);
      // padding beyond cols holds the largest values: it must be ignored
      for (let r = 0; r < rows; r++) for (let c = cols; c < stride; c++) x[r * stride + c] = 100;
      if (cols >= 5) {
        // a tie in row 0: the first of two equal maxima wins
        x[3] = 50;
        x[1] = 50;
      }
      const p = argmaxProgram({ cols, rowStride: stride });
      const out = await runOnce(g, p, { x, out: { bytes: rows * 4 } }, { rows }, ['out']);
      const want = argmax(x, rows, cols, stride);
      expect(Array.from(u32s(out['out']!, rows))).toEqual(Array.from(want));
      if (cols >= 5) expect(want[0]).toBe(1);
      const pv = argmaxProgram({ cols, rowStride: stride, indexBase: 1000, values: true });
      const outv = await runOnce(g, pv, { x, out: { bytes: rows * 4 }, maxValues: { bytes: rows * 4 } }, { rows }, ['out', 'maxValues']);
      expect(Array.from(u32s(outv['out']!, rows))).toEqual(Array.from(want, (i) => i + 1000));
      expect(Array.from(f32s(outv['maxValues']!, rows))).toEqual(Array.from(want, (i, r) => x[r * stride + i]!));
    }
  });
});
