/**
 * STATUS (issue 16 item 2, first slice): runs a compiled `engine = webgpu` training graph on ONE
 * device (tensor = pipeline = data = 1), fp32 weights, AdamW or SGD, any schedule the program linearizes
 * (gpipe, 1f1b), recompute none or full, GPT-2 and Llama. Not executed yet (refused with a
 * TrainingNotExecutedError): several devices, 16-bit weights, zero-bubble W steps. grad_clip runs
 * (the value is the last grad-norm step's `maxNorm`; options.clip, if given, must agree).
 *
 * The training executor interprets the stage's program step by step (docs/graph.md "Training on
 * engine = webgpu"): every compute step binds exactly the tensors it names — weights, gradients
 * and optimizer states for the whole run, `graph.buffers` for the reused workspace, and the
 * tracked tensors (`act.{l}.mb{m}.*`, `logits.mb{m}`, `tokens.mb{m}`, `labels.mb{m}`) created at
 * the step's `alloc` and destroyed at its `free`. The runtime holds no model constants: sizes come
 * from `graph.model` and the tensors' shapes.
 *
 * Nothing is allocated outside the memory plan during a step: the token positions, the global
 * norm (`grad.norm`, [clip scale, ‖g‖], computed by the graph's grad-norm steps with or without
 * grad_clip), its partial sums (`grad.partials`) and the host's copy of the loss and norm
 * (`readback`) are `graph.buffers` regions; `uniforms` is the kernel runner's pool (counted, not
 * allocated again). Only `weights()` and `save()` read through temporary staging buffers.
 *
 * Executor-internal scratch within one step, in workspace the step does not otherwise use: the
 * full-recompute forward's attention writes its (unused) lse into `attn.delta`; a sum of several
 * matmuls' input gradients ping-pongs between `grad.x` and `y`; the per-row losses go to
 * `attn.delta` (a dispatch may not write one range of `loss.stats` while reading another).
 */
import type { Graph, Step } from '../../src/graph/types.js';
import { gqaAt, type Model } from '../../src/model.js';
import { meshOf } from '../../src/mesh.js';
import { gpu, KERNEL_FEATURES, openDevice } from '../device.js';
import { adamwDims, kernels, pickMatmul, ropeTable, SUM_SQUARES_CHUNK, type BufferArg, type KernelProgram } from '../kernels/index.js';
import { KernelRunner } from '../kernels/run.js';
import { ropeInvFreq } from '../reference/rope.js';
import { sourceFor, type SourceMapping } from '../weights/names.js';
import { checkBatch, type Batch } from './batch.js';
import { saveCheckpoint } from './save.js';

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
  /** Reuse an open device (tests); default: open one. */
  device?: { device: GPUDevice; description: string; runner?: KernelRunner };
}

export interface StepResult {
  /** Mean next-token cross-entropy over the global batch (before the update). */
  loss: number;
  /** Global L2 norm of the gradients (before any clipping). */
  gradNorm: number;
}

export interface Trainer {
  step(batch: Batch): Promise<StepResult>;
  /** The current weights under their Hugging Face names. */
  weights(): Promise<Map<string, Float32Array>>;
  save(dir: string): Promise<void>;
  /** Live bytes of the device after each step of every run so far (the simulation's memory timeline's points). */
  memoryTimeline(): number[];
  close(): void;
}

type Compute = Extract<Step, { op: 'compute' }>;

/** A step with its tensor names instanced (`{l}`, `{m}` filled). */
interface Instanced {
  step: Compute;
  reads: string[];
  writes: string[];
  alloc: { name: string; bytes: number }[];
  free: string[];
}

const fill = (name: string, l: number | undefined, m: number | undefined) =>
  name.replaceAll('{l}', l === undefined ? '{l}' : String(l)).replaceAll('{m}', m === undefined ? '{m}' : String(m));

