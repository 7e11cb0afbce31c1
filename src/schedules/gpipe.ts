/**
 * GPipe (Huang et al. 2019; PyTorch `ScheduleGPipe`): every pipeline rank runs the
 * forward of all microbatches, then all the backwards, both in microbatch order.
 * Every microbatch's activations are held at once (m in flight per stage).
 */
import type { ScheduleTable } from './types.js';
import { act, requireCount } from './util.js';

export function gpipe(pipeline: number, microbatches: number): ScheduleTable {
  requireCount('pipeline', pipeline);
  requireCount('microbatches', microbatches);
  const table: ScheduleTable = [];
  for (let r = 0; r < pipeline; r++) {
    const list = [];
    for (let i = 0; i < microbatches; i++) list.push(act(r, 'F', i));
    for (let i = 0; i < microbatches; i++) list.push(act(r, 'B', i));
    table.push(list);
  }
  return table;
}
