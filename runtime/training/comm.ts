/**
 * The training executor's communication layer between its per-rank interpreters (one async task
 * per rank, runtime/training/executor.ts): pipeline send/recv through mailboxes and collectives
 * through rendezvous, all on the host (each rank reads its buffer back, the host combines, each
 * rank writes the result: WebGPU devices cannot address each other's memory).
 *
 * Matching: a send's message waits in the mailbox keyed by (from, to, tensor, microbatch) until
 * the peer's recv with the same key takes it. A collective is the n-th one a rank enters on a
 * group (the members' ranks): the members' n-th entries meet, and their signatures (operation,
 * tensor, microbatch, element count) must agree. The checker proved the graph's tables
 * deadlock-free, so a mismatch is our bug: an entry whose signature differs, or every rank still
 * running waiting at once (the watchdog: no member can arrive any more), fails every waiting rank
 * with an internal error naming what each waits for — never a hang.
 */

export class CommError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommError';
  }
}

/** What a collective computes from the members' contributions (in member order): each member's result. */
export type Combine = (parts: Float32Array[]) => Float32Array[];

interface Pending {
  sig: string;
  parts: Map<number, Float32Array>;
  waiters: Map<number, { resolve: (r: Float32Array) => void; reject: (e: Error) => void; what: string }>;
  combine: Combine;
}

interface Waiting {
  what: string;
  reject: (e: Error) => void;
}

export class Comm {
  private readonly mailbox = new Map<string, Float32Array>();
  private readonly receivers = new Map<string, { resolve: (d: Float32Array) => void }>();
  private readonly pending = new Map<string, Pending>();
  private readonly entered = new Map<string, number>();
  private readonly waiting = new Map<number, Waiting>();
  private running = 0;
  private failed: Error | undefined;

  /** Ranks that take part in the current step (the watchdog counts those still running); what a failed step left goes. */
  begin(ranks: number): void {
    this.mailbox.clear();
    this.receivers.clear();
    this.pending.clear();
    this.entered.clear();
    this.waiting.clear();
    this.failed = undefined;
    this.running = ranks;
  }

  /** After every rank ended normally: a message nobody received or a collective not every member entered is our bug. */
  finish(): void {
    const left = [...this.mailbox.keys(), ...this.pending.keys()];
    if (left.length > 0)
      throw new Error(
        `internal error: a training step left messages or collectives unmatched (${left.slice(0, 4).join(', ')}) (this is a bug in parplan)`,
      );
  }

  /** A rank's program ended (normally or not): it will arrive nowhere any more. */
  done(): void {
    this.running--;
    this.watchdog();
  }

  /** Abort every waiting rank (another rank failed: its peers would wait forever). */
  abort(e: Error): void {
    if (!this.failed) this.failed = e;
    for (const [, w] of this.waiting) w.reject(new CommError(`a peer failed: ${e.message}`));
    this.waiting.clear();
  }

  send(from: number, to: number, tensor: string, microbatch: number | undefined, data: Float32Array): void {
    const key = `${from}>${to}:${tensor}:mb${microbatch ?? '-'}`;
    if (this.mailbox.has(key))
      throw new Error(
        `internal error: rank ${from} sends ${tensor} (microbatch ${microbatch}) to rank ${to} twice (this is a bug in parplan)`,
      );
    const r = this.receivers.get(key);
    if (r) {
      this.receivers.delete(key);
      r.resolve(data);
    } else this.mailbox.set(key, data);
  }

  recv(to: number, from: number, tensor: string, microbatch: number | undefined): Promise<Float32Array> {
    const key = `${from}>${to}:${tensor}:mb${microbatch ?? '-'}`;
    const ready = this.mailbox.get(key);
    if (ready) {
      this.mailbox.delete(key);
      return Promise.resolve(ready);
    }
    return this.wait(to, `recv ${tensor} (microbatch ${microbatch ?? '-'}) from rank ${from}`, (resolve) => {
      this.receivers.set(key, { resolve });
      return () => this.receivers.delete(key);
    });
  }

  /**
   * Rank `rank` (member `index` of `members`) enters its next collective on that group with `data`;
   * resolves to its share of the result once every member has entered.
   */
  collective(rank: number, members: readonly number[], sig: string, data: Float32Array, combine: Combine): Promise<Float32Array> {
    const group = members.join(',');
    const seqKey = `${rank}|${group}`;
    const n = this.entered.get(seqKey) ?? 0;
    this.entered.set(seqKey, n + 1);
    const id = `[${group}]#${n}`;
    let p = this.pending.get(id);
    if (!p) this.pending.set(id, (p = { sig, parts: new Map(), waiters: new Map(), combine }));
    if (p.sig !== sig)
      throw new Error(
        `internal error: collective ${n} of ranks [${group}] entered as '${p.sig}' and as '${sig}' (rank ${rank}) (this is a bug in parplan)`,
      );
    p.parts.set(rank, data);
    if (p.parts.size === members.length) {
      // The last member: everyone's result now, nobody waits.
      this.pending.delete(id);
      const results = p.combine(members.map((m) => p.parts.get(m)!));
      let mine: Float32Array | undefined;
      members.forEach((m, i) => {
        if (m === rank) mine = results[i]!;
        else p.waiters.get(m)!.resolve(results[i]!);
      });
      return Promise.resolve(mine!);
    }
    const what = `${sig} with ranks [${group}] (#${n})`;
    return this.wait(rank, what, (resolve, reject) => {
      p.waiters.set(rank, { resolve, reject, what });
      return () => p.waiters.delete(rank);
    });
  }

  private wait<T>(rank: number, what: string, arm: (resolve: (v: T) => void, reject: (e: Error) => void) => () => void): Promise<T> {
    if (this.failed) return Promise.reject(new CommError(`a peer failed: ${this.failed.message}`));
    return new Promise<T>((resolve, reject) => {
      const disarm = arm(
        (v) => {
          this.waiting.delete(rank);
          resolve(v);
        },
        (e) => {
          disarm();
          reject(e);
        },
      );
      this.waiting.set(rank, {
        what,
        reject: (e) => {
          disarm();
          reject(e);
        },
      });
      this.watchdog();
    });
  }

  /** Every rank still running waits: nothing can arrive any more. */
  private watchdog(): void {
    if (this.running <= 0 || this.waiting.size < this.running) return;
    const who = [...this.waiting.entries()].map(([r, w]) => `rank ${r} waits for ${w.what}`).join('; ');
    const e = new Error(`internal error: the training ranks wait for each other forever (${who}) (this is a bug in parplan)`);
    this.failed = e;
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) w.reject(e);
  }
}

/** Element-wise sum of the parts, the same result for every member. */
export const sumAll: Combine = (parts) => {
  const out = new Float32Array(parts[0]!.length);
  for (const p of parts) for (let i = 0; i < out.length; i++) out[i]! += p[i]!;
  return parts.map(() => out);
};
