/**
 * The model description: one type shared by the checked plan (`ModelSpec`), the graph
 * (`GraphModel`) and the CPU reference model (runtime/reference/model.ts). Model-wide
 * facts sit at the top; the structure of the layers is a default `layer` plus ranges of
 * layers that differ (`overrides`), so a 126-layer model stays a few lines of JSON and a
 * new kind of attention or MLP (MoE, MLA, sliding window, local/global alternation) is a
 * new `kind`, not another copy of the model's shape. Read a layer with `layerAt` or the
 * runs of `layerRuns`, never `model.layer` directly, so that overrides are honoured.
 */
import type { Dtype } from './facts/dtypes.js';
import { defaultValue, type Arch } from './facts/keys.js';

export type { Arch } from './facts/keys.js';
export type Norm = 'rmsnorm' | 'layernorm';
export type Activation = 'swiglu' | 'gelu';
export type Positions = 'rope' | 'learned';

/** Dense softmax attention over every earlier position; kvHeads ≤ heads key/value heads (multi-head when equal, multi-query at 1). */
export interface GqaAttention {
  kind: 'gqa';
  /** Query heads. */
  heads: number;
  /** Key/value heads; divides heads. */
  kvHeads: number;
  headDim: number;
}

export type AttentionSpec = GqaAttention;

/** A dense MLP: up (and gate, for swiglu) from hidden to ffn, down back to hidden. */
export interface DenseMlp {
  kind: 'dense';
  activation: Activation;
  ffn: number;
}

export type MlpSpec = DenseMlp;

/** One transformer layer: attention, then the MLP, each behind a norm and a residual. */
export interface LayerSpec {
  attention: AttentionSpec;
  mlp: MlpSpec;
}

/** Layers first … last (inclusive) whose attention and/or MLP differ from the default layer. */
export interface LayerOverride {
  first: number;
  last: number;
  attention?: AttentionSpec;
  mlp?: MlpSpec;
}

export interface Model {
  name: string;
  arch: Arch;
  layers: number;
  hidden: number;
  /** Unpadded vocabulary, as in the tokenizer and the Hugging Face config. */
  vocab: number;
  /** Most positions a sequence may hold (for learned positions, the rows of the position table). */
  maxSeq: number;
  /** Data type of the weights. */
  dtype: Dtype;
  norm: Norm;
  /** Linear layers (attention and MLP) have biases. */
  bias: boolean;
  positions: Positions;
  /** The output layer shares the token embedding. */
  tiedEmbeddings: boolean;
  /** LayerNorm / RMSNorm epsilon. */
  normEps: number;
  /** RoPE base (positions = rope). */
  ropeTheta: number;
  /** Every layer's structure, unless an override covers it. */
  layer: LayerSpec;
  /** Ranges of layers that differ from `layer`, disjoint, ascending; absent when every layer is alike. */
  overrides?: LayerOverride[];
}

export const DEFAULT_NORM_EPS = 1e-5;
export const DEFAULT_ROPE_THETA = 10000;

/** What an architecture implies unless the model overrides it: the key table's arch presets (src/facts/keys.ts), the one source. */
const presets = new Map<Arch, ReturnType<typeof presetOf>>();

export function archPreset(arch: Arch): ReturnType<typeof presetOf> {
  let p = presets.get(arch);
  if (!p) presets.set(arch, (p = presetOf(arch)));
  return p;
}

function presetOf(arch: Arch): {
  norm: Norm;
  activation: Activation;
  bias: boolean;
  positions: Positions;
  tiedEmbeddings: boolean;
} {
  return {
    norm: defaultValue('model', 'norm', arch) as Norm,
    activation: defaultValue('model', 'activation', arch) as Activation,
    bias: defaultValue('model', 'bias', arch) as boolean,
    positions: defaultValue('model', 'positions', arch) as Positions,
    tiedEmbeddings: defaultValue('model', 'tied_embeddings', arch) as boolean,
  };
}

/** What the layer accessors read of a model. */
export type LayerStructure = Pick<Model, 'name' | 'layers' | 'layer' | 'overrides'>;

/** The structure of layer `l` (0-based). */
export function layerAt(model: LayerStructure, l: number): LayerSpec {
  if (!Number.isInteger(l) || l < 0 || l >= model.layers)
    throw new RangeError(`model '${model.name}' has no layer ${l} (layers 0 … ${model.layers - 1})`);
  const o = model.overrides?.find((r) => r.first <= l && l <= r.last);
  if (!o) return model.layer;
  return { attention: o.attention ?? model.layer.attention, mlp: o.mlp ?? model.layer.mlp };
}

/** A range of consecutive layers with the same structure. */
export interface LayerRun {
  first: number;
  /** Inclusive. */
  last: number;
  layer: LayerSpec;
}

/** Layers first … last (default: all) as runs of alike layers, in order: sums over layers cost one term per run. */
export function layerRuns(model: LayerStructure, first = 0, last = model.layers - 1): LayerRun[] {
  if (!model.overrides || model.overrides.length === 0) return [{ first, last, layer: model.layer }];
  const cuts = new Set([first, last + 1]);
  for (const o of model.overrides ?? []) {
    if (o.first > first && o.first <= last) cuts.add(o.first);
    if (o.last + 1 > first && o.last + 1 <= last) cuts.add(o.last + 1);
  }
  const bounds = [...cuts].sort((a, b) => a - b);
  const runs: LayerRun[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) runs.push({ first: bounds[i]!, last: bounds[i + 1]! - 1, layer: layerAt(model, bounds[i]!) });
  return runs;
}

