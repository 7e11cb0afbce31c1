/**
 * A deterministic fake `Engine` on the CPU, for testing the batching server without a GPU.
 *
 * The "model": the next token is a hash of every token of the sequence so far (prompt and
 * generated) modulo the vocabulary, so a token depends on the whole history of its own
 * slot. Each slot keeps that history (its "KV cache"); a server that mixes slots up,
 * feeds the wrong token or position, or skips a step produces different tokens from
 * `cpuReference`, which generates one sequence alone.
 *
 * It is strict about the `Engine` contract, so server bugs fail loudly: prefill into an
 * occupied slot, decode of an empty slot, a position other than the slot's length, a slot
 * twice in one batch, a sequence beyond maxSeq, and overlapping calls (the server must
 * call one at a time) all reject with `EngineContractError`.
 *
 * With `replicas`, the slots are split evenly into that many data-parallel replicas and
 * the engine has `replicaOf` and `prefillMany`: entries of different replicas are in
 * flight at the same time, one replica's one after another, as on the WebGPU engine.
 *
 * Sampling: the "logits" of a sequence are `cpuLogits(hash)`, whose argmax is the greedy
 * token; an entry with a `Sampler` gets that row and its pick is fed back like any token.
 *
 * Test knobs: per-call latency (`prefillMs`, `decodeMs`), failure injection (`fail`,
 * `failNext`), device loss (`loseDevice`), and a log of every call.
 */
import { mulberry32 } from '../../src/util/random.js';
import { EngineLostError, type DecodeEntry, type Engine, type PrefillEntry, type Sampler } from '../engine.js';
import { sampleToken, samplingRandom } from '../text/sampling.js';
import type { SamplingOptions } from '../text/types.js';

export interface CpuEngineCall {
  kind: 'prefill' | 'decode';
  /** 0-based index over all calls. */
  index: number;
  /** Slots touched, in call order. */
  slots: number[];
  /** Prompt tokens (prefill) or batch size (decode). */
  size: number;
  /** performance.now() when the call was made. */
  at: number;
  /** A `prefillMany` entry: its slot's replica. */
  replica?: number;
  /** A `prefillMany` entry: the slots of the other entries in flight when it started. */
  alongside?: number[];
}

export interface CpuEngineOptions {
  slots: number;
  maxSeq: number;
  /** Default 32 000. */
  vocabSize?: number;
  /** Latency of a prefill call, ms (or a function of the prompt length); 0 (default) resolves on the next macrotask. */
  prefillMs?: number | ((promptTokens: number) => number);
  /** Latency of a decode step, ms (or a function of the batch size); 0 (default) resolves on the next macrotask. */
  decodeMs?: number | ((batchSize: number) => number);
  /** Called for every call before it runs: return an Error (or true) to make it reject. */
  fail?: (call: CpuEngineCall) => Error | boolean | undefined;
  /** Keep a log of calls in `calls` (default true). */
  log?: boolean;
  /** Split the slots into this many replicas (it must divide `slots`) and offer `prefillMany`. */
  replicas?: number;
}

export class EngineContractError extends Error {
  constructor(message: string) {
    super(`engine contract violated: ${message}`);
    this.name = 'EngineContractError';
  }
}

const SEED = 0x2545f491;

