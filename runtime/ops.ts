/**
 * One device's operations: the graph's compute steps (by `kind`, with the tensors
 * they name) turned into kernel dispatches on that device's buffers. Names map to
 * buffers as the webgpu layout allocates them (src/memory/webgpu.ts): `hidden`,
 * `x` (also `y`, the row-parallel output), `q`, `k`, `v`, `attn`, `up`/`gate` (`u`),
 * `logits`, `next`; weights by instance name; `kv.{l}` to the layer's caches.
 *
 * A weight larger than one storage binding is held as row blocks (runtime/split.ts):
 * a matmul runs once per block of its weight, each dispatch writing the block's
 * columns of the output (`col0`, row stride the whole output's); an embedding table
 * gathers block by block (the first writes every token, the others add their own ids'
 * rows); the tied output head is a matmul over the embedding's blocks.
 *
 * A KV cache larger than one binding is held as blocks of slots: the KV write and the
 * attention run once per block that holds a slot of the pass (`slot0` rebases the slots
 * to the block; the other blocks' tokens are skipped), each writing its own tokens' rows
 * of the attention output, with the same arithmetic per sequence as the whole cache.
 */
import { tensorFormatOf, type TensorFormat } from '../src/facts/dtypes.js';
import type { Graph, GraphDevice, Step } from '../src/graph/types.js';
import { denseGqaAt, uniformLayer } from '../src/model.js';
import { meshOf } from '../src/mesh.js';
import { kvCacheTensor } from './allocate.js';
import type { Member } from './collectives.js';
import type { RankDevice } from './device.js';
import {
  kernels,
  pickMatmul,
  ropeTable,
  subgroupMatrixSupport,
  type KernelProgram,
  type SubgroupMatrixConfig,
  type TensorType,
} from './kernels/index.js';
import type { KernelRunner } from './kernels/run.js';
import type { Range } from './weights/slice.js';

/** One buffer of a weight: rows [rows[0], rows[1]) of its first dimension. */
export interface WeightBlock {
  buffer: GPUBuffer;
  rows: Range;
}

/** One block of a layer's KV cache: slots [slots[0], slots[1]), K and V in their own buffers. */
export interface KvBlock {
  k: GPUBuffer;
  v: GPUBuffer;
  slots: Range;
}

export interface WeightBuffer {
  dtype: TensorFormat;
  /** The whole weight's shape on this device. */
  shape: number[];
  /** One block (the whole weight) unless it is larger than one storage binding. */
  blocks: WeightBlock[];
}

/** The single buffer of a weight that is never split (norm gains, biases: bound whole). */
export function wholeBuffer(w: WeightBuffer, name: string): GPUBuffer {
  if (w.blocks.length !== 1)
    throw new Error(
      `internal error: weight ${name} is split into ${w.blocks.length} blocks where it is bound whole (this is a bug in parplan)`,
    );
  return w.blocks[0]!.buffer;
}

export const NORM_EPS = 1e-5;
export const ROPE_THETA = 10000;

/** The tokens of one forward pass, each with its position and KV-cache slot. */
export interface PassInput {
  tokens: readonly number[];
  positions: readonly number[];
  slots: readonly number[];
  /** prefill: one sequence's chunk (only its last token's logits are needed); decode: one token per sequence. */
  phase: 'prefill' | 'decode';
}

/**
 * What the operations use of a device: its buffers, weights, caches and kernel runner.
 * The executor's DeviceState implements it (declared here so that ops.ts does not
 * import the executor, which builds on it).
 */
export interface OpsDevice {
  readonly rd: RankDevice;
  readonly dev: GraphDevice;
  readonly graph: Graph;
  readonly weights: ReadonlyMap<string, WeightBuffer>;
  readonly kv: ReadonlyMap<number, KvBlock[]>;
  readonly runner: KernelRunner;
  buffer(name: string): GPUBuffer;
  weight(name: string): WeightBuffer;
  member(name: string): Member;
}

type Compute = Extract<Step, { op: 'compute' }>;

export class Ops {
  private readonly programs = new Map<string, KernelProgram>();
  private pass: GPUComputePassEncoder | undefined;
  private n = 0;
  private ropeBuffer: GPUBuffer | undefined;

