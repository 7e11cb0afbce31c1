/**
 * parplan's WebGPU runtime: `createRuntime(graph, { weights })` opens one device per
 * rank, allocates exactly the buffers the compiled graph assigns to each, loads the
 * weights shard by shard, and serves the plan's batch policy.
 *
 *   const rt = await createRuntime(graph, { weights: 'random:1' });
 *   const { tokens } = await rt.generate([1, 2, 3], { maxNewTokens: 16 });
 *   const { text } = await rt.generate('Hello', { maxNewTokens: 16 });   // with a tokenizer (docs/runtime.md)
 *   const server = rt.serve();           // batching server (docs/serving.md)
 *   await rt.close();
 */
import type { Graph } from '../src/graph/types.js';
import { groupIndex, groupsAlong, meshOf } from '../src/mesh.js';
import { kvCacheTensor, type MemoryReportRow } from './allocate.js';
import { openDevices, type DeviceOptions, type RankDevice } from './device.js';
import { EngineLostError, type DecodeEntry, type Engine, type PrefillEntry, type Sampler } from './engine.js';
import { describeValue, RuntimeInputError, tokenProblem } from './errors.js';
import { argmaxRows, assertServingGraph, prepareDevice, Replica, type DeviceState } from './executor.js';
import {
  createServer,
  policyFromPlan,
  type GenerateOptions,
  type GenerateResult,
  type Server,
  type ServerOptions,
} from './serving/index.js';
import type { BatchCheck, GraphInput, NewTokensCheck, Prompts, ServingCheck } from './typed.js';
import type { Trace } from './trace.js';
import { checkCheckpointConfig, CheckpointConfigError } from './weights/config.js';
import { parseWeightsSource, type WeightsSource } from './weights/load.js';
import { hasTokenizer, loadTextCodec, TextCodecError } from './text/codec.js';
import { generateText, type TextGenerateOptions, type TextGenerateResult } from './text/generate.js';
import type { TextCodec } from './text/types.js';

export * from './serving/index.js';
export type { Engine, DecodeEntry, PrefillEntry, Sampler } from './engine.js';
export { EngineLostError } from './engine.js';
export { AllocationError } from './allocate.js';
export { RuntimeInputError, type RuntimeInputErrorCode } from './errors.js';
export type * from './typed.js';
export * from './text/index.js';
export { Trace, type Span, type SpanKind } from './trace.js';
// Training on one device or several (issue 16): createTrainer(graph, { weights, optimizer }) → step / save / memoryTimeline / close.
export {
  createTrainer,
  TrainerInputError,
  TrainingNotExecutedError,
  type StepResult,
  type Trainer,
  type TrainerOptimizer,
  type TrainerOptions,
} from './training/executor.js';
export { BatchError, type Batch } from './training/batch.js';

export interface RuntimeOptions extends DeviceOptions {
  /** `random:SEED`, safetensors files or a directory (see runtime/weights), or a parsed source. */
  weights: string | WeightsSource;
  /** Reuse already opened devices (one per rank, in rank order). */
  devices?: RankDevice[];
  /**
   * For tests and for emulating a smaller adapter: the most bytes one storage binding
   * may cover, used instead of the adapter's maxStorageBufferBindingSize when lower
   * (never raises it). Weights larger than the limit are split into row blocks, a
   * layer's KV cache into blocks of slots.
   */
  maxBindingBytes?: number;
  /**
   * Overlap communication with compute (default true): data-parallel replicas run their
   * passes concurrently, and each upload staging buffer is mapped again right after its
   * copy is submitted. `false` runs replicas one after another and maps on demand — the
   * schedule before overlap, kept for comparison (bench/overlap.ts); results are identical.
   */
  overlap?: boolean;
  /** Record per-device spans of compute and communication into this trace (runtime/trace.ts). */
  trace?: Trace;
  /**
   * Load checkpoint weights holding NaN or ±Infinity (default false: refused at load with
   * the tensor's name and the first such element; `serve --allow-nonfinite`).
   */
  allowNonfinite?: boolean;
  /**
   * Called with each warning about the weights, before anything is allocated: a checkpoint
   * directory without config.json, whose model could not be checked against the graph's
   * (default: process.emitWarning).
   */
  onWarning?: (message: string) => void;
  /**
   * The tokenizer for text prompts (`generate('…')`): a checkpoint directory holding
   * tokenizer.json and tokenizer_config.json (runtime/text/codec.ts), or a TextCodec.
   * Default: the weights' directory when `weights` names one directory that holds
   * tokenizer.json; else none (text prompts are refused; token ids still work).
   */
  tokenizer?: string | TextCodec;
}

