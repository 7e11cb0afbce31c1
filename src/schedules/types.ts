/**
 * Pipeline schedules as data, in the style of PyTorch's `torch.distributed.pipelining`
 * (`_Action`): each pipeline rank runs an ordered list of actions, each action is
 * (virtual stage, computation, microbatch). Named schedules (GPipe, 1F1B,
 * interleaved 1F1B) generate such tables; a plan may also give one inline.
 */
import type { Span } from '../source.js';

/**
 * F: forward; B: full backward (input and weight gradients);
 * I: backward for the input gradient only; W: backward for the weight gradient only
 * (zero-bubble schedules split B into I then W).
 */
export type ActionKind = 'F' | 'B' | 'I' | 'W';

export interface Action {
  /** Virtual stage (model chunk) index, 0 … pipeline × virtual − 1. Chunk `c` runs on pipeline rank `c % pipeline`. */
  stage: number;
  kind: ActionKind;
  microbatch: number;
  /** Where the action was written, for inline tables (diagnostics point at the cell). */
  span?: Span;
}

/** One list of actions per pipeline rank, in execution order. */
export type ScheduleTable = Action[][];

/** `0F3` (PyTorch's notation): virtual stage 0, forward, microbatch 3. */
export function formatAction(a: Action): string {
  return `${a.stage}${a.kind}${a.microbatch}`;
}
