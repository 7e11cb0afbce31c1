/**
 * A timing model of a schedule table: every rank runs its actions in order, each
 * action starts when its rank is free and its inputs exist, and takes a fixed time
 * by kind (F = 1, B = 2, I = W = 1 by default). This simulates the table only (no
 * communication cost unless `latency` is given, no memory), to measure the pipeline
 * bubble and to find tables that cannot make progress.
 *
 * Dependencies, for virtual stage c of S and microbatch i:
 *   F(c, i)      needs F(c − 1, i)                     (c > 0)
 *   B/I(c, i)    needs F(c, i), and B or I of (c + 1, i) (c < S − 1: the output gradient)
 *   W(c, i)      needs I(c, i)
 */
import type { Action, ActionKind, ScheduleTable } from './types.js';
import { formatAction } from './types.js';

export interface Durations {
  F: number;
  B: number;
  I: number;
  W: number;
}

export const DEFAULT_DURATIONS: Durations = { F: 1, B: 2, I: 1, W: 1 };

export interface TimingOptions {
  /** Per kind (missing kinds take the defaults), or per action. */
  durations?: Partial<Durations> | ((action: Action, rank: number) => number);
  /** Delay for an activation or gradient to reach another rank; 0 by default. */
  latency?: number;
  /** Virtual stages (pipeline × virtual); by default one more than the largest stage in the table. */
  stages?: number;
}

export interface TimedAction {
  action: Action;
  rank: number;
  /** Position in the rank's list. */
  index: number;
  start: number;
  end: number;
}

export interface RankTiming {
  rank: number;
  actions: TimedAction[];
  /** Sum of the action times. */
  busy: number;
  /** makespan − busy: waiting before, between and after its actions. */
  idle: number;
  /** idle / makespan. */
  bubble: number;
}

export interface Timing {
  ok: true;
  /** When the last action ends (the step starts at 0). */
  makespan: number;
  ranks: RankTiming[];
  /** Idle over all ranks / (ranks × makespan): the fraction of the step the pipeline wastes. */
  bubble: number;
}

/** Where an awaited action is in the table; `rank` undefined: no rank ever runs it. */
export interface Awaited {
  action: Action;
  rank?: number;
  index?: number;
}

export interface StuckRank {
  rank: number;
  /** Index of the action the rank cannot start. */
  index: number;
  action: Action;
  /** Its inputs that never become available. */
  waitsFor: Awaited[];
}

export interface Deadlock {
  ok: false;
  /** Every rank with actions left, at the first one it cannot start. */
  stuck: StuckRank[];
  /** Ranks waiting on each other in a cycle (each waits for the next, the last for the first), if there is one. */
  cycle?: number[];
  /** The actions that did run, with their times (what happened up to the deadlock). */
  ranks: RankTiming[];
  /** One line: "rank 0 waits at action 1 (0B0) for 1B0 (rank 1, action 3); …". */
  message: string;
}

export type TableTiming = Timing | Deadlock;

const key = (stage: number, kind: ActionKind, microbatch: number) => `${stage}${kind}${microbatch}`;

/** The actions `a` needs finished before it can start, as (stage, kinds, microbatch): any one of `kinds` satisfies it. */
function needs(a: Action, stages: number): { stage: number; kinds: ActionKind[]; microbatch: number }[] {
  const i = a.microbatch;
  switch (a.kind) {
    case 'F':
      return a.stage > 0 ? [{ stage: a.stage - 1, kinds: ['F'], microbatch: i }] : [];
    case 'B':
    case 'I': {
      const deps = [{ stage: a.stage, kinds: ['F'] as ActionKind[], microbatch: i }];
      if (a.stage < stages - 1) deps.push({ stage: a.stage + 1, kinds: ['B', 'I'], microbatch: i });
      return deps;
    }
    case 'W':
      return [{ stage: a.stage, kinds: ['I'], microbatch: i }];
  }
}

