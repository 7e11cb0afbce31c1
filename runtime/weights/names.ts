/**
 * Hugging Face checkpoint names ↔ parplan graph names, as data.
 *
 * Each graph weight (an instance name such as `layers.3.attn.q.weight`) maps to a
 * `SourceMapping`: the checkpoint tensor it comes from, the shape that tensor must
 * have, and how the graph tensor is cut from it — a range of one source axis (q, k
 * and v are thirds of GPT-2's fused `c_attn`) and a transpose (GPT-2's Conv1D
 * stores [in, out]; the graph uses PyTorch Linear's [out, in]). `sourceSlice`
 * composes a mapping with a shard of the graph tensor, so a tensor-parallel shard
 * of a fused, transposed tensor still reads only its own bytes (a strided read).
 *
 * The Llama family (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM` with its
 * q/k/v biases, `Qwen3ForCausalLM` with `self_attn.q_norm` / `k_norm`; also without the
 * `model.` prefix; `Gemma2ForCausalLM` with four norms per layer: `post_attention_layernorm` is
 * then the attention output's norm, `pre_feedforward_layernorm` and `post_feedforward_layernorm`
 * the MLP's), its Mixture-of-Experts checkpoints (`MixtralForCausalLM`:
 * `block_sparse_moe.gate` and `block_sparse_moe.experts.{e}.w1/w3/w2` for gate/up/down;
 * `Qwen3MoeForCausalLM`: `mlp.gate` and `mlp.experts.{e}.gate_proj/up_proj/down_proj`), whose
 * per-expert tensors stack into the graph's [experts, …] tensors (`experts`: a device reads
 * only its own experts' tensors), and GPT-2 (`GPT2LMHeadModel`, with or without the `transformer.` prefix).
 */
import type { GraphModel } from '../../src/graph/types.js';
import { gqaAt, type LayerStructure } from '../../src/model.js';
import type { Range } from './slice.js';

export type HfArch = 'llama' | 'gpt2';

/** The model dimensions the mappings need (a `Graph`'s `model` has them all). */
export type MappingModel = Pick<GraphModel, 'arch' | 'hidden' | 'vocab' | 'vocabPadded' | 'maxSeq' | 'tiedEmbeddings' | 'normsPerLayer'> &
  LayerStructure;

/** Which spelling of the names a checkpoint uses: `model.` / `transformer.` or none. */
export interface Naming {
  arch: HfArch;
  prefix: string;
  /** MoE tensors: Mixtral's `block_sparse_moe` (w1/w3/w2) or Qwen-MoE's `mlp` (gate/up/down_proj); absent: Qwen-MoE's. */
  moe?: 'mixtral' | 'qwen';
}

export interface SourceMapping {
  /** The graph tensor (instance name). */
  graph: string;
  /** The checkpoint tensor. */
  source: string;
  /** The shape the checkpoint tensor must have. */
  sourceShape: number[];
  /** `sourceShape[0]` may be anything up to this (a checkpoint with a padded vocabulary, a longer position table). */
  maxSourceRows?: number;
  /** The part of the source this graph tensor is, in source coordinates (before the transpose). */
  range?: { axis: number; begin: number; end: number };
  /** The graph tensor is the transpose of the (ranged) source: Conv1D [in, out] → Linear [out, in]. */
  transpose?: boolean;
  /** Graph rows from the source: [0, rows); the graph's rows past it are zero (vocabulary padding). */
  rows?: number;
  /** What the mapping is, for messages. */
  note?: string;
  /**
   * The graph tensor stacks one source tensor per expert along a new first dimension (MoE):
   * expert e comes from `experts[e]` (shape `sourceShape`; `source` is expert 0's, for messages).
   */
  experts?: string[];
}

export function isHfArch(arch: string): arch is HfArch {
  return arch === 'llama' || arch === 'gpt2';
}

