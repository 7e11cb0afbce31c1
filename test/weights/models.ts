/**
 * Test models for the weight loader: small GPT-2 and Llama graphs compiled from
 * plans, synthetic Hugging Face checkpoints for them, and a reference — written
 * independently of names.ts — of each full graph tensor and of each device's shard.
 */
import type { Graph, GraphModel, GraphTensor } from '../../src/graph/types.js';
import { uniformLayer } from '../../src/model.js';
import { compileBody } from '../graph/helpers.js';
import type { WriteTensor } from './write.js';

export const MODELS = `
model gpt_micro { arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 99  max_seq = 32 }
model llama_micro { arch = llama  layers = 3  hidden = 64  heads = 4  kv_heads = 2  ffn = 96  vocab = 101  max_seq = 32 }
model llama_tied { arch = llama  layers = 2  hidden = 32  heads = 2  ffn = 64  vocab = 50  max_seq = 16  tied_embeddings = true }
`;

const SERVE = 'mode = serve  batch { max_batch = 4  max_wait = 5 ms  seq = 32  queue = 16 }';

/** A graph of `model` served over tensor × pipeline GPUs. */
export function serveGraph(model: string, tensor: number, pipeline: number): Graph {
  return compileBody(
    `model = ${model}  cluster = node8  tensor = ${tensor}  pipeline = ${pipeline}  ${SERVE.replace('seq = 32', `seq = ${model === 'llama_tied' ? 16 : 32}`)}`,
    MODELS,
  ).graph;
}

/** A training graph with ZeRO-3 (weights sharded over data too). */
export function zero3Graph(model: string, tensor: number, data: number): Graph {
  return compileBody(
    `model = ${model}  cluster = node8  mode = train  tensor = ${tensor}  data = ${data}  zero = 3  batch { global = 8  seq = 16 }`,
    MODELS,
  ).graph;
}

/** Deterministic, distinct values for a checkpoint tensor (exact in bf16 when `bf16`). */
export function valuesOf(name: string, n: number, bf16 = false): Float32Array {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (((h ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0) % 20011) / 1000 - 10;
    out[i] = bf16 ? Math.round(x * 8) / 8 : x;
  }
  return out;
}

export interface Checkpoint {
  /** name → [shape, f32 values]. */
  tensors: Map<string, { shape: number[]; values: Float32Array }>;
}

