/**
 * The batching policy's decisions, pure and synchronous, on a clock the caller passes in:
 * the queue limit at arrival, the idle server's wait for companions (max_wait), and which
 * waiting requests go into which free slots (FIFO placement within the per-replica prefill
 * budget, ./placement.ts). The batching server (runtime/serving/server.ts) calls it on real
 * time for every decision; the latency simulation (src/latency/) calls the same code on a
 * virtual clock. So the code that serves is the code that is simulated (docs/serving.md).
 *
 * It holds the waiting queue (oldest first) and the slots; the caller owns everything else
 * (engine calls, request state, promises, metrics) and tells the scheduler when a slot is
 * freed (`release`) or a waiting request leaves (`withdraw`).
 */
import { place } from './placement.js';

/** The policy fields the scheduler reads (the plan's serve-mode `batch { … }` block). */
export interface SchedulerPolicy {
  /** KV-cache slots 0 … maxBatch − 1. */
  readonly maxBatch: number;
  /** Longest time (ms) a request waits for companions before an idle server starts a batch. */
  readonly maxWaitMs: number;
  /** Most requests waiting beyond the free slots. */
  readonly queue: number;
  /** Prompt-token budget per replica of the prefills between two decode steps. */
  readonly maxPrefillTokens: number;
}

/** What the scheduler reads of a request: when it arrived (ms, the caller's clock) and its prompt length. */
export interface Job {
  readonly submittedAt: number;
  readonly promptTokens: number;
}

/**
 * Slack (ms) under max_wait at which an idle server starts anyway: a timer armed for the
 * oldest request's max_wait fires whole milliseconds late or early by rounding.
 */
export const WAIT_SLACK_MS = 0.5;

export class BatchScheduler<R extends Job> {
  private readonly waiting = new Set<R>();
  private readonly slots: (R | undefined)[];

  constructor(
    readonly policy: SchedulerPolicy,
    /** The data-parallel replica holding a slot (one replica: always 0). */
    readonly replicaOf: (slot: number) => number = () => 0,
  ) {
    this.slots = new Array<R | undefined>(policy.maxBatch).fill(undefined);
  }

  /** Requests waiting, oldest first. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  waitingJobs(): IterableIterator<R> {
    return this.waiting.values();
  }

  /** The request holding `slot` (running, or settled and not yet released). */
  occupant(slot: number): R | undefined {
    return this.slots[slot];
  }

  get slotCount(): number {
    return this.slots.length;
  }

  freeSlots(): number[] {
    const out: number[] = [];
    this.slots.forEach((req, slot) => {
      if (req === undefined) out.push(slot);
    });
    return out;
  }

  /** The queue limit: a new request is refused when this many already wait beyond the free slots. */
  full(): boolean {
    return this.waiting.size >= this.policy.queue + this.freeSlots().length;
  }

  /** Queues a request the caller has accepted (check `full` first). */
  enqueue(req: R): void {
    this.waiting.add(req);
  }

  /** A waiting request leaves (cancelled, deadline, closing); false when it was not waiting. */
  withdraw(req: R): boolean {
    return this.waiting.delete(req);
  }

  /** Frees a slot; only between engine calls. */
  release(slot: number): void {
    this.slots[slot] = undefined;
  }

  /**
   * Moves waiting requests into free slots, oldest first, and returns them with their slots.
   * `active`: sequences now running. An idle server (none running) waits until the free
   * slots can all be filled or the oldest request has waited max_wait (`wakeAt`).
   */
  admit(now: number, active: number): { req: R; slot: number }[] {
    if (this.waiting.size === 0) return [];
    const free = this.freeSlots();
    if (free.length === 0) return [];
    if (active === 0) {
      const oldest = this.waiting.values().next().value!;
      const full = this.waiting.size >= free.length;
      if (!full && now - oldest.submittedAt < this.policy.maxWaitMs - WAIT_SLACK_MS) return [];
    }
    const replicaOf = this.replicaOf;
    const load = new Map<number, number>();
    this.slots.forEach((req, slot) => {
      if (req !== undefined) load.set(replicaOf(slot), (load.get(replicaOf(slot)) ?? 0) + 1);
    });
    // Read lazily: placement stops at the first prompt that does not fit.
    const seen: R[] = [];
    const lengths = (function* (waiting: Iterable<R>) {
      for (const req of waiting) {
        seen.push(req);
        yield req.promptTokens;
      }
    })(this.waiting);
    const placed = place(lengths, { free, replicaOf, load, budget: this.policy.maxPrefillTokens });
    return placed.map((slot, i) => {
      const req = seen[i]!;
      this.waiting.delete(req);
      this.slots[slot] = req;
      return { req, slot };
    });
  }

  /** When an idle server with waiting requests must next try `admit`: the oldest request's max_wait; undefined when none waits. */
  wakeAt(): number | undefined {
    if (this.waiting.size === 0) return undefined;
    const oldest = this.waiting.values().next().value!;
    return oldest.submittedAt + this.policy.maxWaitMs;
  }
}
