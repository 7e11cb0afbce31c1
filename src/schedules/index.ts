/**
 * Pipeline schedules as data: the named schedules as generators, inline tables,
 * and a timing model of a table (bubble, deadlock).
 */
import { gpipe } from './gpipe.js';
import { interleaved } from './interleaved.js';
import { oneFOneB } from './one-f-one-b.js';
import type { ScheduleTable } from './types.js';

export type { Action, ActionKind, ScheduleTable } from './types.js';
export { formatAction } from './types.js';
export { gpipe } from './gpipe.js';
export { oneFOneB, oneFOneBWarmup } from './one-f-one-b.js';
export { interleaved, interleavedOrder, interleavedWarmup } from './interleaved.js';
export { formatTable, parseAction, parseActionTable, type ParsedTable, type ParseTableOptions } from './table.js';
export {
  DEFAULT_DURATIONS,
  peakInFlight,
  peakWeighted,
  simulateTable,
  type Awaited,
  type Deadlock,
  type Durations,
  type RankTiming,
  type StuckRank,
  type TableTiming,
  type TimedAction,
  type Timing,
  type TimingOptions,
} from './bubble.js';

/**
 * What of a training plan decides its schedule (a TrainPlan is one). Declared here, not
 * taken from plan.ts: the plan's type holds a schedule table, so schedules/ sits below it.
 */
export interface ScheduleChoice {
  name: string;
  mesh: { pipeline: number };
  microbatches: number;
  schedule: 'gpipe' | '1f1b' | 'interleaved' | 'table';
  virtual: number;
  actions?: ScheduleTable;
}

/** The plan's schedule as a table: generated for a named schedule, the parsed `actions` for a table. */
export function scheduleFor(plan: ScheduleChoice): ScheduleTable {
  const p = plan.mesh.pipeline;
  const m = plan.microbatches;
  switch (plan.schedule) {
    case 'gpipe':
      return gpipe(p, m);
    case '1f1b':
      return oneFOneB(p, m);
    case 'interleaved':
      return interleaved(p, m, plan.virtual);
    case 'table':
      if (!plan.actions) throw new Error(`plan '${plan.name}' has schedule = table but no actions`);
      return plan.actions;
  }
}