/** The tensors of a Hugging Face checkpoint of `m`, as transformers names them. */
export function hfCheckpoint(m: GraphModel, options: { prefix?: string; withLmHead?: boolean; extra?: boolean } = {}): Checkpoint {
  const h = m.hidden;
  const { attention: a, mlp } = uniformLayer(m);
  const qd = a.heads * a.headDim;
  const kvd = a.kvHeads * a.headDim;
  const f = mlp.ffn;
  const shapes: [string, number[]][] = [];
  if (m.arch === 'gpt2') {
    const p = options.prefix ?? 'transformer.';
    shapes.push([`${p}wte.weight`, [m.vocab, h]], [`${p}wpe.weight`, [m.maxSeq, h]]);
    for (let l = 0; l < m.layers; l++) {
      const b = `${p}h.${l}.`;
      shapes.push(
        [`${b}ln_1.weight`, [h]],
        [`${b}ln_1.bias`, [h]],
        [`${b}attn.c_attn.weight`, [h, qd + 2 * kvd]],
        [`${b}attn.c_attn.bias`, [qd + 2 * kvd]],
        [`${b}attn.c_proj.weight`, [qd, h]],
        [`${b}attn.c_proj.bias`, [h]],
        [`${b}ln_2.weight`, [h]],
        [`${b}ln_2.bias`, [h]],
        [`${b}mlp.c_fc.weight`, [h, f]],
        [`${b}mlp.c_fc.bias`, [f]],
        [`${b}mlp.c_proj.weight`, [f, h]],
        [`${b}mlp.c_proj.bias`, [h]],
      );
      if (options.extra) shapes.push([`${b}attn.bias`, [1, 1, m.maxSeq, m.maxSeq]]);
    }
    shapes.push([`${p}ln_f.weight`, [h]], [`${p}ln_f.bias`, [h]]);
    if (options.withLmHead || !m.tiedEmbeddings) shapes.push(['lm_head.weight', [m.vocab, h]]);
  } else {
    const p = options.prefix ?? 'model.';
    shapes.push([`${p}embed_tokens.weight`, [m.vocab, h]]);
    for (let l = 0; l < m.layers; l++) {
      const b = `${p}layers.${l}.`;
      shapes.push(
        [`${b}input_layernorm.weight`, [h]],
        [`${b}self_attn.q_proj.weight`, [qd, h]],
        [`${b}self_attn.k_proj.weight`, [kvd, h]],
        [`${b}self_attn.v_proj.weight`, [kvd, h]],
        [`${b}self_attn.o_proj.weight`, [h, qd]],
        [`${b}post_attention_layernorm.weight`, [h]],
        [`${b}mlp.gate_proj.weight`, [f, h]],
        [`${b}mlp.up_proj.weight`, [f, h]],
        [`${b}mlp.down_proj.weight`, [h, f]],
      );
      if (options.extra) shapes.push([`${b}self_attn.rotary_emb.inv_freq`, [a.headDim / 2]]);
    }
    shapes.push([`${p}norm.weight`, [h]]);
    if (options.withLmHead || !m.tiedEmbeddings) shapes.push(['lm_head.weight', [m.vocab, h]]);
  }
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, shape] of shapes)
    tensors.set(name, {
      shape,
      values: valuesOf(
        name,
        shape.reduce((a, b) => a * b, 1),
        true,
      ),
    });
  return { tensors };
}

/** The checkpoint as writer input, in F32, F16 or BF16 (values are exact in bf16; f16 is exact for them too). */
export function toWrite(ck: Checkpoint, dtype: 'F32' | 'BF16' | 'F16' = 'F32', names?: string[]): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = {};
  for (const [name, t] of ck.tensors) {
    if (names && !names.includes(name)) continue;
    if (dtype === 'F32') out[name] = { dtype, shape: t.shape, data: t.values };
    else {
      const u = new Uint32Array(t.values.buffer);
      out[name] = {
        dtype,
        shape: t.shape,
        data: dtype === 'BF16' ? Uint16Array.from(u, (b) => b >>> 16) : Uint16Array.from(t.values, f16Exact),
      };
    }
  }
  return out;
}

/** f16 bits of a value that is exact in f16 (the test values: multiples of 1/8 below 16). */
function f16Exact(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const s = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  const e = Math.floor(Math.log2(a));
  const m = a / 2 ** e - 1;
  return s | ((e + 15) << 10) | Math.round(m * 1024);
}

