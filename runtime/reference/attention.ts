/**
 * Reference KV cache and attention (f64 arithmetic), the definition the attention kernels
 * are tested against and what the reference model uses.
 *
 * Cache layout per layer: [slots, maxSeq, kvHeads, headDim], as the GPU's. Values written
 * are rounded to the cache's storage format (f32, or bf16/f16 round-to-nearest-even), so
 * the reference attends over exactly what a cache of that format holds.
 */
import type { TensorFormat } from '../wgsl/dtype.js';
import { roundTo } from './dtype.js';

export interface CacheShape {
  slots: number;
  maxSeq: number;
  kvHeads: number;
  headDim: number;
}

export class RefKvCache {
  readonly k: Float32Array;
  readonly v: Float32Array;
  constructor(
    readonly shape: CacheShape,
    readonly format: TensorFormat = 'f32',
  ) {
    const n = shape.slots * shape.maxSeq * shape.kvHeads * shape.headDim;
    this.k = new Float32Array(n);
    this.v = new Float32Array(n);
  }

  /** Write rows k[t], v[t] ([T, kvHeads·headDim]) at (slots[t], positions[t]); out-of-range tokens are skipped. */
  write(k: ArrayLike<number>, v: ArrayLike<number>, slots: ArrayLike<number>, positions: ArrayLike<number>): void {
    const { slots: S, maxSeq, kvHeads, headDim } = this.shape;
    const row = kvHeads * headDim;
    for (let t = 0; t < slots.length; t++) {
      const s = slots[t]!;
      const p = positions[t]!;
      if (s >= S || p >= maxSeq) continue;
      const dst = (s * maxSeq + p) * row;
      for (let e = 0; e < row; e++) {
        this.k[dst + e] = roundTo(this.format, k[t * row + e]!);
        this.v[dst + e] = roundTo(this.format, v[t * row + e]!);
      }
    }
  }
}

/**
 * out[t, h] = Σⱼ softmax_j(cap(q[t,h]·k[slot, j, h/(H/KVH)] · scale)) · v[slot, j, …], j = 0 … positions[t]
 * (causal over the slot's cache, grouped-query). Returns [T, heads·headDim].
 */
export function attention(
  q: ArrayLike<number>,
  cache: RefKvCache,
  heads: number,
  slots: ArrayLike<number>,
  positions: ArrayLike<number>,
  scale?: number,
  /** Sliding window: positions[t] − window + 1 … positions[t] (HF: kv_idx > q_idx − sliding_window); absent: all. */
  window?: number,
  /** Scores soft-capped, cap · tanh(s · scale / cap), before the softmax (Gemma-2's attn_logit_softcapping); absent: none. */
  softcap?: number,
): Float32Array {
  const { maxSeq, kvHeads, headDim: D } = cache.shape;
  const group = heads / kvHeads;
  if (!Number.isInteger(group)) throw new Error(`attention: heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
  const sc = scale ?? 1 / Math.sqrt(D);
  const T = slots.length;
  const out = new Float32Array(T * heads * D);
  const scores = new Float64Array(maxSeq);
  const acc = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    const slot = slots[t]!;
    if (slot >= cache.shape.slots) continue;
    const L = Math.min(positions[t]!, maxSeq - 1) + 1;
    const j0 = window !== undefined && L > window ? L - window : 0;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const qb = (t * heads + h) * D;
      let m = -Infinity;
      for (let j = j0; j < L; j++) {
        const kb = ((slot * maxSeq + j) * kvHeads + kvh) * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qb + d]! * cache.k[kb + d]!;
        scores[j] = softcap === undefined ? s * sc : softcap * Math.tanh((s * sc) / softcap);
        m = Math.max(m, scores[j]!);
      }
      let sum = 0;
      acc.fill(0);
      for (let j = j0; j < L; j++) {
        const p = Math.exp(scores[j]! - m);
        sum += p;
        const vb = ((slot * maxSeq + j) * kvHeads + kvh) * D;
        for (let d = 0; d < D; d++) acc[d] = acc[d]! + p * cache.v[vb + d]!;
      }
      for (let d = 0; d < D; d++) out[qb + d] = acc[d]! / sum;
    }
  }
  return out;
}
