/**
 * 1F1B, "PipeDream-flush" (Narayanan et al. 2021; Megatron-LM
 * `forward_backward_pipelining_without_interleaving`, PyTorch `Schedule1F1B`).
 * Rank r (stage r) runs warmup = min(p − r − 1, m) forwards, then alternates one
 * forward and one backward until the forwards run out (steady state), then the
 * remaining backwards (cooldown). Microbatches in order in both directions; at most
 * min(m, p − r) microbatches are in flight on stage r.
 */
import type { ScheduleTable } from './types.js';
import { act, requireCount } from './util.js';

/** Forwards rank `rank` runs before its first backward. */
export function oneFOneBWarmup(pipeline: number, rank: number, microbatches: number): number {
  return Math.min(pipeline - rank - 1, microbatches);
}

export function oneFOneB(pipeline: number, microbatches: number): ScheduleTable {
  requireCount('pipeline', pipeline);
  requireCount('microbatches', microbatches);
  const table: ScheduleTable = [];
  for (let r = 0; r < pipeline; r++) {
    const warmup = oneFOneBWarmup(pipeline, r, microbatches);
    const list = [];
    for (let i = 0; i < warmup; i++) list.push(act(r, 'F', i));
    for (let i = 0; i < microbatches - warmup; i++) {
      list.push(act(r, 'F', warmup + i));
      list.push(act(r, 'B', i));
    }
    for (let i = microbatches - warmup; i < microbatches; i++) list.push(act(r, 'B', i));
    table.push(list);
  }
  return table;
}