/**
 * A tensor held as several blocks because it is larger than one storage binding: a
 * weight in row blocks, or a layer's KV cache in blocks of slots.
 */
export interface SplitReportRow {
  rank: number;
  kind: 'weight' | 'kv-cache';
  /** Instance name, e.g. `embedding.weight`, or `kv.3` for layer 3's KV cache. */
  weight: string;
  /** On this device; a KV cache's is its K's (and its V's): [slots, seq, kvHeads, headDim]. */
  shape: number[];
  /** Rows of each block (the first dimension: slots for a KV cache). */
  blockRows: number[];
  /** The binding limit that made the split, in bytes. */
  limitBytes: number;
}

export type { MemoryReportRow } from './allocate.js';

/** `G`: the graph's type; a generated module's literal graph makes misuse a type error (runtime/typed.ts). */
export class Runtime<G extends GraphInput = Graph> {
  readonly engine: WebgpuEngine;
  /** The tokenizer and chat template for text (RuntimeOptions.tokenizer), when there is one. */
  codec: TextCodec | undefined;
  private server: Server | undefined;
  private closed = false;

  constructor(
    readonly graph: Graph,
    readonly replicas: Replica[],
    private readonly states: DeviceState[],
    overlap = true,
  ) {
    this.engine = new WebgpuEngine(graph, replicas, states, overlap);
  }

  /** Allocated bytes per device against the memory plan. */
  memoryReport(): MemoryReportRow[] {
    return this.states
      .map((s) => ({
        rank: s.dev.rank,
        allocatedBytes: s.allocated,
        planBytes: s.dev.memory.total,
        ratio: s.allocated / s.dev.memory.total,
      }))
      .sort((a, b) => a.rank - b.rank);
  }

  /** The weights and KV caches split over several storage bindings on each device (empty when every one fits one). */
  splitReport(): SplitReportRow[] {
    const kv = kvCacheTensor(this.graph);
    const kvShape = [kv.slots, kv.seq, kv.kvHeads, kv.headDim];
    return this.states
      .flatMap((s) => {
        const rank = s.dev.rank;
        const limitBytes = s.binding.bytes;
        const weights = [...s.weights]
          .filter(([, w]) => w.blocks.length > 1)
          .map(([weight, w]): SplitReportRow => ({
            rank,
            kind: 'weight',
            weight,
            shape: [...w.shape],
            blockRows: w.blocks.map((b) => b.rows[1] - b.rows[0]),
            limitBytes,
          }));
        const caches = [...s.kv]
          .filter(([, blocks]) => blocks.length > 1)
          .map(([layer, blocks]): SplitReportRow => ({
            rank,
            kind: 'kv-cache',
            weight: `kv.${layer}`,
            shape: [...kvShape],
            blockRows: blocks.map((b) => b.slots[1] - b.slots[0]),
            limitBytes,
          }));
        return [...weights, ...caches];
      })
      .sort((a, b) => a.rank - b.rank);
  }

