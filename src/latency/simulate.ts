/**
 * A discrete-event simulation of the batching server on a virtual clock. Every decision
 * (queue limit, idle max_wait, FIFO placement within the per-replica prefill budget) is made
 * by the server's own scheduler (src/serving/scheduler.ts); this file replays the server's
 * loop around it (runtime/serving/server.ts `loop`: release finished slots, admit, prefill the
 * admitted prompts, release, decode every running sequence, repeat; idle: sleep until the next
 * arrival or the oldest request's max_wait) with an engine whose call times come from a
 * `StepTimes` source (the cost model's roofline, `costStepTimes`; later a measured profile).
 *
 * Replicas work at the same time: a prefill call lasts as long as its busiest replica's
 * prompts one after another, a decode step as long as its slowest replica's batch.
 */
import { BatchScheduler, type Job, type SchedulerPolicy } from '../serving/scheduler.js';
import type { TrafficRequest } from './traffic.js';

/** Call times of one replica, in seconds. */
export interface StepTimes {
  /** Prefill of one prompt of `tokens` tokens (its first token included). */
  prefill(tokens: number): number;
  /** One decode step of `batch` sequences whose contexts average `context` tokens. */
  decode(batch: number, context: number): number;
  /**
   * The server's own time per turn of its loop that made engine calls, outside them: handing the
   * tokens out, releasing and admitting, its turn of the event loop (a measured profile's `host`).
   * It delays the next call but is no engine time. Absent: none (the roofline's servers).
   */
  host?(): number;
}

export interface SimulationOptions {
  /** The server's policy: maxBatch counts the slots of every replica (max_batch × data). */
  policy: SchedulerPolicy;
  /** Data-parallel replicas; slot s belongs to replica ⌊s / (maxBatch / replicas)⌋, as in the WebGPU engine. */
  replicas: number;
  times: StepTimes;
  /** Stop after this many engine calls (a bound for CI); `capped` says so. */
  maxEvents?: number;
  /** Record queue depth and decode batch over time in at most this many points (`series`); none when absent. */
  seriesPoints?: number;
}

/**
 * One point of the run over time: from `t` (s) on, over `calls` engine calls, the deepest
 * queue seen (waiting requests, after each call's admission) and the mean decode batch over
 * its decode steps (0 when it has only prefill calls).
 */
export interface SeriesPoint {
  t: number;
  queue: number;
  batch: number;
  calls: number;
}

/** What happened to one request (seconds from the start of the traffic). */
export interface SimulatedRequest {
  at: number;
  prompt: number;
  output: number;
  rejected: boolean;
  /** Admission into a slot, the first token, the last token; NaN when rejected or unfinished. */
  admitted: number;
  firstToken: number;
  done: number;
}

export interface SimulationResult {
  requests: SimulatedRequest[];
  /** Time the engine was in a call, s. */
  busy: number;
  /** From the first arrival to the last completion, s. */
  span: number;
  decodeSteps: number;
  /** Σ batch size over decode steps (mean batch = this / decodeSteps, as the server's stats count it). */
  decodeSequences: number;
  /** Time spent at each queue depth (waiting requests), s. */
  queueTime: Map<number, number>;
  /** The event bound stopped the run before every request finished. */
  capped: boolean;
  /** Engine calls simulated. */
  events: number;
  /** Queue depth and decode batch over time, when `seriesPoints` asked for it (at most that many points). */
  series?: SeriesPoint[];
}

/**
 * A bounded record of the queue and the decode batch per engine call: when it holds `max`
 * points, neighbouring points merge (first time, deepest queue, mean batch over their decode
 * steps), so peaks stay and each point covers the same number of calls (the last may cover fewer).
 */
class Series {
  private readonly points: (SeriesPoint & { decodes: number })[] = [];
  private stride = 1;
  constructor(private readonly max: number) {}
  /** `batch` undefined: a prefill call (no decode step). */
  add(t: number, queue: number, batch: number | undefined): void {
    let last = this.points[this.points.length - 1];
    if (!last || last.calls >= this.stride) {
      if (this.points.length >= this.max) this.merge();
      last = this.points[this.points.length - 1];
      if (!last || last.calls >= this.stride) {
        last = { t, queue: 0, batch: 0, calls: 0, decodes: 0 };
        this.points.push(last);
      }
    }
    last.queue = Math.max(last.queue, queue);
    last.calls++;
    if (batch !== undefined) {
      last.batch = (last.batch * last.decodes + batch) / (last.decodes + 1);
      last.decodes++;
    }
  }
  private merge(): void {
    const merged: (SeriesPoint & { decodes: number })[] = [];
    for (let i = 0; i < this.points.length; i += 2) {
      const a = this.points[i]!;
      const b = this.points[i + 1];
      const decodes = a.decodes + (b?.decodes ?? 0);
      if (!b) merged.push(a);
      else
        merged.push({
          t: a.t,
          queue: Math.max(a.queue, b.queue),
          batch: decodes > 0 ? (a.batch * a.decodes + b.batch * b.decodes) / decodes : 0,
          calls: a.calls + b.calls,
          decodes,
        });
    }
    this.points.splice(0, this.points.length, ...merged);
    this.stride *= 2;
  }
  result(): SeriesPoint[] {
    return this.points.map(({ t, queue, batch, calls }) => ({ t, queue, batch, calls }));
  }
}

