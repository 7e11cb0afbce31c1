/**
 * Splitting a weight over several storage bindings. WebGPU binds at most
 * `maxStorageBufferBindingSize` bytes of a buffer to one shader variable (128 MiB on
 * lavapipe, 2 GiB on an H200), which an f32 vocabulary table or a big projection can
 * exceed although the device has the memory. Such a tensor is stored as row blocks,
 * each in its own buffer, along its first dimension: the output features of a matmul
 * weight ([N, K]: each block is one dispatch writing its columns of the output) and
 * the vocabulary rows of an embedding table (each block gathers the ids in its rows;
 * as the tied output head, a matmul writing its slice of the logits).
 *
 * Block boundaries: every block but the last holds a multiple of 4 rows, so the
 * output column where each block starts stays vec4-aligned (the matmul's vector
 * stores and bias loads); when a row is so large that 4 rows do not fit, the smallest
 * count whose bytes are a multiple of 4 (packed 16-bit formats hold two values per
 * u32, so with an odd row length blocks take whole pairs of rows). Every block but
 * the last is then a whole number of 4-byte words, so the blocks' buffers add up to
 * the bytes of the unsplit buffer, which is what the memory plan counts.
 *
 * A layer's KV cache ([slots, seq, kvHeads, headDim] for K and the same for V) is split
 * into slot groups: block b holds slots [b·S, (b+1)·S), S the most slots whose K (or V)
 * fits one binding, the last block the rest. Each sequence's K and V then live in one
 * block, so its attention reads one binding; a slot's bytes are whole 4-byte words
 * (headDim is even), so the blocks again add up to the unsplit buffer.
 */
import { exactBytes } from '../src/format.js';
import type { Range } from './weights/slice.js';

export interface SplitTensor {
  /** Instance name, for messages. */
  name: string;
  shape: readonly number[];
  /** Bytes per element in the buffer (2 for packed bf16 / f16). */
  elementBytes: number;
}

export type SplitResult = { ok: true; blocks: Range[] } | { ok: false; problem: string };

/** A buffer's size as WebGPU allocates it: a whole number of 4-byte words. */
export function bufferBytes(bytes: number): number {
  return Math.max(4, Math.ceil(bytes / 4) * 4);
}

/**
 * The row blocks of `t` under a binding limit of `limit` bytes: one block (all rows)
 * when the tensor fits one binding, else as few blocks as the limit allows, all full
 * but the last. Not splittable: a 1-D tensor, or a row (pair of rows) larger than the limit.
 */
export function splitRows(t: SplitTensor, limit: number): SplitResult {
  const rows = t.shape[0] ?? 1;
  const rowElements = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const rowBytes = rowElements * t.elementBytes;
  const total = rows * rowBytes;
  if (bufferBytes(total) <= limit) return { ok: true, blocks: [[0, rows]] };
  const what = `${t.name} [${t.shape.join(', ')}] needs ${exactBytes(total)}, more than one binding of ${exactBytes(limit)}`;
  if (t.shape.length < 2) return { ok: false, problem: `${what}, and only tensors of two or more dimensions are split (by rows)` };
  // The fewest rows whose bytes are whole 4-byte words.
  const wordRows = rowBytes % 4 === 0 ? 1 : rowBytes % 2 === 0 ? 2 : 4;
  const fit = Math.floor(limit / rowBytes);
  const quantum = fit >= 4 ? 4 : wordRows;
  const per = fit - (fit % quantum);
  if (per < 1) {
    const need = wordRows * rowBytes;
    return {
      ok: false,
      problem: `${what}, and it is split by rows, but ${wordRows === 1 ? 'one row' : `${wordRows} rows (the fewest that fill whole 4-byte words)`} already take${wordRows === 1 ? 's' : ''} ${exactBytes(need)}`,
    };
  }
  const blocks: Range[] = [];
  for (let r = 0; r < rows; r += per) blocks.push([r, Math.min(rows, r + per)]);
  return { ok: true, blocks };
}

/** One layer's K (or V) cache on a device, as the memory plan sizes it. */
export interface KvCacheTensor {
  /** Its name in the graph, for messages (`kv.{l}`). */
  name: string;
  slots: number;
  seq: number;
  /** KV heads on this device. */
  kvHeads: number;
  headDim: number;
  /** Bytes per element (2 for bf16 / f16). */
  elementBytes: number;
}

/**
 * The slot blocks of a KV cache under a binding limit of `limit` bytes for its K (and
 * its V): one block when it fits, else blocks of the most whole slots that fit, all full
 * but the last. Not splittable: one slot larger than the limit.
 */
export function splitSlots(kv: KvCacheTensor, limit: number): SplitResult {
  const slotBytes = kv.seq * kv.kvHeads * kv.headDim * kv.elementBytes;
  const total = kv.slots * slotBytes;
  if (bufferBytes(total) <= limit) return { ok: true, blocks: [[0, kv.slots]] };
  const per = Math.floor(limit / slotBytes);
  const what = `${kv.name}: the K (and the V) cache of one layer [${kv.slots}, ${kv.seq}, ${kv.kvHeads}, ${kv.headDim}] needs ${exactBytes(total)}, more than one binding of ${exactBytes(limit)}`;
  if (per < 1 || slotBytes % 4 !== 0)
    return {
      ok: false,
      problem: `${what}, and it is split by slots (sequences), but one slot (one sequence's K, or its V) already takes ${exactBytes(slotBytes)}`,
    };
  const blocks: Range[] = [];
  for (let s = 0; s < kv.slots; s += per) blocks.push([s, Math.min(kv.slots, s + per)]);
  return { ok: true, blocks };
}