/** The program as a flat list of compute steps, blocks expanded per layer (reversed where the step says). */
export function flattenProgram(graph: Graph, program: string): Instanced[] {
  const bytes = new Map(graph.tensors.map((t) => [t.name, t.bytes]));
  const out: Instanced[] = [];
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
  const steps = graph.programs[program]?.phases['step'];
  if (!steps) throw new Error(`internal error: the graph has no program '${program}' with a 'step' phase (this is a bug in parplan)`);
  for (const s of steps) {
    const m = (s as { microbatch?: number }).microbatch;
    if (s.op === 'compute') push(s, undefined, m);
    else if (s.op === 'block') {
      const body = graph.blocks?.[s.block];
      if (!body) throw new Error(`internal error: no block '${s.block}' (this is a bug in parplan)`);
      const [a, b] = s.layers;
      const layers = Array.from({ length: b - a + 1 }, (_, i) => a + i);
      if ((s as { reverse?: boolean }).reverse) layers.reverse();
      for (const l of layers)
        for (const inner of body) {
          if (inner.op !== 'compute') throw new TrainingNotExecutedError(`a '${inner.op}' step is not executed yet on one device`);
          push(inner, l, m);
        }
    } else if (s.op === 'action') continue;
    else throw new TrainingNotExecutedError(`a '${s.op}' step is not executed yet (training runs on one device so far)`);
  }
  return out;
}

/** Refuse what this executor does not run yet, saying what. */
function checkSupported(graph: Graph): void {
  if (graph.plan.mode !== 'train' || graph.plan.engine !== 'webgpu')
    throw new TrainingNotExecutedError(`createTrainer takes a training graph compiled with engine = webgpu (mode = train)`);
  const mesh = meshOf(graph.mesh.axes);
  const many = (['tensor', 'pipeline', 'data', 'context'] as const).filter((a) => (mesh[a] ?? 1) > 1);
  if (many.length > 0)
    throw new TrainingNotExecutedError(
      `training on several devices is not executed yet (${many.map((a) => `${a} = ${mesh[a]}`).join(', ')}): the trainer runs tensor = pipeline = data = 1`,
    );
  for (const t of graph.tensors)
    if (t.role === 'weight' && t.dtype !== 'fp32')
      throw new TrainingNotExecutedError(`training ${t.dtype} weights is not executed yet (precision = fp32 only)`);
  const kinds = new Set(
    Object.values(graph.blocks ?? {})
      .flat()
      .concat(Object.values(graph.programs).flatMap((p) => p.phases['step'] ?? []))
      .filter((s): s is Compute => s.op === 'compute')
      .map((s) => `${s.kind}:${s.pass}`),
  );
  for (const k of kinds)
    if (k.endsWith(':backward-input') || k.endsWith(':backward-weight'))
      throw new TrainingNotExecutedError('zero-bubble (split backward) tables are not executed yet by the trainer');
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
  const graphKind = graph.tensors.some((t) => t.role === 'optimizer') ? 'adamw' : 'sgd';
  if ((opts.optimizer.kind ?? 'adamw') !== graphKind)
    throw new TrainerInputError(
      `options.optimizer.kind = ${opts.optimizer.kind ?? 'adamw (the default)'}, but the plan's optimizer is ${graphKind}: pass kind: '${graphKind}'`,
    );
  let device: GPUDevice;
  let description: string;
  let ownDevice = false;
  if (opts.device) ({ device, description } = opts.device);
  else {
    const d = await openDevice(gpu(), 'trainer', KERNEL_FEATURES);
    ({ device, description } = d);
    ownDevice = true;
  }
  const runner = opts.device?.runner ?? new KernelRunner(device);
  let ex: TrainingExecutor;
  try {
    ex = new TrainingExecutor(graph, device, description, runner, opts);
  } catch (e) {
    if (!opts.device?.runner) runner.destroy();
    if (ownDevice) device.destroy();
    throw e;
  }
  return {
    step: (batch) => ex.step(batch),
    weights: () => ex.readWeights(),
    save: async (dir) => saveCheckpoint(dir, await ex.readWeights(), graph.model as Model),
    memoryTimeline: () => [...ex.timeline],
    close() {
      ex.destroy();
      if (!opts.device?.runner) runner.destroy();
      if (ownDevice) device.destroy();
    },
  };
}

