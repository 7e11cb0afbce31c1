/**
 * STATUS (issue 16 item 2): runs a compiled `engine = webgpu` training graph on one device or several: tensor,
 * pipeline and data > 1 and their products (one WebGPU device per rank, each rank's program interpreted by its own
 * async task, communication through the host: runtime/training/comm.ts), fp32 or bf16 weights (bf16: fp32 gradients
 * and an fp32 master in `optim.X` [0] that the optimizer steps and rounds into the weight), AdamW or SGD, gpipe, 1f1b,
 * interleaved and hand-written schedules (zero-bubble I and W steps included), recompute none or full, ZeRO 0–3
 * (ZeRO-3's gathers into `gathered.X`, ZeRO-2/3's `gradbuf.X` reduce-scattered into the shard), split tied
 * embeddings, GPT-2 and Llama. Collectives marked `overlap` run synchronously, in program order. Not executed yet
 * (refused with a TrainingNotExecutedError): bf16 weights with ZeRO over data > 1, HSDP, context and sequence
 * parallelism (the checker refuses the last two).
 * grad_clip runs (the value is the last grad-norm step's `maxNorm`; options.clip, if given, must agree).
 *
 * The training executor interprets each rank's program step by step (docs/graph.md "Training on
 * engine = webgpu"): every compute step binds exactly the tensors it names — weights, gradients
 * and optimizer states for the whole run, `graph.buffers` for the reused workspace, and the
 * tracked tensors (`act.{l}.mb{m}.*`, `logits.mb{m}`, `tokens.mb{m}`, `labels.mb{m}`) created at
 * the step's `alloc` and destroyed at its `free`. The runtime holds no model constants: sizes come
 * from `graph.model` and the tensors' shapes.
 *
 * The token positions, the global norm (`grad.norm`, [clip scale, ‖g‖], computed by the graph's
 * grad-norm steps with or without grad_clip), its partial sums (`grad.partials`) and the host's
 * copy of the loss and norm (`readback`) are `graph.buffers` regions; `uniforms` is the kernel
 * runner's pool (counted, not allocated again). ZeRO-1/2's update of this rank's slice of a full
 * weight or gradient binds the whole buffer and passes the slice's element offset to the kernels
 * (a binding's byte offset must be 256-aligned, a shard's start need not be), so no copy is made.
 * ZeRO-2/3's `gradbuf.X` and ZeRO-3's `gathered.X` of a layer are one buffer for every layer where each block that
 * uses one fills or empties it first (`layerSharedBuffers`): the plan's regions `gradbuf` and `gathered`. Outside the
 * plan: `weights()` and `save()`'s temporary staging reads. The exchanges between ranks go through the plan's
 * `staging-read` and `staging-write` (runtime/collectives.ts HostStaging).
 *
 * Executor-internal scratch within one step, in workspace the step does not otherwise use: the
 * full-recompute forward's attention writes its (unused) lse into `attn.delta`; a sum of several
 * matmuls' input gradients ping-pongs between `grad.x` and `y`; the per-row losses go to
 * `attn.delta` (a dispatch may not write one range of `loss.stats` while reading another); a
 * zero-bubble W of several weights copies each one's output gradient out of `wgrad…` (where the I
 * wrote them one after another: q | k | v, gate | up) into `grad.q`, `grad.k`, `grad.v` or
 * `grad.gate`, `grad.up`, idle between layers' backwards.
 */
import type { Graph, Step } from '../../src/graph/types.js';
import { gqaAt, type Model } from '../../src/model.js';
import { meshOf, type Coords } from '../../src/mesh.js';
import { gpu, KERNEL_FEATURES, openDevice } from '../device.js';
import { adamwDims, kernels, pickMatmul, ropeTable, SUM_SQUARES_CHUNK, type BufferArg, type KernelProgram } from '../kernels/index.js';
import { KernelRunner } from '../kernels/run.js';
import { HostStaging } from '../collectives.js';
import type { MemoryReportRow } from '../allocate.js';
import { ropeInvFreq } from '../reference/rope.js';
import { sourceFor, type SourceMapping } from '../weights/names.js';
import { shardOf, type WeightShard } from '../weights/load.js';
import { shardIndex } from '../weights/slice.js';
import { checkBatch, trainingBatchShape, type Batch } from './batch.js';
import { Comm, CommError, sumAll, type Combine } from './comm.js';
import { saveCheckpoint } from './save.js';
import { bytesPerElement, tensorFormatOf } from '../../src/facts/dtypes.js';
import type { TensorType } from '../wgsl/dtype.js';
import { bf16ToF32, f32ToBf16Bits } from '../weights/convert.js';

export class TrainingNotExecutedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingNotExecutedError';
  }
}

/** A caller's mistake: options that disagree with the graph, weights that are not the model's, a closed or busy trainer. */
export class TrainerInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainerInputError';
  }
}

export interface TrainerOptimizer {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** The plan's optimizer (default adamw); the graph's must agree (AdamW keeps `optim.X` states, SGD none). */
  kind?: 'adamw' | 'sgd';
  /** Parameters whose Hugging Face name matches one of these get no weight decay (biases, norm gains). */
  noDecay?: readonly (string | RegExp)[];
}

export interface TrainerOptions {
  /** Hugging Face name → values (the names of runtime/reference/model.ts `weightShapes`). */
  weights: ReadonlyMap<string, Float32Array>;
  optimizer: TrainerOptimizer;
  /** The plan's grad_clip (max global L2 norm), which the graph carries: if given, it must be the graph's (or absent with it). */
  clip?: number;
  /** Reuse an open device for every rank (tests; each rank gets its own runner unless there is one rank); default: open one per rank. */
  device?: { device: GPUDevice; description: string; runner?: KernelRunner };
  /** Reuse one open device per rank (entry r for rank r). */
  devices?: readonly { device: GPUDevice; description: string; runner?: KernelRunner }[];
}

export interface StepResult {
  /** Mean next-token cross-entropy over the global batch (before the update). */
  loss: number;
  /** Global L2 norm of the gradients (before any clipping). */
  gradNorm: number;
}

export interface Trainer {
  step(batch: Batch): Promise<StepResult>;
  /** The current weights under their Hugging Face names (precision = bf16: the bf16 weights the forward reads, widened exactly). */
  weights(): Promise<Map<string, Float32Array>>;
  /** The fp32 master weights the optimizer updates (precision = bf16); with fp32 weights, the weights themselves. */
  masterWeights(): Promise<Map<string, Float32Array>>;
  save(dir: string): Promise<void>;
  /** Live bytes of rank `rank`'s device (default 0) after each compute step of every run so far (`simulate(graph, { perStep: true })`'s points). */
  memoryTimeline(rank?: number): number[];
  /** Per device: the peak of the bytes the trainer has allocated so far (every buffer at its plan size, the staging pair, the uniform pool) against the memory plan's total. */
  memoryReport(): MemoryReportRow[];
  close(): void;
}

type Compute = Extract<Step, { op: 'compute' }>;
type CommOp = 'send' | 'recv' | 'all-reduce' | 'all-gather' | 'reduce-scatter';
type CommStep = Extract<Step, { op: CommOp }>;

/** A step with its tensor names instanced (`{l}`, `{m}` filled). */
interface Instanced {
  step: Compute;
  reads: string[];
  writes: string[];
  alloc: { name: string; bytes: number }[];
  free: string[];
}

/** A communication step, its tensor names instanced. */
interface CommEntry {
  comm: CommStep;
  tensor: string;
  into?: string;
  microbatch?: number;
}

type Entry = Instanced | CommEntry;

const isComm = (e: Entry): e is CommEntry => 'comm' in e;

/** The matmul kinds whose backward a zero-bubble table splits into I and W (src/lower/webgpu-train.ts); the other kinds' I steps are their backward. */
const SPLIT_MATMULS: ReadonlySet<string> = new Set(['qkv', 'out-proj', 'mlp-up', 'mlp-down']);

const fill = (name: string, l: number | undefined, m: number | undefined) =>
  name.replaceAll('{l}', l === undefined ? '{l}' : String(l)).replaceAll('{m}', m === undefined ? '{m}' : String(m));

const COMM_OPS = new Set<string>(['send', 'recv', 'all-reduce', 'all-gather', 'reduce-scatter']);

/** The program as a flat list of compute and communication steps, blocks expanded per layer (reversed where the step says). */
export function flattenProgram(graph: Graph, program: string): Entry[] {
  const bytes = new Map(graph.tensors.map((t) => [t.name, t.bytes]));
  const out: Entry[] = [];
  const push = (s: Compute, l: number | undefined, m: number | undefined) => {
    out.push({
      step: s,
      reads: s.reads.map((n) => fill(n, l, m)),
      writes: s.writes.map((n) => fill(n, l, m)),
      alloc: (s.alloc ?? []).map((n) => {
        const b = bytes.get(n);
        if (b === undefined)
          throw new Error(`internal error: step allocates '${n}', which is not a graph tensor (this is a bug in parplan)`);
        return { name: fill(n, l, m), bytes: b };
      }),
      free: (s.free ?? []).map((n) => fill(n, l, m)),
    });
  };
  const pushComm = (s: CommStep, l: number | undefined, m: number | undefined) => {
    const into = (s as { into?: string }).into;
    const mb = (s as { microbatch?: number }).microbatch ?? m;
    out.push({
      comm: s,
      tensor: fill(s.tensor, l, m),
      ...(into ? { into: fill(into, l, m) } : {}),
      ...(mb !== undefined ? { microbatch: mb } : {}),
    });
  };
  const steps = graph.programs[program]?.phases['step'];
  if (!steps) throw new Error(`internal error: the graph has no program '${program}' with a 'step' phase (this is a bug in parplan)`);
  for (const s of steps) {
    const m = (s as { microbatch?: number }).microbatch;
    if (s.op === 'compute') push(s, undefined, m);
    else if (COMM_OPS.has(s.op)) pushComm(s as CommStep, undefined, m);
    else if (s.op === 'block') {
      const body = graph.blocks?.[s.block];
      if (!body) throw new Error(`internal error: no block '${s.block}' (this is a bug in parplan)`);
      const [a, b] = s.layers;
      const layers = Array.from({ length: b - a + 1 }, (_, i) => a + i);
      if ((s as { reverse?: boolean }).reverse) layers.reverse();
      for (const l of layers)
        for (const inner of body) {
          if (inner.op === 'compute') push(inner, l, m);
          else if (COMM_OPS.has(inner.op)) pushComm(inner as CommStep, l, m);
          else throw new TrainingNotExecutedError(`a '${inner.op}' step in block ${s.block} is not executed yet by the trainer`);
        }
    } else if (s.op === 'action') continue;
    else throw new TrainingNotExecutedError(`a '${s.op}' step is not executed yet by the trainer`);
  }
  return out;
}