  /**
   * A CPU-emulated adapter (Mesa's llvmpipe, SwiftShader): large matmul tiles run
   * ~20× slower there than small ones (barriers and register pressure are emulated),
   * so it always gets the small tile.
   */
  private readonly software: boolean;

  /** Tensor cores through `chromium-experimental-subgroup-matrix` (f16 weights), where offered. */
  private readonly tensorCores: SubgroupMatrixConfig | undefined;

  constructor(private readonly s: OpsDevice) {
    this.software = /llvmpipe|lavapipe|swiftshader/i.test(s.rd.description);
    this.tensorCores = subgroupMatrixSupport(s.rd.adapter, s.rd.device);
  }

  private get model() {
    return this.s.graph.model;
  }
  private get t() {
    return meshOf(this.s.graph.mesh.axes).tensor;
  }

  private program(key: string, make: () => KernelProgram): KernelProgram {
    let p = this.programs.get(key);
    if (!p) this.programs.set(key, (p = make()));
    return p;
  }

  private type(dtype: TensorFormat): TensorType {
    return dtype === 'f16' ? { format: 'f16', native16: this.s.rd.features.has('shader-f16') } : { format: dtype };
  }

  /** Token ids (shifted into this rank's vocabulary shard), positions and slots. */
  uploadIds(input: PassInput): void {
    const q = this.s.rd.device.queue;
    const rows = this.model.vocabPadded / this.t;
    const base = this.s.dev.coords.tensor * rows;
    const ids = Uint32Array.from(input.tokens, (id) => (id >= base && id < base + rows ? id - base : 0xffffffff));
    q.writeBuffer(this.s.buffer('tokens'), 0, ids);
    q.writeBuffer(this.s.buffer('positions'), 0, Uint32Array.from(input.positions));
    q.writeBuffer(this.s.buffer('slots'), 0, Uint32Array.from(input.slots));
    this.n = input.tokens.length;
  }

  begin(): GPUCommandEncoder {
    const enc = this.s.rd.device.createCommandEncoder({ label: `rank ${this.s.dev.rank}` });
    this.pass = enc.beginComputePass();
    return enc;
  }

  end(enc: GPUCommandEncoder): void {
    this.pass?.end();
    this.pass = undefined;
    this.s.runner.submit(enc);
  }

  private run(p: KernelProgram, buffers: Record<string, GPUBuffer>, dims: Record<string, number>): void {
    if (!this.pass) throw new Error('internal error: no compute pass (this is a bug in parplan)');
    this.s.runner.encode(this.pass, p, buffers, dims);
  }

  private buf(name: string): GPUBuffer {
    return this.s.buffer(name === 'y' ? 'x' : name === 'u' ? 'up' : name);
  }

  private w(name: string, layer: number | undefined): { w: WeightBuffer; name: string } {
    const n = layer === undefined ? name : name.replaceAll('{l}', String(layer));
    return { w: this.s.weight(n), name: n };
  }

  private hasWeight(name: string, layer: number | undefined): boolean {
    return this.s.weights.has(layer === undefined ? name : name.replaceAll('{l}', String(layer)));
  }

  /**
   * y[M, N] = a[M, K] · Wᵀ (+ bias on tensor rank 0 for row-parallel layers, on every rank
   * for column-parallel ones): one dispatch per row block of W, writing columns
   * rows[0] … rows[1] of y.
   */
  private matmul(
    a: GPUBuffer,
    weight: string,
    out: GPUBuffer,
    layer: number | undefined,
    M: number,
    opts: { bias?: string; rowParallel?: boolean; residual?: GPUBuffer } = {},
  ): void {
    const { w } = this.w(weight, layer);
    const [N, K] = w.shape as [number, number];
    const bias =
      opts.bias && this.hasWeight(opts.bias, layer) && (!opts.rowParallel || this.s.dev.coords.tensor === 0)
        ? this.w(opts.bias, layer)
        : undefined;
    const wt = this.type(w.dtype);
    const pick = this.software && M > 8 ? { variant: 'tiled' as const, tile: 'small' as const } : pickMatmul(M, wt, this.tensorCores);
    for (const block of w.blocks) this.matmulBlock(a, block, out, M, { N, K, dtype: w.dtype, wt, pick, bias, residual: opts.residual });
  }

