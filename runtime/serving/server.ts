/**
 * The batching server: dynamic batching (an idle server waits up to `maxWaitMs` for
 * companions), continuous batching (decode steps run over every active slot; between
 * steps finished sequences release their slots and waiting requests are prefilled
 * into free ones, within a prompt-token budget), a bounded queue, cancellation,
 * deadlines, device loss and a clean shutdown. See docs/serving.md.
 *
 * One async loop drives the engine and is the only caller of it, so engine calls never
 * overlap. An engine with data-parallel replicas (`prefillMany` and `replicaOf`) gets a
 * step's admitted prompts in one call and prefills different replicas' at the same time.
 * Every request's promise settles exactly once, through `finish`; a request that
 * settles while its slot is inside an engine call keeps the slot until the next step
 * boundary, where `reap` releases it.
 */
import { randomInt } from 'node:crypto';
import { EngineLostError, type DecodeEntry, type Engine, type PrefillEntry, type Sampler } from '../engine.js';
import { isSampling, sampleToken, samplingProblem, samplingRandom } from '../text/sampling.js';
import type { SamplingOptions } from '../text/types.js';
import {
  AbortError,
  CallbackError,
  DeadlineError,
  DeviceLostError,
  EngineError,
  InvalidRequestError,
  QueueFullError,
  ServerClosedError,
  ServingError,
} from './errors.js';
import { BatchScheduler } from '../../src/serving/scheduler.js';
import { checkPolicy, type BatchPolicy } from './policy.js';
import { RateWindow, type RequestCounts, type ServerStats } from './stats.js';
import { promptKey, type ServingTimeline } from './timeline.js';

export interface GenerateOptions {
  /** Tokens to generate at most (≥ 1); prompt.length + maxNewTokens ≤ policy.maxSeq. */
  maxNewTokens: number;
  /** Token ids that end the sequence; the stop token is included in `tokens`. */
  stop?: readonly number[];
  /** Cancels the request: it rejects with `AbortError` at once. */
  signal?: AbortSignal;
  /** Time budget in ms from the `generate` call; past it the request rejects with `DeadlineError`. */
  deadlineMs?: number;
  /**
   * How each token is chosen (runtime/text/types.ts). Absent or temperature 0: greedy, on
   * the device. Temperature > 0: the engine reads this sequence's logits to the host and
   * draws from them with the request's own random stream (seeded by `seed`, else at random).
   */
  sampling?: SamplingOptions;
  /**
   * Called with each generated token, in order, as soon as it is produced (before the
   * promise resolves). Returning true ends the sequence there, with finish 'stop' (the
   * token stays in `tokens`): streaming and stop strings use it. If it throws, the request
   * rejects with `CallbackError`.
   */
  onToken?: (token: number) => boolean | void;
}

export type FinishReason = 'length' | 'stop';

export interface GenerateResult {
  /** Generated tokens (the prompt excluded); ends with the stop token when finish is 'stop'. */
  tokens: number[];
  /** 'length': maxNewTokens were generated; 'stop': a stop token was generated or `onToken` returned true. */
  finish: FinishReason;
  timing: {
    /** From `generate` to admission into a slot. */
    queuedMs: number;
    /** From `generate` to the first token (end of its prefill). */
    firstTokenMs: number;
    /** From `generate` to the last token. */
    totalMs: number;
  };
}

export interface ServerOptions {
  /** Window of `stats().tokens.perSecondRecent`, ms (default 10 000). */
  statsWindowMs?: number;
  /** When given, prompt and stop tokens must be below it. */
  vocabSize?: number;
  /** Record every engine call, loop run and request here (./timeline.ts; for measurement). Absent: nothing is recorded. */
  timeline?: ServingTimeline;
}

export interface CloseOptions {
  /** true (default): running requests finish; false: they reject with `ServerClosedError`. Waiting requests reject either way. */
  drain?: boolean;
}