/** Refuse what this executor does not run yet, saying what. */
/**
 * The layer templates of ZeRO's full-size buffers that one buffer serves for every layer: a
 * `gathered.` weight every block that reads it all-gathers first, a `gradbuf.` gradient every block
 * that writes it reduce-scatters (and clears) in the same block. What the memory plan's `gathered`
 * and `gradbuf` regions count (src/memory/webgpu-train.ts); with reshard_after_forward = false the
 * backward reads the forward's copies, so each layer keeps its own.
 */
export function layerSharedBuffers(graph: Graph): Set<string> {
  const ok = new Map<string, boolean>();
  const mark = (n: string, good: boolean) => ok.set(n, (ok.get(n) ?? true) && good);
  for (const steps of Object.values(graph.blocks)) {
    const scattered = new Set(steps.flatMap((s) => (s.op === 'reduce-scatter' ? [s.tensor] : [])));
    const gathered = new Set<string>();
    for (const s of steps) {
      if (s.op === 'all-gather' && s.into) gathered.add(s.into);
      if (s.op !== 'compute') continue;
      for (const n of [...s.reads, ...s.writes]) {
        if (n.startsWith('gathered.layers.{l}.')) mark(n, gathered.has(n));
        else if (n.startsWith('gradbuf.layers.{l}.')) mark(n, scattered.has(n));
      }
    }
  }
  return new Set([...ok].filter(([, good]) => good).map(([n]) => n));
}

function checkSupported(graph: Graph): void {
  if (graph.plan.mode !== 'train' || graph.plan.engine !== 'webgpu')
    throw new TrainingNotExecutedError(`createTrainer takes a training graph compiled with engine = webgpu (mode = train)`);
  const mesh = meshOf(graph.mesh.axes);
  if ((mesh.context ?? 1) > 1)
    throw new TrainingNotExecutedError(`context parallelism (context = ${mesh.context}) is not executed yet by the trainer`);
  if (graph.mesh.hsdp) throw new TrainingNotExecutedError('HSDP (shard_group < data) is not executed yet by the trainer');
  const steps = Object.values(graph.blocks ?? {})
    .flat()
    .concat(Object.values(graph.programs).flatMap((p) => p.phases['step'] ?? []));
  for (const s of steps)
    if ((s.op === 'all-gather' || s.op === 'reduce-scatter') && s.axis === 'tensor')
      throw new TrainingNotExecutedError(
        'sequence parallelism (tensor-axis all-gathers and reduce-scatters) is not executed yet by the trainer',
      );
  for (const t of graph.tensors)
    if (t.role === 'weight' && t.dtype !== 'fp32' && t.dtype !== 'bf16')
      throw new TrainingNotExecutedError(`training ${t.dtype} weights is not executed yet (precision = fp32 or bf16)`);
  const sixteen = graph.tensors.some((t) => t.role === 'weight' && t.dtype !== 'fp32');
  if (sixteen && graph.tensors.some((t) => t.role === 'optimizer' && t.shards.some((x) => x.over === 'data')))
    throw new TrainingNotExecutedError(
      `bf16 weights with ZeRO over data (zero ≥ 1, data = ${mesh.data}) are not executed yet: the update of a shard's 16-bit copy is not run`,
    );
}

/** AdamW keeps m and v per parameter (`optim.X` [2, …], after the fp32 master with 16-bit weights); SGD none. */
function optimizerKindOf(graph: Graph): 'adamw' | 'sgd' {
  const state = graph.tensors.find((t) => t.role === 'optimizer');
  const sixteen = graph.tensors.some((t) => t.role === 'weight' && t.dtype !== 'fp32');
  const copies = state ? Number(state.shape[0]) - (sixteen ? 1 : 0) : 0;
  return copies > 0 ? 'adamw' : 'sgd';
}

export async function createTrainer(graph: Graph, opts: TrainerOptions): Promise<Trainer> {
  checkSupported(graph);
  const maxNorm = graphClip(graph);
  if (opts.clip !== undefined && opts.clip !== maxNorm)
    throw new TrainerInputError(
      maxNorm === undefined
        ? `options.clip = ${opts.clip}, but the plan has no grad_clip: set grad_clip in the plan and compile it again (or leave options.clip out)`
        : `options.clip = ${opts.clip}, but the plan's grad_clip is ${maxNorm}: leave options.clip out (the graph carries it) or compile the plan again`,
    );
  const graphKind = optimizerKindOf(graph);
  if ((opts.optimizer.kind ?? 'adamw') !== graphKind)
    throw new TrainerInputError(
      `options.optimizer.kind = ${opts.optimizer.kind ?? 'adamw (the default)'}, but the plan's optimizer is ${graphKind}: pass kind: '${graphKind}'`,
    );
  const ranks = graph.devices.map((d) => d.rank).sort((a, b) => a - b);
  if (opts.devices && opts.devices.length !== ranks.length)
    throw new TrainerInputError(`options.devices has ${opts.devices.length} devices; the graph has ${ranks.length} ranks`);
  // One device per rank: the caller's, or a new adapter each (opened here, destroyed at close).
  const opened: GPUDevice[] = [];
  const runners: KernelRunner[] = [];
  const exes: TrainingExecutor[] = [];
  const release = () => {
    for (const ex of exes) ex.destroy();
    for (const r of runners) r.destroy();
    for (const d of opened) d.destroy();
  };
  const comm = new Comm();
  try {
    for (const rank of ranks) {
      const given = opts.devices?.[rank] ?? opts.device;
      let device: GPUDevice;
      let description: string;
      let runner: KernelRunner;
      if (given) {
        ({ device, description } = given);
        // A shared device's ranks each get a runner (uniform pools are per runner; compiled pipelines per device).
        if (given.runner && (ranks.length === 1 || opts.devices)) runner = given.runner;
        else runners.push((runner = new KernelRunner(device)));
      } else {
        const d = await openDevice(gpu(), `trainer rank ${rank}`, KERNEL_FEATURES);
        ({ device, description } = d);
        opened.push(device);
        runners.push((runner = new KernelRunner(device)));
      }
      exes.push(new TrainingExecutor(graph, rank, device, description, runner, opts, ranks.length > 1 ? comm : undefined));
    }
    checkWeightNames(exes, opts.weights);
  } catch (e) {
    release();
    throw e;
  }
  const sequences = trainingBatchShape(graph)?.sequences;
  if (sequences === undefined) throw new Error('internal error: a training graph without its batch shape (this is a bug in parplan)');
  const seq = exes[0]!.seqLength;
  let closed = false;
  let busy = false;
  return {
    async step(batch) {
      if (closed) throw new TrainerInputError('step: the trainer is closed');
      if (busy) throw new TrainerInputError('step: the previous step has not finished (await each step before the next)');
      const ids = checkBatch(batch, { sequences, seq, vocab: graph.model.vocab });
      busy = true;
      try {
        return await runStep(exes, comm, ids, sequences * seq);
      } finally {
        busy = false;
      }
    },
    weights: () => gatherWeights(exes),
    masterWeights: () => gatherMasters(exes),
    save: async (dir) => saveCheckpoint(dir, await gatherWeights(exes), graph.model as Model),
    memoryReport: () =>
      exes
        .map((ex) => {
          const planBytes = graph.devices.find((d) => d.rank === ex.rank)!.memory.total;
          return { rank: ex.rank, allocatedBytes: ex.allocatedPeak, planBytes, ratio: ex.allocatedPeak / planBytes };
        })
        .sort((a, b) => a.rank - b.rank),
    memoryTimeline: (rank = 0) => {
      const ex = exes.find((x) => x.rank === rank);
      if (!ex) throw new TrainerInputError(`memoryTimeline: the graph has no rank ${rank} (ranks 0 … ${exes.length - 1})`);
      return [...ex.timeline];
    },
    close() {
      closed = true;
      release();
    },
  };
}

/** A weight the model does not have would be silently dropped (and missing from save): refused. */
function checkWeightNames(exes: TrainingExecutor[], weights: ReadonlyMap<string, Float32Array>): void {
  const used = new Set(exes.flatMap((ex) => ex.sourceNames()));
  const extra = [...weights.keys()].filter((n) => !used.has(n));
  if (extra.length > 0) throw new TrainerInputError(`weights the model does not have: ${extra.slice(0, 5).join(', ')}`);
}

/** Every rank's program as its own async task; the device errors of the step caught per device; loss and norm over the global batch. */
async function runStep(exes: TrainingExecutor[], comm: Comm, ids: Int32Array, tokens: number): Promise<StepResult> {
  const devices = [...new Set(exes.map((x) => x.device))];
  for (const d of devices) {
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
  }
  comm.begin(exes.length);
  const settled = await Promise.allSettled(
    exes.map(async (ex) => {
      try {
        await ex.runProgram(ids);
      } catch (e) {
        comm.abort(e as Error);
        throw e;
      } finally {
        comm.done();
      }
    }),
  );
  let oom: GPUError | null = null;
  let validation: GPUError | null = null;
  for (const d of devices) {
    validation ??= await d.popErrorScope();
    oom ??= await d.popErrorScope();
  }
  if (oom) throw new Error(`the device ran out of memory during a training step: ${oom.message}`);
  if (validation) throw new Error(`internal error: the device refused a training step: ${validation.message} (this is a bug in parplan)`);
  // The failure that started it, not the peers it aborted.
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
  if (failures.length > 0) throw failures.find((f) => !(f instanceof CommError)) ?? failures[0]!;
  comm.finish();
  let loss = 0;
  let gradNorm = 0;
  for (const ex of exes) {
    const r = await ex.results();
    loss += r.loss;
    // Every rank holds the global norm (the graph's grad-norm steps and all-reduces): rank 0's is reported.
    if (ex === exes[0]) gradNorm = r.gradNorm;
  }
  return { loss: loss / tokens, gradNorm };
}

/** The plan's grad_clip: the `maxNorm` of the grad-norm step that turns the summed squares into the scale (none: no clipping). */
export function graphClip(graph: Graph): number | undefined {
  const steps = Object.values(graph.blocks ?? {})
    .flat()
    .concat(Object.values(graph.programs).flatMap((p) => p.phases['step'] ?? []));
  const last = steps.filter((s): s is Compute => s.op === 'compute' && s.kind === 'grad-norm' && s.maxNorm !== undefined);
  return last[0]?.maxNorm;
}

/** Every rank's weights back under their Hugging Face names (each element from the rank whose shard holds it). */
async function gatherWeights(exes: TrainingExecutor[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const ex of exes) await ex.readWeights(out);
  return out;
}