/** The plan's grad_clip: the `maxNorm` of the grad-norm step that turns the summed squares into the scale (none: no clipping). */
export function graphClip(graph: Graph): number | undefined {
  const steps = Object.values(graph.blocks ?? {})
    .flat()
    .concat(graph.programs['stage0']?.phases['step'] ?? []);
  const last = steps.filter((s): s is Compute => s.op === 'compute' && s.kind === 'grad-norm' && s.maxNorm !== undefined);
  return last[0]?.maxNorm;
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class TrainingExecutor {
  readonly timeline: number[] = [];
  private readonly persistent = new Map<string, { buffer: GPUBuffer; bytes: number; shape: number[] }>();
  private readonly workspace = new Map<string, { buffer: GPUBuffer; bytes: number }>();
  private readonly live = new Map<string, { buffer: GPUBuffer; bytes: number }>();
  private readonly staticBytes: number;
  private readonly programs = new Map<string, KernelProgram>();
  private readonly steps: Instanced[];
  private readonly software: boolean;
  private readonly T: number;
  private readonly seq: number;
  private readonly micro: number;
  private readonly microbatches: number;
  private stepCount = 0;
  private enc: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private ids: Int32Array | undefined;

  constructor(
    private readonly graph: Graph,
    private readonly device: GPUDevice,
    description: string,
    private readonly runner: KernelRunner,
    private readonly opts: TrainerOptions,
  ) {
    this.software = /llvmpipe|lavapipe|swiftshader/i.test(description);
    const tokens = graph.tensors.find((t) => t.name === 'tokens.mb{m}');
    const sched = graph.schedule;
    // tokens.mb{m} is [micro, seq] (src/lower/webgpu-train.ts).
    if (!tokens || tokens.shape.length !== 2 || !sched)
      throw new Error('internal error: a training graph without tokens.mb{m} [micro, seq] or a schedule (this is a bug in parplan)');
    this.micro = Number(tokens.shape[0]);
    this.seq = Number(tokens.shape[1]);
    this.T = this.micro * this.seq;
    this.microbatches = sched.microbatches;
    this.steps = flattenProgram(graph, 'stage0');
    let bytes = 0;
    const layers = graph.model.layers;
    for (const t of graph.tensors) {
      if (t.role !== 'weight' && t.role !== 'gradient' && t.role !== 'optimizer') continue;
      const names = t.name.includes('{l}') ? Array.from({ length: layers }, (_, l) => fill(t.name, l, undefined)) : [t.name];
      for (const name of names) {
        this.persistent.set(name, { buffer: this.create(t.bytes, name), bytes: t.bytes, shape: t.shape.map(Number) });
        bytes += t.bytes;
      }
    }
    for (const r of graph.buffers?.['stage0'] ?? []) {
      bytes += r.bytes;
      // The uniform pool is the kernel runner's (one chunk of this size), as the serving runtime counts it.
      if (r.name === 'uniforms') continue;
      const usage = r.name === 'readback' ? GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST : USAGE();
      this.workspace.set(r.name, { buffer: this.create(r.bytes, r.name, usage), bytes: r.bytes });
    }
    this.staticBytes = bytes;
    for (const need of ['grad.norm', 'grad.partials', 'readback'])
      if (!this.workspace.has(need))
        throw new Error(`internal error: the training graph has no '${need}' buffer (this is a bug in parplan)`);
    // Every gradient's chunk sums fit grad.partials (the memory plan sized it by the largest tensor).
    const largest = Math.max(...[...this.persistent.entries()].filter(([n]) => n.startsWith('grad.')).map(([, p]) => p.bytes / 4));
    if (4 * Math.ceil(largest / SUM_SQUARES_CHUNK) > this.workspace.get('grad.partials')!.bytes)
      throw new Error(`internal error: grad.partials is too small for a gradient of ${largest} elements (this is a bug in parplan)`);
    const positions = this.workspace.get('positions');
    if (positions)
      device.queue.writeBuffer(
        positions.buffer,
        0,
        Uint32Array.from({ length: this.T }, (_, t) => t % this.seq),
      );
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

  private create(bytes: number, label: string, usage = USAGE()): GPUBuffer {
    return this.device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
  }

  destroy(): void {
    this.closed = true;
    for (const m of [this.persistent, this.workspace, this.live]) for (const b of m.values()) b.buffer.destroy();
  }

  // ---- weights in and out (Hugging Face names ↔ graph tensors, runtime/weights/names.ts) ----

  private weightNames(): string[] {
    return [...this.persistent.keys()].filter((n) => this.isWeight(n));
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

  private loadWeights(weights: ReadonlyMap<string, Float32Array>): void {
    for (const name of this.weightNames()) {
      const p = this.persistent.get(name)!;
      const m = this.mapping(name);
      const src = weights.get(m.source);
      const n = m.sourceShape.reduce((a, b) => a * b, 1);
      if (!src) throw new TrainerInputError(`weights: ${m.source} (for ${name}) is missing`);
      if (src.length !== n)
        throw new TrainerInputError(`weights: ${m.source} has ${src.length} values, expected [${m.sourceShape.join(', ')}]`);
      const out = new Float32Array(p.bytes / 4);
      for (let k = 0; k < out.length; k++) {
        const s = TrainingExecutor.sourceIndex(m, p.shape, k);
        out[k] = s < 0 ? 0 : src[s]!;
      }
      this.device.queue.writeBuffer(p.buffer, 0, out);
    }
    // A tensor the model does not have would be silently dropped (and missing from save): refused.
    const used = new Set(this.weightNames().map((n) => this.mapping(n).source));
    const extra = [...weights.keys()].filter((n) => !used.has(n));
    if (extra.length > 0) throw new TrainerInputError(`weights the model does not have: ${extra.slice(0, 5).join(', ')}`);
  }

  async readWeights(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const name of this.weightNames()) {
      const p = this.persistent.get(name)!;
      const m = this.mapping(name);
      const data = new Float32Array(await this.read(p.buffer, p.bytes));
      let dst = out.get(m.source);
      if (!dst) out.set(m.source, (dst = new Float32Array(m.sourceShape.reduce((a, b) => a * b, 1))));
      for (let k = 0; k < data.length; k++) {
        const s = TrainingExecutor.sourceIndex(m, p.shape, k);
        if (s >= 0) dst[s] = data[k]!;
      }
    }
    return out;
  }

  private async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  // ---- one optimizer step ----

  private closed = false;
  private busy = false;

  async step(batch: Batch): Promise<StepResult> {
    if (this.closed) throw new TrainerInputError('step: the trainer is closed');
    if (this.busy) throw new TrainerInputError('step: the previous step has not finished (await each step before the next)');
    const sequences = this.micro * this.microbatches;
    this.ids = checkBatch(batch, { sequences, seq: this.seq, vocab: this.graph.model.vocab });
    this.busy = true;
    // A step the device refuses is never a silent wrong loss: its errors are caught here and reported.
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    try {
      this.stepCount++;
      this.begin();
      this.outside().clearBuffer(this.buf('loss'));
      this.enc!.clearBuffer(this.buf('grad.norm'));
      this.restart();
      for (const s of this.steps) this.runStep(s);
      // The loss and the norm (grad.norm[1], before the update) to the host through the plan's readback buffer.
      const enc = this.outside();
      enc.copyBufferToBuffer(this.buf('loss'), 0, this.buf('readback'), 0, 4);
      enc.copyBufferToBuffer(this.buf('grad.norm'), 4, this.buf('readback'), 4, 4);
      this.end();
    } finally {
      this.pass = undefined;
      this.enc = undefined;
      // Whatever a failed step left allocated goes (the next step starts from the static buffers).
      for (const b of this.live.values()) b.buffer.destroy();
      this.live.clear();
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      this.busy = false;
      if (oom) throw new Error(`the device ran out of memory during a training step: ${oom.message}`);
      if (validation)
        throw new Error(`internal error: the device refused a training step: ${validation.message} (this is a bug in parplan)`);
    }
    const readback = this.buf('readback');
    await readback.mapAsync(GPUMapMode.READ, 0, 8);
    const [loss, gradNorm] = new Float32Array(readback.getMappedRange(0, 8).slice(0));
    readback.unmap();
    return { loss: loss! / (sequences * this.seq), gradNorm: gradNorm! };
  }

  /** One compute step: its allocations, its kernels, its frees; live bytes recorded after it (and after its frees). */
  private runStep(s: Instanced): void {
    for (const a of s.alloc) {
      if (this.live.has(a.name)) throw new Error(`internal error: ${a.name} allocated twice (this is a bug in parplan)`);
      this.live.set(a.name, { buffer: this.create(a.bytes, a.name), bytes: a.bytes });
    }
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
    }
    this.timeline.push(this.liveBytes());
    this.begin();
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
    return this.persistent.has(name) && !name.startsWith('grad.') && !name.startsWith('optim.');
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
    const p = this.program(`mm:${N}:${K}:${bias ? 'b' : ''}:${residual ? 'r' : ''}`, () =>
      kernels.matmul({
        N,
        K,
        w: { format: 'f32' },
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
    const p = this.program(`mmgi:${N}:${K}:${residual ? 'r' : ''}`, () =>
      kernels.matmulGradInput({
        N,
        K,
        w: { format: 'f32' },
        ...(residual ? { residual: true } : {}),
        variant: pick.variant,
        ...(pick.tile ? { tile: pick.tile } : {}),
      }),
    );
    const b: Record<string, BufferArg> = { A: this.buf(dY), W: this.buf(w), C: this.buf(out) };
    if (residual) b['residual'] = this.buf(residual);
    this.run(p, b, { M: this.T });
  }

  /** grad.W += dYᵀ·X (and grad.b += Σ dY). */
  private gradWeight(dY: string, x: string, w: string, bias: string | undefined): void {
    const [N, K] = this.shape(w) as [number, number];
    const p = this.program(`mmgw:${N}:${K}`, () => kernels.matmulGradWeight({ N, K }));
    this.run(p, { dY: this.buf(dY), X: this.buf(x), dW: this.buf(`grad.${w}`) }, { T: this.T });
    if (bias) {
      const q = this.program(`bg:${N}`, () => kernels.biasGrad({ N }));
      this.run(q, { dY: this.buf(dY), db: this.buf(`grad.${bias}`) }, { T: this.T });
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
    const p = this.program(`norm:${cols}:${saveStats}`, () =>
      this.layernorm
        ? kernels.layernorm({ cols, eps, saveStats })
        : kernels.rmsnorm({ cols, eps, offset: this.graph.model.normOffset ?? 0, saveStats }),
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
    const p = this.program(`nb:${cols}:${accumulate}`, () =>
      kernels.normBackward(kind, { cols, offset: this.graph.model.normOffset ?? 0, accumulate }),
    );
    this.run(p, { ...st, weight: this.buf(w), dy: this.buf(dy), dx: this.buf(dx) }, { rows: this.T });
    const q = this.program(`ngw:${cols}`, () => kernels.normGradWeight(kind, { cols }));
    const g: Record<string, BufferArg> = { ...st, dy: this.buf(dy), dweight: this.buf(`grad.${w}`) };
    if (this.layernorm) g['dbias'] = this.buf(`grad.${bias!}`);
    this.run(q, g, { rows: this.T });
  }

  private attentionOptions(layer: number) {
    const a = gqaAt(this.graph.model, layer, 'training').attention;
    return {
      seq: this.seq,
      heads: a.heads,
      kvHeads: a.kvHeads,
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
      const m = /^(?:act|layers|grad\.layers)\.(\d+)\./.exec(n);
      if (m) return Number(m[1]);
    }
    return 0;
  }

  private compute(s: Instanced): void {
    const { step, reads, writes } = s;
    // One tensor's update (its reads are the gradient, the state and the tensor, a bias alone included).
    if (step.kind === 'optimizer') return this.optimizer(reads);
    if (step.kind === 'grad-norm') return this.gradNorm(reads, step.maxNorm);
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
        const pos = weights[1]?.weight;
        const p = this.program(`emb:${pos ? 'p' : ''}`, () =>
          kernels.embedding({
            hidden: h,
            vocab: this.shape(table)[0]!,
            ...(pos ? { positional: { maxPositions: this.shape(pos)[0]! } } : {}),
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
        const o = this.attentionOptions(this.layerOf([...reads, ...writes]));
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
        this.matmul(acts[0]!, weights[0]!.weight, weights[0]!.bias, writes[0]!);
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
        const o = this.attentionOptions(this.layerOf(reads));
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
        const rows = this.shape(table.slice('grad.'.length))[0]!;
        const p = this.program(`embb:${rows}`, () => kernels.embeddingBackward({ hidden: h, rows }));
        this.run(p, { ids: this.buf(tokens), dX: this.buf(dX), grad: this.buf(table) }, { T });
        const pos = writes[1];
        if (pos) {
          const prow = this.shape(pos.slice('grad.'.length))[0]!;
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
    const ce = { cols, vocab: this.graph.model.vocab };
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
    const sequences = this.micro * this.microbatches;
    this.run(p, { logits: this.buf(logits), labels: this.buf(labels), stats, loss: rows }, { T, scale: 1 / (sequences * this.seq) });
    const q = this.program('rsum:acc', () => kernels.reduceSum({ accumulate: true }));
    this.run(q, { x: rows, out: this.buf('loss') }, { n: T });
  }

  /** out[0] += Σ g² over these gradients (per tensor: partial sums per chunk, then their sum, in a fixed order). */
  private sumSquares(grads: string[], out: GPUBuffer): void {
    const sq = this.program('sumsq', () => kernels.sumSquares());
    const rs = this.program('rsum:acc', () => kernels.reduceSum({ accumulate: true }));
    for (const g of grads) {
      const n = this.bytesOf(g) / 4;
      // Dispatches in one pass are ordered, so the partials buffer is reused tensor after tensor.
      this.run(sq, { x: this.buf(g), partials: this.buf('grad.partials') }, { n });
      this.run(rs, { x: this.buf('grad.partials'), out }, { n: Math.ceil(n / SUM_SQUARES_CHUNK) });
    }
  }

  /**
   * grad_clip: the steps that read gradients add their squares into `grad.norm`[0]; the last (reading `grad.norm`
   * alone) turns it into [min(1, clip / (‖g‖ + 1e-6)), ‖g‖], which every optimizer step reads.
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

  /** AdamW (or SGD) on one tensor, its gradient scaled by grad.norm[0], then cleared. */
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
    const n = this.bytesOf(param) / 4;
    const clip = this.buf(norm);
    if (state) {
      const [beta1, beta2] = o.betas ?? [0.9, 0.999];
      const p = this.program('adamw', () => kernels.adamw());
      this.run(
        p,
        { param: this.buf(param), grad: this.buf(grad), state: this.buf(state), clip },
        adamwDims({ lr: o.lr, beta1, beta2, eps: o.eps ?? 1e-8, weightDecay: decay }, this.stepCount, n),
      );
    } else {
      // optimizer = sgd (fp32 weights: no state), as torch.optim.SGD without momentum.
      const p = this.program('sgd', () => kernels.sgd());
      this.run(p, { param: this.buf(param), grad: this.buf(grad), clip }, { n, lr: o.lr, weightDecay: decay });
    }
    this.outside().clearBuffer(this.buf(grad));
    this.restart();
  }
}