/** The canonical spelling: `model.` for Llama, `transformer.` for GPT-2. */
export function canonicalNaming(arch: HfArch): Naming {
  return { arch, prefix: arch === 'llama' ? 'model.' : 'transformer.' };
}

/** The spelling a checkpoint's names use (canonical when neither is recognisable). */
export function detectNaming(arch: HfArch, names: Iterable<string>): Naming {
  const canonical = canonicalNaming(arch);
  let bare = false;
  let prefixed = false;
  let mixtral = false;
  for (const n of names) {
    if (n.startsWith(canonical.prefix)) prefixed = true;
    else if (arch === 'llama' ? /^(embed_tokens|layers\.\d+|norm)\./.test(n) : /^(wte|wpe|h\.\d+|ln_f)\./.test(n)) bare = true;
    if (n.includes('.block_sparse_moe.')) mixtral = true;
  }
  const moe = mixtral ? { moe: 'mixtral' as const } : {};
  return prefixed || !bare ? { ...canonical, ...moe } : { arch, prefix: '', ...moe };
}

const LLAMA_NORMS: Record<string, string> = { attn_norm: 'input_layernorm', mlp_norm: 'post_attention_layernorm' };
/** Gemma2DecoderLayer's four norms (HF modeling_gemma2.py). */
const GEMMA_NORMS: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_post_norm: 'post_attention_layernorm',
  mlp_norm: 'pre_feedforward_layernorm',
  mlp_post_norm: 'post_feedforward_layernorm',
};

/** A Llama-family layer's norms by graph name, for two or four norms per layer. */
function llamaNorms(normsPerLayer: number | undefined): Record<string, string> {
  return (normsPerLayer ?? 2) === 4 ? GEMMA_NORMS : LLAMA_NORMS;
}
const LLAMA_PROJ: Record<string, string> = {
  'attn.q': 'self_attn.q_proj',
  'attn.k': 'self_attn.k_proj',
  'attn.v': 'self_attn.v_proj',
  'attn.o': 'self_attn.o_proj',
  'mlp.gate': 'mlp.gate_proj',
  'mlp.up': 'mlp.up_proj',
  'mlp.down': 'mlp.down_proj',
};
/** Qwen3's per-head RMSNorm gains on q and k ([head_dim]). */
const LLAMA_HEAD_NORMS: Record<string, string> = { 'attn.q_norm': 'self_attn.q_norm', 'attn.k_norm': 'self_attn.k_norm' };
const GPT2_NORMS: Record<string, string> = { attn_norm: 'ln_1', mlp_norm: 'ln_2' };

const LAYER = /^layers\.(\d+)\.(.+)\.(weight|bias)$/;

/**
 * Where graph weight `graph` (an instance name) comes from in a checkpoint of
 * `model.arch`; undefined when the architecture has no such tensor.
 */
export function sourceFor(
  model: MappingModel,
  graph: string,
  naming: Naming = canonicalNaming(model.arch as HfArch),
): SourceMapping | undefined {
  if (!isHfArch(model.arch)) return undefined;
  return model.arch === 'llama' ? llamaSource(model, graph, naming.prefix, naming) : gpt2Source(model, graph, naming.prefix);
}

function dims(model: MappingModel) {
  return { h: model.hidden, v: model.vocab, vp: model.vocabPadded };
}

/** The sizes of layer `l`'s projections. */
function layerDims(model: MappingModel, l: string) {
  const { attention: a, mlp } = gqaAt(model, Number(l), 'the weight loader');
  return { qd: a.heads * a.headDim, kvd: a.kvHeads * a.headDim, f: mlp.kind === 'dense' ? mlp.ffn : 0 };
}

