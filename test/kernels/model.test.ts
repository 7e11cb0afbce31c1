/**
 * The kernels composed into whole models: a tiny GPT-2 and a tiny Llama (GQA) run on the
 * GPU — one compute pass per forward step, as the executor records it — through prefill
 * of two sequences and batched decode steps, with weights stored as f32 (GPT-2) and bf16 (Llama), and
 * compared with the CPU reference model given the same (decoded) weights. This is a
 * worked example of how the ops chain (see docs/kernels.md) and shows the reference and
 * the kernels agree on every convention (Conv1D layout, fused epilogues, RoPE, GQA, the
 * cache, tied heads). Logits must agree to 2e-4 relative to the largest logit; the greedy
 * tokens must be the same.
 */
import { describe, expect, it } from 'vitest';
import { emptyBuffer, readBuffer, uploadBuffer, type TestGpu } from '../../runtime/testing/gpu.js';
import { kernels, pickMatmul, ropeTable, type KernelProgram } from '../../runtime/kernels/index.js';
import { encode, roundAll } from '../../runtime/reference/dtype.js';
import {
  gpt2Config,
  greedy,
  llamaConfig,
  randomWeights,
  ReferenceModel,
  type Model,
  type TokenEntry,
} from '../../runtime/reference/model.js';
import { uniformLayer } from '../../src/model.js';
import type { TensorType } from '../../runtime/wgsl/dtype.js';
import { testGpu } from './util.js';

/** The one layer's sizes of a model whose layers are alike, flat. */
const flat = (c: Model) => {
  const { attention, mlp } = uniformLayer(c);
  return { ...attention, ffn: mlp.ffn };
};

/** Columns c0 … c0+n−1 of a row-major [rows, cols] matrix (splitting GPT-2's c_attn into q, k, v). */
function columns(a: Float32Array, rows: number, cols: number, c0: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * cols + c0, r * cols + c0 + n), r * n);
  return out;
}

class GpuModel {
  private readonly w = new Map<string, GPUBuffer>();
  private readonly kv: { k: GPUBuffer; v: GPUBuffer }[] = [];
  private readonly table: GPUBuffer | undefined;
  private readonly temp: GPUBuffer[] = [];

  constructor(
    private readonly g: TestGpu,
    private readonly c: Model,
    weights: Map<string, Float32Array>,
    private readonly t: TensorType,
    private readonly slots: number,
  ) {
    const put = (name: string, data: Float32Array) => this.w.set(name, uploadBuffer(g.device, encode(t.format, data), name));
    for (const [name, data] of weights) put(name, data);
    if (c.arch === 'gpt2') {
      const h = c.hidden;
      for (let l = 0; l < c.layers; l++) {
        const p = `transformer.h.${l}.attn.c_attn`;
        ['q', 'k', 'v'].forEach((x, i) => {
          put(`${p}.${x}.weight`, columns(weights.get(`${p}.weight`)!, h, 3 * h, i * h, h));
          put(`${p}.${x}.bias`, weights.get(`${p}.bias`)!.slice(i * h, (i + 1) * h));
        });
      }
    } else {
      this.table = uploadBuffer(g.device, ropeTable(c.maxSeq, flat(c).headDim, c.ropeTheta), 'rope');
    }
    const elems = slots * c.maxSeq * flat(c).kvHeads * flat(c).headDim;
    for (let l = 0; l < c.layers; l++) this.kv.push({ k: emptyBuffer(g.device, elems * 4), v: emptyBuffer(g.device, elems * 4) });
  }

  private buf(bytes: number): GPUBuffer {
    const b = emptyBuffer(this.g.device, bytes);
    this.temp.push(b);
    return b;
  }

