/**
 * One device's operations: the graph's compute steps (by `kind`) turned into kernel
 * dispatches on that device's buffers. The graph is the contract: a step's `reads` and
 * `writes` name exactly what is bound — activation buffers by the names of the webgpu
 * layout (src/memory/webgpu.ts: `hidden`, `x`, `q`, `k`, `v`, `attn`, `y`, `gate`, `up`,
 * `logits`), weights by instance name (`{l}` filled with the layer), `kv.{l}` the layer's
 * cache. The roles within a step are positional (`compute` says them per kind); a
 * `.bias` read goes with the `.weight` read of the same prefix. Model facts (norm eps and
 * offset, RoPE theta and scaling, each layer's sliding window and MLP activation, the
 * attention scale and soft-cap, the embedding scale, the logits' soft-cap) come from
 * `graph.model`; the runtime holds none.
 * Only the per-pass plumbing is not in the graph: `tokens`, `positions`, `slots`, the RoPE
 * table and `next` (written from the host for each pass).
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
import { gqaAt, uniformGqaLayer, type MoeMlp } from '../src/model.js';
import { ropeInvFreq } from './reference/rope.js';
import { embeddingScale } from './reference/embedding.js';
import { expertCoordsOf, meshOf } from '../src/mesh.js';
import { kvCacheTensor } from './allocate.js';
import { WEBGPU_ELEMENT_BYTES } from '../src/memory/webgpu.js';
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
    return this.s.buffer(name);
  }

  /** Elements per token of activation buffer `name` (the layout sizes each for T tokens). */
  width(name: string): number {
    let w = this.widths.get(name);
    if (w === undefined) {
      const T = Math.max(this.s.graph.batch!.maxPrefillTokens, this.s.graph.batch!.maxBatch);
      const region = this.s.graph.buffers![this.s.dev.program]!.find((r) => r.name === name);
      if (!region) throw new Error(`internal error: rank ${this.s.dev.rank} has no buffer '${name}' (this is a bug in parplan)`);
      this.widths.set(name, (w = region.bytes / (WEBGPU_ELEMENT_BYTES * T)));
    }
    return w;
  }

  private readonly widths = new Map<string, number>();

  private w(name: string): { w: WeightBuffer; name: string } {
    return { w: this.s.weight(name), name };
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
    M: number,
    opts: { bias?: string | undefined; rowParallel?: boolean; residual?: GPUBuffer } = {},
  ): void {
    const { w } = this.w(weight);
    const [N, K] = w.shape as [number, number];
    // A row-parallel layer's bias is added once, on tensor rank 0, before the all-reduce sums the partial outputs.
    const bias = opts.bias && (!opts.rowParallel || this.s.dev.coords.tensor === 0) ? this.w(opts.bias) : undefined;
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

  /**
   * y = norm(x) over rows of the gain's length (hidden, or head_dim for Qwen3's q/k norms:
   * then each head is a row), eps from the model; in place when x and y are one buffer.
   */
  private norm(xName: string, yName: string, gain: string, bias: string | undefined, rows: number): void {
    const { w } = this.w(gain);
    const cols = w.shape[0]!;
    const eps = this.model.normEps;
    const inplace = xName === yName;
    const io: Record<string, GPUBuffer> = inplace ? { x: this.buf(xName) } : { x: this.buf(xName), y: this.buf(yName) };
    if (this.model.norm === 'layernorm') {
      if (bias === undefined) throw new Error(`internal error: a layernorm step names no bias for ${gain} (this is a bug in parplan)`);
      const b = this.w(bias);
      const p = this.program(`ln:${cols}:${w.dtype}:${b.w.dtype}:${inplace}`, () =>
        kernels.layernorm({ cols, eps, weight: this.type(w.dtype), bias: this.type(b.w.dtype), inplace }),
      );
      this.run(p, { ...io, weight: wholeBuffer(w, gain), bias: wholeBuffer(b.w, bias) }, { rows });
    } else {
      const offset = this.model.normOffset ?? 0;
      const p = this.program(`rms:${cols}:${w.dtype}:${inplace}`, () =>
        kernels.rmsnorm({ cols, eps, offset, weight: this.type(w.dtype), inplace }),
      );
      this.run(p, { ...io, weight: wholeBuffer(w, gain) }, { rows });
    }
  }

  private rope(x: GPUBuffer, heads: number): void {
    // One table serves every layer: cos and sin of the model's (scaled) frequencies.
    const d = uniformGqaLayer(this.model, 'the rope table').attention.headDim;
    if (!this.ropeBuffer) {
      const table = ropeTable(this.model.maxSeq, d, ropeInvFreq(d, this.model.ropeTheta, this.model.ropeScaling));
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
  private attention(
    layer: number,
    io: { q: string; k: string; v: string; out: string },
    input: PassInput,
    n: number,
    heads: number,
    window: number | undefined,
  ): void {
    const o = this.cacheOptions();
    const blocks = this.s.kv.get(layer);
    if (!blocks) throw new Error(`internal error: rank ${this.s.dev.rank} holds no KV cache for layer ${layer} (this is a bug in parplan)`);
    const common = {
      k: this.buf(io.k),
      v: this.buf(io.v),
      q: this.buf(io.q),
      slots: this.s.buffer('slots'),
      positions: this.s.buffer('positions'),
      out: this.buf(io.out),
    };
    // Gemma: scores scaled by query_pre_attn_scalar^−½ and soft-capped; others: head_dim^−½.
    const m = this.model;
    const w = {
      ...(window === undefined ? {} : { window }),
      scale: 1 / Math.sqrt(m.queryPreAttnScalar ?? o.headDim),
      ...(m.attnSoftcap === undefined ? {} : { softcap: m.attnSoftcap }),
    };
    const write = this.program(`kvw:${o.cache.format}`, () => kernels.kvWrite(o));
    if (blocks.length === 1) {
      const kv = blocks[0]!;
      const attn = this.program(`attn:${o.cache.format}:${heads}:${window ?? ''}`, () => kernels.attention({ ...o, heads, ...w }));
      this.run(write, { ...common, kCache: kv.k, vCache: kv.v }, { T: n });
      this.run(attn, { ...common, kCache: kv.k, vCache: kv.v }, { T: n });
      return;
    }
    const attn = this.program(`attn:${o.cache.format}:${heads}:${window ?? ''}:block`, () =>
      kernels.attention({ ...o, heads, slotBlock: true, ...w }),
    );
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
  private embedding(ids: GPUBuffer, tokenTable: string, positionTable: string | undefined, out: GPUBuffer, n: number): void {
    this.gather(ids, tokenTable, positionTable, out, n);
    // Gemma: × √hidden in the weights' dtype (HF's normalizer); on each rank's partial rows, before their all-reduce.
    const c = embeddingScale(this.model);
    if (c !== undefined) {
      const p = this.program(`scale:${c}`, () => kernels.scale({ c, inplace: true }));
      this.run(p, { x: out }, { n: n * this.model.hidden });
    }
  }

  private gather(ids: GPUBuffer, tokenTable: string, positionTable: string | undefined, out: GPUBuffer, n: number): void {
    const m = this.model;
    const table = this.w(tokenTable).w;
    // Vocabulary-parallel tables are summed over the tensor ranks: the positions are added once, on rank 0.
    const pos = positionTable !== undefined && this.s.dev.coords.tensor === 0 ? this.w(positionTable).w : undefined;
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

  /**
   * One compute step of the graph, its tensor names already instanced (`{l}`, `{m}` filled):
   * each kind binds its reads and writes by position (`splitReads`: activations, then each
   * `.weight` with the `.bias` of the same prefix when the step names one).
   */
  compute(
    step: Compute,
    reads: readonly string[],
    writes: readonly string[],
    layer: number | undefined,
    input: PassInput,
    n: number,
  ): void {
    const { acts, weights } = this.splitReads(reads);
    const wt = (i: number) => {
      const w = weights[i];
      if (!w) throw new Error(`internal error: a '${step.kind}' step names too few weights (this is a bug in parplan)`);
      return w;
    };
    const act = (i: number) => {
      const a = acts[i];
      if (a === undefined) throw new Error(`internal error: a '${step.kind}' step names too few activations (this is a bug in parplan)`);
      return a;
    };
    const out = (i: number) => {
      const w = writes[i];
      if (w === undefined) throw new Error(`internal error: a '${step.kind}' step names too few outputs (this is a bug in parplan)`);
      return w;
    };
    switch (step.kind) {
      case 'embedding':
        this.embedding(this.buf(act(0)), wt(0).weight, weights[1]?.weight, this.buf(out(0)), n);
        return;
      case 'norm': {
        const x = act(0);
        const g = wt(0);
        this.norm(x, out(0), g.weight, g.bias, (n * this.width(x)) / this.s.weight(g.weight).shape[0]!);
        return;
      }
      case 'qkv':
      case 'mlp-up': {
        // Column-parallel projections of one input: weight i writes output i.
        writes.forEach((o, i) => this.matmul(this.buf(act(0)), wt(i).weight, this.buf(o), n, { bias: wt(i).bias }));
        return;
      }
      case 'rope': {
        const d = gqaAt(this.model, layer ?? 0, 'the WebGPU runtime').attention.headDim;
        for (const x of acts) this.rope(this.buf(x), this.width(x) / d);
        return;
      }
      case 'attention': {
        if (layer === undefined) throw new Error('internal error: an attention step outside a layer block (this is a bug in parplan)');
        const a = gqaAt(this.model, layer, 'the WebGPU runtime').attention;
        const io = { q: act(0), k: act(1), v: act(2), out: out(0) };
        this.attention(layer, io, input, n, this.width(io.q) / a.headDim, a.window);
        return;
      }
      case 'out-proj':
      case 'mlp-down':
        // Row-parallel: partial sums, summed by the all-reduce that follows.
        this.matmul(this.buf(act(0)), wt(0).weight, this.buf(out(0)), n, { bias: wt(0).bias, rowParallel: true });
        return;
      case 'residual': {
        const target = out(0);
        if (acts.includes('routes')) {
          // MoE: the residual adds each token's k expert rows, weighed by its routing weights.
          const other = acts.find((a) => a !== target && a !== 'routes');
          if (other === undefined || !acts.includes(target))
            throw new Error(
              `internal error: a MoE residual step must read its output, the experts' rows and routes (this is a bug in parplan)`,
            );
          const { topK } = this.moe(layer, step.kind);
          const h = this.width(target);
          const p = this.program(`moe-combine:${h}:${topK}`, () => kernels.combine({ hidden: h, topK }));
          const [lo, hi] = this.tokenSlice(n);
          if (hi > lo) this.run(p, { hidden: this.buf(target), y: this.buf(other), routes: this.buf('routes') }, { T: hi - lo, t0: lo });
          return;
        }
        const other = acts.find((a) => a !== target);
        if (other === undefined || !acts.includes(target))
          throw new Error(`internal error: a residual step must read its output and one other tensor (this is a bug in parplan)`);
        const p = this.program('add:inplace', () => kernels.add({ inplace: true }));
        this.run(p, { a: this.buf(target), b: this.buf(other) }, { n: n * this.width(target) });
        return;
      }
      case 'mlp-act': {
        const y = out(0);
        const count = n * this.width(y);
        if (acts.length === 2) {
          // swiglu: y = silu(gate) · up; geglu (Gemma): y = gelu_tanh(gate) · up; in place over up
          if (acts[1] !== y) throw new Error('internal error: a gated mlp-act step must write its second read (this is a bug in parplan)');
          const fn = gqaAt(this.model, layer ?? 0, 'the WebGPU runtime').mlp.activation;
          if (fn !== 'swiglu' && fn !== 'geglu')
            throw new Error(`internal error: a gated mlp-act step in a layer with a ${fn} MLP (this is a bug in parplan)`);
          const p = this.program(fn, () => kernels[fn]({ inplace: true }));
          this.run(p, { gate: this.buf(act(0)), up: this.buf(y) }, { n: count });
        } else {
          if (acts[0] !== y) throw new Error('internal error: an mlp-act step must write its read (this is a bug in parplan)');
          this.run(
            this.program('gelu', () => kernels.gelu({ inplace: true })),
            { x: this.buf(y) },
            { n: count },
          );
        }
        return;
      }
      case 'router': {
        const m = this.moe(layer, step.kind);
        const { w } = this.w(wt(0).weight);
        const h = this.width(act(0));
        const p = this.program(`router:${h}:${m.experts}:${m.topK}:${m.normTopK}:${w.dtype}`, () =>
          kernels.router({ hidden: h, experts: m.experts, topK: m.topK, normTopK: m.normTopK, w: this.type(w.dtype) }),
        );
        const [routes, dispatch] = [out(0), out(1)];
        const [lo, hi] = this.tokenSlice(n);
        if (hi > lo)
          this.run(
            p,
            { x: this.buf(act(0)), W: wholeBuffer(w, wt(0).weight), routes: this.buf(routes), dispatch: this.buf(dispatch) },
            { T: hi - lo, t0: lo },
          );
        return;
      }
      case 'expert-up': {
        // Gate then up of each routed row into the two halves of its ue row ([gate | up], 2·ffn wide).
        const m = this.moe(layer, step.kind);
        const h = this.s.graph.model.hidden;
        const f = this.s.weight(wt(0).weight).shape[1]!; // the expert width on this rank (split over expert_tensor)
        weights.forEach((x, i) =>
          this.expertMatmul(act(0), x.weight, out(0), n * m.topK, { N: f, K: h, lda: h, aOff: 0, ldc: 2 * f, cOff: i * f }),
        );
        return;
      }
      case 'expert-act': {
        const m = this.moe(layer, step.kind);
        if (acts[0] !== out(0)) throw new Error('internal error: an expert-act step must write its read (this is a bug in parplan)');
        const f = this.width(out(0)) / (2 * m.topK);
        const p = this.program(`expert-swiglu:${f}`, () => kernels.expertSwiglu({ ffn: f }));
        this.run(p, { ue: this.buf(out(0)) }, { n: n * m.topK * f });
        return;
      }
      case 'expert-down': {
        const m = this.moe(layer, step.kind);
        const h = this.s.graph.model.hidden;
        const f = this.s.weight(wt(0).weight).shape[2]!;
        this.expertMatmul(act(0), wt(0).weight, out(0), n * m.topK, { N: h, K: f, lda: 2 * f, aOff: 0, ldc: h, cOff: 0 });
        return;
      }
      case 'final-norm': {
        const x = act(0);
        const y = out(0);
        const g = wt(0);
        if (input.phase === 'prefill') {
          // Prefill needs only the last token: gather its row of x into y, then normalise y in place.
          this.s.rd.device.queue.writeBuffer(this.s.buffer('next'), 0, Uint32Array.of(n - 1));
          const h = this.width(x);
          const gather = this.program(`gather:f32:${h}`, () => kernels.embedding({ hidden: h, vocab: this.buf(x).size / (4 * h) }));
          this.run(gather, { ids: this.s.buffer('next'), table: this.buf(x), out: this.buf(y) }, { T: 1 });
          this.norm(y, y, g.weight, g.bias, 1);
        } else this.norm(x, y, g.weight, g.bias, n);
        return;
      }
      case 'head': {
        const rows = input.phase === 'prefill' ? 1 : n;
        this.matmul(this.buf(act(0)), wt(0).weight, this.buf(out(0)), rows);
        const cap = this.model.logitSoftcap;
        if (cap !== undefined) {
          // Gemma-2: cap · tanh(z / cap), on this rank's vocabulary shard (element-wise, so before the all-gather).
          const p = this.program(`softcap:${cap}`, () => kernels.softcap({ c: cap, inplace: true }));
          this.run(p, { x: this.buf(out(0)) }, { n: (rows * this.model.vocabPadded) / this.t });
        }
        return;
      }
      case 'sample':
        // Greedy sampling happens when the logits are read (Replica.readLogits / tokens).
        return;
      default:
        throw new Error(`internal error: the webgpu runtime has no kernel for '${step.kind}' (this is a bug in parplan)`);
    }
  }

  /** Layer `layer`'s MoE MLP (a MoE step outside one is our bug). */
  private moe(layer: number | undefined, kind: string): MoeMlp {
    const mlp = layer === undefined ? undefined : gqaAt(this.model, layer, 'the WebGPU runtime').mlp;
    if (mlp?.kind !== 'moe') throw new Error(`internal error: a '${kind}' step outside a MoE layer (this is a bug in parplan)`);
    return mlp;
  }

  /**
   * Rows [0, R) of `a` times their experts' weights into `out`: one dispatch per block of the
   * expert weight (a block holds whole experts, rows of its first dimension), each computing
   * the rows routed to its experts. The experts this device holds start at its expert shard.
   */
  private expertMatmul(
    a: string,
    weight: string,
    out: string,
    R: number,
    o: { N: number; K: number; lda: number; aOff: number; ldc: number; cOff: number },
  ): void {
    const { w } = this.w(weight);
    const first = this.firstExpert(w.shape[0]!);
    for (const block of w.blocks) {
      const [b0, b1] = block.rows;
      const p = this.program(`expert-mm:${w.dtype}:${JSON.stringify(o)}:${first + b0}:${b1 - b0}`, () =>
        kernels.expertMatmul({ ...o, e0: first + b0, held: b1 - b0, w: this.type(w.dtype) }),
      );
      this.run(p, { A: this.buf(a), W: block.buffer, routes: this.buf('routes'), C: this.buf(out) }, { R });
    }
  }

  /** The first expert this device holds, when it holds `held` of them (the graph's expert shard: expert = 1 holds all). */
  private firstExpert(held: number): number {
    return this.expertRange(held)[0];
  }

  /** The experts [first, end) this device holds (every MoE layer holds the same ones). */
  heldExperts(): [number, number] {
    for (const [name, w] of this.s.weights) if (name.endsWith('.mlp.experts.down.weight')) return this.expertRange(w.shape[0]!);
    throw new Error(`internal error: rank ${this.s.dev.rank} holds no experts (this is a bug in parplan)`);
  }

  /** The experts [first, end) this device holds when it holds `held` of them: its expert shard (src/mesh.ts expertCoordsOf). */
  expertRange(held: number): [number, number] {
    const grid = this.s.graph.mesh.experts;
    const index = grid ? expertCoordsOf(meshOf(this.s.graph.mesh.axes), grid, this.s.dev.rank).expert : 0;
    return [index * held, (index + 1) * held];
  }

  /**
   * The tokens [lo, hi) of a pass of n whose MoE routing and combine this device does: all of
   * them on one tensor rank; with tensor > 1 its contiguous 1/t share (the graph's MoE steps
   * work on the rank's slice and all-gather the residual stream over the tensor group after).
   */
  tokenSlice(n: number): [number, number] {
    const t = this.t;
    if (t === 1) return [0, n];
    const chunk = Math.ceil(n / t);
    const lo = Math.min(n, this.s.dev.coords.tensor * chunk);
    return [lo, Math.min(n, lo + chunk)];
  }

  /**
   * A step's reads as activations (in order) and weights (in order of their `.weight`, each
   * with the `.bias` of the same prefix when the step reads one). A weight is a name this
   * device loaded; the KV cache (`kv.N`) is bound by layer.
   */
  private splitReads(reads: readonly string[]): { acts: string[]; weights: { weight: string; bias: string | undefined }[] } {
    const acts: string[] = [];
    const weights: { weight: string; bias: string | undefined }[] = [];
    const biases = new Set<string>();
    for (const r of reads) {
      if (/^kv\.\d+$/.test(r)) continue;
      if (!this.s.weights.has(r)) acts.push(r);
      else if (r.endsWith('.bias')) biases.add(r);
      else weights.push({ weight: r, bias: undefined });
    }
    for (const w of weights) {
      const b = `${w.weight.replace(/\.weight$/, '')}.bias`;
      if (biases.delete(b)) w.bias = b;
    }
    if (biases.size > 0)
      throw new Error(`internal error: bias ${[...biases].join(', ')} read without its weight (this is a bug in parplan)`);
    return { acts, weights };
  }

  /** This device's logits rows [rows, vocabPadded / t], through its staging buffer. */
  async readLogits(rows: number, cols: number): Promise<Float32Array> {
    return this.s.member('logits').staging.readF32(this.s.buffer('logits'), rows * cols * 4);
  }
}
