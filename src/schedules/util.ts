/** Shared helpers of the schedule generators (not exported from the package). */
import type { Action, ActionKind } from './types.js';

export function act(stage: number, kind: ActionKind, microbatch: number): Action {
  return { stage, kind, microbatch };
}

/** Generators take whole numbers ≥ 1; anything else is a bug in the caller (the checker proves these). */
export function requireCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a whole number ≥ 1, got ${n}`);
}
