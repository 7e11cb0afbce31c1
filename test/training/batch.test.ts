/** trainer.step's batch checks (runtime/training/batch.ts): every wrong batch is a BatchError saying what was expected and given. */
import { describe, expect, it } from 'vitest';
import { BatchError, checkBatch } from '../../runtime/training/batch.js';

const shape = { sequences: 2, seq: 3, vocab: 10 };
const good = [
  [1, 2, 3, 4],
  [9, 0, 5, 5],
];

function error(batch: unknown): string {
  try {
    checkBatch(batch, shape);
  } catch (e) {
    expect(e).toBeInstanceOf(BatchError);
    return (e as Error).message;
  }
  throw new Error('no BatchError');
}

describe('checkBatch', () => {
  it('returns the batch row-major as Int32Array; typed rows are accepted', () => {
    expect([...checkBatch(good, shape)]).toEqual([1, 2, 3, 4, 9, 0, 5, 5]);
    expect([...checkBatch([Uint16Array.of(1, 2, 3, 4), Int32Array.of(9, 0, 5, 5)], shape)]).toEqual([1, 2, 3, 4, 9, 0, 5, 5]);
  });

  it.each([
    [
      'not an array',
      'tokens',
      'the batch must be an array of 2 sequences of 4 tokens (seq 3 + 1: inputs and next-token labels), got string',
    ],
    ['too few sequences', [good[0]], 'the batch has 1 sequences; expected 2 sequences of 4 tokens'],
    ['too many sequences', [...good, good[0]], 'the batch has 3 sequences; expected 2 sequences of 4 tokens'],
    [
      'a sequence of seq tokens (labels forgotten)',
      [good[0], [9, 0, 5]],
      'sequence 1 of the batch has 3 tokens; expected 2 sequences of 4 tokens',
    ],
    ['a sequence that is not an array', [good[0], 7], 'sequence 1 of the batch is not an array of token ids (got 7)'],
    ['a fractional id', [[1, 2.5, 3, 4], good[1]], 'sequence 0, position 1: token 2.5 is not an integer token id'],
    ['a string id', [good[0], [9, 0, '5', 5]], 'sequence 1, position 2: token "5" is not an integer token id'],
    ['NaN', [good[0], [9, 0, 5, NaN]], 'sequence 1, position 3: token NaN is not an integer token id'],
    ['a token ≥ vocab', [good[0], [9, 10, 5, 5]], 'sequence 1, position 1: token 10 is outside the vocabulary (0 … 9, vocab 10)'],
    ['a negative token', [[-1, 2, 3, 4], good[1]], 'sequence 0, position 0: token -1 is outside the vocabulary'],
  ])('%s', (_, batch, message) => {
    expect(error(batch)).toContain(message);
  });
});
