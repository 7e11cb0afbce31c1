/**
 * Interleaved 1F1B (Narayanan et al. 2021, §2.2; Megatron-LM
 * `forward_backward_pipelining_with_interleaving`; PyTorch `ScheduleInterleaved1F1B`).
 *
 * Each rank holds v model chunks; virtual stage c = chunk × p + rank runs on rank
 * c % p. A rank walks a list of m × v "virtual microbatches" k. Megatron's lookup
 * table (`get_schedule_table`, microbatch_group_size_per_vp_stage = p, its default)
 * takes the microbatches p at a time and, within each group, runs chunk 0 for the
 * group, then chunk 1, …, chunk v − 1:
 *
 *   k  →  (microbatch, chunk):  (0,0) (1,0) … (p−1,0) (0,1) … (p−1,v−1) (p,0) …
 *
 * Forward k runs that chunk and microbatch. Backward k runs the mirrored chunk
 * v − 1 − chunk(k) (`get_model_chunk_id(k, forward=False)`) on the same microbatch:
 * backwards start from the last chunk, and each chunk's backwards pop its stored
 * inputs first-in first-out, so they come in microbatch order.
 *
 * Rank r first runs warmup = min((p − r − 1)·2 + (v − 1)·p, m·v) forwards
 * (`get_pp_rank_microbatches`), then, for each remaining forward, forward
 * warmup + j followed by backward j (steady 1F1B), then the remaining backwards.
 * Megatron requires m to be a multiple of p (m ≥ p) for this order.
 */
import type { ScheduleTable } from './types.js';
import { act, requireCount } from './util.js';

/** Megatron's `get_schedule_table`: virtual microbatch k → (microbatch, chunk), with groups of `group` microbatches. */
export function interleavedOrder(microbatches: number, virtual: number, group: number): { microbatch: number; chunk: number }[] {
  const order: { microbatch: number; chunk: number }[] = [];
  for (let first = 0; first < microbatches; first += group) {
    // The last group takes every microbatch left (Megatron's rule; empty when m % group == 0).
    const end = first + group >= microbatches ? microbatches : first + group;
    for (let chunk = 0; chunk < virtual; chunk++) for (let i = first; i < end; i++) order.push({ microbatch: i, chunk });
  }
  return order;
}

/** Forwards rank `rank` runs before its first backward. */
export function interleavedWarmup(pipeline: number, rank: number, microbatches: number, virtual: number): number {
  return Math.min((pipeline - rank - 1) * 2 + (virtual - 1) * pipeline, microbatches * virtual);
}

export function interleaved(pipeline: number, microbatches: number, virtual: number): ScheduleTable {
  requireCount('pipeline', pipeline);
  requireCount('microbatches', microbatches);
  requireCount('virtual', virtual);
  if (microbatches % pipeline !== 0) {
    throw new RangeError(`interleaved 1F1B needs microbatches (${microbatches}) to be a multiple of pipeline (${pipeline})`);
  }
  const p = pipeline;
  const v = virtual;
  const total = microbatches * v;
  const order = interleavedOrder(microbatches, v, p);
  const table: ScheduleTable = [];
  for (let r = 0; r < p; r++) {
    const forward = (k: number) => act(order[k]!.chunk * p + r, 'F', order[k]!.microbatch);
    const backward = (k: number) => act((v - 1 - order[k]!.chunk) * p + r, 'B', order[k]!.microbatch);
    const warmup = interleavedWarmup(p, r, microbatches, v);
    const list = [];
    for (let k = 0; k < warmup; k++) list.push(forward(k));
    for (let j = 0; j < total - warmup; j++) {
      list.push(forward(warmup + j));
      list.push(backward(j));
    }
    for (let j = total - warmup; j < total; j++) list.push(backward(j));
    table.push(list);
  }
  return table;
}