  private matmulBlock(
    a: GPUBuffer,
    block: WeightBlock,
    out: GPUBuffer,
    M: number,
    o: {
      N: number;
      K: number;
      dtype: TensorFormat;
      wt: TensorType;
      pick: ReturnType<typeof pickMatmul>;
      bias: { w: WeightBuffer; name: string } | undefined;
      residual: GPUBuffer | undefined;
    },
  ): void {
    const { K, wt, pick, bias } = o;
    const [col0, end] = block.rows;
    const N = end - col0;
    const key = `mm:${N}:${K}:${o.N}:${col0}:${o.dtype}:${bias ? bias.w.dtype : '-'}:${o.residual ? 'r' : ''}:${pick.variant}:${pick.tile ?? ''}`;
    const p = this.program(key, () =>
      kernels.matmul({
        N,
        K,
        ldc: o.N,
        col0,
        w: wt,
        ...(bias ? { bias: true, biasType: this.type(bias.w.dtype) } : {}),
        ...(o.residual ? { residual: true } : {}),
        variant: pick.variant,
        ...(pick.tile ? { tile: pick.tile } : {}),
        ...(pick.variant === 'subgroup-matrix' && this.tensorCores ? { subgroupMatrix: this.tensorCores } : {}),
      }),
    );
    const buffers: Record<string, GPUBuffer> = { A: a, W: block.buffer, C: out };
    if (bias) buffers['bias'] = wholeBuffer(bias.w, bias.name);
    if (o.residual) buffers['residual'] = o.residual;
    this.run(p, buffers, { M });
  }

  private norm(x: GPUBuffer, y: GPUBuffer, prefix: string, layer: number | undefined, rows: number): void {
    const { w, name } = this.w(`${prefix}.weight`, layer);
    const h = this.model.hidden;
    if (this.model.norm === 'layernorm') {
      const b = this.w(`${prefix}.bias`, layer);
      const p = this.program(`ln:${w.dtype}:${b.w.dtype}`, () =>
        kernels.layernorm({ cols: h, eps: NORM_EPS, weight: this.type(w.dtype), bias: this.type(b.w.dtype) }),
      );
      this.run(p, { x, weight: wholeBuffer(w, name), bias: wholeBuffer(b.w, b.name), y }, { rows });
    } else {
      const p = this.program(`rms:${w.dtype}`, () => kernels.rmsnorm({ cols: h, eps: NORM_EPS, weight: this.type(w.dtype) }));
      this.run(p, { x, weight: wholeBuffer(w, name), y }, { rows });
    }
  }

  private rope(x: GPUBuffer, heads: number): void {
    // One table serves every layer.
    const d = uniformLayer(this.model, 'the rope table').attention.headDim;
    if (!this.ropeBuffer) {
      const table = ropeTable(this.model.maxSeq, d, ROPE_THETA);
      this.ropeBuffer = this.s.buffer('rope');
      this.s.rd.device.queue.writeBuffer(this.ropeBuffer, 0, table);
    }
    const p = this.program(`rope:${heads}`, () => kernels.rope({ heads, headDim: d, maxSeq: this.model.maxSeq }));
    this.run(p, { x, positions: this.s.buffer('positions'), table: this.ropeBuffer }, { T: this.n });
  }

  private cache: ReturnType<Ops['kvShape']> | undefined;

  /** The KV cache's shape on this device (looked up once: it is read for every layer). */
  private cacheOptions() {
    return (this.cache ??= this.kvShape());
  }

  private kvShape() {
    const dtype = this.s.graph.tensors.find((t) => t.name === 'kv.{l}')!.dtype;
    const kv = kvCacheTensor(this.s.graph);
    const fmt = tensorFormatOf(dtype)!; // the checker refuses other KV dtypes for engine = webgpu
    return { slots: kv.slots, maxSeq: kv.seq, kvHeads: kv.kvHeads, headDim: kv.headDim, cache: this.type(fmt) };
  }