/** A MoE layer's router and stacked experts (`mlp.router`, `mlp.experts.{gate,up,down}`) in a Mixtral or Qwen-MoE checkpoint. */
function moeSource(model: MappingModel, graph: string, base: string, part: string, l: string, naming: Naming): SourceMapping | undefined {
  const mlp = gqaAt(model, Number(l), 'the weight loader').mlp;
  if (mlp.kind !== 'moe') return undefined;
  const mixtral = naming.moe === 'mixtral';
  const block = `${base}${mixtral ? 'block_sparse_moe' : 'mlp'}`;
  const h = model.hidden;
  const f = mlp.expertFfn;
  if (part === 'mlp.router') return { graph, source: `${block}.gate.weight`, sourceShape: [mlp.experts, h] };
  const which = /^mlp\.experts\.(gate|up|down)$/.exec(part)?.[1] as 'gate' | 'up' | 'down' | undefined;
  if (which === undefined) return undefined;
  const name = { gate: mixtral ? 'w1' : 'gate_proj', up: mixtral ? 'w3' : 'up_proj', down: mixtral ? 'w2' : 'down_proj' }[which];
  const experts = Array.from({ length: mlp.experts }, (_, e) => `${block}.experts.${e}.${name}.weight`);
  return {
    graph,
    source: experts[0]!,
    sourceShape: which === 'down' ? [h, f] : [f, h],
    experts,
    note: `expert e's ${name} for row e`,
  };
}

function llamaSource(model: MappingModel, graph: string, p: string, naming: Naming): SourceMapping | undefined {
  const { h, v, vp } = dims(model);
  const vocab = (source: string): SourceMapping => ({ graph, source, sourceShape: [v, h], maxSourceRows: vp, rows: v });
  switch (graph) {
    case 'embedding.weight':
      return vocab(`${p}embed_tokens.weight`);
    case 'output.weight':
      return model.tiedEmbeddings ? { ...vocab(`${p}embed_tokens.weight`), note: 'tied to the embedding' } : vocab('lm_head.weight');
    case 'final_norm.weight':
    case 'final_norm.bias':
      return { graph, source: `${p}norm.${graph.split('.')[1]}`, sourceShape: [h] };
  }
  const m = LAYER.exec(graph);
  if (m === null) return undefined;
  const [, l, part, kind] = m as unknown as [string, string, string, 'weight' | 'bias'];
  const base = `${p}layers.${l}.`;
  const norms = llamaNorms(model.normsPerLayer);
  if (norms[part] !== undefined) return { graph, source: `${base}${norms[part]}.${kind}`, sourceShape: [h] };
  if (LLAMA_HEAD_NORMS[part] !== undefined) {
    const d = gqaAt(model, Number(l), 'the weight loader').attention.headDim;
    return { graph, source: `${base}${LLAMA_HEAD_NORMS[part]}.${kind}`, sourceShape: [d] };
  }
  if (kind === 'weight' && part.startsWith('mlp.') && gqaAt(model, Number(l), 'the weight loader').mlp.kind === 'moe')
    return moeSource(model, graph, base, part, l, naming);
  const proj = LLAMA_PROJ[part];
  if (proj === undefined) return undefined;
  const { qd, kvd, f } = layerDims(model, l);
  const shapes: Record<string, [number, number]> = {
    'attn.q': [qd, h],
    'attn.k': [kvd, h],
    'attn.v': [kvd, h],
    'attn.o': [h, qd],
    'mlp.gate': [f, h],
    'mlp.up': [f, h],
    'mlp.down': [h, f],
  };
  const shape = shapes[part]!;
  return { graph, source: `${base}${proj}.${kind}`, sourceShape: kind === 'weight' ? [...shape] : [shape[0]] };
}