export interface Server {
  readonly policy: Readonly<BatchPolicy>;
  /**
   * Never throws: every error (invalid input, full queue, closed or unhealthy server,
   * cancellation, deadline, engine failure) arrives as a rejected promise of a `ServingError`.
   */
  generate(prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult>;
  stats(): ServerStats;
  /** Stops admitting, settles every pending request (see `CloseOptions`), resolves when the engine is idle. */
  close(options?: CloseOptions): Promise<void>;
  readonly healthy: boolean;
  readonly closed: boolean;
}

export function createServer(engine: Engine, policy: BatchPolicy, options: ServerOptions = {}): Server {
  return new BatchingServer(engine, policy, options);
}

interface Request {
  readonly id: number;
  readonly prompt: readonly number[];
  /** prompt.length, as the scheduler reads it. */
  readonly promptTokens: number;
  readonly maxNewTokens: number;
  readonly stop: ReadonlySet<number>;
  /** Host-side token choice when the request samples. */
  readonly sample: Sampler | undefined;
  readonly onToken: ((token: number) => boolean | void) | undefined;
  readonly tokens: number[];
  state: 'waiting' | 'running' | 'done';
  slot: number;
  readonly submittedAt: number;
  admittedAt: number;
  firstTokenAt: number;
  resolve(result: GenerateResult): void;
  reject(error: ServingError): void;
  /** Removes the abort listener and the deadline timer. */
  cleanup(): void;
}

type Outcome = 'completed' | 'cancelled' | 'deadline' | 'failed';

const now = () => performance.now();
/** setTimeout's longest delay; a longer deadline is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

class BatchingServer implements Server {
  readonly policy: Readonly<BatchPolicy>;
  /**
   * The policy's decisions (src/serving/scheduler.ts, shared with the latency simulation): the
   * waiting queue and the request holding each slot; a settled one keeps it until the next `reap`.
   */
  private readonly sched: BatchScheduler<Request>;
  private looping = false;
  private kickQueued = false;
  private waitTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private lostReason: string | undefined;
  private idleWaiters: (() => void)[] = [];
  private nextId = 1;

  private readonly startedAt = now();
  private readonly busyAtStart: number;
  private readonly rate: RateWindow;
  private readonly counts: RequestCounts = { submitted: 0, completed: 0, rejected: 0, queueFull: 0, cancelled: 0, deadline: 0, failed: 0 };
  private readonly histogram: number[];
  private decodeSteps = 0;
  private prefills = 0;
  private tokensTotal = 0;
  /** The engine prefills several slots per call and spreads them over replicas. */
  private readonly replicated: boolean;
  private readonly timeline: ServingTimeline | undefined;

  constructor(
    private readonly engine: Engine,
    policy: BatchPolicy,
    private readonly options: ServerOptions,
  ) {
    checkPolicy(policy, engine);
    this.policy = Object.freeze({ ...policy });
    this.histogram = new Array<number>(policy.maxBatch + 1).fill(0);
    this.rate = new RateWindow(options.statsWindowMs ?? 10_000, this.startedAt);
    this.busyAtStart = engine.busyMs();
    this.replicated = typeof engine.prefillMany === 'function' && typeof engine.replicaOf === 'function';
    this.timeline = options.timeline;
    this.sched = new BatchScheduler<Request>(this.policy, this.replicated ? (slot) => engine.replicaOf!(slot) : () => 0);
    engine.onLost((reason) => this.markLost(reason));
    if (!engine.healthy) this.lostReason = 'the engine was unhealthy when the server started';
  }

  get healthy(): boolean {
    return this.lostReason === undefined;
  }

  get closed(): boolean {
    return this.closing;
  }