  /**
   * Write the pass's K and V into layer `layer`'s cache and attend over it. A cache in
   * slot blocks: one KV write and one attention per block holding a slot of the pass,
   * each with the block's first slot and slot count as `slot0` and `slots`.
   */
  private attention(layer: number, input: PassInput, n: number, heads: number): void {
    const o = this.cacheOptions();
    const blocks = this.s.kv.get(layer)!;
    const common = {
      k: this.buf('k'),
      v: this.buf('v'),
      q: this.buf('q'),
      slots: this.s.buffer('slots'),
      positions: this.s.buffer('positions'),
      out: this.buf('attn'),
    };
    const write = this.program(`kvw:${o.cache.format}`, () => kernels.kvWrite(o));
    if (blocks.length === 1) {
      const kv = blocks[0]!;
      const attn = this.program(`attn:${o.cache.format}:${heads}`, () => kernels.attention({ ...o, heads }));
      this.run(write, { ...common, kCache: kv.k, vCache: kv.v }, { T: n });
      this.run(attn, { ...common, kCache: kv.k, vCache: kv.v }, { T: n });
      return;
    }
    const attn = this.program(`attn:${o.cache.format}:${heads}:block`, () => kernels.attention({ ...o, heads, slotBlock: true }));
    for (const kv of blocks) {
      const [slot0, end] = kv.slots;
      if (!input.slots.some((s) => s >= slot0 && s < end)) continue;
      const dims = { T: n, slot0, slots: end - slot0 };
      this.run(write, { ...common, kCache: kv.k, vCache: kv.v }, dims);
      this.run(attn, { ...common, kCache: kv.k, vCache: kv.v }, dims);
    }
  }

  /**
   * hidden[t] = embedding[ids[t]] (+ positions[pos[t]] on tensor rank 0 for learned
   * positions). Unsplit tables: one fused gather. Tables in row blocks: the first token
   * block writes every token, the others and the position blocks add their own rows.
   */
  private embedding(n: number): void {
    const m = this.model;
    const table = this.w('embedding.weight', undefined).w;
    const withPositions = m.positions === 'learned' && this.s.dev.coords.tensor === 0;
    const pos = withPositions ? this.w('positions.weight', undefined).w : undefined;
    const ids = this.s.buffer('tokens');
    const out = this.s.buffer('hidden');
    if (table.blocks.length === 1 && (!pos || pos.blocks.length === 1)) {
      const rows = m.vocabPadded / this.t;
      const p = this.program(`emb:${table.dtype}:${pos?.dtype ?? '-'}`, () =>
        kernels.embedding({
          hidden: m.hidden,
          vocab: rows,
          table: this.type(table.dtype),
          ...(pos ? { positional: { maxPositions: m.maxSeq, table: this.type(pos.dtype) } } : {}),
        }),
      );
      const buffers: Record<string, GPUBuffer> = { ids, table: table.blocks[0]!.buffer, out };
      if (pos) Object.assign(buffers, { positions: this.s.buffer('positions'), posTable: pos.blocks[0]!.buffer });
      this.run(p, buffers, { T: n });
      return;
    }
    const gather = (w: WeightBuffer, block: WeightBlock, idBuffer: GPUBuffer, accumulate: boolean) => {
      const [base, end] = block.rows;
      const p = this.program(`emb:${w.dtype}:${base}:${end}:${accumulate ? 'acc' : ''}`, () =>
        kernels.embedding({ hidden: m.hidden, vocab: end - base, rowBase: base, table: this.type(w.dtype), accumulate }),
      );
      this.run(p, { ids: idBuffer, table: block.buffer, out }, { T: n });
    };
    table.blocks.forEach((b, i) => gather(table, b, ids, i > 0));
    if (pos) for (const b of pos.blocks) gather(pos, b, this.s.buffer('positions'), true);
  }

