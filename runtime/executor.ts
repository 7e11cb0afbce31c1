/**
 * The executor: runs a compiled serving graph on WebGPU devices, one device per
 * rank. It interprets each device's program (`graph.programs[...].phases.prefill`
 * and `.decode`) step by step, in the graph's order (blocks instanced per layer,
 * reversed where `reverse` says, `{l}` and `{m}` filled): compute steps become kernel
 * dispatches recorded into one command encoder per device; tensor-parallel all-reduces
 * and a stage's send to the next go through the host (collectives.ts) where the graph
 * puts them; anything else is refused (checkServingGraph refuses it first). Data-parallel replicas run
 * independently and concurrently, each on its own devices and its own KV-cache
 * slots; the passes of one replica run one at a time (`Replica.exclusive`).
 *
 * A replica implements one forward pass over `n` tokens (a prefill chunk of one
 * sequence, or one token of each of several sequences in decode), each token with
 * its position and KV-cache slot; the last stage returns logits or greedy tokens.
 */
import { isCollective, type Collective, type Graph, type GraphDevice, type Step } from '../src/graph/types.js';
import { checkServingGraph } from '../src/graph/validate.js';
import { RuntimeInputError } from './errors.js';
import { meshOf } from '../src/mesh.js';
import { AllocationError, bindingLimit, kvCacheTensor, planBindings, STORAGE, type BindingLimit } from './allocate.js';
import { HostStaging, allReduceSum, gatherColumns, moeExchange, sendRecv, type Member } from './collectives.js';
import type { RankDevice } from './device.js';
import { KernelRunner } from './kernels/run.js';
import { Ops, type KvBlock, type OpsDevice, type PassInput, type WeightBuffer } from './ops.js';
import { bufferBytes } from './split.js';
import { beginSpan, type DeviceTrace, type Trace } from './trace.js';
import { loadWeights, type WeightsSource } from './weights/load.js';
import type { Range } from './weights/slice.js';

export { AllocationError };

/** One device's state: its buffers and the kernels bound to them. */
export class DeviceState implements OpsDevice {
  readonly buffers = new Map<string, GPUBuffer>();
  readonly weights = new Map<string, WeightBuffer>();
  /**
   * Per layer: the K and V caches, each [slots, maxSeq, kvHeadsPerRank, headDim], as
   * blocks of slots (one block unless a layer's K is larger than one storage binding).
   */
  readonly kv = new Map<number, KvBlock[]>();
  staging: HostStaging | undefined;
  /** Where this device's compute and communication spans go (RuntimeOptions.trace). */
  readonly trace: DeviceTrace | undefined;
  readonly runner: KernelRunner;
  readonly ops: Ops;
  /** Bytes of every buffer created for this device (the memory report). */
  allocated = 0;

  constructor(
    readonly rd: RankDevice,
    readonly dev: GraphDevice,
    readonly graph: Graph,
    /** The most bytes one storage binding covers here (weights above it are split into row blocks). */
    readonly binding: BindingLimit,
    trace?: Trace,
  ) {
    this.trace = trace ? { trace, rank: dev.rank, replica: dev.coords.data } : undefined;
    this.runner = new KernelRunner(rd.device, { label: `rank ${dev.rank}` });
    this.ops = new Ops(this);
  }

  buffer(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`internal error: rank ${this.dev.rank} has no buffer '${name}' (this is a bug in parplan)`);
    return b;
  }

  weight(name: string): WeightBuffer {
    const w = this.weights.get(name);
    if (!w) throw new Error(`internal error: rank ${this.dev.rank} has no weight '${name}' (this is a bug in parplan)`);
    return w;
  }

  member(name: string): Member {
    if (!this.staging) throw new Error(`internal error: rank ${this.dev.rank} has no staging buffers (this is a bug in parplan)`);
    return { staging: this.staging, buffer: this.buffer(name) };
  }
}

export interface PrepareOptions {
  /** Emulate a smaller binding limit than the adapter's (RuntimeOptions.maxBindingBytes). */
  maxBindingBytes?: number;
  /** Keep the upload staging buffer mapped between uses (RuntimeOptions.overlap; default true). */
  mapAhead?: boolean;
  trace?: Trace;
  /** Load weights holding NaN or ±Infinity (RuntimeOptions.allowNonfinite). */
  allowNonfinite?: boolean;
}

