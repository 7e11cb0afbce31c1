/**
 * Deadlock of a schedule table (PP5001), found from the table alone: the checker
 * runs it on a hand-written `actions` table without lowering the plan, and the graph
 * simulation (src/graph/simulate.ts) reports what it finds on the lowered graph in
 * the same words, with the same grid.
 *
 * On a table that passed the per-rank checks (each rank runs a forward before its
 * backward, I before W), the lowered graph blocks exactly where the table does: an
 * action waits only for the message of the neighbouring stage, which is sent when
 * that stage's action ends (src/lower/pipeline.ts). So `simulateTable`'s stuck ranks
 * are the graph's, and what they wait for is named as the graph names it.
 */
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Span } from '../source.js';
import { simulateTable } from './bubble.js';
import { formatAction, type Action, type ScheduleTable } from './types.js';

/** The activation virtual stage `stage` receives from the stage before it. */
export function stageInput(stage: number): string {
  return `hidden.s${stage}`;
}

/** The gradient virtual stage `stage` sends back to the stage before it (the gradient of its input). */
export function stageInputGrad(stage: number): string {
  return `grad.hidden.s${stage}`;
}

/** A rank that cannot move. */
export interface Stuck {
  rank: number;
  /** Index into the rank's actions of the action it is stuck in (−1 before the first). */
  actionIndex: number;
  action?: string;
  waitingFor: string;
}

/** One rank's row of the grid: its actions in order (`0F3`). */
export interface GridRow {
  rank: number;
  actions: string[];
}

/** Rows: ranks; columns: their actions in order; the action each stuck rank cannot finish in brackets. */
export function deadlockGrid(rows: readonly GridRow[], stuck: readonly Stuck[]): string {
  const stuckAt = new Map(stuck.map((s) => [s.rank, s.actionIndex]));
  const width = Math.max(3, ...rows.flatMap((t) => t.actions.map((a) => a.length + 2)));
  const lines = rows.map((t) => {
    const cells = t.actions.map((a, i) => (stuckAt.get(t.rank) === i ? `[${a}]` : ` ${a} `).padEnd(width));
    return `rank ${String(t.rank).padStart(3)} | ${cells.join('')}`.trimEnd();
  });
  return lines.join('\n');
}

/** PP5001 at `span`: what the first stuck ranks wait for, and the grid. */
export function deadlockDiagnostic(stuck: readonly Stuck[], grid: string, span: Span | undefined): Diagnostic {
  const detail = stuck
    .slice(0, 3)
    .map((s) => `rank ${s.rank}${s.action ? ` in ${s.action}` : ''} waits for ${s.waitingFor}`)
    .join('; ');
  return diag('PP5001', span, { detail }, { help: `no rank can move; the stuck actions are in brackets:\n${grid}` });
}

export interface TableDeadlock {
  stuck: Stuck[];
  grid: string;
  /** The cell of the first stuck action (where it was written, for an inline table). */
  span?: Span;
}

/**
 * Simulates a per-rank-checked table for `stages` virtual stages; undefined when every
 * rank finishes. `ranks[r]` is the device rank that runs pipeline rank r (the graph's
 * numbering: tensor rank 0 of replica 0).
 */
export function tableDeadlock(table: ScheduleTable, stages: number, ranks: readonly number[]): TableDeadlock | undefined {
  const timing = simulateTable(table, { stages });
  if (timing.ok) return undefined;
  const p = table.length;
  const home = (a: Action) => ranks[a.stage % p]!;
  const stuck = timing.stuck.map((s): Stuck => {
    // The first input not there (the forward on the same rank always is): a neighbour's message.
    const w = s.waitsFor[0];
    const waitingFor = !w
      ? 'nothing'
      : w.action.kind === 'F'
        ? `'${stageInput(w.action.stage + 1)}' of microbatch ${w.action.microbatch} from rank ${home(w.action)}`
        : `'${stageInputGrad(w.action.stage)}' of microbatch ${w.action.microbatch} from rank ${home(w.action)}`;
    return { rank: ranks[s.rank]!, actionIndex: s.index, action: formatAction(s.action), waitingFor };
  });
  const grid = deadlockGrid(
    table.map((list, r) => ({ rank: ranks[r]!, actions: list.map(formatAction) })),
    stuck,
  );
  const first = timing.stuck[0]!;
  const span = table[first.rank]?.[first.index]?.span;
  return { stuck, grid, ...(span ? { span } : {}) };
}