  /**
   * Logits of the last token of each prompt ([vocab] each): at most the plan's
   * `max_batch` prompts (the same limit the generated types check at compile time).
   * Prompt i is prefilled in KV slot 0 of replica i mod data, so replicas work on
   * their prompts concurrently, each one prompt after another; other slots' caches
   * are not touched (do not call it while the server decodes sequences).
   */
  async forward<const P extends Prompts>(prompts: P & BatchCheck<G, P>): Promise<Float32Array[]> {
    if (this.closed) throw closedError('forward');
    const given: unknown = prompts;
    if (!Array.isArray(given))
      throw new RuntimeInputError(
        'invalid_tokens',
        `forward takes an array of prompts (each an array of token ids), not ${describeValue(given)}`,
      );
    const max = this.graph.batch!.maxBatch;
    if (prompts.length > max) {
      throw new RuntimeInputError(
        'invalid_batch',
        `forward got a batch of ${prompts.length} prompts; plan '${this.graph.plan.name}' has max_batch = ${max}: pass at most ${max} prompts per call`,
      );
    }
    const { vocab } = this.graph.model;
    const seq = this.graph.batch!.seq;
    for (const [i, p] of prompts.entries()) {
      const problem = tokenProblem(p, vocab, `prompts[${i}]`);
      if (problem !== undefined) throw new RuntimeInputError('invalid_tokens', `forward: ${problem}`);
      if (p.length > seq)
        throw new RuntimeInputError(
          'invalid_tokens',
          `forward: prompts[${i}] has ${p.length} tokens; plan '${this.graph.plan.name}' has seq = ${seq}`,
        );
    }
    return this.engine.prefillEach(prompts);
  }

  /** The batching server for the plan's batch policy (created on first use; `options.timeline` applies then). */
  serve(options: Pick<ServerOptions, 'timeline'> = {}): Server {
    if (!this.server) {
      const b = this.graph.batch!;
      this.server = createServer(this.engine, policyFromPlan({ ...b, maxBatch: b.maxBatch * meshOf(this.graph.mesh.axes).data }), {
        vocabSize: this.graph.model.vocab,
        ...(options.timeline ? { timeline: options.timeline } : {}),
      });
    }
    return this.server;
  }

  /**
   * One generation through the batching server; every misuse is a rejected promise (never a
   * synchronous throw). A text prompt is encoded with the runtime's tokenizer (`codec`) and
   * answered with text (runtime/text/generate.ts: stop strings, EOS); token ids get token ids.
   */
  // One signature, not overloads: a maxNewTokens past the plan's seq stays the plain type error (TS2322) that names it.
  generate<const N extends number, const P extends string | readonly number[] = readonly number[]>(
    prompt: P,
    opts: ([P] extends [string] ? TextGenerateOptions : GenerateOptions) & { maxNewTokens: N & NewTokensCheck<G, N> },
  ): Promise<[P] extends [string] ? TextGenerateResult : GenerateResult> {
    return this.generateAny(prompt, opts) as Promise<[P] extends [string] ? TextGenerateResult : GenerateResult>;
  }