function gpt2Source(model: MappingModel, graph: string, p: string): SourceMapping | undefined {
  const { h, v, vp } = dims(model);
  switch (graph) {
    case 'embedding.weight':
      return { graph, source: `${p}wte.weight`, sourceShape: [v, h], maxSourceRows: vp, rows: v };
    case 'output.weight':
      return model.tiedEmbeddings
        ? { graph, source: `${p}wte.weight`, sourceShape: [v, h], maxSourceRows: vp, rows: v, note: 'tied to the embedding' }
        : { graph, source: 'lm_head.weight', sourceShape: [v, h], maxSourceRows: vp, rows: v };
    case 'positions.weight':
      return {
        graph,
        source: `${p}wpe.weight`,
        sourceShape: [model.maxSeq, h],
        maxSourceRows: Number.MAX_SAFE_INTEGER,
        rows: model.maxSeq,
      };
    case 'final_norm.weight':
    case 'final_norm.bias':
      return { graph, source: `${p}ln_f.${graph.split('.')[1]}`, sourceShape: [h] };
  }
  const m = LAYER.exec(graph);
  if (m === null) return undefined;
  const [, l, part, kind] = m as unknown as [string, string, string, 'weight' | 'bias'];
  const base = `${p}h.${l}.`;
  if (GPT2_NORMS[part] !== undefined) return { graph, source: `${base}${GPT2_NORMS[part]}.${kind}`, sourceShape: [h] };
  const { qd, kvd, f } = layerDims(model, l);
  const qkv = qd + 2 * kvd;
  const thirds: Record<string, [number, number]> = { 'attn.q': [0, qd], 'attn.k': [qd, qd + kvd], 'attn.v': [qd + kvd, qkv] };
  const third = thirds[part];
  if (third !== undefined) {
    const note = `the ${part.slice(5)} part of the fused c_attn`;
    return kind === 'weight'
      ? {
          graph,
          source: `${base}attn.c_attn.weight`,
          sourceShape: [h, qkv],
          range: { axis: 1, begin: third[0], end: third[1] },
          transpose: true,
          note: `${note} (Conv1D [in, out], transposed)`,
        }
      : { graph, source: `${base}attn.c_attn.bias`, sourceShape: [qkv], range: { axis: 0, begin: third[0], end: third[1] }, note };
  }
  // Conv1D [in, out] ↔ Linear [out, in]; biases are [out] in both.
  const conv: Record<string, { source: string; inOut: [number, number] }> = {
    'attn.o': { source: 'attn.c_proj', inOut: [qd, h] },
    'mlp.up': { source: 'mlp.c_fc', inOut: [h, f] },
    'mlp.down': { source: 'mlp.c_proj', inOut: [f, h] },
  };
  const c = conv[part];
  if (c === undefined) return undefined;
  return kind === 'weight'
    ? { graph, source: `${base}${c.source}.weight`, sourceShape: [...c.inOut], transpose: true, note: 'Conv1D [in, out], transposed' }
    : { graph, source: `${base}${c.source}.bias`, sourceShape: [c.inOut[1]] };
}

/**
 * The graph weights a checkpoint tensor feeds (GPT-2's `c_attn` feeds three); []
 * for tensors the graph does not use (GPT-2's attention-mask buffers, rotary
 * `inv_freq`, an `lm_head` absent from the graph).
 */