/** The full graph tensor `name` (instance name) from the checkpoint — an independent reference for names.ts. */
export function referenceTensor(m: GraphModel, ck: Checkpoint, name: string, shape: number[], prefix?: string): Float32Array {
  const get = (n: string) => {
    const t = ck.tensors.get(n);
    if (!t) throw new Error(`reference: no ${n}`);
    return t;
  };
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const copyRows = (src: { shape: number[]; values: Float32Array }, rows: number) => out.set(src.values.subarray(0, rows * shape[1]!));
  const transposeOf = (src: { shape: number[]; values: Float32Array }, colBegin: number, colEnd: number) => {
    // out[o][i] = src[i][colBegin + o]
    const [rows, cols] = src.shape as [number, number];
    for (let o = 0; o < colEnd - colBegin; o++) for (let i = 0; i < rows; i++) out[o * rows + i] = src.values[i * cols + colBegin + o]!;
  };
  const { attention: a } = uniformLayer(m);
  const qd = a.heads * a.headDim;
  const kvd = a.kvHeads * a.headDim;
  const thirds: Record<string, [number, number]> = { q: [0, qd], k: [qd, qd + kvd], v: [qd + kvd, qd + 2 * kvd] };
  if (m.arch === 'gpt2') {
    const p = prefix ?? 'transformer.';
    if (name === 'embedding.weight' || (name === 'output.weight' && m.tiedEmbeddings)) copyRows(get(`${p}wte.weight`), m.vocab);
    else if (name === 'output.weight') copyRows(get('lm_head.weight'), m.vocab);
    else if (name === 'positions.weight') copyRows(get(`${p}wpe.weight`), m.maxSeq);
    else if (name.startsWith('final_norm.')) out.set(get(`${p}ln_f.${name.split('.')[1]}`).values);
    else {
      const [, l, a, b, kind] = /^layers\.(\d+)\.([a-z_]+)\.?([a-z]*)\.(weight|bias)$/.exec(name)!;
      const base = `${p}h.${l}.`;
      if (a === 'attn_norm') out.set(get(`${base}ln_1.${kind}`).values);
      else if (a === 'mlp_norm') out.set(get(`${base}ln_2.${kind}`).values);
      else if (a === 'attn' && thirds[b!]) {
        const [c0, c1] = thirds[b!]!;
        if (kind === 'weight') transposeOf(get(`${base}attn.c_attn.weight`), c0, c1);
        else out.set(get(`${base}attn.c_attn.bias`).values.subarray(c0, c1));
      } else {
        const src = ({ 'attn.o': 'attn.c_proj', 'mlp.up': 'mlp.c_fc', 'mlp.down': 'mlp.c_proj' } as Record<string, string>)[`${a}.${b}`]!;
        const t = get(`${base}${src}.${kind}`);
        if (kind === 'weight') transposeOf(t, 0, t.shape[1]!);
        else out.set(t.values);
      }
    }
    return out;
  }
  const p = prefix ?? 'model.';
  if (name === 'embedding.weight' || (name === 'output.weight' && m.tiedEmbeddings)) copyRows(get(`${p}embed_tokens.weight`), m.vocab);
  else if (name === 'output.weight') copyRows(get('lm_head.weight'), m.vocab);
  else if (name === 'final_norm.weight') out.set(get(`${p}norm.weight`).values);
  else {
    const [, l, part] = /^layers\.(\d+)\.(.+)\.weight$/.exec(name)!;
    const hf = {
      attn_norm: 'input_layernorm',
      mlp_norm: 'post_attention_layernorm',
      'attn.q': 'self_attn.q_proj',
      'attn.k': 'self_attn.k_proj',
      'attn.v': 'self_attn.v_proj',
      'attn.o': 'self_attn.o_proj',
      'mlp.gate': 'mlp.gate_proj',
      'mlp.up': 'mlp.up_proj',
      'mlp.down': 'mlp.down_proj',
    }[part!]!;
    out.set(get(`${p}layers.${l}.${hf}.weight`).values);
  }
  return out;
}

/** A device's shard of a full tensor, by the graph's shard list (tensor-parallel axes only). */
export function referenceShard(full: Float32Array, shape: number[], tensor: GraphTensor, tensorRank: number): Float32Array {
  let region = shape.map((n) => [0, n] as [number, number]);
  for (const s of tensor.shards) {
    if (s.over !== 'tensor') continue;
    const idx = Math.floor(tensorRank / (s.replicas ?? 1));
    const [b, e] = region[s.dim]!;
    const len = (e - b) / s.parts;
    region = region.map((r, i) => (i === s.dim ? [b + idx * len, b + (idx + 1) * len] : r));
  }
  const out: number[] = [];
  if (shape.length === 1) for (let i = region[0]![0]; i < region[0]![1]; i++) out.push(full[i]!);
  else
    for (let r = region[0]![0]; r < region[0]![1]; r++)
      for (let c = region[1]![0]; c < region[1]![1]; c++) out.push(full[r * shape[1]! + c]!);
  return Float32Array.from(out);
}