  private generateAny(
    prompt: string | readonly number[],
    opts: GenerateOptions | TextGenerateOptions,
  ): Promise<GenerateResult | TextGenerateResult> {
    if (this.closed) return Promise.reject(closedError('generate'));
    if (typeof prompt === 'string') {
      if (!this.codec)
        return Promise.reject(
          new RuntimeInputError(
            'no_tokenizer',
            'generate: a text prompt needs a tokenizer: pass RuntimeOptions.tokenizer (a checkpoint directory with tokenizer.json and tokenizer_config.json), or give token ids',
          ),
        );
      try {
        return generateText(this.serve(), this.codec, prompt, opts as TextGenerateOptions);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const given: unknown = prompt;
    // The server checks the ids (InvalidRequestError); a prompt that is no array at all is the caller's mistake.
    if (!Array.isArray(given))
      return Promise.reject(
        new RuntimeInputError('invalid_tokens', `generate: the prompt must be an array of token ids, not ${describeValue(given)}`),
      );
    try {
      return this.serve().generate([...prompt], opts as GenerateOptions);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.engine.closing = true;
    if (this.server) await this.server.close({ drain: false });
    for (const s of this.states) {
      s.runner.destroy();
      s.rd.device.destroy();
    }
  }
}

/**
 * Open the graph's devices, allocate and load them. The graph is validated first
 * (src/graph/validate.ts), so nothing is allocated for one that cannot be served; every
 * mistake in the arguments rejects with a RuntimeInputError.
 */
export async function createRuntime<const G extends GraphInput = Graph>(
  input: G & ServingCheck<G>,
  opts: RuntimeOptions,
): Promise<Runtime<G>> {
  const given: unknown = opts;
  if (typeof given !== 'object' || given === null)
    throw new RuntimeInputError(
      'invalid_options',
      `createRuntime(graph, options) needs options with weights (e.g. { weights: 'random:1' }), not ${describeValue(given)}`,
    );
  if (typeof opts.weights !== 'string' && (typeof opts.weights !== 'object' || opts.weights === null)) {
    throw new RuntimeInputError(
      'invalid_options',
      `options.weights must be 'random:SEED', safetensors paths or a parsed source, not ${describeValue(opts.weights)}`,
    );
  }
  const graph = input as Graph; // read-only from here on: the runtime never writes to the graph
  assertServingGraph(graph); // src/graph/validate.ts checkServingGraph, before any device is opened
  const weights = typeof opts.weights === 'string' ? parseWeightsSource(opts.weights) : opts.weights;
  // A checkpoint directory's config.json against the graph's model, before any device is opened.
  try {
    const { warnings } = checkCheckpointConfig(graph, weights);
    for (const w of warnings) (opts.onWarning ?? ((m: string) => process.emitWarning(m, 'ParplanWarning')))(w);
  } catch (e) {
    if (e instanceof CheckpointConfigError) throw new RuntimeInputError('invalid_checkpoint', e.message);
    throw e;
  }
  const codec = textCodec(opts.tokenizer, weights, graph.model.vocab);
  const devices = opts.devices ?? (await openDevices(graph.devices.length, opts));
  if (devices.length < graph.devices.length)
    throw new RuntimeInputError('invalid_options', `the graph has ${graph.devices.length} ranks but ${devices.length} devices were given`);
  const states: DeviceState[] = [];
  const prepare = {
    ...(opts.maxBindingBytes === undefined ? {} : { maxBindingBytes: opts.maxBindingBytes }),
    mapAhead: opts.overlap ?? true,
    ...(opts.trace ? { trace: opts.trace } : {}),
    allowNonfinite: opts.allowNonfinite === true,
  };
  try {
    for (const dev of graph.devices) states.push(await prepareDevice(devices[dev.rank]!, dev, graph, weights, prepare));
  } catch (e) {
    // Devices this call opened are released; the caller's own stay open.
    for (const s of states) s.runner.destroy();
    if (opts.devices === undefined) for (const d of devices) d.device.destroy();
    throw e;
  }
  const replicas: Replica[] = [];
  // A replica's stage runs on one tensor group.
  const mesh = meshOf(graph.mesh.axes);
  const byRank = new Map(states.map((s) => [s.dev.rank, s]));
  const tensorGroups = groupsAlong(mesh, 'tensor');
  for (let d = 0; d < mesh.data; d++) {
    const stages = Array.from({ length: mesh.pipeline }, (_, s) => ({
      devices: tensorGroups[groupIndex(mesh, 'tensor', { tensor: 0, context: 0, pipeline: s, data: d })]!.map((rank) => byRank.get(rank)!),
    }));
    replicas.push(new Replica(d, stages, graph));
  }
  const runtime = new Runtime<G>(graph, replicas, states, opts.overlap ?? true);
  runtime.codec = codec;
  return runtime;
}

/** The runtime's tokenizer (RuntimeOptions.tokenizer), read before any device is opened. */
function textCodec(option: RuntimeOptions['tokenizer'], weights: WeightsSource, vocab: number): TextCodec | undefined {
  let dir: string | undefined;
  if (typeof option === 'string') dir = option;
  else if (option !== undefined) {
    if (typeof option !== 'object' || option === null || typeof option.encode !== 'function')
      throw new RuntimeInputError('invalid_options', `options.tokenizer must be a directory or a TextCodec, not ${describeValue(option)}`);
    return option;
  } else if (weights.kind === 'safetensors' && weights.paths.length === 1 && hasTokenizer(weights.paths[0]!)) dir = weights.paths[0]!;
  if (dir === undefined) return undefined;
  try {
    const codec = loadTextCodec(dir);
    if (codec.vocabSize > vocab)
      throw new TextCodecError(
        `${dir}: the tokenizer has ids up to ${codec.vocabSize - 1}, but the model's vocabulary has ${vocab} tokens: this tokenizer is not the model's`,
      );
    return codec;
  } catch (e) {
    if (e instanceof TextCodecError) throw new RuntimeInputError('invalid_tokenizer', e.message);
    throw e;
  }
}

function closedError(call: string): RuntimeInputError {
  return new RuntimeInputError('runtime_closed', `${call}: the runtime is closed`);
}

/**
 * The Engine the batching server drives: slots of every replica, in order (slot s is
 * on replica ⌊s / max_batch⌋). Decode steps and `prefillMany` run replicas concurrently.
 */
export class WebgpuEngine implements Engine {
  readonly slots: number;
  readonly maxSeq: number;
  private readonly perReplica: number;
  private lostReason: string | undefined;
  private readonly listeners: ((reason: string) => void)[] = [];
  private busy = 0;
  /** Calls in flight (concurrent prefills count once in `busy`), and since when the engine is busy. */
  private active = 0;
  private busySince = 0;
  /** Set by Runtime.close(): devices destroyed on purpose are not "lost". */
  closing = false;

  constructor(
    private readonly graph: Graph,
    private readonly replicas: Replica[],
    states: DeviceState[],
    /** Replicas' passes run concurrently (RuntimeOptions.overlap). */
    private readonly overlap = true,
  ) {
    this.perReplica = graph.batch!.maxBatch;
    this.slots = this.perReplica * replicas.length;
    this.maxSeq = graph.batch!.seq;
    for (const s of states) {
      void s.rd.device.lost.then((info) => {
        if (this.closing) return;
        this.lose(`rank ${s.dev.rank}: ${info.message || info.reason}`);
      });
    }
  }

  get healthy(): boolean {
    return this.lostReason === undefined;
  }

  onLost(listener: (reason: string) => void): void {
    this.listeners.push(listener);
  }

  private lose(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    for (const l of this.listeners) l(reason);
  }

  busyMs(): number {
    return this.busy;
  }

  /** Runs `work`, adding to `busyMs` the time during which at least one call runs. */
  private async timed<T>(work: () => Promise<T>): Promise<T> {
    if (this.lostReason !== undefined) throw new EngineLostError(this.lostReason);
    if (this.active++ === 0) this.busySince = performance.now();
    try {
      return await work();
    } finally {
      if (--this.active === 0) this.busy += performance.now() - this.busySince;
    }
  }

  /** The data-parallel replica holding `slot`: slots are numbered replica by replica. */
  replicaOf(slot: number): number {
    return Math.floor(slot / this.perReplica);
  }

  /** Logits of the prompt's last token, after filling `slot` (chunks of max_prefill_tokens). */
  async prefillLogits(slot: number, prompt: readonly number[]): Promise<Float32Array> {
    if (prompt.length === 0 || prompt.length > this.maxSeq)
      throw new RangeError(`prompt of ${prompt.length} tokens: 1 … ${this.maxSeq} allowed`);
    const replica = this.replicas[Math.floor(slot / this.perReplica)]!;
    const local = slot % this.perReplica;
    const chunk = this.graph.batch!.maxPrefillTokens;
    // The whole prompt holds the replica: its chunks fill one slot in order.
    return replica.exclusive(async () => {
      let logits: Float32Array | undefined;
      for (let start = 0; start < prompt.length; start += chunk) {
        const tokens = prompt.slice(start, start + chunk);
        const r = await replica.forward({
          phase: 'prefill',
          tokens,
          positions: tokens.map((_, i) => start + i),
          slots: tokens.map(() => local),
        });
        logits = r.logits;
      }
      return logits!;
    });
  }

  /** Last-token logits of each prompt, prompt i in slot 0 of replica i mod data (Runtime.forward). */
  async prefillEach(prompts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const slotOf = (i: number) => (i % this.replicas.length) * this.perReplica;
    if (this.overlap) return Promise.all(prompts.map((p, i) => this.prefillLogits(slotOf(i), p)));
    const out: Float32Array[] = [];
    for (const [i, p] of prompts.entries()) out.push(await this.prefillLogits(slotOf(i), p));
    return out;
  }

  /** The first token: the argmax, or `sample`'s pick from the last token's logits (vocab columns, padding removed). */
  prefill(slot: number, prompt: readonly number[], sample?: Sampler): Promise<number> {
    return this.timed(async () => {
      const logits = await this.prefillLogits(slot, prompt);
      return sample ? sample(logits.subarray(0, this.graph.model.vocab)) : argmaxRows(logits, 1, this.graph.model.vocab)[0]!;
    });
  }

  /**
   * Each entry's first token, on its own promise. Every replica takes its entries in
   * order (`Replica.exclusive` queues them); with overlap, replicas work at the same
   * time; without, entries run one after another in the order given.
   */
  prefillMany(entries: readonly PrefillEntry[]): Promise<number>[] {
    if (this.overlap) return entries.map((e) => this.prefill(e.slot, e.prompt, e.sample));
    let previous: Promise<unknown> = Promise.resolve();
    return entries.map((e) => {
      const run = previous.then(() => this.prefill(e.slot, e.prompt, e.sample));
      previous = run.catch(() => {});
      return run;
    });
  }

  decode(batch: readonly DecodeEntry[]): Promise<number[]> {
    return this.timed(async () => {
      const byReplica = new Map<number, { entry: DecodeEntry; index: number }[]>();
      batch.forEach((entry, index) => {
        const r = Math.floor(entry.slot / this.perReplica);
        let list = byReplica.get(r);
        if (!list) byReplica.set(r, (list = []));
        list.push({ entry, index });
      });
      const out = new Array<number>(batch.length);
      const step = async ([r, items]: [number, { entry: DecodeEntry; index: number }[]]) => {
        const replica = this.replicas[r]!;
        const res = await replica.exclusive(() =>
          replica.forward({
            phase: 'decode',
            tokens: items.map((i) => i.entry.token),
            positions: items.map((i) => i.entry.position),
            slots: items.map((i) => i.entry.slot % this.perReplica),
          }),
        );
        const vocab = this.graph.model.vocab;
        argmaxRows(res.logits, res.rows, vocab).forEach((tok, k) => {
          // A sampling sequence draws from its own row (the rows hold vocab columns, padding removed).
          const sample = items[k]!.entry.sample;
          out[items[k]!.index] = sample ? sample(res.logits.subarray(k * vocab, (k + 1) * vocab)) : tok;
        });
      };
      // Each replica decodes its own sequences; with overlap they do so at the same time.
      if (this.overlap) await Promise.all([...byReplica].map(step));
      else for (const entry of byReplica) await step(entry);
      return out;
    });
  }

  release(): void {
    // A slot's cache entries are overwritten by the next sequence's prefill.
  }
}