  generate(prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
    this.counts.submitted++;
    const refused = this.refusal(prompt, options);
    if (refused) {
      if (refused instanceof AbortError) this.counts.cancelled++;
      else this.counts.rejected++;
      if (refused instanceof QueueFullError) this.counts.queueFull++;
      return Promise.reject(refused);
    }
    const stop = new Set(options.stop ?? []);
    const sample = this.sampler(options.sampling);
    return new Promise<GenerateResult>((resolve, reject) => {
      const req: Request = {
        id: this.nextId++,
        prompt: [...prompt],
        promptTokens: prompt.length,
        maxNewTokens: options.maxNewTokens,
        stop,
        sample,
        onToken: options.onToken,
        tokens: [],
        state: 'waiting',
        slot: -1,
        submittedAt: now(),
        admittedAt: 0,
        firstTokenAt: 0,
        resolve,
        reject,
        cleanup: () => {},
      };
      const { signal, deadlineMs } = options;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => this.finish(req, 'cancelled', new AbortError(req.tokens.slice(), { cause: signal?.reason }));
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      if (deadlineMs !== undefined && deadlineMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          this.finish(req, 'deadline', new DeadlineError(deadlineMs, req.tokens.slice(), req.state === 'waiting' ? 'queued' : 'running'));
        }, deadlineMs);
      }
      req.cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        if (timer !== undefined) clearTimeout(timer);
      };
      this.sched.enqueue(req);
      this.kick();
    });
  }

  /** The request's sampler: its own random stream, so its tokens do not depend on its batch companions. */
  private sampler(sampling: SamplingOptions | undefined): Sampler | undefined {
    if (!isSampling(sampling)) return undefined;
    const options = { ...sampling };
    const random = samplingRandom(options.seed ?? randomInt(0, 2 ** 48 - 1));
    const vocab = this.options.vocabSize;
    return (logits) => sampleToken(logits, options, random, vocab ?? logits.length);
  }

  stats(): ServerStats {
    const t = now();
    const uptimeMs = t - this.startedAt;
    let stepsTimesBatch = 0;
    this.histogram.forEach((n, b) => (stepsTimesBatch += n * b));
    const busy = this.engine.busyMs() - this.busyAtStart;
    return {
      healthy: this.healthy,
      ...(this.lostReason !== undefined ? { lostReason: this.lostReason } : {}),
      closed: this.closing,
      queueDepth: this.sched.waitingCount,
      active: this.live().length,
      maxBatch: this.policy.maxBatch,
      prefills: this.prefills,
      decodeSteps: this.decodeSteps,
      batchHistogram: this.histogram.slice(),
      meanBatch: this.decodeSteps > 0 ? stepsTimesBatch / this.decodeSteps : 0,
      tokens: {
        total: this.tokensTotal,
        perSecond: uptimeMs > 0 ? (this.tokensTotal * 1000) / uptimeMs : 0,
        perSecondRecent: this.rate.perSecond(t),
        windowMs: this.rate.windowMs,
      },
      busyFraction: uptimeMs > 0 ? Math.min(1, Math.max(0, busy / uptimeMs)) : 0,
      uptimeMs,
      requests: { ...this.counts },
    };
  }

  close(options: CloseOptions = {}): Promise<void> {
    const drain = options.drain ?? true;
    this.closing = true;
    this.clearWaitTimer();
    for (const req of [...this.sched.waitingJobs()]) {
      this.finish(req, 'failed', new ServerClosedError('the server closed before the request was admitted'));
    }
    if (!drain) {
      for (const req of this.live()) {
        this.finish(
          req,
          'failed',
          new ServerClosedError(`the server closed without draining; the request was stopped after ${req.tokens.length} generated tokens`),
        );
      }
    }
    return new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  // ── admission ───────────────────────────────────────────────────────────────

  /** Why a new request is refused at once, or undefined when it may wait. */
  private refusal(prompt: readonly number[], options: GenerateOptions): ServingError | undefined {
    if (this.closing) return new ServerClosedError();
    if (this.lostReason !== undefined) return new DeviceLostError(this.lostReason);
    const invalid = this.validate(prompt, options);
    if (invalid !== undefined) return new InvalidRequestError(invalid);
    if (options.signal?.aborted) return new AbortError([], { cause: options.signal.reason });
    if (this.sched.full()) return new QueueFullError(this.policy.queue, this.sched.waitingCount);
    return undefined;
  }

  private validate(prompt: readonly number[], options: GenerateOptions): string | undefined {
    const { maxSeq } = this.policy;
    const vocab = this.options.vocabSize;
    const tokenProblem = (what: string, t: unknown): string | undefined => {
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) return `${what} = ${show(t)} is not a token id (an integer ≥ 0)`;
      if (vocab !== undefined && t >= vocab) return `${what} = ${t} is outside the vocabulary (0 … ${vocab - 1})`;
      return undefined;
    };
    if (!Array.isArray(prompt)) return `the prompt must be an array of token ids, not ${show(prompt)}`;
    if (prompt.length === 0) return 'the prompt is empty: at least one token is needed';
    for (let i = 0; i < prompt.length; i++) {
      const p = tokenProblem(`prompt[${i}]`, prompt[i]);
      if (p) return p;
    }
    if (typeof options !== 'object' || options === null) return 'options with maxNewTokens are required';
    const n: unknown = options.maxNewTokens;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return `max new tokens = ${show(n)} must be an integer ≥ 1`;
    if (prompt.length >= maxSeq) {
      return `the prompt has ${prompt.length} tokens; the sequence limit is ${maxSeq} tokens (prompt and output), so the prompt may hold at most ${maxSeq - 1}`;
    }
    if (prompt.length + n > maxSeq) {
      return `prompt (${prompt.length} tokens) + max new tokens (${n}) = ${prompt.length + n} exceeds the sequence limit of ${maxSeq} tokens; at most ${maxSeq - prompt.length} new tokens fit`;
    }
    if (options.stop !== undefined) {
      if (!Array.isArray(options.stop)) return `stop must be an array of token ids, not ${show(options.stop)}`;
      for (let i = 0; i < options.stop.length; i++) {
        const p = tokenProblem(`stop[${i}]`, options.stop[i]);
        if (p) return p;
      }
    }
    if (options.deadlineMs !== undefined) {
      const d: unknown = options.deadlineMs;
      if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) return `deadline = ${show(d)} ms must be a finite number > 0`;
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) return 'signal must be an AbortSignal';
    const sampling = samplingProblem(options.sampling);
    if (sampling !== undefined) return sampling;
    if (options.onToken !== undefined && typeof options.onToken !== 'function') return 'onToken must be a function';
    return undefined;
  }

  // ── the loop ────────────────────────────────────────────────────────────────

  /** Starts the loop soon (after the current synchronous burst of `generate` calls) unless it runs. */
  private kick(): void {
    if (this.looping || this.kickQueued || this.lostReason !== undefined) return;
    this.kickQueued = true;
    queueMicrotask(() => {
      this.kickQueued = false;
      void this.loop();
    });
  }

  private async loop(): Promise<void> {
    if (this.looping || this.lostReason !== undefined) return;
    this.looping = true;
    this.clearWaitTimer();
    const loopStart = this.timeline ? now() : 0;
    let turns = 0;
    try {
      for (;;) {
        this.reap();
        const admitted = this.admit();
        if (this.replicated) await this.prefillTogether(admitted);
        else for (const req of admitted) await this.prefill(req);
        if (this.lostReason !== undefined) return;
        this.reap();
        const batch = this.live();
        if (batch.length > 0) await this.decode(batch);
        else if (admitted.length === 0) return;
        turns++;
        if (this.lostReason !== undefined) return;
        // Engines that resolve without a macrotask would otherwise starve timers and I/O.
        await nextMacrotask();
      }
    } catch (err) {
      // A bug in the loop itself: fail everything rather than leave promises hanging.
      this.failAll((req) => new EngineError(req.state === 'running' ? 'decode' : 'prefill', err));
    } finally {
      this.timeline?.loops.push({ start: loopStart, end: now(), turns });
      this.looping = false;
      if (this.lostReason === undefined) {
        this.reap();
        this.armWaitTimer();
      }
      this.checkIdle();
    }
  }

  /** Moves waiting requests into free slots (FIFO, within the prefill budget; src/serving/scheduler.ts); see docs/serving.md. */
  private admit(): Request[] {
    if (this.closing) return [];
    const t = now();
    return this.sched.admit(t, this.live().length).map(({ req, slot }) => {
      req.state = 'running';
      req.slot = slot;
      req.admittedAt = t;
      return req;
    });
  }

  private async prefill(req: Request): Promise<void> {
    if (req.state !== 'running') return; // settled (cancelled, deadline) after admission
    this.prefills++;
    let token: number;
    const start = this.timeline ? now() : 0;
    try {
      token = req.sample ? await this.engine.prefill(req.slot, req.prompt, req.sample) : await this.engine.prefill(req.slot, req.prompt);
    } catch (err) {
      this.engineFailed('prefill', [req], err);
      this.reap();
      return;
    }
    this.timeline?.calls.push({ kind: 'prefill', start, end: now(), batch: 1, tokens: req.prompt.length });
    if (req.state !== 'running') return;
    req.firstTokenAt = now();
    this.deliver(req, token);
    // Release at once (no call is in flight), before the caller's continuation runs.
    this.reap();
  }

  /**
   * One `prefillMany` call for the step's admitted requests: each request gets its first
   * token (or its error) when its own entry settles; slots are reaped once all have.
   */
  private async prefillTogether(admitted: readonly Request[]): Promise<void> {
    const reqs = admitted.filter((req) => req.state === 'running'); // not settled since admission
    if (reqs.length === 0) return;
    this.prefills += reqs.length;
    const entries: PrefillEntry[] = reqs.map((req) => ({
      slot: req.slot,
      prompt: req.prompt,
      ...(req.sample ? { sample: req.sample } : {}),
    }));
    let pending: Promise<number>[];
    const start = this.timeline ? now() : 0;
    try {
      pending = this.engine.prefillMany!(entries);
      if (!Array.isArray(pending) || pending.length !== reqs.length) {
        throw new Error(`prefillMany returned ${Array.isArray(pending) ? pending.length : 'no'} promises for ${reqs.length} prompts`);
      }
    } catch (err) {
      this.engineFailed('prefill', reqs, err);
      this.reap();
      return;
    }
    await Promise.all(
      reqs.map((req, i) =>
        Promise.resolve(pending[i]!).then(
          (token) => {
            if (req.state !== 'running') return;
            req.firstTokenAt = now();
            this.deliver(req, token);
          },
          (err: unknown) => this.engineFailed('prefill', [req], err),
        ),
      ),
    );
    this.timeline?.calls.push({
      kind: 'prefill',
      start,
      end: now(),
      batch: reqs.length,
      tokens: reqs.reduce((n, r) => n + r.prompt.length, 0),
    });
    // Only now: until every entry has settled, the call holds all of its slots.
    this.reap();
  }

  private async decode(batch: Request[]): Promise<void> {
    const entries: DecodeEntry[] = batch.map((req) => ({
      slot: req.slot,
      token: req.tokens[req.tokens.length - 1]!,
      position: req.prompt.length + req.tokens.length - 1,
      ...(req.sample ? { sample: req.sample } : {}),
    }));
    this.decodeSteps++;
    this.histogram[batch.length]!++;
    let next: number[];
    const start = this.timeline ? now() : 0;
    try {
      next = await this.engine.decode(entries);
      if (!Array.isArray(next) || next.length !== batch.length) {
        throw new Error(`decode returned ${Array.isArray(next) ? next.length : 'no'} tokens for a batch of ${batch.length}`);
      }
    } catch (err) {
      this.engineFailed('decode', batch, err);
      this.reap();
      return;
    }
    this.timeline?.calls.push({
      kind: 'decode',
      start,
      end: now(),
      batch: entries.length,
      tokens: entries.reduce((n, e) => n + e.position + 1, 0),
    });
    batch.forEach((req, i) => {
      if (req.state === 'running') this.deliver(req, next[i]!);
    });
    this.reap();
  }

  private deliver(req: Request, token: number): void {
    req.tokens.push(token);
    this.tokensTotal++;
    this.rate.add(now(), 1);
    let stopped = false;
    if (req.onToken) {
      try {
        stopped = req.onToken(token) === true;
      } catch (err) {
        this.finish(req, 'failed', new CallbackError(req.tokens.slice(), err));
        return;
      }
      // The callback may have cancelled the request (its signal) meanwhile.
      if (req.state !== 'running') return;
    }
    const finish: FinishReason | undefined =
      req.stop.has(token) || stopped ? 'stop' : req.tokens.length >= req.maxNewTokens ? 'length' : undefined;
    if (finish === undefined) return;
    const t = now();
    this.finish(req, 'completed', {
      tokens: req.tokens,
      finish,
      timing: {
        queuedMs: req.admittedAt - req.submittedAt,
        firstTokenMs: req.firstTokenAt - req.submittedAt,
        totalMs: t - req.submittedAt,
      },
    });
  }

  /** Releases the slots of settled requests; only between engine calls. */
  private reap(): void {
    for (let slot = 0; slot < this.sched.slotCount; slot++) {
      const req = this.sched.occupant(slot);
      if (req === undefined || req.state !== 'done') continue;
      this.sched.release(slot);
      if (this.lostReason !== undefined) continue;
      try {
        this.engine.release(slot);
      } catch {
        // A failing release leaves nothing to do: the slot is overwritten by the next prefill.
      }
    }
  }

  private engineFailed(call: 'prefill' | 'decode', reqs: readonly Request[], err: unknown): void {
    if (err instanceof EngineLostError || !this.engine.healthy) {
      this.markLost(err instanceof EngineLostError ? err.message.replace(/^the GPU device was lost: /, '') : errorText(err));
      return;
    }
    for (const req of reqs) this.finish(req, 'failed', new EngineError(call, err));
  }

  private markLost(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    this.clearWaitTimer();
    this.failAll(() => new DeviceLostError(reason));
  }

  private failAll(error: (req: Request) => ServingError): void {
    for (const req of [...this.sched.waitingJobs(), ...this.live()]) this.finish(req, 'failed', error(req));
    this.checkIdle();
  }

  // ── settling ────────────────────────────────────────────────────────────────

  private finish(req: Request, outcome: 'completed', value: GenerateResult): void;
  private finish(req: Request, outcome: Exclude<Outcome, 'completed'>, value: ServingError): void;
  private finish(req: Request, outcome: Outcome, value: GenerateResult | ServingError): void {
    if (req.state === 'done') return;
    if (req.state === 'waiting') this.sched.withdraw(req);
    req.state = 'done';
    req.cleanup();
    this.timeline?.requests.push({
      key: promptKey(req.prompt),
      submitted: req.submittedAt,
      admitted: req.admittedAt || NaN,
      firstToken: req.firstTokenAt || NaN,
      done: outcome === 'completed' ? now() : NaN,
    });
    this.counts[outcome]++;
    if (outcome === 'completed') req.resolve(value as GenerateResult);
    else req.reject(value as ServingError);
    if (this.idleWaiters.length > 0) this.checkIdle();
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const idle = this.sched.waitingCount === 0 && this.live().length === 0 && (!this.looping || this.lostReason !== undefined);
    if (!idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // ── helpers ─────────────────────────────────────────────────────────────────

  private live(): Request[] {
    const out: Request[] = [];
    for (let slot = 0; slot < this.sched.slotCount; slot++) {
      const req = this.sched.occupant(slot);
      if (req !== undefined && req.state === 'running') out.push(req);
    }
    return out;
  }

  private armWaitTimer(): void {
    const wake = this.sched.wakeAt();
    if (this.waitTimer !== undefined || wake === undefined || this.closing) return;
    const delay = Math.max(0, wake - now());
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined;
      this.kick();
    }, Math.ceil(delay));
  }

  private clearWaitTimer(): void {
    if (this.waitTimer === undefined) return;
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  if (v === null || typeof v !== 'object') return String(v);
  return 'an object';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