  /** One compute step of the graph (inside a block: `layer` fills `{l}`). */
  compute(step: Compute, layer: number | undefined, input: PassInput, n: number): void {
    const m = this.model;
    const { attention, mlp } = denseGqaAt(m, layer ?? 0, 'the WebGPU runtime');
    const hpr = attention.heads / this.t;
    switch (step.kind) {
      case 'embedding':
        this.embedding(n);
        return;
      case 'norm': {
        const prefix = step.reads[1]!.replace(/\.weight$/, '');
        this.norm(this.buf('hidden'), this.buf('x'), prefix, layer, n);
        return;
      }
      case 'qkv': {
        const x = this.buf('x');
        this.matmul(x, 'layers.{l}.attn.q.weight', this.buf('q'), layer, n, { bias: 'layers.{l}.attn.q.bias' });
        this.matmul(x, 'layers.{l}.attn.k.weight', this.buf('k'), layer, n, { bias: 'layers.{l}.attn.k.bias' });
        this.matmul(x, 'layers.{l}.attn.v.weight', this.buf('v'), layer, n, { bias: 'layers.{l}.attn.v.bias' });
        return;
      }
      case 'rope': {
        const kvpr = this.cacheOptions().kvHeads;
        this.rope(this.buf('q'), hpr);
        this.rope(this.buf('k'), kvpr);
        return;
      }
      case 'attention':
        this.attention(layer!, input, n, hpr);
        return;
      case 'out-proj':
        this.matmul(this.buf('attn'), 'layers.{l}.attn.o.weight', this.buf('y'), layer, n, {
          bias: 'layers.{l}.attn.o.bias',
          rowParallel: true,
        });
        return;
      case 'residual': {
        const p = this.program('add:inplace', () => kernels.add({ inplace: true }));
        this.run(p, { a: this.buf('hidden'), b: this.buf('y') }, { n: n * m.hidden });
        return;
      }
      case 'mlp-up':
        this.matmul(this.buf('x'), 'layers.{l}.mlp.up.weight', this.buf('up'), layer, n, { bias: 'layers.{l}.mlp.up.bias' });
        if (mlp.activation === 'swiglu')
          this.matmul(this.buf('x'), 'layers.{l}.mlp.gate.weight', this.buf('gate'), layer, n, { bias: 'layers.{l}.mlp.gate.bias' });
        return;
      case 'mlp-act': {
        const count = n * (mlp.ffn / this.t);
        if (mlp.activation === 'swiglu')
          this.run(
            this.program('swiglu', () => kernels.swiglu({ inplace: true })),
            { gate: this.buf('gate'), up: this.buf('up') },
            { n: count },
          );
        else
          this.run(
            this.program('gelu', () => kernels.gelu({ inplace: true })),
            { x: this.buf('up') },
            { n: count },
          );
        return;
      }
      case 'mlp-down':
        this.matmul(this.buf('up'), 'layers.{l}.mlp.down.weight', this.buf('y'), layer, n, {
          bias: 'layers.{l}.mlp.down.bias',
          rowParallel: true,
        });
        return;
      case 'final-norm': {
        // Prefill needs only the last token: gather its row of the residual stream first.
        const rows = input.phase === 'prefill' ? 1 : n;
        if (input.phase === 'prefill') {
          this.s.rd.device.queue.writeBuffer(this.s.buffer('next'), 0, Uint32Array.of(n - 1));
          const g = this.program('gather:f32', () =>
            kernels.embedding({ hidden: m.hidden, vocab: this.s.buffer('hidden').size / (4 * m.hidden) }),
          );
          this.run(g, { ids: this.s.buffer('next'), table: this.buf('hidden'), out: this.buf('attn') }, { T: 1 });
          this.norm(this.buf('attn'), this.buf('x'), 'final_norm', undefined, rows);
        } else this.norm(this.buf('hidden'), this.buf('x'), 'final_norm', undefined, rows);
        return;
      }
      case 'head': {
        const rows = input.phase === 'prefill' ? 1 : n;
        const weight = this.s.weights.has('output.weight') ? 'output.weight' : 'embedding.weight';
        this.matmul(this.buf('x'), weight, this.s.buffer('logits'), undefined, rows);
        return;
      }
      case 'sample':
        // Greedy sampling happens when the logits are read (Replica.readLogits / tokens).
        return;
      default:
        throw new Error(`internal error: the webgpu runtime has no kernel for '${step.kind}' (this is a bug in parplan)`);
    }
  }

  /** This device's logits rows [rows, vocabPadded / t], through its staging buffer. */
  async readLogits(rows: number, cols: number): Promise<Float32Array> {
    return this.s.member('logits').staging.readF32(this.s.buffer('logits'), rows * cols * 4);
  }
}