/** Every rank's fp32 master weights (precision = bf16; fp32: the weights), as `gatherWeights`. */
async function gatherMasters(exes: TrainingExecutor[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const ex of exes) await ex.readMasters(out);
  return out;
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A persistent tensor on one rank: its buffer, bytes, local shape and the part of the global tensor it holds. */
interface Held {
  buffer: GPUBuffer;
  bytes: number;
  shape: number[];
  shard?: WeightShard;
}

export class TrainingExecutor {
  readonly timeline: number[] = [];
  private readonly persistent = new Map<string, Held>();
  private readonly workspace = new Map<string, { buffer: GPUBuffer; bytes: number }>();
  private readonly live = new Map<string, { buffer: GPUBuffer; bytes: number }>();
  private readonly staticBytes: number;
  private readonly programs = new Map<string, KernelProgram>();
  private readonly steps: Entry[];
  private readonly software: boolean;
  private readonly T: number;
  private readonly seq: number;
  private readonly micro: number;
  private readonly microbatches: number;
  private readonly coords: Coords;
  private readonly device_: GPUDevice;
  private readonly tensorRanks: number;
  private readonly dataRanks: number;
  /** The microbatch of the step running (test-only mutations read it). */
  private microbatch: number | undefined;
  private stepCount = 0;
  private enc: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private ids: Int32Array | undefined;
  private readonly host: HostStaging | undefined;
  /** Test-only fault injection (test/training/multi.test.ts): a mutation the tests must catch. */
  static mutation: 'drop-data-all-reduce' | 'skip-microbatch-grad' | 'wrong-microbatch-send' | undefined;

  constructor(
    private readonly graph: Graph,
    readonly rank: number,
    device: GPUDevice,
    description: string,
    private readonly runner: KernelRunner,
    private readonly opts: TrainerOptions,
    private readonly comm?: Comm,
  ) {
    this.device_ = device;
    this.software = /llvmpipe|lavapipe|swiftshader/i.test(description);
    const dev = graph.devices.find((d) => d.rank === rank);
    if (!dev) throw new Error(`internal error: the graph has no device of rank ${rank} (this is a bug in parplan)`);
    const mesh = meshOf(graph.mesh.axes);
    this.coords = { ...(dev.coords as Coords) };
    this.tensorRanks = mesh.tensor;
    this.dataRanks = mesh.data;
    const tokens = graph.tensors.find((t) => t.name === 'tokens.mb{m}');
    const sched = graph.schedule;
    // tokens.mb{m} is [micro, seq] (src/lower/webgpu-train.ts).
    if (!tokens || tokens.shape.length !== 2 || !sched)
      throw new Error('internal error: a training graph without tokens.mb{m} [micro, seq] or a schedule (this is a bug in parplan)');
    this.micro = Number(tokens.shape[0]);
    this.seq = Number(tokens.shape[1]);
    this.T = this.micro * this.seq;
    this.microbatches = sched.microbatches;
    this.steps = flattenProgram(graph, dev.program);
    const stage = this.coords.pipeline;
    // Every layer this pipeline rank runs (several ranges with virtual stages).
    const layers = graph.mesh.stages
      .filter((s) => s.rank === stage)
      .flatMap((s) => Array.from({ length: s.lastLayer - s.firstLayer + 1 }, (_, i) => s.firstLayer + i))
      .sort((a, b) => a - b);
    let bytes = 0;
    const shared = layerSharedBuffers(graph);
    for (const t of graph.tensors) {
      if (t.role !== 'weight' && t.role !== 'gradient' && t.role !== 'optimizer') continue;
      // A bucket (the split tied embeddings' gradient) names its members' buffers; it has none of its own.
      if (t.members || !t.owners.includes(stage)) continue;
      const names = t.scope === 'layer' ? layers.map((l) => fill(t.name, l, undefined)) : [t.name];
      // ZeRO-3's gathered weights and ZeRO-2/3's full gradients: the plan counts the regions `gathered` and `gradbuf`.
      const region = t.name.startsWith('gathered.') || t.name.startsWith('gradbuf.');
      // One buffer for every layer where each block that uses it fills (or empties) it first.
      const one = shared.has(t.name) ? this.create(t.bytes, names[0]!) : undefined;
      for (const [i, name] of names.entries()) {
        const shard = t.role === 'optimizer' ? undefined : shardOf(t, name, t.scope === 'layer' ? layers[i] : undefined, this.coords);
        const shape = shard ? shard.shape : [t.bytes / 4];
        this.persistent.set(name, { buffer: one ?? this.create(t.bytes, name), bytes: t.bytes, shape, ...(shard ? { shard } : {}) });
        if (!region) bytes += t.bytes;
      }
    }
    const regions = graph.buffers?.[dev.program] ?? [];
    for (const r of regions) {
      bytes += r.bytes;
      // The uniform pool is the kernel runner's (one chunk of this size), as the serving runtime counts it.
      if (['gathered', 'gradbuf', 'staging-read', 'staging-write', 'uniforms'].includes(r.name)) continue;
      const usage = r.name === 'readback' ? GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST : USAGE();
      this.workspace.set(r.name, { buffer: this.create(r.bytes, r.name, usage), bytes: r.bytes });
    }
    for (const need of ['grad.norm', 'grad.partials', 'readback'])
      if (!this.workspace.has(need))
        throw new Error(`internal error: the training graph has no '${need}' buffer (this is a bug in parplan)`);
    this.staticBytes = bytes;
    // The host exchanges go through the plan's two mapped staging buffers (runtime/collectives.ts HostStaging).
    const sread = regions.find((r) => r.name === 'staging-read');
    const swrite = regions.find((r) => r.name === 'staging-write');
    if (sread && swrite) {
      this.host = HostStaging.create(device, sread.bytes, swrite.bytes, `rank ${rank}`);
      this.count(sread.bytes + swrite.bytes);
    }
    this.count(regions.find((r) => r.name === 'uniforms')?.bytes ?? 0);
    const positions = this.workspace.get('positions');
    if (positions)
      device.queue.writeBuffer(
        positions.buffer,
        0,
        Uint32Array.from({ length: this.T }, (_, t) => t % this.seq),
      );
    // Every gradient's chunk sums fit grad.partials (the memory plan sized it by the largest tensor).
    const largest = Math.max(...[...this.persistent.entries()].filter(([n]) => n.startsWith('grad.')).map(([, p]) => p.bytes / 4));
    if (4 * Math.ceil(largest / SUM_SQUARES_CHUNK) > this.workspace.get('grad.partials')!.bytes)
      throw new Error(`internal error: grad.partials is too small for a gradient of ${largest} elements (this is a bug in parplan)`);
    const rope = this.workspace.get('rope');
    if (rope) {
      const d = gqaAt(graph.model, 0, 'training').attention.headDim;
      device.queue.writeBuffer(
        rope.buffer,
        0,
        ropeTable(graph.model.maxSeq, d, ropeInvFreq(d, graph.model.ropeTheta, graph.model.ropeScaling)),
      );
    }
    try {
      this.loadWeights(opts.weights);
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  get device(): GPUDevice {
    return this.device_;
  }

  get seqLength(): number {
    return this.seq;
  }

  private create(bytes: number, label: string, usage = USAGE()): GPUBuffer {
    this.count(bytes);
    return this.device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
  }

  /** Bytes this rank holds now (its buffers as the plan sizes them, the staging pair and the runner's uniform pool), and their peak. */
  private allocatedNow = 0;
  private peak = 0;
  get allocatedPeak(): number {
    return this.peak;
  }
  private count(bytes: number): void {
    this.allocatedNow += bytes;
    this.peak = Math.max(this.peak, this.allocatedNow);
  }

  private destroyed = false;

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const m of [this.persistent, this.workspace, this.live]) for (const b of m.values()) b.buffer.destroy();
    this.host?.read.destroy();
    this.host?.write?.destroy();
  }

  // ---- weights in and out (Hugging Face names ↔ graph tensors, runtime/weights/names.ts) ----

  /** The model's weights this rank holds (ZeRO-3's gathered copies are not: they are rebuilt every step). */
  private weightNames(): string[] {
    return [...this.persistent.keys()].filter((n) => this.isWeight(n) && !n.startsWith('gathered.'));
  }

  /** The Hugging Face tensors this rank's weights come from. */
  sourceNames(): string[] {
    return this.weightNames().map((n) => this.mapping(n).source);
  }

  private mapping(name: string): SourceMapping {
    const m = sourceFor(this.graph.model, name);
    if (!m) throw new TrainingNotExecutedError(`the graph weight ${name} has no Hugging Face source (arch ${this.graph.model.arch})`);
    if (m.experts) throw new TrainingNotExecutedError('training MoE models is not executed yet');
    return m;
  }

  /** Element (i, j) of graph tensor `m.graph` ↔ flat index in the source tensor; -1 for padding rows. */
  private static sourceIndex(m: SourceMapping, shape: number[], flat: number): number {
    const cols = shape.length === 2 ? shape[1]! : 1;
    let i = Math.floor(flat / cols);
    let j = flat % cols;
    if (m.rows !== undefined && i >= m.rows) return -1;
    if (shape.length === 1) return (m.range?.begin ?? 0) + flat;
    if (m.transpose) [i, j] = [j, i];
    if (m.range) {
      if (m.range.axis === 0) i += m.range.begin;
      else j += m.range.begin;
    }
    return i * m.sourceShape[1]! + j;
  }

  /** Element k of this rank's shard → flat index in the global graph tensor; -1 for a ZeRO shard's padding. */
  private static globalIndex(s: WeightShard, k: number): number {
    let r = k;
    if (s.flat) {
      r = s.flat.begin + k;
      if (r >= s.flat.end) return -1;
    }
    // r is a flat index into the region: its coordinates, offset by the region's start, in the global shape.
    let g = 0;
    let stride = 1;
    for (let d = s.region.length - 1; d >= 0; d--) {
      const [b, e] = s.region[d]!;
      const len = e - b;
      const c = r % len;
      r = Math.floor(r / len);
      g += (b + c) * stride;
      stride *= s.globalShape[d]!;
    }
    return g;
  }

  private loadWeights(weights: ReadonlyMap<string, Float32Array>): void {
    for (const name of this.weightNames()) {
      const p = this.persistent.get(name)!;
      const m = this.mapping(name);
      const src = weights.get(m.source);
      const n = m.sourceShape.reduce((a, b) => a * b, 1);
      if (!src) throw new TrainerInputError(`weights: ${m.source} (for ${name}) is missing`);
      if (src.length !== n)
        throw new TrainerInputError(`weights: ${m.source} has ${src.length} values, expected [${m.sourceShape.join(', ')}]`);
      const out = new Float32Array(this.elementsOf(name));
      const shard = p.shard!;
      for (let k = 0; k < out.length; k++) {
        const g = TrainingExecutor.globalIndex(shard, k);
        const s = g < 0 ? -1 : TrainingExecutor.sourceIndex(m, shard.globalShape, g);
        out[k] = s < 0 ? 0 : src[s]!;
      }
      this.writeWeight(name, out);
    }
  }

  /** This rank's weights written into `out` under their Hugging Face names (created at full size when missing). */
  async readWeights(out: Map<string, Float32Array>): Promise<void> {
    return this.readAs(out, (name) => this.readWeight(name));
  }

  /** The fp32 master weights (precision = bf16: `optim.X` [0]) into `out`; with fp32 weights, the weights. */
  async readMasters(out: Map<string, Float32Array>): Promise<void> {
    return this.readAs(out, (name) => this.readMaster(name));
  }

  private async readAs(out: Map<string, Float32Array>, value: (name: string) => Promise<Float32Array>): Promise<void> {
    for (const name of this.weightNames()) {
      const p = this.persistent.get(name)!;
      const m = this.mapping(name);
      const data = await value(name);
      let dst = out.get(m.source);
      if (!dst) out.set(m.source, (dst = new Float32Array(m.sourceShape.reduce((a, b) => a * b, 1))));
      const shard = p.shard!;
      for (let k = 0; k < data.length; k++) {
        const g = TrainingExecutor.globalIndex(shard, k);
        const s = g < 0 ? -1 : TrainingExecutor.sourceIndex(m, shard.globalShape, g);
        if (s >= 0) dst[s] = data[k]!;
      }
    }
  }

  private async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  // ---- one optimizer step ----

  /** This rank's program for one step of the global batch `ids` ([sequences, seq + 1]); its replica takes its share. */
  async runProgram(ids: Int32Array): Promise<void> {
    // Replica d takes sequences [d·n, (d + 1)·n) of the global batch (n = micro × microbatches), microbatch m its rows
    // [m·micro, (m + 1)·micro) (docs/runtime.md "Training").
    const width = this.seq + 1;
    const n = this.micro * this.microbatches;
    const d = this.coords.data;
    this.ids = ids.subarray(d * n * width, (d + 1) * n * width);
    this.stepCount++;
    try {
      this.begin();
      const enc = this.outside();
      if (this.workspace.has('loss')) enc.clearBuffer(this.buf('loss'));
      enc.clearBuffer(this.buf('grad.norm'));
      this.restart();
      for (const s of this.steps) {
        if (isComm(s)) await this.communicate(s);
        else this.runStep(s);
      }
      // The loss (last stage) and the norm (grad.norm[1], before the update) to the host through the plan's readback buffer.
      const out = this.outside();
      if (this.workspace.has('loss')) out.copyBufferToBuffer(this.buf('loss'), 0, this.buf('readback'), 0, 4);
      out.copyBufferToBuffer(this.buf('grad.norm'), 4, this.buf('readback'), 4, 4);
      this.end();
    } finally {
      this.pass = undefined;
      this.enc = undefined;
      // Whatever a failed step left allocated goes (the next step starts from the static buffers).
      for (const b of this.live.values()) b.buffer.destroy();
      this.live.clear();
    }
  }

  /** The step's loss summed over this rank's rows (last stage; each tensor rank the rows whose label it holds), and the global norm. */
  async results(): Promise<{ loss: number; gradNorm: number }> {
    const readback = this.buf('readback');
    await readback.mapAsync(GPUMapMode.READ, 0, 8);
    const [loss, gradNorm] = new Float32Array(readback.getMappedRange(0, 8).slice(0));
    readback.unmap();
    return { loss: this.workspace.has('loss') ? loss! : 0, gradNorm: gradNorm! };
  }

  // ---- communication (runtime/training/comm.ts) ----

  /** The ranks of this device's group along `axis` (graph.groups), in the axis' order. */
  private members(axis: string): number[] {
    const dev = this.graph.devices.find((d) => d.rank === this.rank)!;
    const index = (dev.groups as Record<string, number | undefined>)[axis];
    const group = index === undefined ? undefined : (this.graph.groups as Record<string, number[][] | undefined>)[axis]?.[index];
    if (!group) throw new Error(`internal error: rank ${this.rank} has no '${axis}' group (this is a bug in parplan)`);
    return group;
  }

  /** Bytes of `buffer` as f32, after the work recorded so far. */
  /** `elements` f32 of `name` from element `offset`, after the work submitted so far: through the plan's `staging-read`. */
  private async fetch(name: string, elements: number, offset = 0): Promise<Float32Array> {
    if (elements === 0) return new Float32Array(0);
    return this.staging().readF32(this.buf(name), elements * 4, offset * 4, name);
  }

  /** `data` into `name` from element `offset`: through the plan's `staging-write`. */
  private async upload(name: string, data: Float32Array, offset = 0): Promise<void> {
    if (data.length > 0) await this.staging().writeF32(this.buf(name), data, offset * 4, name);
  }

  private staging(): HostStaging {
    if (!this.host)
      throw new Error(`internal error: rank ${this.rank} communicates but its graph has no staging buffers (this is a bug in parplan)`);
    return this.host;
  }

  /**
   * One communication step: the work so far submitted, the tensor read back, the exchange on the host, the result
   * written; then recording goes on. Collectives marked `overlap` run here too, synchronously.
   */
  private async communicate(e: CommEntry): Promise<void> {
    const comm = this.comm;
    if (!comm) throw new Error(`internal error: a '${e.comm.op}' step on a one-device trainer (this is a bug in parplan)`);
    this.end();
    const s = e.comm;
    const mb = e.microbatch;
    if (s.op === 'send' || s.op === 'recv') {
      const group = this.members('pipeline');
      const i = group.indexOf(this.rank);
      const peer = group[(i + (s.peer === 'next' ? 1 : group.length - 1)) % group.length]!;
      // `hidden.s3` / `grad.hidden.s3`: the boundary of stage 3, held in the stage's `hidden` / `grad.hidden`.
      const local = e.tensor.replace(/\.s\d+$/, '');
      const n = s.bytes / 4;
      if (s.op === 'send') {
        const wrong = TrainingExecutor.mutation === 'wrong-microbatch-send' && mb !== undefined ? (mb + 1) % this.microbatches : mb;
        comm.send(this.rank, peer, e.tensor, wrong, await this.fetch(local, n));
      } else await this.upload(local, await comm.recv(this.rank, peer, e.tensor, mb));
      return this.begin();
    }
    const axis = (s as unknown as { axis: string }).axis;
    const group = this.members(axis);
    const sig = `${s.op} over ${axis} of ${e.tensor}${e.into ? ` into ${e.into}` : ''} (microbatch ${mb ?? '-'}, ${s.bytes} B)`;
    const collective = (data: Float32Array, combine: Combine) => comm.collective(this.rank, group, sig, data, combine);
    if (s.op === 'all-reduce') {
      const reduce = (s as { reduce?: 'sum' | 'max' }).reduce;
      if (e.tensor === 'loss.stats') {
        // The kernels keep each row's (max, Σ exp) pair (runtime/kernels/cross-entropy.ts): the `reduce: max` all-reduce
        // combines the pairs (M = max m, S = Σ s·exp(m − M)); the sum all-reduce after it then has nothing left to add.
        if (reduce === 'max')
          await this.upload('loss.stats', await collective(await this.fetch('loss.stats', 2 * this.T), combineLogSumExp));
        return this.begin();
      }
      if (TrainingExecutor.mutation === 'drop-data-all-reduce' && axis === 'data') return this.begin();
      // The tied embeddings' bucket: the member this rank holds.
      const bucket = this.graph.tensors.find((t) => t.name === e.tensor && t.members);
      const local = bucket ? bucket.members!.find((m) => this.persistent.has(m)) : e.tensor;
      if (!local) throw new Error(`internal error: rank ${this.rank} holds no member of ${e.tensor} (this is a bug in parplan)`);
      const n = s.bytes / 4;
      if (s.bytes > this.bytesOf(local))
        throw new Error(
          `internal error: an all-reduce of ${s.bytes} B over ${local} (${this.bytesOf(local)} B) (this is a bug in parplan)`,
        );
      await this.upload(local, await collective(await this.fetch(local, n), sumAll));
      return this.begin();
    }
    // ZeRO over data: the flat partition of the tensor-local tensor into `parts` shards of ⌈n / parts⌉ (docs/graph.md "Shards").
    const parts = group.length;
    const index = group.indexOf(this.rank);
    if (s.op === 'reduce-scatter') {
      const n = this.bytesOf(e.tensor) / 4;
      const size = Math.ceil(n / parts);
      const shares = await collective(await this.fetch(e.tensor, n), (all) => {
        const sum = sumAll(all)[0]!;
        return all.map((_, r) => {
          const out = new Float32Array(size);
          out.set(sum.subarray(Math.min(n, r * size), Math.min(n, (r + 1) * size)));
          return out;
        });
      });
      if (e.into) {
        // ZeRO-2/3: the microbatch's full gradients go (added) into the shard; the buffer starts the next microbatch at zero.
        const acc = await this.fetch(e.into, size);
        for (let i = 0; i < size; i++) acc[i]! += shares[i]!;
        await this.upload(e.into, acc);
        this.begin();
        this.outside().clearBuffer(this.buf(e.tensor));
        return this.restart();
      }
      // ZeRO-1: in place, this rank's slice of the full gradient.
      const begin = Math.min(n, index * size);
      await this.upload(e.tensor, shares.subarray(0, Math.min(n, begin + size) - begin), begin);
      return this.begin();
    }
    if (s.op === 'all-gather') {
      const target = e.into ?? e.tensor;
      const n = this.bytesOf(target) / 4;
      const size = Math.ceil(n / parts);
      const begin = Math.min(n, index * size);
      // ZeRO-3: the shard is its own buffer (into the gathered copy); ZeRO-1/2: this rank's slice of the full tensor.
      const mine = e.into ? await this.fetch(e.tensor, size) : await this.fetch(e.tensor, Math.min(n, begin + size) - begin, begin);
      const full = await collective(mine, (all) => {
        const out = new Float32Array(n);
        all.forEach((p, r) => out.set(p.subarray(0, Math.max(0, Math.min(n, (r + 1) * size) - r * size)), Math.min(n, r * size)));
        return all.map(() => out);
      });
      await this.upload(target, full);
      return this.begin();
    }
    throw new TrainingNotExecutedError(`a '${(s as { op: string }).op}' step is not executed yet by the trainer`);
  }

  /** One compute step: its allocations, its kernels, its frees; live bytes recorded after it (and after its frees). */
  private runStep(s: Instanced): void {
    for (const a of s.alloc) {
      if (this.live.has(a.name)) throw new Error(`internal error: ${a.name} allocated twice (this is a bug in parplan)`);
      this.live.set(a.name, { buffer: this.create(a.bytes, a.name), bytes: a.bytes });
    }
    this.microbatch = TrainingExecutor.microbatchOf(s);
    this.compute(s);
    this.timeline.push(this.liveBytes());
    if (s.free.length === 0) return;
    // Freed once the work recorded so far is submitted (a buffer destroyed before its submit is an error).
    this.end();
    for (const f of s.free) {
      const b = this.live.get(f);
      if (!b) throw new Error(`internal error: ${f} freed but not live (this is a bug in parplan)`);
      b.buffer.destroy();
      this.live.delete(f);
      this.count(-b.bytes);
    }
    this.timeline.push(this.liveBytes());
    this.begin();
  }

  private static microbatchOf(s: Instanced): number | undefined {
    for (const n of [...s.reads, ...s.writes]) {
      const m = /\.mb(\d+)(\.|$)/.exec(n);
      if (m) return Number(m[1]);
    }
    return undefined;
  }

  private liveBytes(): number {
    let b = this.staticBytes;
    for (const v of this.live.values()) b += v.bytes;
    return b;
  }

  private begin(): void {
    this.enc = this.device.createCommandEncoder({ label: 'train step' });
    this.pass = this.enc.beginComputePass();
  }

  private end(): void {
    this.pass?.end();
    this.pass = undefined;
    if (this.enc) this.runner.submit(this.enc);
    this.enc = undefined;
  }

  /** End the compute pass for a copy or clear on the encoder (then `restart`). */
  private outside(): GPUCommandEncoder {
    this.pass?.end();
    this.pass = undefined;
    return this.enc!;
  }

  private restart(): void {
    if (!this.pass) this.pass = this.enc!.beginComputePass();
  }

  private copy(src: string, dst: string, bytes: number): void {
    this.outside().copyBufferToBuffer(this.buf(src), 0, this.buf(dst), 0, bytes);
    this.restart();
  }

  private program(key: string, make: () => KernelProgram): KernelProgram {
    let p = this.programs.get(key);
    if (!p) this.programs.set(key, (p = make()));
    return p;
  }

  private run(p: KernelProgram, buffers: Record<string, BufferArg>, dims: Record<string, number>): void {
    this.runner.encode(this.pass!, p, buffers, dims);
  }

  private buf(name: string): GPUBuffer {
    const b = this.live.get(name) ?? this.persistent.get(name) ?? this.workspace.get(name);
    if (!b)
      throw new Error(`internal error: a step names '${name}', which is neither live nor a weight nor a buffer (this is a bug in parplan)`);
    return b.buffer;
  }

  private shape(weight: string): number[] {
    const p = this.persistent.get(weight);
    if (!p) throw new Error(`internal error: '${weight}' is not a weight (this is a bug in parplan)`);
    return p.shape;
  }

  private isWeight(name: string): boolean {
    return this.persistent.has(name) && !/^(grad|gradbuf|optim)\./.test(name);
  }

  // ---- kernels ----

  private pick() {
    return this.software && this.T > 8
      ? { variant: 'tiled' as const, tile: 'small' as const }
      : pickMatmul(this.T, { format: 'f32' }, undefined);
  }

  /** out = a·Wᵀ (+ bias) (+ residual). */
  private matmul(a: string, w: string, bias: string | undefined, out: string, residual?: string): void {
    const [N, K] = this.shape(w) as [number, number];
    const pick = this.pick();
    const wt = this.wtype(w);
    const p = this.program(`mm:${N}:${K}:${wt.format}:${bias ? 'b' : ''}:${residual ? 'r' : ''}`, () =>
      kernels.matmul({
        N,
        K,
        w: wt,
        ...(bias ? { bias: true } : {}),
        ...(residual ? { residual: true } : {}),
        variant: pick.variant,
        ...(pick.tile ? { tile: pick.tile } : {}),
      }),
    );
    const b: Record<string, BufferArg> = { A: this.buf(a), W: this.buf(w), C: this.buf(out) };
    if (bias) b['bias'] = this.buf(bias);
    if (residual) b['residual'] = this.buf(residual);
    this.run(p, b, { M: this.T });
  }

  /** out = dY·W (+ residual). */
  private gradInput(dY: string, w: string, out: string, residual?: string): void {
    const [N, K] = this.shape(w) as [number, number];
    const pick = this.pick();
    const wt = this.wtype(w);
    const p = this.program(`mmgi:${N}:${K}:${wt.format}:${residual ? 'r' : ''}`, () =>
      kernels.matmulGradInput({
        N,
        K,
        w: wt,
        ...(residual ? { residual: true } : {}),
        variant: pick.variant,
        ...(pick.tile ? { tile: pick.tile } : {}),
      }),
    );
    const b: Record<string, BufferArg> = { A: this.buf(dY), W: this.buf(w), C: this.buf(out) };
    if (residual) b['residual'] = this.buf(residual);
    this.run(p, b, { M: this.T });
  }

  /** Where a weight's gradient accumulates: `grad.X`, or ZeRO-2/3's per-microbatch `gradbuf.X` (the weight may be ZeRO-3's `gathered.X`). */
  private gradName(w: string): string {
    const base = w.replace(/^gathered\./, '');
    return this.persistent.has(`gradbuf.${base}`) ? `gradbuf.${base}` : `grad.${base}`;
  }

  /** The global row of this rank's first row of `w` (a vocabulary-parallel table or head split over tensor). */
  private rowBase(w: string): number {
    const base = w.replace(/^(gathered|grad|gradbuf)\./, '');
    return this.persistent.get(base)?.shard?.region[0]?.[0] ?? 0;
  }

  /** A replicated bias of a row-parallel projection is added once, on tensor rank 0 (the output is all-reduced over tensor). */
  private rowParallelBias(w: string, bias: string | undefined): string | undefined {
    if (!bias || this.coords.tensor === 0) return bias;
    const base = w.replace(/^gathered\./, '');
    const t = this.persistent.get(base)?.shard?.tensor;
    return t?.shards.some((x) => x.over === 'tensor') ? undefined : bias;
  }

  /** grad.W += dYᵀ·X (and grad.b += Σ dY). */
  private gradWeight(dY: string, x: string, w: string, bias: string | undefined): void {
    const [N, K] = this.shape(w) as [number, number];
    const p = this.program(`mmgw:${N}:${K}`, () => kernels.matmulGradWeight({ N, K }));
    // Test-only mutation: microbatch 1's weight gradients not accumulated.
    if (TrainingExecutor.mutation === 'skip-microbatch-grad' && this.microbatch === 1) return;
    this.run(p, { dY: this.buf(dY), X: this.buf(x), dW: this.buf(this.gradName(w)) }, { T: this.T });
    if (bias) {
      const q = this.program(`bg:${N}`, () => kernels.biasGrad({ N }));
      this.run(q, { dY: this.buf(dY), db: this.buf(this.gradName(bias)) }, { T: this.T });
    }
  }

  /** dX = Σᵢ dYᵢ·Wᵢ into `out`: each term after the first adds the previous sum, ping-ponging with `spare` (a buffer may not be read and written by one dispatch). */
  private sumGradInputs(terms: [string, string][], out: string, spare: string): void {
    let at = terms.length % 2 === 1 ? out : spare;
    this.gradInput(terms[0]![0], terms[0]![1], at);
    for (const [dY, w] of terms.slice(1)) {
      const next = at === out ? spare : out;
      this.gradInput(dY, w, next, at);
      at = next;
    }
  }

  private get layernorm(): boolean {
    return this.graph.model.norm === 'layernorm';
  }

  private norm(x: string, w: string, bias: string | undefined, y: string, stats: { mean?: string; rstd?: string }): void {
    const cols = this.shape(w)[0]!;
    const saveStats = stats.rstd !== undefined;
    const eps = this.graph.model.normEps;
    const weight = this.wtype(w);
    const p = this.program(`norm:${cols}:${weight.format}:${saveStats}`, () =>
      this.layernorm
        ? kernels.layernorm({ cols, eps, weight, saveStats })
        : kernels.rmsnorm({ cols, eps, weight, offset: this.graph.model.normOffset ?? 0, saveStats }),
    );
    const b: Record<string, BufferArg> = { x: this.buf(x), weight: this.buf(w), y: this.buf(y) };
    if (this.layernorm) b['bias'] = this.buf(bias!);
    if (saveStats) {
      if (this.layernorm) b['mean'] = this.buf(stats.mean!);
      b['rstd'] = this.buf(stats.rstd!);
    }
    this.run(p, b, { rows: this.T });
  }

  private normBackward(
    dy: string,
    x: string,
    stats: { mean?: string; rstd: string },
    w: string,
    bias: string | undefined,
    dx: string,
    accumulate: boolean,
  ): void {
    const cols = this.shape(w)[0]!;
    const kind = this.layernorm ? 'layernorm' : 'rmsnorm';
    const st: Record<string, BufferArg> = { x: this.buf(x), rstd: this.buf(stats.rstd) };
    if (this.layernorm) st['mean'] = this.buf(stats.mean!);
    const weight = this.wtype(w);
    const p = this.program(`nb:${cols}:${weight.format}:${accumulate}`, () =>
      kernels.normBackward(kind, { cols, weight, offset: this.graph.model.normOffset ?? 0, accumulate }),
    );
    this.run(p, { ...st, weight: this.buf(w), dy: this.buf(dy), dx: this.buf(dx) }, { rows: this.T });
    const q = this.program(`ngw:${cols}`, () => kernels.normGradWeight(kind, { cols }));
    const g: Record<string, BufferArg> = { ...st, dy: this.buf(dy), dweight: this.buf(this.gradName(w)) };
    if (this.layernorm) g['dbias'] = this.buf(this.gradName(bias!));
    this.run(q, g, { rows: this.T });
  }

  /** This rank's heads (tensor parallelism splits them): from the sizes of its q and k. */
  private attentionOptions(layer: number, q: string, k: string) {
    const a = gqaAt(this.graph.model, layer, 'training').attention;
    return {
      seq: this.seq,
      heads: this.bytesOf(q) / (4 * this.T * a.headDim),
      kvHeads: this.bytesOf(k) / (4 * this.T * a.headDim),
      headDim: a.headDim,
      scale: 1 / Math.sqrt(a.headDim),
      ...(a.window !== undefined ? { window: a.window } : {}),
    };
  }

  private rope(x: string, inverse: boolean): void {
    const d = gqaAt(this.graph.model, 0, 'training').attention.headDim;
    const heads = this.bytesOf(x) / (4 * this.T * d);
    const p = this.program(`rope:${heads}:${inverse}`, () => kernels.rope({ heads, headDim: d, maxSeq: this.graph.model.maxSeq, inverse }));
    this.run(p, { x: this.buf(x), positions: this.buf('positions'), table: this.buf('rope') }, { T: this.T });
  }

  /** Bytes a buffer holds for the graph (the tensor's or the region's, not the rounded allocation). */
  private bytesOf(name: string): number {
    const b = this.live.get(name) ?? this.persistent.get(name) ?? this.workspace.get(name);
    if (!b) throw new Error(`internal error: no buffer '${name}' (this is a bug in parplan)`);
    return b.bytes;
  }

  /** Reads split into activations and (weight, bias) pairs, as runtime/ops.ts `splitReads`. */
  private split(reads: string[]): { acts: string[]; weights: { weight: string; bias?: string }[] } {
    const acts: string[] = [];
    const weights: { weight: string; bias?: string }[] = [];
    for (const r of reads) {
      if (!this.isWeight(r)) acts.push(r);
      else if (r.endsWith('.bias')) {
        const last = weights[weights.length - 1];
        if (!last || last.weight.slice(0, -'.weight'.length) !== r.slice(0, -'.bias'.length))
          throw new Error(`internal error: bias ${r} without its weight (this is a bug in parplan)`);
        last.bias = r;
      } else weights.push({ weight: r });
    }
    return { acts, weights };
  }

  private layerOf(names: string[]): number {
    for (const n of names) {
      const m = /^(?:act|layers|(?:grad|gradbuf|gathered)\.layers)\.(\d+)\./.exec(n);
      if (m) return Number(m[1]);
    }
    return 0;
  }

  private compute(s: Instanced): void {
    const { step, reads, writes } = s;
    // One tensor's update (its reads are the gradient, the state and the tensor, a bias alone included).
    if (step.kind === 'optimizer') return this.optimizer(reads);
    if (step.kind === 'grad-norm') return this.gradNorm(reads, step.maxNorm);
    // A zero-bubble table's split matmul backward: I (input gradient, output gradient kept) and W (weight gradient).
    if (step.pass === 'backward-weight') return this.backwardWeight(s);
    if (step.pass === 'backward-input' && SPLIT_MATMULS.has(step.kind)) return this.backwardInput(s);
    const { acts, weights } = this.split(reads);
    const T = this.T;
    const h = this.graph.model.hidden;
    const pass = step.pass;
    const fwd = pass === 'forward' || pass === 'recompute';
    const stats = (ws: string[]) => ({
      ...(ws.find((w) => w.endsWith('.mean')) ? { mean: ws.find((w) => w.endsWith('.mean'))! } : {}),
      rstd: ws.find((w) => w.endsWith('.rstd'))!,
    });
    switch (`${step.kind}:${fwd ? 'f' : 'b'}`) {
      case 'embedding:f': {
        const tokens = acts[0]!;
        const m = Number(/mb(\d+)$/.exec(tokens)?.[1]);
        const width = this.seq + 1;
        const ids = new Uint32Array(T);
        for (let r = 0; r < this.micro; r++)
          for (let t = 0; t < this.seq; t++) ids[r * this.seq + t] = this.ids![(m * this.micro + r) * width + t]!;
        this.device.queue.writeBuffer(this.buf(tokens), 0, ids);
        const table = weights[0]!.weight;
        // Vocabulary-parallel: this rank's rows of the table (other ids give zeros), the sum all-reduced over tensor; the
        // replicated positions added once, on tensor rank 0.
        const pos = this.coords.tensor === 0 ? weights[1]?.weight : undefined;
        const rowBase = this.rowBase(table);
        const p = this.program(`emb:${this.wtype(table).format}:${pos ? 'p' : ''}:${rowBase}`, () =>
          kernels.embedding({
            hidden: h,
            vocab: this.shape(table)[0]!,
            rowBase,
            table: this.wtype(table),
            ...(pos ? { positional: { maxPositions: this.shape(pos)[0]!, table: this.wtype(pos) } } : {}),
          }),
        );
        const b: Record<string, BufferArg> = { ids: this.buf(tokens), table: this.buf(table), out: this.buf(writes[0]!) };
        if (pos) Object.assign(b, { positions: this.buf('positions'), posTable: this.buf(pos) });
        this.run(p, b, { T });
        return;
      }
      case 'norm:f':
      case 'final-norm:f': {
        const x = acts[0]!;
        const w = weights[0]!;
        // A saved copy of the input (`act…x`), the statistics, and the output (saved or the workspace `x`).
        const copyTo = writes.find((n) => /\.x$/.test(n) && n !== x && n.startsWith('act.'));
        const rest = writes.filter((n) => n !== copyTo && !/\.(rstd|mean)$/.test(n));
        if (copyTo) this.copy(x, copyTo, T * h * 4);
        const out = rest[0]!;
        const st = writes.some((n) => n.endsWith('.rstd')) ? stats(writes) : {};
        this.norm(x, w.weight, w.bias, out, st);
        return;
      }
      case 'qkv:f':
      case 'mlp-up:f':
        writes.forEach((o, i) => this.matmul(acts[0]!, weights[i]!.weight, weights[i]!.bias, o));
        return;
      case 'rope:f':
        for (const x of acts.filter((a) => a !== 'rope' && a !== 'positions')) this.rope(x, false);
        return;
      case 'attention:f': {
        const o = this.attentionOptions(this.layerOf([...reads, ...writes]), acts[0]!, acts[1]!);
        const p = this.program(`attn:${o.heads}:${o.kvHeads}`, () => kernels.attentionTrain(o));
        // The full-recompute forward keeps no lse: `attn.delta` ([T, heads], unused until the backward) takes it.
        const lse = writes[1] ?? 'attn.delta';
        this.run(
          p,
          { q: this.buf(acts[0]!), k: this.buf(acts[1]!), v: this.buf(acts[2]!), out: this.buf(writes[0]!), lse: this.buf(lse) },
          { T },
        );
        return;
      }
      case 'out-proj:f':
      case 'mlp-down:f':
        this.matmul(acts[0]!, weights[0]!.weight, this.rowParallelBias(weights[0]!.weight, weights[0]!.bias), writes[0]!);
        return;
      case 'residual:f': {
        const [a, b] = acts as [string, string];
        const target = writes[0]!;
        const n = T * h;
        if (target === a) {
          const p = this.program('add:inplace', () => kernels.add({ inplace: true }));
          this.run(p, { a: this.buf(a), b: this.buf(b) }, { n });
          for (const extra of writes.slice(1)) this.copy(a, extra, n * 4);
        } else {
          const p = this.program('add', () => kernels.add());
          this.run(p, { a: this.buf(a), b: this.buf(b), y: this.buf(target) }, { n });
        }
        return;
      }
      case 'mlp-act:f': {
        const n = this.bytesOf(acts[acts.length - 1]!) / 4;
        const out = writes[0]!;
        if (acts.length === 2) {
          const [gate, up] = acts as [string, string];
          const act = this.mlpActivation();
          if (out === up) {
            const p = this.program(`${act}:inplace`, () => kernels[act]({ inplace: true }));
            this.run(p, { gate: this.buf(gate), up: this.buf(up) }, { n });
          } else {
            const p = this.program(act, () => kernels[act]());
            this.run(p, { gate: this.buf(gate), up: this.buf(up), y: this.buf(out) }, { n });
          }
        } else if (out === acts[0]) {
          const p = this.program('gelu:inplace', () => kernels.gelu({ inplace: true }));
          this.run(p, { x: this.buf(out) }, { n });
        } else {
          const p = this.program('gelu', () => kernels.gelu());
          this.run(p, { x: this.buf(acts[0]!), y: this.buf(out) }, { n });
        }
        return;
      }
      case 'head:f':
        this.matmul(acts[0]!, weights[0]!.weight, undefined, writes[0]!);
        return;
      case 'loss:f':
        return this.loss(s);
      case 'head:b': {
        const [dlogits, x] = acts as [string, string];
        this.gradInput(dlogits, weights[0]!.weight, writes[0]!);
        this.gradWeight(dlogits, x, weights[0]!.weight, undefined);
        return;
      }
      case 'final-norm:b': {
        const [dy, x] = acts as [string, string];
        const w = weights[0]!;
        this.normBackward(dy, x, stats(acts), w.weight, w.bias, writes[0]!, false);
        return;
      }
      case 'norm:b': {
        // grad.hidden += dx: the residual stream's gradient gets the norm branch's.
        const [dy, , x] = acts as [string, string, string];
        const w = weights[0]!;
        this.normBackward(dy, x, stats(acts), w.weight, w.bias, writes[0]!, true);
        return;
      }
      case 'mlp-down:b':
      case 'out-proj:b': {
        const [dY, x] = acts as [string, string];
        const w = weights[0]!;
        this.gradInput(dY, w.weight, writes[0]!);
        this.gradWeight(dY, x, w.weight, w.bias);
        return;
      }
      case 'mlp-act:b': {
        const dy = acts[0]!;
        if (acts.length === 3) {
          // Gated: dgate, dup written over the saved gate and up (freed by this step), then into grad.gate, grad.up.
          const [, gate, up] = acts as [string, string, string];
          const act = this.mlpActivation();
          const name = act === 'swiglu' ? 'swigluBackward' : 'gegluBackward';
          const p = this.program(`${name}:inplace`, () => kernels[name]({ inplace: true }));
          this.run(p, { gate: this.buf(gate), up: this.buf(up), dy: this.buf(dy) }, { n: this.bytesOf(up) / 4 });
          this.copy(gate, writes[0]!, this.bytesOf(gate));
          this.copy(up, writes[1]!, this.bytesOf(up));
        } else {
          const x = acts[1]!;
          const p = this.program('geluBackward:inplace', () => kernels.geluBackward({ inplace: true }));
          this.run(p, { x: this.buf(x), dy: this.buf(dy) }, { n: this.bytesOf(x) / 4 });
          if (writes[0] !== dy) this.copy(dy, writes[0]!, this.bytesOf(x));
        }
        return;
      }
      case 'mlp-up:b':
      case 'qkv:b': {
        // Output gradients (one per projection), then the saved input.
        const x = acts[weights.length]!;
        const dys = acts.slice(0, weights.length);
        this.sumGradInputs(
          dys.map((d, i) => [d, weights[i]!.weight]),
          writes[0]!,
          'y',
        );
        dys.forEach((d, i) => this.gradWeight(d, x, weights[i]!.weight, weights[i]!.bias));
        return;
      }
      case 'attention:b': {
        const [dO, q, k, v, out, lse] = acts as [string, string, string, string, string, string];
        const [delta, dq, dk, dv] = writes as [string, string, string, string];
        const o = this.attentionOptions(this.layerOf(reads), q, k);
        const key = `${o.heads}:${o.kvHeads}`;
        const pre = this.program(`abp:${key}`, () => kernels.attentionBackwardPre(o));
        const pq = this.program(`abq:${key}`, () => kernels.attentionBackwardDq(o));
        const pkv = this.program(`abkv:${key}`, () => kernels.attentionBackwardDkv(o));
        const B = (n: string) => this.buf(n);
        this.run(pre, { dO: B(dO), out: B(out), delta: B(delta) }, { T });
        const common = { q: B(q), k: B(k), v: B(v), lse: B(lse), delta: B(delta), dO: B(dO) };
        this.run(pq, { ...common, dq: B(dq) }, { T });
        this.run(pkv, { ...common, dk: B(dk), dv: B(dv) }, { T });
        return;
      }
      case 'rope:b':
        for (const x of acts.filter((a) => a !== 'rope' && a !== 'positions')) this.rope(x, true);
        return;
      case 'embedding:b': {
        const [dX, tokens] = acts as [string, string];
        const table = writes[0]!;
        const base = table.replace(/^(grad|gradbuf)\./, '');
        const rows = this.bytesOf(table) / (4 * h);
        const rowBase = this.rowBase(base);
        const p = this.program(`embb:${rows}:${rowBase}`, () => kernels.embeddingBackward({ hidden: h, rows, rowBase }));
        this.run(p, { ids: this.buf(tokens), dX: this.buf(dX), grad: this.buf(table) }, { T });
        const pos = writes[1];
        if (pos) {
          const prow = this.bytesOf(pos) / (4 * h);
          const q = this.program(`embb:${prow}`, () => kernels.embeddingBackward({ hidden: h, rows: prow }));
          this.run(q, { ids: this.buf('positions'), dX: this.buf(dX), grad: this.buf(pos) }, { T });
        }
        return;
      }
    }
    throw new TrainingNotExecutedError(`a '${step.kind}' step (${pass}) is not executed yet by the trainer`);
  }

  private mlpActivation(): 'swiglu' | 'geglu' {
    const mlp = gqaAt(this.graph.model, 0, 'training').mlp;
    const a = mlp.kind === 'dense' ? mlp.activation : undefined;
    if (a === 'swiglu' || a === 'geglu') return a;
    throw new TrainingNotExecutedError(`a gated MLP with activation ${a} is not executed yet`);
  }

  /** The three loss steps: row stats; the labels (one rank: nothing to combine); dlogits over the logits and the rows' losses summed into `loss`. */
  private loss(s: Instanced): void {
    const T = this.T;
    const logits = s.reads[0]!;
    const cols = this.bytesOf(logits) / (4 * T);
    // Vocabulary-parallel: this rank's logits are the global columns from its head's first row.
    const ce = {
      cols,
      vocabBase: this.rowBase(this.persistent.has('output.weight') ? 'output.weight' : 'embedding.weight'),
      vocab: this.graph.model.vocab,
    };
    const stats: GPUBufferBinding = { buffer: this.buf('loss.stats'), offset: 0, size: 8 * T };
    if (s.writes.length === 1 && s.reads.length === 1) {
      const p = this.program(`ces:${cols}`, () => kernels.crossEntropyStats(ce));
      this.run(p, { logits: this.buf(logits), stats }, { T });
      return;
    }
    const labels = s.reads[2]!;
    if (s.alloc.length > 0) {
      const m = Number(/mb(\d+)$/.exec(labels)?.[1]);
      const width = this.seq + 1;
      const ids = new Uint32Array(T);
      for (let r = 0; r < this.micro; r++)
        for (let t = 0; t < this.seq; t++) ids[r * this.seq + t] = this.ids![(m * this.micro + r) * width + t + 1]!;
      this.device.queue.writeBuffer(this.buf(labels), 0, ids);
      return;
    }
    // The rows' losses go to `attn.delta` ([T, heads], unused between layers' backwards): a dispatch may not write one
    // range of a buffer while reading another (loss.stats holds the row statistics).
    const rows: GPUBufferBinding = { buffer: this.buf('attn.delta'), offset: 0, size: 4 * T };
    const p = this.program(`ceg:${cols}`, () => kernels.crossEntropyGrad(ce));
    // 1 / the global batch's tokens: the microbatches' and replicas' sums of gradients give torch's mean.
    const sequences = this.micro * this.microbatches * this.dataRanks;
    this.run(p, { logits: this.buf(logits), labels: this.buf(labels), stats, loss: rows }, { T, scale: 1 / (sequences * this.seq) });
    const q = this.program('rsum:acc', () => kernels.reduceSum({ accumulate: true }));
    this.run(q, { x: rows, out: this.buf('loss') }, { n: T });
  }

  /** out[0] += Σ g² over these gradients (per tensor: partial sums per chunk, then their sum, in a fixed order). */
  private sumSquares(grads: string[], out: GPUBuffer, host = false): void {
    const sq = this.program('sumsq', () => kernels.sumSquares());
    const rs = this.program('rsum:acc', () => kernels.reduceSum({ accumulate: true }));
    for (const g of grads) {
      const part = this.counted(g, host);
      if (!part || part.count === 0) continue;
      const n = part.count;
      // A slice (ZeRO-1's shard of a full gradient) by its element offset in the whole buffer. Dispatches in one pass
      // are ordered, so the partials buffer is reused tensor after tensor.
      this.run(sq, { x: this.buf(g), partials: this.buf('grad.partials') }, { n, offset: part.offset });
      this.run(rs, { x: this.buf('grad.partials'), out }, { n: Math.ceil(n / SUM_SQUARES_CHUNK) });
    }
  }

  /**
   * ZeRO's flat partition of tensor `X` (as its rank holds it over tensor) over data: this rank's elements [begin, end)
   * of n, when a gradient, state or weight of X is split over data; undefined when none is.
   */
  private partition(x: string): { begin: number; end: number; size: number } | undefined {
    const base = x.replace(/^(grad|gradbuf|gathered|optim)\./, '');
    const pattern = base.replace(/(^|\.)layers\.\d+\./, '$1layers.{l}.');
    for (const name of [`optim.${pattern}`, `grad.${pattern}`, pattern]) {
      const t = this.graph.tensors.find((u) => u.name === name);
      const s = t?.shards.find((u) => u.dim === -1 && u.over === 'data');
      if (!s) continue;
      const region = this.persistent.get(base)?.shard?.region ?? this.persistent.get(`gathered.${base}`)?.shard?.region;
      if (!region) throw new Error(`internal error: no shard of ${base} on rank ${this.rank} (this is a bug in parplan)`);
      const n = region.reduce((a, [b, e]) => a * (e - b), 1);
      const size = Math.ceil(n / s.parts);
      const begin = Math.min(n, shardIndex(this.coords.data, s) * size);
      return { begin, end: Math.min(n, begin + size), size };
    }
    return undefined;
  }

  /**
   * The part of gradient `g` this rank counts in the global norm, so that every element counts once over all ranks:
   * a tensor replicated over tensor on tensor rank 0 (or the first of each run of `replicas`), the split tied
   * embeddings' output copy not at all, ZeRO-1's full gradient only in this rank's shard; `host` (the norm summed on the
   * host, not all-reduced over data): a data-parallel replica's copy (ZeRO 0) on data rank 0 only.
   */
  private counted(g: string, host: boolean): { offset: number; count: number } | undefined {
    const held = this.persistent.get(g);
    const t = held?.shard?.tensor;
    if (!held || !t) return { offset: 0, count: this.bytesOf(g) / 4 };
    const tp = t.shards.find((s) => s.over === 'tensor');
    if (this.coords.tensor % (tp ? (tp.replicas ?? 1) : this.tensorRanks) !== 0) return undefined;
    if (g === 'grad.output.weight' && this.graph.tensors.some((u) => u.members?.includes('grad.output.weight'))) return undefined;
    const part = this.partition(g);
    if (!part) return host && this.coords.data > 0 ? undefined : { offset: 0, count: held.bytes / 4 };
    if (held.shard?.flat) return { offset: 0, count: part.end - part.begin };
    return { offset: part.begin, count: part.end - part.begin };
  }

  /**
   * grad_clip: the steps that read gradients add their squares into `grad.norm`[0] (each element counted once over
   * the ranks, `counted`); the last (reading `grad.norm` alone, after its all-reduces) turns it into
   * [min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖] (the step's maxNorm, the plan's grad_clip; without one [1, ‖g‖]), which every
   * optimizer step reads.
   */
  private gradNorm(reads: string[], maxNorm: number | undefined): void {
    const grads = reads.filter((r) => r !== 'grad.norm');
    if (grads.length > 0) return this.sumSquares(grads, this.buf('grad.norm'));
    // clipFactor reads the sum and writes the scale: the sum is copied out first (one buffer may not be both), into
    // grad.partials, free once the sums are done.
    this.outside().copyBufferToBuffer(this.buf('grad.norm'), 0, this.buf('grad.partials'), 0, 4);
    this.restart();
    const p = this.program(`clip:${maxNorm}`, () => kernels.clipFactor(maxNorm === undefined ? {} : { maxNorm }));
    this.run(p, { sumsq: { buffer: this.buf('grad.partials'), offset: 0, size: 4 }, clip: this.buf('grad.norm') }, {});
  }

  /**
   * AdamW (or SGD) on one tensor, its gradient scaled by grad.norm[0], then cleared. Under ZeRO the update covers this rank's shard: a
   * slice of a full weight or gradient is updated in place, the kernels given its element offset (paramOffset, gradOffset).
   */
  private optimizer(reads: string[]): void {
    // By role, not position: the gradient, the state (AdamW's [m, v]; SGD has none), the tensor, the clip scale.
    const grad = reads.find((r) => r.startsWith('grad.') && r !== 'grad.norm')!;
    const state = reads.find((r) => r.startsWith('optim.'));
    const norm = reads.find((r) => r === 'grad.norm');
    const param = reads.find((r) => this.isWeight(r));
    if (!param || !norm)
      throw new Error(`internal error: an optimizer step reads no weight or no grad.norm (${reads.join(', ')}) (this is a bug in parplan)`);
    const o = this.opts.optimizer;
    const hf = this.mapping(param).source;
    const decay = (o.noDecay ?? []).some((pat) => (typeof pat === 'string' ? new RegExp(pat) : pat).test(hf)) ? 0 : (o.weightDecay ?? 0);
    const part = this.partition(param);
    const n = part ? part.end - part.begin : this.elementsOf(param);
    // A full buffer under a partition (not ZeRO-3's flat shard): this rank's slice starts at the partition's begin.
    const offset = (name: string) => (part !== undefined && !this.persistent.get(name)?.shard?.flat ? part.begin : 0);
    const pbuf = this.buf(param);
    const gbuf = this.buf(grad);
    const offsets = { paramOffset: offset(param), gradOffset: offset(grad) };
    const clip = this.buf(norm);
    // 16-bit weights (precision = bf16): the update is the fp32 master's (`optim.X` [0]), the weight its rounded copy
    // (never partitioned: checkSupported refuses bf16 with ZeRO over data > 1).
    const master = this.wtype(param).format === 'f32' ? undefined : this.wtype(param);
    if (master && part) throw new Error(`internal error: a partitioned update of the 16-bit weight ${param} (this is a bug in parplan)`);
    if (master) this.optimizerMaster(param, grad, state, clip, master, decay, n);
    else if (n > 0 && state) {
      const [beta1, beta2] = o.betas ?? [0.9, 0.999];
      const p = this.program('adamw', () => kernels.adamw());
      this.run(
        p,
        { param: pbuf, grad: gbuf, state: this.buf(state), clip },
        { ...adamwDims({ lr: o.lr, beta1, beta2, eps: o.eps ?? 1e-8, weightDecay: decay }, this.stepCount, n), ...offsets },
      );
    } else if (n > 0) {
      // optimizer = sgd (fp32 weights: no state), as torch.optim.SGD without momentum.
      const p = this.program('sgd', () => kernels.sgd());
      this.run(p, { param: pbuf, grad: gbuf, clip }, { n, lr: o.lr, weightDecay: decay, ...offsets });
    }
    this.outside().clearBuffer(this.buf(grad));
    this.restart();
  }

  // ---- 16-bit weights with an fp32 master (precision = bf16) ----

  private readonly types = new Map<string, TensorType>();

  /** How kernels read a weight: its graph tensor's dtype (`layers.3.x` → `layers.{l}.x`, `gathered.layers.3.x` likewise). */
  private wtype(name: string): TensorType {
    let t = this.types.get(name);
    if (!t) {
      const template = name.replace(/\blayers\.\d+\./, 'layers.{l}.');
      const dtype = this.graph.tensors.find((g) => g.name === template && g.role === 'weight')?.dtype;
      const format = dtype === undefined ? undefined : tensorFormatOf(dtype);
      if (!format) throw new Error(`internal error: no weight tensor '${template}' of a stored dtype (this is a bug in parplan)`);
      this.types.set(name, (t = { format }));
    }
    return t;
  }

  /** The state that holds a 16-bit weight's master: `optim.X`, whose first [n] are the master (AdamW: then m, v). */
  private masterOf(name: string): string {
    const state = `optim.${name}`;
    if (!this.persistent.has(state))
      throw new Error(
        `internal error: the 16-bit weight ${name} has no optimizer state to hold its fp32 master (this is a bug in parplan)`,
      );
    return state;
  }

  /** A weight's values in: f32 as they are; 16-bit: the master gets them as given, the weight their rounding to nearest even. */
  private writeWeight(name: string, values: Float32Array): void {
    const p = this.persistent.get(name)!;
    const f = this.wtype(name).format;
    if (f === 'f32') return this.device.queue.writeBuffer(p.buffer, 0, values);
    if (f !== 'bf16') throw new TrainingNotExecutedError(`training ${f} weights is not executed yet (precision = fp32 or bf16)`);
    this.device.queue.writeBuffer(this.buf(this.masterOf(name)), 0, values);
    const bits = new Uint16Array(values.length + (values.length % 2));
    for (let i = 0; i < values.length; i++) bits[i] = f32ToBf16Bits(values[i]!);
    this.device.queue.writeBuffer(p.buffer, 0, bits);
  }

  /** Elements of a weight's buffer on this device (its bytes over its dtype's). */
  private elementsOf(name: string): number {
    return this.persistent.get(name)!.bytes / bytesPerElement(this.wtype(name).format);
  }

  private async readWeight(name: string): Promise<Float32Array> {
    const p = this.persistent.get(name)!;
    const n = this.elementsOf(name);
    if (this.wtype(name).format === 'f32') return new Float32Array(await this.read(p.buffer, 4 * n));
    return bf16ToF32(new Uint16Array(await this.read(p.buffer, 2 * n)));
  }

  private async readMaster(name: string): Promise<Float32Array> {
    if (this.wtype(name).format === 'f32') return this.readWeight(name);
    return new Float32Array(await this.read(this.buf(this.masterOf(name)), 4 * this.elementsOf(name)));
  }

  /**
   * AdamW or SGD on the fp32 master in `optim.X` ([master, m, v] or [master]), the 16-bit weight rewritten from it rounded
   * to nearest even (runtime/kernels/optimizer.ts `master`), as Megatron's mixed-precision optimizer steps its fp32 main
   * parameters and copies them into the model's bf16 ones.
   */
  private optimizerMaster(
    param: string,
    grad: string,
    state: string | undefined,
    clip: GPUBuffer,
    master: TensorType,
    decay: number,
    n: number,
  ): void {
    if (state !== this.masterOf(param))
      throw new Error(`internal error: the optimizer step of ${param} reads state ${state} (this is a bug in parplan)`);
    const o = this.opts.optimizer;
    const b = { weight: this.buf(param), grad: this.buf(grad), state: this.buf(state), clip };
    if ((o.kind ?? 'adamw') === 'adamw') {
      const [beta1, beta2] = o.betas ?? [0.9, 0.999];
      const p = this.program(`adamw:${master.format}`, () => kernels.adamw({ master }));
      this.run(p, b, adamwDims({ lr: o.lr, beta1, beta2, eps: o.eps ?? 1e-8, weightDecay: decay }, this.stepCount, n));
    } else {
      const p = this.program(`sgd:${master.format}`, () => kernels.sgd({ master }));
      this.run(p, b, { n, lr: o.lr, weightDecay: decay });
    }
  }

  // ---- zero-bubble: a matmul's backward split into I (backward-input) and W (backward-weight) ----

  /**
   * I: dX = Σ dYᵢ·Wᵢ into writes[0] (as the unsplit backward), and the output gradients dYᵢ copied, one after another, into
   * the `wgrad…` tensor (writes[1]) that its W reads: q | k | v, gate | up (each [T, Nᵢ], contiguous).
   */
  private backwardInput(s: Instanced): void {
    const { acts, weights } = this.split(s.reads);
    const [dx, kept] = s.writes as [string, string];
    if (acts.length !== weights.length || !kept?.startsWith('wgrad.'))
      throw new Error(
        `internal error: a ${s.step.kind} backward-input step reads ${s.reads.join(', ')} and writes ${s.writes.join(', ')} (this is a bug in parplan)`,
      );
    this.sumGradInputs(
      acts.map((d, i) => [d, weights[i]!.weight]),
      dx,
      'y',
    );
    let at = 0;
    for (const [i, d] of acts.entries()) {
      const bytes = this.T * this.shape(weights[i]!.weight)[0]! * 4;
      this.outside().copyBufferToBuffer(this.buf(d), 0, this.buf(kept), at, bytes);
      at += bytes;
    }
    this.restart();
    if (at !== this.bytesOf(kept))
      throw new Error(`internal error: ${kept} holds ${this.bytesOf(kept)} B, its output gradients ${at} B (this is a bug in parplan)`);
  }

  /**
   * W: grad.Wᵢ += dYᵢᵀ·X (and the bias' Σ dYᵢ) from the I's `wgrad…` (reads[0]) and the matmul's saved input (reads[1]).
   * With several weights (q, k, v; gate, up) each dYᵢ is copied out of `wgrad…` into a gradient buffer of the layer's
   * backward, idle between layers (`grad.q`, `grad.k`, `grad.v`; `grad.gate`, `grad.up`): a binding's offset must be
   * 256-byte aligned, a plane's need not be.
   */
  private backwardWeight(s: Instanced): void {
    const [kept, x] = s.reads as [string, string];
    const grads = s.writes.filter((g) => !g.endsWith('.bias'));
    if (!kept?.startsWith('wgrad.') || !x || grads.length === 0)
      throw new Error(`internal error: a ${s.step.kind} backward-weight step reads ${s.reads.join(', ')} (this is a bug in parplan)`);
    const scratch = s.step.kind === 'qkv' ? ['grad.q', 'grad.k', 'grad.v'] : s.step.kind === 'mlp-up' ? ['grad.gate', 'grad.up'] : [];
    if (grads.length > 1 && grads.length !== scratch.length)
      throw new Error(
        `internal error: a ${s.step.kind} backward-weight step writes ${grads.length} weights' gradients (this is a bug in parplan)`,
      );
    let at = 0;
    for (const [i, g] of grads.entries()) {
      // The gradient is `grad.X` (ZeRO-2/3: `gradbuf.X`); the weight as the I read it (ZeRO-3: `gathered.X`) gives the shape.
      const [prefix, base] = /^(grad|gradbuf)\.(.*)$/.exec(g)!.slice(1) as [string, string];
      const read = (x: string) => (this.persistent.has(`gathered.${x}`) ? `gathered.${x}` : x);
      const w = read(base);
      const b = `${base.slice(0, -'.weight'.length)}.bias`;
      const bias = s.writes.includes(`${prefix}.${b}`) ? read(b) : undefined;
      const bytes = this.T * this.shape(w)[0]! * 4;
      let dY = kept;
      if (grads.length > 1) {
        dY = scratch[i]!;
        this.outside().copyBufferToBuffer(this.buf(kept), at, this.buf(dY), 0, bytes);
        this.restart();
      }
      at += bytes;
      this.gradWeight(dY, x, w, bias);
    }
    if (at !== this.bytesOf(kept))
      throw new Error(
        `internal error: ${kept} holds ${this.bytesOf(kept)} B, the weights' output gradients ${at} B (this is a bug in parplan)`,
      );
  }
}

/** The cross-entropy's per-row (max, Σ exp(x − max)) pairs of the vocabulary shards, combined (the same for every member). */
const combineLogSumExp: Combine = (parts) => {
  const out = new Float32Array(parts[0]!.length);
  for (let t = 0; t < out.length; t += 2) {
    let m = -3e38;
    for (const p of parts) m = Math.max(m, p[t]!);
    let sum = 0;
    for (const p of parts) if (p[t + 1]! > 0) sum += p[t + 1]! * Math.exp(p[t]! - m);
    out[t] = m;
    out[t + 1] = sum;
  }
  return parts.map(() => out);
};