interface Seq extends Job {
  readonly index: number;
  readonly output: number;
  generated: number;
  finished: boolean;
}

/** Runs `requests` (in arrival order) through the policy. Deterministic. */
export function simulate(requests: readonly TrafficRequest[], o: SimulationOptions): SimulationResult {
  const perReplica = Math.max(1, Math.floor(o.policy.maxBatch / o.replicas));
  const replicaOf = (slot: number) => Math.floor(slot / perReplica);
  const sched = new BatchScheduler<Seq>(o.policy, replicaOf);
  const out: SimulatedRequest[] = requests.map((r) => ({ ...r, rejected: false, admitted: NaN, firstToken: NaN, done: NaN }));
  const running = new Map<number, Seq>();
  const queueTime = new Map<number, number>();
  const maxEvents = o.maxEvents ?? Infinity;
  let now = 0; // ms, the scheduler's clock
  let next = 0; // next arrival
  let lastQueueAt = requests.length > 0 ? requests[0]!.at * 1000 : 0;
  let busy = 0;
  let events = 0;
  let decodeSteps = 0;
  let decodeSequences = 0;
  const series = o.seriesPoints !== undefined && o.seriesPoints >= 2 ? new Series(o.seriesPoints) : undefined;

  const depthUntil = (t: number) => {
    if (t > lastQueueAt) {
      const d = sched.waitingCount;
      queueTime.set(d, (queueTime.get(d) ?? 0) + (t - lastQueueAt) / 1000);
      lastQueueAt = t;
    }
  };
  /** Arrivals up to `t` (ms) meet the state as it is between two engine calls, as in the server. */
  const arriveUntil = (t: number) => {
    while (next < requests.length && requests[next]!.at * 1000 <= t) {
      const r = requests[next]!;
      depthUntil(r.at * 1000);
      if (sched.full()) out[next]!.rejected = true;
      else
        sched.enqueue({ index: next, submittedAt: r.at * 1000, promptTokens: r.prompt, output: r.output, generated: 0, finished: false });
      next++;
    }
    depthUntil(t);
  };
  const reap = () => {
    for (const [slot, seq] of running) {
      if (!seq.finished) continue;
      running.delete(slot);
      sched.release(slot);
    }
  };
  const token = (seq: Seq, t: number) => {
    seq.generated++;
    if (seq.generated === 1) out[seq.index]!.firstToken = t / 1000;
    if (seq.generated >= seq.output) {
      seq.finished = true;
      live--;
      out[seq.index]!.done = t / 1000;
    }
  };
  /** Running sequences not yet finished (finished ones hold their slot until `reap`). */
  let live = 0;

  let capped = false;
  for (;;) {
    if (events >= maxEvents) {
      capped = next < requests.length || running.size > 0 || sched.waitingCount > 0;
      break;
    }
    arriveUntil(now);
    reap();
    const admitted = sched.admit(now, live);
    if (admitted.length > 0) {
      events++;
      // One replica's prompts run one after another; replicas at the same time.
      const clock = new Map<number, number>();
      for (const { req, slot } of admitted) {
        running.set(slot, req);
        live++;
        out[req.index]!.admitted = now / 1000;
        const r = replicaOf(slot);
        const t = (clock.get(r) ?? 0) + o.times.prefill(req.promptTokens) * 1000;
        clock.set(r, t);
        token(req, now + t);
      }
      const d = Math.max(...clock.values());
      series?.add(now / 1000, sched.waitingCount, undefined);
      busy += d;
      now += d;
      arriveUntil(now);
      reap();
    }
    const decoded = live > 0;
    if (decoded) {
      events++;
      const byReplica = new Map<number, { n: number; context: number }>();
      for (const [slot, seq] of running) {
        if (seq.finished) continue;
        const r = byReplica.get(replicaOf(slot)) ?? { n: 0, context: 0 };
        r.n++;
        r.context += seq.promptTokens + seq.generated;
        byReplica.set(replicaOf(slot), r);
      }
      let d = 0;
      for (const r of byReplica.values()) d = Math.max(d, o.times.decode(r.n, r.context / r.n) * 1000);
      decodeSteps++;
      decodeSequences += live;
      series?.add(now / 1000, sched.waitingCount, live);
      busy += d;
      now += d;
      for (const seq of running.values()) if (!seq.finished) token(seq, now);
    }
    if (admitted.length > 0 || decoded) {
      // The server's loop turn after its calls (runtime/serving/server.ts: deliver, reap, the next macrotask, admit).
      now += (o.times.host?.() ?? 0) * 1000;
      continue;
    }
    // Idle: sleep until the next arrival or the oldest waiting request's max_wait.
    const wake = sched.wakeAt();
    const arrival = next < requests.length ? requests[next]!.at * 1000 : Infinity;
    const t = Math.min(arrival, wake ?? Infinity);
    if (t === Infinity) break;
    now = Math.max(now, t);
  }
  const first = requests.length > 0 ? requests[0]!.at : 0;
  let last = first;
  for (const r of out) if (Number.isFinite(r.done)) last = Math.max(last, r.done);
  return {
    requests: out,
    busy: busy / 1000,
    span: last - first,
    decodeSteps,
    decodeSequences,
    queueTime,
    capped,
    events,
    ...(series ? { series: series.result() } : {}),
  };
}