export function simulateTable(table: ScheduleTable, opts: TimingOptions = {}): TableTiming {
  const stages = opts.stages ?? Math.max(0, ...table.flat().map((a) => a.stage + 1));
  const latency = opts.latency ?? 0;
  const d = opts.durations;
  const byKind: Durations = { ...DEFAULT_DURATIONS, ...(typeof d === 'function' ? {} : d) };
  const duration = typeof d === 'function' ? d : (a: Action) => byKind[a.kind];

  // Where each action is (the first occurrence, should a table repeat one).
  const where = new Map<string, { rank: number; index: number }>();
  table.forEach((list, rank) =>
    list.forEach((a, index) => {
      const k = key(a.stage, a.kind, a.microbatch);
      if (!where.has(k)) where.set(k, { rank, index });
    }),
  );

  const done = new Map<string, { end: number; rank: number }>();
  const ranks: RankTiming[] = table.map((_, rank) => ({ rank, actions: [], busy: 0, idle: 0, bubble: 0 }));
  const next = table.map(() => 0);
  const free = table.map(() => 0);

  /** When `a` on `rank` may start as far as its inputs go, or undefined when one is not done yet. */
  const ready = (a: Action, rank: number): number | undefined => {
    let t = 0;
    for (const dep of needs(a, stages)) {
      let best: number | undefined;
      for (const kind of dep.kinds) {
        const got = done.get(key(dep.stage, kind, dep.microbatch));
        if (got) {
          const at = got.end + (got.rank === rank ? 0 : latency);
          best = best === undefined ? at : Math.min(best, at);
        }
      }
      if (best === undefined) return undefined;
      t = Math.max(t, best);
    }
    return t;
  };

  let progress = true;
  while (progress) {
    progress = false;
    for (let r = 0; r < table.length; r++) {
      const list = table[r]!;
      while (next[r]! < list.length) {
        const a = list[next[r]!]!;
        const at = ready(a, r);
        if (at === undefined) break;
        const start = Math.max(free[r]!, at);
        const end = start + duration(a, r);
        ranks[r]!.actions.push({ action: a, rank: r, index: next[r]!, start, end });
        ranks[r]!.busy += end - start;
        free[r] = end;
        const k = key(a.stage, a.kind, a.microbatch);
        if (!done.has(k)) done.set(k, { end, rank: r });
        next[r]!++;
        progress = true;
      }
    }
  }

  const makespan = Math.max(0, ...free);
  for (const rt of ranks) {
    rt.idle = makespan - rt.busy;
    rt.bubble = makespan > 0 ? rt.idle / makespan : 0;
  }

  const stuck: StuckRank[] = [];
  table.forEach((list, rank) => {
    const index = next[rank]!;
    if (index >= list.length) return;
    const action = list[index]!;
    const waitsFor: Awaited[] = [];
    for (const dep of needs(action, stages)) {
      if (dep.kinds.some((kind) => done.has(key(dep.stage, kind, dep.microbatch)))) continue;
      // Name the first kind the table has (B before I), else the first kind.
      const kind = dep.kinds.find((k) => where.has(key(dep.stage, k, dep.microbatch))) ?? dep.kinds[0]!;
      const at = where.get(key(dep.stage, kind, dep.microbatch));
      waitsFor.push({ action: { stage: dep.stage, kind, microbatch: dep.microbatch }, ...(at ?? {}) });
    }
    stuck.push({ rank, index, action, waitsFor });
  });

  if (stuck.length === 0) {
    const idle = ranks.reduce((s, rt) => s + rt.idle, 0);
    return { ok: true, makespan, ranks, bubble: makespan > 0 && ranks.length > 0 ? idle / (ranks.length * makespan) : 0 };
  }
  const cycle = findCycle(stuck);
  return { ok: false, stuck, ...(cycle ? { cycle } : {}), ranks, message: describeStuck(stuck) };
}

/** A cycle in "rank a waits for an action on rank b", if any. */
function findCycle(stuck: StuckRank[]): number[] | undefined {
  const waitsOn = new Map<number, number | undefined>();
  for (const s of stuck) waitsOn.set(s.rank, s.waitsFor.find((w) => w.rank !== undefined)?.rank);
  for (const s of stuck) {
    const path: number[] = [];
    let r: number | undefined = s.rank;
    while (r !== undefined && !path.includes(r)) {
      path.push(r);
      r = waitsOn.get(r);
    }
    if (r !== undefined) return path.slice(path.indexOf(r));
  }
  return undefined;
}

function describeStuck(stuck: StuckRank[]): string {
  return stuck
    .map((s) => {
      const what = s.waitsFor
        .map((w) => `${formatAction(w.action)} (${w.rank === undefined ? 'which no rank runs' : `rank ${w.rank}, action ${w.index}`})`)
        .join(' and ');
      return `rank ${s.rank} waits at action ${s.index} (${formatAction(s.action)}) for ${what}`;
    })
    .join('; ');
}

/**
 * Peak in-flight work, from the order of each rank's list (no timing needed): a
 * (stage, microbatch) is in flight from its F until its B (or W, for split backwards).
 * `perRank`: model chunks held at once on each rank (= microbatches unless interleaved);
 * `perStage`: microbatches held at once by each virtual stage.
 */
export function peakInFlight(table: ScheduleTable): { perRank: number[]; perStage: number[] } {
  const perStage: number[] = [];
  const perRank = table.map((list) => {
    let held = 0;
    let peak = 0;
    const byStage = new Map<number, number>();
    for (const a of list) {
      const delta = a.kind === 'F' ? 1 : a.kind === 'B' || a.kind === 'W' ? -1 : 0;
      if (delta === 0) continue;
      held += delta;
      peak = Math.max(peak, held);
      const n = (byStage.get(a.stage) ?? 0) + delta;
      byStage.set(a.stage, n);
      perStage[a.stage] = Math.max(perStage[a.stage] ?? 0, n);
    }
    return peak;
  });
  for (let s = 0; s < perStage.length; s++) perStage[s] ??= 0;
  return { perRank, perStage };
}

/**
 * The peak of what one rank holds when each virtual stage's forward keeps its own amount
 * (`weight(stage)`: bytes per microbatch, e.g. its layers' activations) until its backward
 * (B, or W for split backwards) frees it: uneven virtual stages (a `layout`) peak where the
 * weighted sum does, not where the count of chunks does. Also what each stage held then.
 */
export function peakWeighted(list: readonly Action[], weight: (stage: number) => number): { peak: number; held: Map<number, number> } {
  let total = 0;
  let peak = 0;
  const held = new Map<number, number>();
  let atPeak = new Map<number, number>();
  for (const a of list) {
    const delta = a.kind === 'F' ? 1 : a.kind === 'B' || a.kind === 'W' ? -1 : 0;
    if (delta === 0) continue;
    held.set(a.stage, (held.get(a.stage) ?? 0) + delta);
    total += delta * weight(a.stage);
    if (delta > 0 && total > peak) {
      peak = total;
      atPeak = new Map(held);
    }
  }
  return { peak, held: atPeak };
}