  /** One forward step over `batch`; returns logits [T, vocab]. */
  async forward(batch: TokenEntry[]): Promise<Float32Array> {
    const { g, c, t } = this;
    const T = batch.length;
    const h = c.hidden;
    const D = flat(c).headDim;
    const H = flat(c).heads;
    const KVH = flat(c).kvHeads;
    const ids = uploadBuffer(g.device, Uint32Array.from(batch.map((b) => b.token)));
    const positions = uploadBuffer(g.device, Uint32Array.from(batch.map((b) => b.position)));
    const slots = uploadBuffer(g.device, Uint32Array.from(batch.map((b) => b.slot)));
    this.temp.push(ids, positions, slots);
    let hid = this.buf(T * h * 4);
    let hid2 = this.buf(T * h * 4);
    const x = this.buf(T * h * 4);
    const q = this.buf(T * H * D * 4);
    const k = this.buf(T * KVH * D * 4);
    const v = this.buf(T * KVH * D * 4);
    const attn = this.buf(T * H * D * 4);
    const up = this.buf(T * flat(c).ffn * 4);
    const gate = this.buf(T * flat(c).ffn * 4);
    const logits = this.buf(T * c.vocab * 4);
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    const run = (p: KernelProgram, b: Record<string, GPUBuffer>, dims: Record<string, number>) => g.runner.encode(pass, p, b, dims);
    const W = (name: string) => this.w.get(name)!;
    const mm = (
      A: GPUBuffer,
      w: string,
      C: GPUBuffer,
      N: number,
      K: number,
      o: { layout?: 'nk' | 'kn'; bias?: string; gelu?: boolean; residual?: GPUBuffer } = {},
    ) => {
      // few rows: gemv (maxM 4 keeps lavapipe's compile time down; pickMatmul's default is 8)
      const pick = T <= 4 ? { variant: 'gemv' as const, maxM: 4 } : pickMatmul(T, t);
      const p = kernels.matmul({
        N,
        K,
        w: t,
        wLayout: o.layout,
        bias: o.bias !== undefined,
        activation: o.gelu ? 'gelu' : 'none',
        residual: o.residual !== undefined,
        ...pick,
      });
      const b: Record<string, GPUBuffer> = { A, W: W(w), C };
      if (o.bias) b['bias'] = W(o.bias);
      if (o.residual) b['residual'] = o.residual;
      run(p, b, { M: T });
    };
    const attend = (l: number) => {
      const shape = { slots: this.slots, maxSeq: c.maxSeq, kvHeads: KVH, headDim: D };
      const bufs = { k, v, q, slots, positions, kCache: this.kv[l]!.k, vCache: this.kv[l]!.v, out: attn };
      run(kernels.kvWrite(shape), bufs, { T });
      run(kernels.attention({ ...shape, heads: H }), bufs, { T });
    };
    if (c.arch === 'gpt2') {
      const emb = kernels.embedding({ hidden: h, vocab: c.vocab, table: t, positional: { maxPositions: c.maxSeq } });
      run(emb, { ids, table: W('transformer.wte.weight'), positions, posTable: W('transformer.wpe.weight'), out: hid }, { T });
      const ln = kernels.layernorm({ cols: h, eps: c.normEps, weight: t, bias: t });
      for (let l = 0; l < c.layers; l++) {
        const p = `transformer.h.${l}`;
        run(ln, { x: hid, weight: W(`${p}.ln_1.weight`), bias: W(`${p}.ln_1.bias`), y: x }, { rows: T });
        mm(x, `${p}.attn.c_attn.q.weight`, q, h, h, { layout: 'kn', bias: `${p}.attn.c_attn.q.bias` });
        mm(x, `${p}.attn.c_attn.k.weight`, k, h, h, { layout: 'kn', bias: `${p}.attn.c_attn.k.bias` });
        mm(x, `${p}.attn.c_attn.v.weight`, v, h, h, { layout: 'kn', bias: `${p}.attn.c_attn.v.bias` });
        attend(l);
        mm(attn, `${p}.attn.c_proj.weight`, hid2, h, h, { layout: 'kn', bias: `${p}.attn.c_proj.bias`, residual: hid });
        [hid, hid2] = [hid2, hid];
        run(ln, { x: hid, weight: W(`${p}.ln_2.weight`), bias: W(`${p}.ln_2.bias`), y: x }, { rows: T });
        mm(x, `${p}.mlp.c_fc.weight`, up, flat(c).ffn, h, { layout: 'kn', bias: `${p}.mlp.c_fc.bias`, gelu: true });
        mm(up, `${p}.mlp.c_proj.weight`, hid2, h, flat(c).ffn, { layout: 'kn', bias: `${p}.mlp.c_proj.bias`, residual: hid });
        [hid, hid2] = [hid2, hid];
      }
      run(ln, { x: hid, weight: W('transformer.ln_f.weight'), bias: W('transformer.ln_f.bias'), y: x }, { rows: T });
      mm(x, c.tiedEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight', logits, c.vocab, h);
    } else {
      run(kernels.embedding({ hidden: h, vocab: c.vocab, table: t }), { ids, table: W('model.embed_tokens.weight'), out: hid }, { T });
      const rms = kernels.rmsnorm({ cols: h, eps: c.normEps, weight: t });
      for (let l = 0; l < c.layers; l++) {
        const p = `model.layers.${l}`;
        run(rms, { x: hid, weight: W(`${p}.input_layernorm.weight`), y: x }, { rows: T });
        mm(x, `${p}.self_attn.q_proj.weight`, q, H * D, h);
        mm(x, `${p}.self_attn.k_proj.weight`, k, KVH * D, h);
        mm(x, `${p}.self_attn.v_proj.weight`, v, KVH * D, h);
        run(kernels.rope({ heads: H, headDim: D, maxSeq: c.maxSeq }), { x: q, positions, table: this.table! }, { T });
        run(kernels.rope({ heads: KVH, headDim: D, maxSeq: c.maxSeq }), { x: k, positions, table: this.table! }, { T });
        attend(l);
        mm(attn, `${p}.self_attn.o_proj.weight`, hid2, h, H * D, { residual: hid });
        [hid, hid2] = [hid2, hid];
        run(rms, { x: hid, weight: W(`${p}.post_attention_layernorm.weight`), y: x }, { rows: T });
        mm(x, `${p}.mlp.gate_proj.weight`, gate, flat(c).ffn, h);
        mm(x, `${p}.mlp.up_proj.weight`, up, flat(c).ffn, h);
        run(kernels.swiglu({ inplace: true }), { gate, up }, { n: T * flat(c).ffn });
        mm(up, `${p}.mlp.down_proj.weight`, hid2, h, flat(c).ffn, { residual: hid });
        [hid, hid2] = [hid2, hid];
      }
      run(rms, { x: hid, weight: W('model.norm.weight'), y: x }, { rows: T });
      mm(x, c.tiedEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight', logits, c.vocab, h);
    }
    pass.end();
    g.runner.submit(enc);
    const out = new Float32Array(await readBuffer(g.device, logits, T * c.vocab * 4));
    for (const b of this.temp) b.destroy();
    this.temp.length = 0;
    g.runner.forgetBindGroups();
    return out;
  }

  destroy(): void {
    for (const b of this.w.values()) b.destroy();
    for (const { k, v } of this.kv) {
      k.destroy();
      v.destroy();
    }
    this.table?.destroy();
  }
}

// GPT-2 checkpoints are f32, Llama's bf16: one storage type each (each distinct shader
// costs lavapipe about a second to compile; the kernel tests cover every type).
const MODELS: { name: string; c: Model; format: 'f32' | 'bf16' }[] = [
  {
    name: 'GPT-2: 2 layers, hidden 32, 4 heads, vocab 50',
    c: gpt2Config({ layers: 2, hidden: 32, heads: 4, vocab: 50, maxSeq: 24 }),
    format: 'f32',
  },
  {
    name: 'Llama: 2 layers, hidden 32, 4 heads : 2 KV heads, ffn 40, vocab 61, untied',
    c: llamaConfig({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, ffn: 40, vocab: 61, maxSeq: 24 }),
    format: 'bf16',
  },
];

describe.each(MODELS)('$name on the GPU vs the reference model', ({ c, format }) => {
  {
    it(`weights ${format}: prefill 2 sequences (11 and 3 tokens), 4 batched decode steps`, async () => {
      const g = await testGpu();
      const weights0 = randomWeights(c, 11, 0.25);
      // the reference gets exactly the values the GPU reads
      const weights = new Map([...weights0].map(([k, v]) => [k, roundAll(format, v)]));
      const ref = new ReferenceModel(c, weights);
      const gpu = new GpuModel(g, c, weights, { format }, 2);
      const cache = ref.newCache(2);
      const check = (got: Float32Array, want: Float32Array, what: string) => {
        const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0) + 1;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst / scale, `${what}: max |Δlogit| / (max |logit| + 1)`).toBeLessThan(2e-4);
        expect(greedy(got, c.vocab), `${what}: greedy tokens`).toEqual(greedy(want, c.vocab));
      };
      const seqs = [
        [3, 14, 15, 9, 2, 6, 5, 3, 5, 8, 9],
        [27, 1, 8],
      ];
      const next: number[] = [];
      for (const [slot, prompt] of seqs.entries()) {
        const batch = prompt.map((token, position) => ({ token, slot, position }));
        const want = ref.forward(cache, batch);
        const got = await gpu.forward(batch);
        check(got, want, `prefill slot ${slot}`);
        next.push(greedy(want.subarray((prompt.length - 1) * c.vocab), c.vocab)[0]!);
      }
      const len = seqs.map((s) => s.length);
      for (let step = 0; step < 4; step++) {
        const batch = [1, 0].map((slot) => ({ token: next[slot]!, slot, position: len[slot]!++ }));
        const want = ref.forward(cache, batch);
        const got = await gpu.forward(batch);
        check(got, want, `decode step ${step}`);
        greedy(want, c.vocab).forEach((tok, i) => (next[batch[i]!.slot] = tok));
      }
      gpu.destroy();
      expect(g.errors).toEqual([]);
    });
  }
});