export function graphNamesFor(arch: HfArch, hfName: string, normsPerLayer = 2): string[] {
  if (arch === 'llama') {
    const n = hfName.startsWith('model.') ? hfName.slice('model.'.length) : hfName;
    if (hfName === 'lm_head.weight') return ['output.weight'];
    if (n === 'embed_tokens.weight') return ['embedding.weight'];
    const fn = /^norm\.(weight|bias)$/.exec(n);
    if (fn) return [`final_norm.${fn[1]}`];
    const m = /^layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
    if (m === null) return [];
    const [, l, part, kind] = m as unknown as [string, string, string, string];
    const norm = Object.entries(llamaNorms(normsPerLayer)).find(([, hf]) => hf === part);
    if (norm) return [`layers.${l}.${norm[0]}.${kind}`];
    const headNorm = Object.entries(LLAMA_HEAD_NORMS).find(([, hf]) => hf === part);
    if (headNorm) return [`layers.${l}.${headNorm[0]}.${kind}`];
    const moe = /^(?:block_sparse_moe|mlp)\.(?:(gate)|experts\.\d+\.(w1|w3|w2|gate_proj|up_proj|down_proj))$/.exec(part);
    if (moe && (moe[1] !== undefined || kind === 'weight')) {
      const which = { w1: 'gate', gate_proj: 'gate', w3: 'up', up_proj: 'up', w2: 'down', down_proj: 'down' }[moe[2] ?? ''];
      // mlp.gate is Qwen-MoE's router; a dense MLP's gate is mlp.gate_proj
      return [`layers.${l}.mlp.${which ? `experts.${which}` : 'router'}.${kind}`];
    }
    const proj = Object.entries(LLAMA_PROJ).find(([, hf]) => hf === part);
    return proj ? [`layers.${l}.${proj[0]}.${kind}`] : [];
  }
  if (hfName === 'lm_head.weight') return ['output.weight'];
  const n = hfName.startsWith('transformer.') ? hfName.slice('transformer.'.length) : hfName;
  if (n === 'wte.weight') return ['embedding.weight'];
  if (n === 'wpe.weight') return ['positions.weight'];
  const fn = /^ln_f\.(weight|bias)$/.exec(n);
  if (fn) return [`final_norm.${fn[1]}`];
  const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
  if (m === null) return [];
  const [, l, part, kind] = m as unknown as [string, string, string, string];
  const norm = Object.entries(GPT2_NORMS).find(([, hf]) => hf === part);
  if (norm) return [`layers.${l}.${norm[0]}.${kind}`];
  const parts: Record<string, string[]> = {
    'attn.c_attn': ['attn.q', 'attn.k', 'attn.v'],
    'attn.c_proj': ['attn.o'],
    'mlp.c_fc': ['mlp.up'],
    'mlp.c_proj': ['mlp.down'],
  };
  return (parts[part] ?? []).map((g) => `layers.${l}.${g}.${kind}`);
}

/** The shape of the graph tensor a mapping yields before vocabulary padding (graph orientation). */
export function mappedShape(m: SourceMapping): number[] {
  if (m.experts) return [m.experts.length, ...m.sourceShape];
  const s = [...m.sourceShape];
  if (m.range) s[m.range.axis] = m.range.end - m.range.begin;
  if (m.rows !== undefined) s[0] = m.rows;
  return m.transpose ? [s[1]!, s[0]!] : s;
}

export interface SourceSlice {
  /** The slice of the checkpoint tensor to read (source coordinates). */
  slice: Range[];
  /** Its shape as read. */
  readShape: number[];
  /** Transpose [readShape[0], readShape[1]] after reading. */
  transpose: boolean;
  /** Graph rows (after the transpose) that come from the source; the region's remaining rows are zero. */
  validRows: number;
}

/**
 * The part of the checkpoint tensor behind a region of the graph tensor (one range
 * per graph dimension): the graph region's rows past `rows` are padding; the rest
 * maps through the transpose and the range.
 */
export function sourceSlice(m: SourceMapping, region: readonly Range[]): SourceSlice {
  if (region.length !== m.sourceShape.length)
    throw new Error(`${m.graph}: region of rank ${region.length} for a source of rank ${m.sourceShape.length}`);
  const r = region.map(([b, e]) => [b, e] as [number, number]);
  let validRows = r[0]![1] - r[0]![0];
  if (m.rows !== undefined) {
    const end = Math.min(r[0]![1], m.rows);
    const begin = Math.min(r[0]![0], end);
    validRows = end - begin;
    r[0] = [begin, end];
  }
  const s = m.transpose ? [r[1]!, r[0]!] : r;
  if (m.range) {
    const a = s[m.range.axis]!;
    s[m.range.axis] = [a[0] + m.range.begin, a[1] + m.range.begin];
  }
  return { slice: s, readShape: s.map(([b, e]) => e - b), transpose: m.transpose === true, validRows };
}