/** One step of the sequence hash: state after `token`. */
function mix(h: number, token: number): number {
  let x = Math.imul(h ^ (token + 0x7f4a7c15), 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export function hashSequence(tokens: readonly number[]): number {
  let h = SEED;
  for (const t of tokens) h = mix(h, t);
  return h;
}

/**
 * The "logits" after a sequence whose hash is `h`: [vocab], largest at `h % vocab` (the
 * greedy token), the others uniform in [0, 4) from a stream seeded by `h`, so that sampling
 * has a spread-out distribution to draw from.
 */
export function cpuLogits(h: number, vocab: number): Float32Array {
  const r = mulberry32(h);
  const row = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) row[i] = 4 * r();
  row[h % vocab] = 5;
  return row;
}

/**
 * What `CpuEngine` generates for `prompt` alone: greedy (or with `sampling`, drawn with the
 * seed's stream from `cpuLogits`), up to `maxNewTokens` or a stop token (included).
 */
export function cpuReference(
  prompt: readonly number[],
  maxNewTokens: number,
  options: { stop?: readonly number[]; vocabSize?: number; sampling?: SamplingOptions & { seed: number } } = {},
): { tokens: number[]; finish: 'length' | 'stop' } {
  const vocab = options.vocabSize ?? DEFAULT_VOCAB;
  const stop = new Set(options.stop ?? []);
  const sampling = options.sampling;
  const random = sampling ? samplingRandom(sampling.seed) : undefined;
  let h = hashSequence(prompt);
  const tokens: number[] = [];
  while (tokens.length < maxNewTokens) {
    const t = sampling ? sampleToken(cpuLogits(h, vocab), sampling, random!) : h % vocab;
    tokens.push(t);
    if (stop.has(t)) return { tokens, finish: 'stop' };
    h = mix(h, t);
  }
  return { tokens, finish: 'length' };
}

const DEFAULT_VOCAB = 32_000;

interface SlotState {
  /** Tokens held (prompt plus fed tokens). */
  length: number;
  hash: number;
}

export class CpuEngine implements Engine {
  readonly slots: number;
  readonly maxSeq: number;
  readonly vocabSize: number;
  /** Every call, in order (when `log` is on). */
  readonly calls: CpuEngineCall[] = [];
  /** Release calls, in order. */
  readonly releases: number[] = [];
  /** Contract violations whose error the caller may not surface (a failing `release`). */
  readonly violations: string[] = [];
  private readonly state: (SlotState | undefined)[];
  private readonly lostListeners: ((reason: string) => void)[] = [];
  private lost: string | undefined;
  private busy = 0;
  private callIndex = 0;
  /** Latencies running; `busy` grows while at least one does (from `busySince`). */
  private readonly inFlight = new Set<Pending>();
  private busySince = 0;
  /** `prefillMany` calls with entries not yet settled: other calls must wait for them. */
  private openMany = 0;
  /** Slots whose `prefillMany` entry runs now. */
  private readonly prefilling = new Set<number>();
  private readonly pendingFailures: { kind: 'prefill' | 'decode' | 'any'; error: Error }[] = [];
  readonly replicaOf?: (slot: number) => number;
  readonly prefillMany?: (entries: readonly PrefillEntry[]) => Promise<number>[];

  constructor(private readonly options: CpuEngineOptions) {
    this.slots = options.slots;
    this.maxSeq = options.maxSeq;
    this.vocabSize = options.vocabSize ?? DEFAULT_VOCAB;
    this.state = new Array<SlotState | undefined>(options.slots).fill(undefined);
    const replicas = options.replicas;
    if (replicas !== undefined) {
      if (!Number.isSafeInteger(replicas) || replicas < 1 || options.slots % replicas !== 0) {
        throw new RangeError(`replicas = ${replicas} must be an integer ≥ 1 that divides slots = ${options.slots}`);
      }
      const perReplica = options.slots / replicas;
      this.replicaOf = (slot) => Math.floor(slot / perReplica);
      this.prefillMany = (entries) => this.prefillEntries(entries);
    }
  }

  get healthy(): boolean {
    return this.lost === undefined;
  }

  /** Slots holding a sequence (prefilled, not yet released). */
  occupiedSlots(): number[] {
    const out: number[] = [];
    this.state.forEach((s, i) => s !== undefined && out.push(i));
    return out;
  }

  onLost(listener: (reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  busyMs(): number {
    return this.busy;
  }

  /** The next call of that kind rejects with `error` (a plain Error by default). */
  failNext(kind: 'prefill' | 'decode' | 'any', error: Error = new Error(`injected ${kind} failure`)): void {
    this.pendingFailures.push({ kind, error });
  }

  /** Simulates device loss: the call in flight and every later call reject with `EngineLostError`; listeners run once (on a microtask, as a device's `lost` promise would). */
  loseDevice(reason = 'simulated device loss'): void {
    if (this.lost !== undefined) return;
    this.lost = reason;
    for (const { timer, reject } of [...this.inFlight]) {
      clearTimeout(timer as NodeJS.Timeout);
      clearImmediate(timer as NodeJS.Immediate);
      reject(new EngineLostError(reason));
    }
    queueMicrotask(() => {
      for (const l of this.lostListeners) l(reason);
    });
  }

  prefill(slot: number, prompt: readonly number[], sample?: Sampler): Promise<number> {
    return this.call('prefill', [slot], prompt.length, this.latency(this.options.prefillMs, prompt.length), () =>
      this.prefillInto(slot, prompt, sample),
    );
  }

  /** The next token after a sequence of hash `h`: greedy, or `sample`'s pick from `cpuLogits`. */
  private next(h: number, sample: Sampler | undefined): number {
    if (!sample) return h % this.vocabSize;
    const t = sample(cpuLogits(h, this.vocabSize));
    if (!Number.isSafeInteger(t) || t < 0 || t >= this.vocabSize)
      throw new EngineContractError(`the sampler returned ${t}, not a token id`);
    return t;
  }

  /** Validates a prefill; the returned commit fills the slot and gives the first token. */
  private prefillInto(slot: number, prompt: readonly number[], sample?: Sampler): () => number {
    this.checkSlot(slot);
    if (this.state[slot] !== undefined)
      throw new EngineContractError(`prefill into slot ${slot}, which holds a sequence (release it first)`);
    if (prompt.length === 0) throw new EngineContractError('prefill of an empty prompt');
    if (prompt.length >= this.maxSeq)
      throw new EngineContractError(`prompt of ${prompt.length} tokens leaves no room in maxSeq ${this.maxSeq}`);
    const hash = hashSequence(prompt);
    return () => {
      this.state[slot] = { length: prompt.length, hash };
      return this.next(hash, sample);
    };
  }

  /** `prefillMany` (with `replicas`): one chain of entries per replica, the chains at the same time. */
  private prefillEntries(entries: readonly PrefillEntry[]): Promise<number>[] {
    const refuse = (error: () => Error) => entries.map(() => Promise.reject(error()));
    if (this.lost !== undefined) return refuse(() => new EngineLostError(this.lost!));
    if (this.calling)
      return refuse(() => new EngineContractError('prefillMany called while another call is in flight (calls must not overlap)'));
    if (entries.length === 0) return [];
    if (new Set(entries.map((e) => e.slot)).size !== entries.length)
      return refuse(() => new EngineContractError('a slot twice in one prefillMany'));
    this.openMany++;
    let unsettled = entries.length;
    const tails = new Map<number, Promise<unknown>>();
    return entries.map(({ slot, prompt, sample }) => {
      const replica = this.replicaOf!(slot);
      const run = (tails.get(replica) ?? Promise.resolve())
        .then(() => this.prefillEntry(slot, prompt, replica, sample))
        // Before the entry's promise settles, so a caller that saw every entry settle may call again.
        .finally(() => {
          if (--unsettled === 0) this.openMany--;
        });
      tails.set(
        replica,
        run.catch(() => {}),
      );
      return run;
    });
  }

  private async prefillEntry(slot: number, prompt: readonly number[], replica: number, sample: Sampler | undefined): Promise<number> {
    const call = this.record('prefill', [slot], prompt.length);
    call.replica = replica;
    call.alongside = [...this.prefilling];
    if (this.lost !== undefined) throw new EngineLostError(this.lost);
    const commit = this.prepare(call, () => this.prefillInto(slot, prompt, sample));
    this.prefilling.add(slot);
    try {
      return await this.after(this.latency(this.options.prefillMs, prompt.length), commit);
    } finally {
      this.prefilling.delete(slot);
    }
  }

  decode(batch: readonly DecodeEntry[]): Promise<number[]> {
    return this.call(
      'decode',
      batch.map((e) => e.slot),
      batch.length,
      this.latency(this.options.decodeMs, batch.length),
      () => {
        if (batch.length === 0) throw new EngineContractError('decode of an empty batch');
        if (batch.length > this.slots) throw new EngineContractError(`decode batch of ${batch.length} > ${this.slots} slots`);
        const seen = new Set<number>();
        for (const { slot, token, position } of batch) {
          this.checkSlot(slot);
          if (seen.has(slot)) throw new EngineContractError(`slot ${slot} twice in one decode batch`);
          seen.add(slot);
          const s = this.state[slot];
          if (s === undefined) throw new EngineContractError(`decode of slot ${slot}, which holds no sequence`);
          if (position !== s.length)
            throw new EngineContractError(`decode of slot ${slot} at position ${position}; its sequence holds ${s.length} tokens`);
          if (position >= this.maxSeq) throw new EngineContractError(`decode at position ${position} ≥ maxSeq ${this.maxSeq}`);
          if (!Number.isSafeInteger(token) || token < 0 || token >= this.vocabSize)
            throw new EngineContractError(`token ${token} outside the vocabulary`);
        }
        return () =>
          batch.map(({ slot, token, sample }) => {
            const s = this.state[slot]!;
            s.hash = mix(s.hash, token);
            s.length++;
            return this.next(s.hash, sample);
          });
      },
    );
  }

  release(slot: number): void {
    this.checkSlot(slot);
    if (this.calling) {
      // Logged as well: the server ignores a failing release.
      const error = new EngineContractError(`release of slot ${slot} while a call is in flight (calls must not overlap)`);
      this.violations.push(error.message);
      throw error;
    }
    this.releases.push(slot);
    this.state[slot] = undefined;
  }

  private checkSlot(slot: number): void {
    if (!Number.isSafeInteger(slot) || slot < 0 || slot >= this.slots)
      throw new EngineContractError(`slot ${slot} outside 0 … ${this.slots - 1}`);
  }

  private latency(spec: CpuEngineOptions['prefillMs'], n: number): number {
    if (spec === undefined) return 0;
    return typeof spec === 'number' ? spec : spec(n);
  }

  /**
   * Validates at once (so a contract violation is reported against the call that made it),
   * then commits the state change after the latency, as a device would.
   */
  private call<T>(kind: 'prefill' | 'decode', slots: number[], size: number, ms: number, run: () => () => T): Promise<T> {
    const call = this.record(kind, slots, size);
    if (this.lost !== undefined) return Promise.reject(new EngineLostError(this.lost));
    if (this.calling)
      return Promise.reject(new EngineContractError(`${kind} called while another call is in flight (calls must not overlap)`));
    let commit: () => T;
    try {
      commit = this.prepare(call, run);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.after(ms, commit);
  }

  private get calling(): boolean {
    return this.inFlight.size > 0 || this.openMany > 0;
  }

  private record(kind: 'prefill' | 'decode', slots: number[], size: number): CpuEngineCall {
    const call: CpuEngineCall = { kind, index: this.callIndex++, slots, size, at: performance.now() };
    if (this.options.log ?? true) this.calls.push(call);
    return call;
  }

  /** Throws an injected failure or a contract violation; else the commit to run after the latency. */
  private prepare<T>(call: CpuEngineCall, run: () => () => T): () => T {
    const i = this.pendingFailures.findIndex((f) => f.kind === call.kind || f.kind === 'any');
    if (i >= 0) throw this.pendingFailures.splice(i, 1)[0]!.error;
    const injected = this.options.fail?.(call);
    if (injected) throw injected instanceof Error ? injected : new Error(`injected ${call.kind} failure (call ${call.index})`);
    return run();
  }

  /** Commits after `ms` (0: the next macrotask), as a device would; rejects if the device is lost meanwhile. */
  private after<T>(ms: number, commit: () => T): Promise<T> {
    if (this.inFlight.size === 0) this.busySince = performance.now();
    return new Promise<T>((resolve, reject) => {
      const end = () => {
        this.inFlight.delete(pending);
        if (this.inFlight.size === 0) this.busy += performance.now() - this.busySince;
      };
      const done = () => {
        end();
        if (this.lost !== undefined) return reject(new EngineLostError(this.lost));
        try {
          resolve(commit());
        } catch (e) {
          reject(e as Error); // a sampler that throws
        }
      };
      const pending: Pending = {
        timer: ms > 0 ? setTimeout(done, ms) : setImmediate(done),
        reject: (e) => {
          end();
          reject(e);
        },
      };
      this.inFlight.add(pending);
    });
  }
}

interface Pending {
  timer: NodeJS.Timeout | NodeJS.Immediate;
  reject: (e: Error) => void;
}