/** Sum of `f(layer)` over layers first … last (default: all), one call per run. */
export function sumLayers(model: LayerStructure, f: (layer: LayerSpec) => number, first = 0, last = model.layers - 1): number {
  if (!model.overrides || model.overrides.length === 0) return (last - first + 1) * f(model.layer);
  return layerRuns(model, first, last).reduce((s, r) => s + (r.last - r.first + 1) * f(r.layer), 0);
}

/**
 * The one layer structure of a model whose layers are all alike; `what` names the code
 * that needs it. Stages that do not yet handle per-layer structure (the checker's
 * per-rank facts, lowering, the runtime) read the layer here, so a model they cannot
 * run is refused rather than silently treated as its first layer.
 */
export function uniformLayer(model: LayerStructure, what = 'this stage'): LayerSpec {
  if (!model.overrides || model.overrides.length === 0) return model.layer;
  const runs = layerRuns(model);
  const first = runs[0]!.layer;
  if (runs.some((r) => !sameLayer(r.layer, first)))
    throw new Error(`model '${model.name}': ${what} needs every layer alike (layers differ in attention or MLP)`);
  return first;
}

export function sameLayer(a: LayerSpec, b: LayerSpec): boolean {
  return sameFields(a.attention, b.attention) && sameFields(a.mlp, b.mlp);
}

function sameFields(a: object, b: object): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}

/**
 * The shard of `layer` one of `tensor` ranks holds (Megatron): heads/t, ffn/t, and the KV heads
 * split when tensor divides kv_heads, else one KV head per rank (replicated, as vLLM does).
 */
/** shardLayer's results, by layer and tensor degree: the memory and cost models ask for the same shard many times. */
const shards = new WeakMap<LayerSpec, Map<number, LayerSpec>>();

export function shardLayer(layer: LayerSpec, tensor: number): LayerSpec {
  let byDegree = shards.get(layer);
  if (!byDegree) shards.set(layer, (byDegree = new Map()));
  let shard = byDegree.get(tensor);
  if (!shard) byDegree.set(tensor, (shard = shardOf(layer, tensor)));
  return shard;
}

function shardOf(layer: LayerSpec, tensor: number): LayerSpec {
  const a = layer.attention;
  return {
    attention: { ...a, heads: a.heads / tensor, kvHeads: a.kvHeads >= tensor ? a.kvHeads / tensor : 1 },
    mlp: { ...layer.mlp, ffn: layer.mlp.ffn / tensor },
  };
}

/** A model's sizes, flat, as a config file lists them; `buildModel` turns them into a Model. */
export interface ModelSizes {
  layers: number;
  hidden: number;
  heads: number;
  vocab: number;
  maxSeq: number;
  name?: string;
  /** Default heads. */
  kvHeads?: number;
  /** Default hidden / heads. */
  headDim?: number;
  /** Default 4 × hidden for gpt2; required for llama. */
  ffn?: number;
  activation?: Activation;
  dtype?: Dtype;
  norm?: Norm;
  bias?: boolean;
  positions?: Positions;
  tiedEmbeddings?: boolean;
  normEps?: number;
  ropeTheta?: number;
  overrides?: LayerOverride[];
}

/** The MLP size an architecture implies when none is given: 4 × hidden for gpt2; llama has none (undefined). */
export function defaultFfn(arch: Arch, hidden: number): number | undefined {
  return arch === 'gpt2' ? 4 * hidden : undefined;
}

/** A model of `arch` with every layer alike (unless `overrides`): the architecture's presets, then `s`. */
export function buildModel(arch: Arch, s: ModelSizes): Model {
  const preset = archPreset(arch);
  const ffn = s.ffn ?? defaultFfn(arch, s.hidden);
  if (ffn === undefined) throw new Error(`model ${s.name ?? arch}: ${arch} needs ffn`);
  let next = 0;
  for (const o of s.overrides ?? []) {
    // layerAt takes the first override covering a layer: overlaps would hide one silently.
    if (!(Number.isInteger(o.first) && Number.isInteger(o.last) && next <= o.first && o.first <= o.last && o.last < s.layers)) {
      throw new Error(
        `model ${s.name ?? arch}: override layers ${o.first} … ${o.last} must lie in 0 … ${s.layers - 1}, in order, without overlap`,
      );
    }
    next = o.last + 1;
  }
  return {
    name: s.name ?? arch,
    arch,
    layers: s.layers,
    hidden: s.hidden,
    vocab: s.vocab,
    maxSeq: s.maxSeq,
    dtype: s.dtype ?? (defaultValue('model', 'dtype') as Dtype),
    norm: s.norm ?? preset.norm,
    bias: s.bias ?? preset.bias,
    positions: s.positions ?? preset.positions,
    tiedEmbeddings: s.tiedEmbeddings ?? preset.tiedEmbeddings,
    normEps: s.normEps ?? DEFAULT_NORM_EPS,
    ropeTheta: s.ropeTheta ?? DEFAULT_ROPE_THETA,
    layer: {
      attention: { kind: 'gqa', heads: s.heads, kvHeads: s.kvHeads ?? s.heads, headDim: s.headDim ?? s.hidden / s.heads },
      mlp: { kind: 'dense', activation: s.activation ?? preset.activation, ffn },
    },
    ...(s.overrides && s.overrides.length > 0 ? { overrides: s.overrides } : {}),
  };
}

/** A GPT-2 model (defaults: ffn 4·hidden, gelu, layernorm, biases, learned positions, tied, eps 1e-5). */
export function gpt2Config(s: ModelSizes): Model {
  return buildModel('gpt2', s);
}

/** A Llama model (defaults: kvHeads = heads, headDim = hidden / heads, swiglu, rmsnorm, rope theta 10 000, eps 1e-5, untied). */
export function llamaConfig(s: ModelSizes & { ffn: number }): Model {
  return buildModel('llama', s);
}
