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
        const got = f32s(
          (await runOnce(g, plain, { ids, table: encode(t.format, table0), out: { bytes: T * hidden * 4 } }, { T }, ['out']))['out']!,
          T * hidden,
        );
        expect(Array.from(got)).toEqual(Array.from(embedding(ids, table, hidden)));
        for (const pf of ['f32', 'bf16'] as const) {
          const maxPositions = 9;
          const pos0 = uniform(r, maxPositions * hidden);
          const pos = roundAll(pf, pos0);
          const positions = Uint32Array.from([0, 1, 2, 8, 4, 9]);
          const p = embeddingProgram({ hidden, vocab, table: t, positional: { maxPositions, table: { format: pf } } });
          const out = await runOnce(
            g,
            p,
            { ids, table: encode(t.format, table0), positions, posTable: encode(pf, pos0), out: { bytes: T * hidden * 4 } },
            { T },
            ['out'],
          );
          expect(Array.from(f32s(out['out']!, T * hidden))).toEqual(Array.from(embedding(ids, table, hidden, { positions, table: pos })));
        }
      }
    });
  });
});

describe('embedding over row blocks (a table split over several bindings)', async () => {
  const g = await testGpu();
  it('the first block writes every token, the others add their own ids; a split position table accumulates with ids = positions', async () => {
    const hidden = 6;
    const vocab = 23;
    const r = rng(6100);
    const ids = Uint32Array.from([0, 22, 7, 8, 15, 16, 0xffffffff, 9]);
    const positions = Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 12]);
    const T = ids.length;
    for (const format of ['f32', 'bf16'] as const) {
      const table0 = uniform(r, vocab * hidden);
      const pos0 = uniform(r, 10 * hidden);
      // blocks of 8 rows: [0, 8), [8, 16), [16, 23); positions [0, 4), [4, 10)
      let out: ArrayBuffer = new Float32Array(T * hidden).fill(99).buffer;
      const gather = async (table: Float32Array, b0: number, b1: number, idBuf: Uint32Array, accumulate: boolean) => {
        const p = embeddingProgram({ hidden, vocab: b1 - b0, rowBase: b0, table: { format }, accumulate });
        out = (
          await runOnce(
            g,
            p,
            { ids: idBuf, table: encode(format, table.subarray(b0 * hidden, b1 * hidden)), out: new Float32Array(out) },
            { T },
            ['out'],
          )
        )['out']!;
      };
      await gather(table0, 0, 8, ids, false);
      await gather(table0, 8, 16, ids, true);
      await gather(table0, 16, 23, ids, true);
      await gather(pos0, 0, 4, positions, true);
      await gather(pos0, 4, 10, positions, true);
      const want = embedding(ids, roundAll(format, table0), hidden, { positions, table: roundAll(format, pos0) });
      expect(Array.from(f32s(out, T * hidden)), format).toEqual(Array.from(want));
    }
    expect(() => embeddingProgram({ hidden, vocab, accumulate: true, positional: { maxPositions: 4 } })).toThrow(
      /accumulate takes no positional table/,
    );
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
