/**
 * parplan's WebGPU runtime: `createRuntime(graph, { weights })` opens one device per
 * rank, allocates exactly the buffers the compiled graph assigns to each, loads the
 * weights shard by shard, and serves the plan's batch policy.
 *
 *   const rt = await createRuntime(graph, { weights: 'random:1' });
 *   const { tokens } = await rt.generate([1, 2, 3], { maxNewTokens: 16 });
 *   const server = rt.serve();           // batching server (docs/serving.md)
 *   await rt.close();
 */
import type { Graph } from '../src/graph/types.js';
import { openDevices, type DeviceOptions, type RankDevice } from './device.js';
import { EngineLostError, type DecodeEntry, type Engine } from './engine.js';
import { argmaxRows, prepareDevice, Replica, type DeviceState } from './executor.js';
import { createServer, policyFromPlan, type GenerateOptions, type GenerateResult, type Server } from './serving/index.js';
import { parseWeightsSource, type WeightsSource } from './weights/load.js';

export * from './serving/index.js';
export type { Engine, DecodeEntry } from './engine.js';
export { EngineLostError } from './engine.js';
export { AllocationError } from './allocate.js';

export interface RuntimeOptions extends DeviceOptions {
  /** `random:SEED`, safetensors files or a directory (see runtime/weights), or a parsed source. */
  weights: string | WeightsSource;
  /** Reuse already opened devices (one per rank, in rank order). */
  devices?: RankDevice[];
}

export interface MemoryReportRow {
  rank: number;
  allocatedBytes: number;
  /** The memory plan's total for this device. */
  planBytes: number;
  /** allocated / plan. */
  ratio: number;
}

export class Runtime {
  readonly engine: WebgpuEngine;
  private server: Server | undefined;

  constructor(
    readonly graph: Graph,
    readonly replicas: Replica[],
    private readonly states: DeviceState[],
  ) {
    this.engine = new WebgpuEngine(graph, replicas, states);
  }

  /** Allocated bytes per device against the memory plan. */
  memoryReport(): MemoryReportRow[] {
    return this.states
      .map((s) => ({ rank: s.dev.rank, allocatedBytes: s.allocated, planBytes: s.dev.memory.total, ratio: s.allocated / s.dev.memory.total }))
      .sort((a, b) => a.rank - b.rank);
  }

  /**
   * Logits of the last token of each prompt ([vocab] each), computed one prompt at a
   * time in KV slot 0 of replica 0 (other sequences' caches are not touched).
   */
  async forward(prompts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const p of prompts) out.push(await this.engine.prefillLogits(0, p));
    return out;
  }

  /** The batching server for the plan's batch policy (created on first use). */
  serve(): Server {
    if (!this.server) {
      const b = this.graph.batch!;
      this.server = createServer(this.engine, policyFromPlan({ ...b, maxBatch: b.maxBatch * this.graph.mesh.data }), { vocabSize: this.graph.model.vocab });
    }
    return this.server;
  }

  generate(prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
    return this.serve().generate([...prompt], opts);
  }

  async close(): Promise<void> {
    this.engine.closing = true;
    if (this.server) await this.server.close({ drain: false });
    for (const s of this.states) {
      s.runner.destroy();
      s.rd.device.destroy();
    }
  }
}

export async function createRuntime(graph: Graph, opts: RuntimeOptions): Promise<Runtime> {
  if (graph.plan.mode !== 'serve') throw new Error(`plan '${graph.plan.name}' is a training plan; the runtime serves serving plans`);
  const weights = typeof opts.weights === 'string' ? parseWeightsSource(opts.weights) : opts.weights;
  const devices = opts.devices ?? (await openDevices(graph.devices.length, opts));
  if (devices.length < graph.devices.length) throw new Error(`the graph has ${graph.devices.length} ranks but ${devices.length} devices were given`);
  const states: DeviceState[] = [];
  for (const dev of graph.devices) states.push(await prepareDevice(devices[dev.rank]!, dev, graph, weights));
  const replicas: Replica[] = [];
  for (let d = 0; d < graph.mesh.data; d++) {
    const stages = Array.from({ length: graph.mesh.pipeline }, (_, s) => ({
      devices: states.filter((x) => x.dev.dataRank === d && x.dev.stage === s).sort((a, b) => a.dev.tensorRank - b.dev.tensorRank),
    }));
    replicas.push(new Replica(d, stages, graph));
  }
  return new Runtime(graph, replicas, states);
}

/** The Engine the batching server drives: slots of every replica, in order. */
export class WebgpuEngine implements Engine {
  readonly slots: number;
  readonly maxSeq: number;
  private readonly perReplica: number;
  private lostReason: string | undefined;
  private readonly listeners: ((reason: string) => void)[] = [];
  private busy = 0;
  /** Set by Runtime.close(): devices destroyed on purpose are not "lost". */
  closing = false;

  constructor(
    private readonly graph: Graph,
    private readonly replicas: Replica[],
    states: DeviceState[],
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

  private async timed<T>(work: () => Promise<T>): Promise<T> {
    if (this.lostReason !== undefined) throw new EngineLostError(this.lostReason);
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      this.busy += performance.now() - t0;
    }
  }

  /** Logits of the prompt's last token, after filling `slot` (chunks of max_prefill_tokens). */
  async prefillLogits(slot: number, prompt: readonly number[]): Promise<Float32Array> {
    if (prompt.length === 0 || prompt.length > this.maxSeq) throw new RangeError(`prompt of ${prompt.length} tokens: 1 … ${this.maxSeq} allowed`);
    const replica = this.replicas[Math.floor(slot / this.perReplica)]!;
    const local = slot % this.perReplica;
    const chunk = this.graph.batch!.maxPrefillTokens;
    let logits: Float32Array | undefined;
    for (let start = 0; start < prompt.length; start += chunk) {
      const tokens = prompt.slice(start, start + chunk);
      const r = await replica.forward({ phase: 'prefill', tokens, positions: tokens.map((_, i) => start + i), slots: tokens.map(() => local) });
      logits = r.logits;
    }
    return logits!;
  }

  prefill(slot: number, prompt: readonly number[]): Promise<number> {
    return this.timed(async () => argmaxRows(await this.prefillLogits(slot, prompt), 1, this.graph.model.vocab)[0]!);
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
      await Promise.all(
        [...byReplica].map(async ([r, items]) => {
          const res = await this.replicas[r]!.forward({
            phase: 'decode',
            tokens: items.map((i) => i.entry.token),
            positions: items.map((i) => i.entry.position),
            slots: items.map((i) => i.entry.slot % this.perReplica),
          });
          argmaxRows(res.logits, res.rows, this.graph.model.vocab).forEach((tok, k) => (out[items[k]!.index] = tok));
        }),
      );
      return out;
    });
  }

  release(): void {
    // A slot's cache entries are overwritten by the next sequence's prefill.
  }
}
