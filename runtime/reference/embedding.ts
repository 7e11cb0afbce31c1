import type { TensorFormat } from '../wgsl/dtype.js';
import { roundTo } from './dtype.js';
import { tensorFormatOf } from '../../src/facts/dtypes.js';

/**
 * Gemma's embedding normalizer: √hidden rounded to the hidden states' dtype, as HF's
 * `torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)` (modeling_gemma2.py: bf16
 * gives √3584 = 59.75, not 59.8665); the runtime and the reference both use it.
 */
export function embeddingNormalizer(hidden: number, format: TensorFormat): number {
  return roundTo(format, Math.sqrt(hidden));
}

/**
 * The factor a model's token embeddings are scaled by, or undefined when they are not
 * (`scaleEmbeddings`): the normalizer in the weights' dtype (`dtype`; f32 for one without a
 * float format). The runtime and the reference both ask here.
 */
export function embeddingScale(m: { hidden: number; dtype: string; scaleEmbeddings?: boolean }): number | undefined {
  return m.scaleEmbeddings ? embeddingNormalizer(m.hidden, tensorFormatOf(m.dtype) ?? 'f32') : undefined;
}

/** Reference embedding gather: out[t] = table[ids[t]] (+ posTable[positions[t]]); out-of-range rows give zeros. */
export function embedding(
  ids: ArrayLike<number>,
  table: ArrayLike<number>,
  hidden: number,
  pos?: { positions: ArrayLike<number>; table: ArrayLike<number> },
): Float32Array {
  const T = ids.length;
  const vocab = table.length / hidden;
  const out = new Float32Array(T * hidden);
  for (let t = 0; t < T; t++) {
    const id = ids[t]!;
    const p = pos?.positions[t];
    const maxPos = pos ? pos.table.length / hidden : 0;
    for (let c = 0; c < hidden; c++) {
      let v = id < vocab ? table[id * hidden + c]! : 0;
      if (pos && p! < maxPos) v += pos.table[p! * hidden + c]!;
      out[t * hidden + c] = v;
    }
  }
  return out;
}