/**
 * Allocate one device exactly as the compiled graph says, and upload its weights — a
 * weight larger than one storage binding as row blocks, one buffer each; a KV cache
 * larger than one binding as blocks of slots, a K and a V buffer each.
 */
export async function prepareDevice(
  rd: RankDevice,
  dev: GraphDevice,
  graph: Graph,
  weights: WeightsSource,
  opts: PrepareOptions = {},
): Promise<DeviceState> {
  assertServingGraph(graph);
  const regions = graph.buffers![dev.program]!;
  const limit = bindingLimit(rd, opts.maxBindingBytes);
  const { weights: blocks, kvSlots } = planBindings(rd, dev, graph, regions, limit);
  const state = new DeviceState(rd, dev, graph, limit, opts.trace);
  const kv = kvCacheTensor(graph);
  const slotBytes = kv.seq * kv.kvHeads * kv.headDim * kv.elementBytes;
  const layers = graph.mesh.stages.filter((s) => s.rank === dev.coords.pipeline);
  const device = rd.device;
  for (const r of regions) allocateRegion(state, r, regions, opts.mapAhead ?? true);
  for (const st of layers) {
    for (let l = st.firstLayer; l <= st.lastLayer; l++) {
      const split = kvSlots.length > 1;
      state.kv.set(
        l,
        kvSlots.map((slots) => {
          const bytes = (slots[1] - slots[0]) * slotBytes;
          const label = (which: string) => `rank ${dev.rank} ${which} cache ${l}${split ? ` slots ${slots[0]}…${slots[1] - 1}` : ''}`;
          const make = (which: string) => device.createBuffer({ label: label(which), size: bufferBytes(bytes), usage: STORAGE() });
          state.allocated += 2 * bytes;
          return { k: make('K'), v: make('V'), slots };
        }),
      );
    }
  }
  for await (const w of loadWeights(graph, dev.coords, weights, {
    progress: 'auto',
    rowBlocks: (s) => blocks.get(s.name),
    allowNonfinite: opts.allowNonfinite ?? false,
  })) {
    const rows: Range = w.block?.rows ?? [0, w.shape[0] ?? 1];
    const size = bufferBytes(w.data.byteLength);
    const label = `rank ${dev.rank} ${w.name}${w.block ? ` rows ${rows[0]}…${rows[1] - 1}` : ''}`;
    const buffer = device.createBuffer({ label, size, usage: STORAGE(), mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(w.data);
    buffer.unmap();
    state.allocated += size;
    let entry = state.weights.get(w.name);
    if (!entry) state.weights.set(w.name, (entry = { dtype: w.dtype, shape: w.shape, blocks: [] }));
    entry.blocks.push({ buffer, rows });
  }
  return state;
}

/** Graphs already checked (createRuntime checks first; a device prepared on its own is checked here). */
const checked = new WeakSet<Graph>();

/** The one serving-graph check (src/graph/validate.ts), before anything is allocated. */
export function assertServingGraph(graph: Graph): void {
  if (checked.has(graph)) return;
  const problems = checkServingGraph(graph);
  if (problems.length > 0) throw RuntimeInputError.graph(problems);
  checked.add(graph);
}

type Region = NonNullable<Graph['buffers']>[string][number];

function allocateRegion(state: DeviceState, r: Region, all: readonly Region[], mapAhead: boolean): void {
  const device = state.rd.device;
  if (r.name === 'uniforms') {
    state.allocated += r.bytes; // the kernel runner's uniform pool: one chunk of this size
    return;
  }
  if (r.name === 'staging-read' || r.name === 'staging-write') {
    if (!state.staging) {
      const bytes = (name: string) => all.find((x) => x.name === name)?.bytes ?? 0;
      state.staging = HostStaging.create(device, bytes('staging-read'), bytes('staging-write'), `rank ${state.dev.rank}`, mapAhead);
      state.staging.trace = state.trace;
      state.allocated += bytes('staging-read') + bytes('staging-write');
    }
    return;
  }
  state.buffers.set(
    r.name,
    device.createBuffer({ label: `rank ${state.dev.rank} ${r.name}`, size: Math.max(4, Math.ceil(r.bytes / 4) * 4), usage: STORAGE() }),
  );
  state.allocated += r.bytes;
}

/** The tensor ranks of one pipeline stage of one replica. */
export interface StageGroup {
  devices: DeviceState[];
}

/** A step as one pass runs it: blocks instanced per layer, `{l}` and `{m}` filled in its tensor names. */
export interface FlatStep {
  step: Step;
  layer: number | undefined;
  reads: string[];
  writes: string[];
}

/** A program's phase flattened: what one pass runs, in the graph's order. */
type Flat = FlatStep[];

/** `name` with `{l}` the layer and `{m}` the microbatch (where given). */
export function instanceName(name: string, layer: number | undefined, microbatch: number | undefined): string {
  let n = layer === undefined ? name : name.replaceAll('{l}', String(layer));
  if (microbatch !== undefined) n = n.replaceAll('{m}', String(microbatch));
  return n;
}

/**
 * A program's phase in the order it runs: each block step instanced for its layers (last
 * to first when `reverse`), its microbatch (`{m}`) carried to the steps inside.
 */
export function flattenPhase(graph: Graph, program: string, phase: string): Flat {
  const flat: Flat = [];
  const add = (s: Step, layer: number | undefined, microbatch: number | undefined) => {
    if (s.op === 'block') {
      const inner = graph.blocks[s.block];
      if (!inner)
        throw new Error(`internal error: program ${program} runs block '${s.block}', which the graph lacks (this is a bug in parplan)`);
      const mb = s.microbatch ?? microbatch;
      const [first, last] = s.layers;
      const layers = Array.from({ length: last - first + 1 }, (_, i) => first + i);
      if (s.reverse) layers.reverse();
      for (const l of layers) for (const st of inner) add(st, l, mb);
      return;
    }
    const mb = ('microbatch' in s ? s.microbatch : undefined) ?? microbatch;
    const names = (xs: readonly string[]) => xs.map((x) => instanceName(x, layer, mb));
    flat.push(
      s.op === 'compute' ? { step: s, layer, reads: names(s.reads), writes: names(s.writes) } : { step: s, layer, reads: [], writes: [] },
    );
  };
  const steps = graph.programs[program]?.phases[phase];
  if (!steps) throw new Error(`internal error: program ${program} has no phase '${phase}' (this is a bug in parplan)`);
  for (const s of steps) add(s, undefined, undefined);
  return flat;
}

/** One data-parallel replica: its stages in order. */
export class Replica {
  /** The end of the last pass queued on this replica (passes share its activation buffers). */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly flat = new Map<string, Flat>();

  constructor(
    readonly dataRank: number,
    readonly stages: StageGroup[],
    readonly graph: Graph,
  ) {}

  /**
   * Run `work` once every pass queued before it on this replica has finished: passes
   * of one replica share its activation buffers and staging, so they never interleave;
   * other replicas' passes run meanwhile.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Run one pass (the caller holds `exclusive`); returns the logits of the rows that
   * need them ([rows, vocab], padding columns removed): the last token for prefill,
   * every token for decode.
   */
  async forward(input: PassInput): Promise<{ logits: Float32Array; rows: number }> {
    const n = input.tokens.length;
    // Pipeline stages run in order: a stage's `send` hands its activations to the next one's devices.
    for (const [i, group] of this.stages.entries()) {
      for (const d of group.devices) d.ops.uploadIds(input);
      await this.runStage(i, input, n);
    }
    return this.readLogits(input, n);
  }

  /** The stage's steps for `phase`, in the graph's order (computed once per program). */
  private steps(program: string, phase: string): Flat {
    const key = `${program}:${phase}`;
    let flat = this.flat.get(key);
    if (!flat) this.flat.set(key, (flat = flattenPhase(this.graph, program, phase)));
    return flat;
  }

  /**
   * Run the stage's steps in the graph's order: compute steps are recorded into one encoder
   * per tensor rank; at a collective or a send, every rank's encoder is submitted first and
   * only then is anything read back (allReduceSum maps them all before awaiting one), so the
   * ranks' devices compute together.
   */
  private async runStage(index: number, input: PassInput, n: number): Promise<void> {
    const group = this.stages[index]!;
    const steps = this.steps(group.devices[0]!.dev.program, input.phase);
    const open = () => group.devices.map((d) => ({ enc: d.ops.begin(), end: beginSpan(d.trace, 'compute', input.phase) }));
    const submit = (encs: ReturnType<typeof open>) =>
      group.devices.forEach((d, i) => {
        d.ops.end(encs[i]!.enc);
        encs[i]!.end();
      });
    let encs = open();
    // MoE: the layers whose dispatch and combine have run this pass (a layer's all-to-all and
    // expert-tensor collective of one tensor are one exchange here: moeExchange).
    const exchanged = new Set<string>();
    for (const f of steps) {
      const s = f.step;
      if (s.op === 'compute') {
        for (const d of group.devices) d.ops.compute(s, f.reads, f.writes, f.layer, input, n);
      } else if (isCollective(s)) {
        // The logits' all-gather happens on the host when they are read.
        if (s.op === 'all-gather' && s.tensor === 'logits') continue;
        const moe =
          s.tensor === 'dispatch' || (s.tensor === 'y' && s.axis !== 'tensor') || (s.tensor === 'hidden' && s.op === 'all-gather');
        const key = `${f.layer}:${s.tensor}:${s.op === 'all-gather' && s.tensor === 'hidden' ? 'gather' : ''}`;
        if (moe && exchanged.has(key)) continue;
        submit(encs);
        if (moe) {
          exchanged.add(key);
          await moeExchange(group.devices, s.tensor as 'dispatch' | 'y' | 'hidden', n, this.graph);
        } else await this.collective(group, s, n);
        encs = open();
      } else if (s.op === 'send' || s.op === 'recv') {
        // Sampled tokens are the host's: it gives every stage the pass's tokens (uploadIds).
        if (s.tensor === 'tokens') continue;
        if (s.op === 'recv') continue; // delivered by the previous stage's send, which ran before this stage
        const next = this.stages[index + 1];
        if (s.peer !== 'next' || !next)
          throw new Error(
            `internal error: stage ${index} sends ${s.tensor} to its ${s.peer} stage, which this replica lacks (this is a bug in parplan)`,
          );
        submit(encs);
        const count = n * group.devices[0]!.ops.width(s.tensor);
        await Promise.all(group.devices.map((d, tr) => sendRecv(d.member(s.tensor), next.devices[tr]!.member(s.tensor), count)));
        encs = open();
      }
    }
    submit(encs);
  }

  private async collective(group: StageGroup, c: Collective, n: number): Promise<void> {
    if (c.op !== 'all-reduce' || c.axis !== 'tensor')
      throw new Error(
        `the webgpu runtime runs all-reduce over the tensor axis only, not ${c.op} of ${c.tensor} over ${c.axis}; the checker refuses such plans for engine = webgpu (this is a bug in parplan)`,
      );
    if (group.devices.length < 2) return;
    // The row-parallel projections' partial sums are [n, hidden] even where `y` is wider (MoE's k expert rows per token).
    const width = c.tensor === 'y' ? this.graph.model.hidden : group.devices[0]!.ops.width(c.tensor);
    await allReduceSum(
      group.devices.map((d) => d.member(c.tensor)),
      n * width,
    );
  }

  private async readLogits(input: PassInput, n: number): Promise<{ logits: Float32Array; rows: number }> {
    const last = this.stages[this.stages.length - 1]!;
    const rows = input.phase === 'prefill' ? 1 : n;
    const vocab = this.graph.model.vocab;
    const vRows = this.graph.model.vocabPadded / meshOf(this.graph.mesh.axes).tensor;
    const members = last.devices.map((d) => d.member('logits'));
    let full: Float32Array;
    if (members.length === 1) full = await members[0]!.staging.readF32(members[0]!.buffer, rows * vRows * 4, 0, 'logits');
    else full = await gatherColumns(members, rows, vRows);
    const width = this.graph.model.vocabPadded;
    if (width === vocab) return { logits: full, rows };
    const out = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) out.set(full.subarray(r * width, r * width + vocab), r * vocab);
    return { logits: out, rows };
  }
}

/** Greedy sampling on the host: index of the largest logit per row. */
export function argmaxRows(logits: Float32Array, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < cols; c++) {
      const v = logits[r * cols + c]!;
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    out.push(best);
  }
  return out;
}
