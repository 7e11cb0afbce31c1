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
/** swiglu: silu(gate)·up; geglu: gelu_tanh(gate)·up (Gemma); gelu: GELU, tanh approximation (GPT-2's gelu_new), no gate. */
export type Activation = 'swiglu' | 'geglu' | 'gelu';

/** Whether an activation gates: three MLP projections (gate, up, down) instead of two. */
export function gatedMlp(activation: Activation): boolean {
  return activation !== 'gelu';
}
export type Positions = 'rope' | 'learned';

/** Dense softmax attention over every earlier position; kvHeads ≤ heads key/value heads (multi-head when equal, multi-query at 1). */
export interface GqaAttention {
  kind: 'gqa';
  /** Query heads. */
  heads: number;
  /** Key/value heads; divides heads. */
  kvHeads: number;
  headDim: number;
  /** Sliding-window attention: a query sees at most `window` positions (itself included); absent: every earlier position. */
  window?: number;
  /** A learned sink logit per head that takes part in the softmax (gpt-oss); absent: none. */
  sinks?: boolean;
}

/**
 * Multi-head latent attention (DeepSeek-V2/V3): keys and values are compressed into one
 * kvLoraRank-wide latent plus a shared qkRopeHeadDim-wide rotary key, which is what the KV
 * cache stores; queries optionally through a qLoraRank bottleneck.
 */
export interface MlaAttention {
  kind: 'mla';
  heads: number;
  /** Rank of the query compression (q_a_proj, q_a_layernorm, q_b_proj); 0: one full q_proj. */
  qLoraRank: number;
  kvLoraRank: number;
  /** Per-head query/key dimension without rotary positions. */
  qkNopeHeadDim: number;
  /** Per-head query/key dimension with rotary positions (the key part is shared by all heads). */
  qkRopeHeadDim: number;
  vHeadDim: number;
}

export type AttentionSpec = GqaAttention | MlaAttention;

/** A dense MLP: up (and gate, for swiglu) from hidden to ffn, down back to hidden. */
export interface DenseMlp {
  kind: 'dense';
  activation: Activation;
  ffn: number;
}

/**
 * A Mixture-of-Experts MLP: a router (hidden → experts) picks topK of `experts` routed experts
 * per token, each a gated or plain MLP of width expertFfn; `sharedExperts` MLPs of width
 * sharedFfn see every token (DeepSeek, Qwen2-MoE), optionally behind a sigmoid gate.
 */
export interface MoeMlp {
  kind: 'moe';
  activation: Activation;
  /** Routed experts. */
  experts: number;
  /** Routed experts each token is sent to. */
  topK: number;
  /** Intermediate width of one routed expert. */
  expertFfn: number;
  /** Experts every token goes through (0: none). */
  sharedExperts: number;
  /** Intermediate width of one shared expert. */
  sharedFfn: number;
  /** A hidden → 1 sigmoid gate on the shared experts' output (Qwen2-MoE). */
  sharedGate: boolean;
  /** The router has a per-expert bias (gpt-oss's router bias, DeepSeek-V3's score-correction bias). */
  routerBias: boolean;
  /** The top-k routing weights are renormalized to sum to 1 (Mixtral; Qwen's norm_topk_prob); false: softmax probabilities as they are. */
  normTopK: boolean;
}

export type MlpSpec = DenseMlp | MoeMlp;

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
  /** Linear layers (attention, MLP, experts, router) have biases. */
  bias: boolean;
  /** q, k and v projections have biases even without `bias` (Qwen2); absent: false. */
  qkvBias?: boolean;
  /** Norms per layer: 2 (before attention and MLP) or 4 (Gemma-2/3 also norm each sublayer's output); absent: 2. */
  normsPerLayer?: number;
  /** RMSNorms over head_dim on queries and keys (Qwen3, Gemma-3); absent: false. */
  qkNorm?: boolean;
  /** RoPE scaling for long contexts (no memory effect; the runtime and the exports carry it); absent: none. */
  ropeScaling?: RopeScaling;
  /** Attention scores soft-capped, cap · tanh(s / cap), before the softmax (Gemma-2); absent: none. */
  attnSoftcap?: number;
  /** Output logits soft-capped, cap · tanh(z / cap) (Gemma-2); absent: none. */
  logitSoftcap?: number;
  /** Scores are scaled by queryPreAttnScalar^−½ (Gemma); absent: head_dim^−½. */
  queryPreAttnScalar?: number;
  /** Token embeddings × √hidden, rounded to the weights' dtype (Gemma); absent: false. */
  scaleEmbeddings?: boolean;
  /** RMSNorms scale by normOffset + weight (Gemma: 1); absent: 0. */
  normOffset?: number;
  /** Weights stored quantized (linear layers of the transformer; embeddings stay in `dtype`); absent: none. */
  quant?: Quantization;
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

/** RoPE scaling as Hugging Face's `rope_scaling` gives it; fields other than type and factor as the type uses them. */
export interface RopeScaling {
  type: 'linear' | 'dynamic' | 'yarn' | 'llama3';
  factor: number;
  /** The context the model was trained with before scaling (llama3, yarn). */
  originalMaxSeq?: number;
  /** llama3: wavelengths above original / low are scaled by factor, below original / high kept. */
  lowFreqFactor?: number;
  highFreqFactor?: number;
  /** yarn: the rotations blended between unscaled and scaled. */
  betaFast?: number;
  betaSlow?: number;
}

export type QuantMethod = 'awq' | 'gptq' | 'fp8' | 'mxfp4' | 'nf4';

/**
 * Quantized weights: `method` fixes the storage (awq/gptq: int4 with per-group fp16 scales and
 * packed int4 zeros; fp8: e4m3 with fp32 scales; mxfp4: 4-bit blocks of 32 with one 8-bit scale;
 * nf4: bitsandbytes' 4-bit NormalFloat, an fp32 absmax per block of the flattened weight);
 * groupSize is the input channels sharing a scale (fp8: the edge of a square scale block, 0 per tensor;
 * nf4: the block of consecutive elements, bitsandbytes' blocksize).
 */
export interface Quantization {
  method: QuantMethod;
  groupSize: number;
  /** The output layer is quantized too (vLLM's `lm_head` in the quantization config; default false). */
  lmHead: boolean;
  /** nf4: double quantization (bitsandbytes compress_statistics, QLoRA): the absmax values 8-bit in blocks of 256. */
  double?: boolean;
}

/** The key table's defaults (src/facts/keys.ts), for models built without the checker. */
export const DEFAULT_NORM_EPS = defaultValue('model', 'norm_eps') as number;
export const DEFAULT_ROPE_THETA = defaultValue('model', 'rope_theta') as number;

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

/** A layer of the kinds every stage handles: grouped-query attention (full or in a sliding window) and a dense MLP. */
export interface DenseGqaLayer {
  attention: GqaAttention;
  mlp: DenseMlp;
}

/**
 * The one layer structure of a model whose layers are all alike but for their sliding windows,
 * dense and with grouped-query attention (a sliding window is the attention's `window`, which
 * the reader honours per layer: `denseGqaAt`; the layer returned is the first's); `what`
 * names the code that needs it. Stages that do not yet handle per-layer structure or the newer
 * kinds (MoE, MLA) read the layer here, so a
 * model they cannot run is refused rather than silently treated as its first layer.
 */
export function uniformLayer(model: LayerStructure, what = 'this stage'): DenseGqaLayer {
  return denseGqa(model.name, alikeLayer(model, what), what);
}

/** The first layer, refused unless every layer has its shapes. */
function alikeLayer(model: LayerStructure, what: string): LayerSpec {
  if (!model.overrides || model.overrides.length === 0) return model.layer;
  const runs = layerRuns(model);
  const layer = runs[0]!.layer;
  // A sliding window changes which keys a query sees, not any shape: layers that differ only in it are alike here (Gemma-2).
  if (runs.some((r) => !sameShape(r.layer, layer)))
    throw new Error(`model '${model.name}': ${what} needs every layer alike (layers differ in attention or MLP)`);
  return layer;
}

/** Layers alike but perhaps for their sliding windows: the same weights and buffers (Gemma-2's local and global layers). */
export function sameShape(a: LayerSpec, b: LayerSpec): boolean {
  return sameLayer(withoutWindow(a), withoutWindow(b));
}

/** The layer with full attention in place of its sliding window (the same shapes). */
function withoutWindow(layer: LayerSpec): LayerSpec {
  if (layer.attention.kind !== 'gqa' || layer.attention.window === undefined) return layer;
  const { window: _, ...attention } = layer.attention;
  return { ...layer, attention };
}

/** Layer `l` of a model, refused (as `uniformLayer` does) unless it is dense with full grouped-query attention. */
export function denseGqaAt(model: LayerStructure, l: number, what = 'this stage'): DenseGqaLayer {
  return denseGqa(model.name, layerAt(model, l), what);
}

/** A layer with grouped-query attention and a dense or Mixture-of-Experts MLP (what the WebGPU runtime and the CPU reference run). */
export interface GqaLayer {
  attention: GqaAttention;
  mlp: MlpSpec;
}

/** Layer `l` of a model, refused unless its attention is grouped-query (its MLP may be dense or MoE). */
export function gqaAt(model: LayerStructure, l: number, what = 'this stage'): GqaLayer {
  return gqa(model.name, layerAt(model, l), what);
}

/** `uniformLayer`, with a dense or MoE MLP. */
export function uniformGqaLayer(model: LayerStructure, what = 'this stage'): GqaLayer {
  return gqa(model.name, alikeLayer(model, what), what);
}

function gqa(name: string, layer: LayerSpec, what: string): GqaLayer {
  if (layer.attention.kind !== 'gqa')
    throw new Error(`model '${name}': ${what} handles grouped-query attention only, not ${describeLayer(layer)}`);
  return layer as GqaLayer;
}

function denseGqa(name: string, layer: LayerSpec, what: string): DenseGqaLayer {
  const { attention, mlp } = layer;
  if (attention.kind !== 'gqa' || mlp.kind !== 'dense')
    throw new Error(`model '${name}': ${what} handles dense layers with grouped-query attention only, not ${describeLayer(layer)}`);
  return layer as DenseGqaLayer; // the same object: callers compare and memoize by identity
}

/** Width of one head's query·key product: head_dim, or for MLA the no-rope plus rope parts. */
export function qkHeadDim(a: AttentionSpec): number {
  return a.kind === 'gqa' ? a.headDim : a.qkNopeHeadDim + a.qkRopeHeadDim;
}

/** Width of one head's values (what the output projection reads per head). */
export function vHeadDim(a: AttentionSpec): number {
  return a.kind === 'gqa' ? a.headDim : a.vHeadDim;
}

/** A layer's kinds in words: "MLA attention and a MoE MLP". */
export function describeLayer(layer: LayerSpec): string {
  const a = layer.attention;
  const att = a.kind === 'mla' ? 'MLA attention' : a.window !== undefined ? `sliding-window attention (${a.window})` : 'full attention';
  return `${att} and ${layer.mlp.kind === 'moe' ? 'a MoE' : 'a dense'} MLP`;
}

export function sameLayer(a: LayerSpec, b: LayerSpec): boolean {
  // The same object (a model's default layer, met again and again while lowering): no fields to compare.
  return a === b || (sameFields(a.attention, b.attention) && sameFields(a.mlp, b.mlp));
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

export function shardLayer<L extends LayerSpec>(layer: L, tensor: number): L {
  let byDegree = shards.get(layer);
  if (!byDegree) shards.set(layer, (byDegree = new Map()));
  let shard = byDegree.get(tensor);
  if (!shard) byDegree.set(tensor, (shard = shardOf(layer, tensor)));
  // shardOf keeps each part's kind, so the shard has the layer's type.
  return shard as L;
}

function shardOf(layer: LayerSpec, tensor: number): LayerSpec {
  const a = layer.attention;
  const m = layer.mlp;
  return {
    // MLA: heads split; the q/kv down-projections and their latent are replicated (Megatron-Core's MLA, vLLM).
    attention:
      a.kind === 'gqa'
        ? { ...a, heads: a.heads / tensor, kvHeads: a.kvHeads >= tensor ? a.kvHeads / tensor : 1 }
        : { ...a, heads: a.heads / tensor },
    // MoE: each expert's width splits over the tensor ranks (expert tensor parallelism = tensor), as do the shared experts.
    mlp: m.kind === 'dense' ? { ...m, ffn: m.ffn / tensor } : { ...m, expertFfn: m.expertFfn / tensor, sharedFfn: m.sharedFfn / tensor },
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
  /** Default 4 × hidden for gpt2; required for llama (the dense layers' width with moe). */
  ffn?: number;
  activation?: Activation;
  dtype?: Dtype;
  norm?: Norm;
  bias?: boolean;
  qkvBias?: boolean;
  normsPerLayer?: number;
  qkNorm?: boolean;
  positions?: Positions;
  tiedEmbeddings?: boolean;
  normEps?: number;
  ropeTheta?: number;
  ropeScaling?: RopeScaling;
  attnSoftcap?: number | undefined;
  logitSoftcap?: number | undefined;
  queryPreAttnScalar?: number | undefined;
  scaleEmbeddings?: boolean;
  normOffset?: number;
  /** Sliding-window attention on every layer, or with slidingWindowPattern on all but every n-th. */
  slidingWindow?: number;
  /** Layers n−1, 2n−1, … attend to the whole context (Gemma's sliding_window_pattern). */
  slidingWindowPattern?: number;
  sinks?: boolean;
  /** Mixture-of-Experts MLPs on every layer from denseLayers on. */
  moe?: {
    experts: number;
    topK: number;
    expertFfn: number;
    sharedExperts?: number;
    /** Default expertFfn. */
    sharedFfn?: number;
    sharedGate?: boolean;
    routerBias?: boolean;
    /** Default true. */
    normTopK?: boolean;
    /** Leading layers with a dense MLP of width ffn (default 0). */
    denseLayers?: number;
  };
  /** Multi-head latent attention instead of grouped-query attention (kvHeads and headDim then do not apply). */
  mla?: Omit<MlaAttention, 'kind' | 'heads' | 'qLoraRank'> & { qLoraRank?: number };
  quant?: Quantization;
  /** Explicit ranges of layers that differ, applied over the patterns above. */
  overrides?: LayerOverride[];
}

/** The MLP size an architecture implies when none is given: 4 × hidden for gpt2; llama has none (undefined). */
export function defaultFfn(arch: Arch, hidden: number): number | undefined {
  return arch === 'gpt2' ? 4 * hidden : undefined;
}

/** A model of `arch`: the architecture's presets, then `s`; layers alike unless a pattern, moe.denseLayers or `overrides` says otherwise. */
export function buildModel(arch: Arch, s: ModelSizes): Model {
  const preset = archPreset(arch);
  const name = s.name ?? arch;
  const ffn = s.ffn ?? defaultFfn(arch, s.hidden);
  if (ffn === undefined) throw new Error(`model ${name}: ${arch} needs ffn`);
  let next = 0;
  for (const o of s.overrides ?? []) {
    // layerAt takes the first override covering a layer: overlaps would hide one silently.
    if (!(Number.isInteger(o.first) && Number.isInteger(o.last) && next <= o.first && o.first <= o.last && o.last < s.layers)) {
      throw new Error(`model ${name}: override layers ${o.first} … ${o.last} must lie in 0 … ${s.layers - 1}, in order, without overlap`);
    }
    next = o.last + 1;
  }
  const activation = s.activation ?? preset.activation;
  const full: AttentionSpec = s.mla
    ? { kind: 'mla', heads: s.heads, qLoraRank: s.mla.qLoraRank ?? 0, ...s.mla }
    : {
        kind: 'gqa',
        heads: s.heads,
        kvHeads: s.kvHeads ?? s.heads,
        headDim: s.headDim ?? s.hidden / s.heads,
        ...(s.sinks ? { sinks: true } : {}),
      };
  const windowed: AttentionSpec = full.kind === 'gqa' && s.slidingWindow !== undefined ? { ...full, window: s.slidingWindow } : full;
  const dense: MlpSpec = { kind: 'dense', activation, ffn };
  const moe: MlpSpec | undefined = s.moe && {
    kind: 'moe',
    activation,
    experts: s.moe.experts,
    topK: s.moe.topK,
    expertFfn: s.moe.expertFfn,
    sharedExperts: s.moe.sharedExperts ?? 0,
    sharedFfn: s.moe.sharedFfn ?? s.moe.expertFfn,
    sharedGate: s.moe.sharedGate ?? false,
    routerBias: s.moe.routerBias ?? false,
    normTopK: s.moe.normTopK ?? true,
  };
  const pattern = s.slidingWindowPattern;
  const attentionAt = (l: number) => (pattern !== undefined && (l + 1) % pattern === 0 ? full : windowed);
  const mlpAt = (l: number) => (moe && l >= (s.moe?.denseLayers ?? 0) ? moe : dense);
  const { layer, overrides } = layersOf(s.layers, attentionAt, mlpAt, s.overrides);
  return {
    name,
    arch,
    layers: s.layers,
    hidden: s.hidden,
    vocab: s.vocab,
    maxSeq: s.maxSeq,
    dtype: s.dtype ?? (defaultValue('model', 'dtype') as Dtype),
    norm: s.norm ?? preset.norm,
    bias: s.bias ?? preset.bias,
    ...(s.qkvBias ? { qkvBias: true } : {}),
    ...(s.normsPerLayer !== undefined && s.normsPerLayer !== 2 ? { normsPerLayer: s.normsPerLayer } : {}),
    ...(s.qkNorm ? { qkNorm: true } : {}),
    positions: s.positions ?? preset.positions,
    tiedEmbeddings: s.tiedEmbeddings ?? preset.tiedEmbeddings,
    normEps: s.normEps ?? DEFAULT_NORM_EPS,
    ropeTheta: s.ropeTheta ?? DEFAULT_ROPE_THETA,
    ...(s.ropeScaling ? { ropeScaling: s.ropeScaling } : {}),
    ...(s.attnSoftcap !== undefined ? { attnSoftcap: s.attnSoftcap } : {}),
    ...(s.logitSoftcap !== undefined ? { logitSoftcap: s.logitSoftcap } : {}),
    ...(s.queryPreAttnScalar !== undefined ? { queryPreAttnScalar: s.queryPreAttnScalar } : {}),
    ...(s.scaleEmbeddings ? { scaleEmbeddings: true } : {}),
    ...(s.normOffset ? { normOffset: s.normOffset } : {}),
    ...(s.quant ? { quant: s.quant } : {}),
    layer,
    ...(overrides.length > 0 ? { overrides } : {}),
  };
}

/**
 * The default layer and the overrides of a model whose layer l has attentionAt(l) and
 * mlpAt(l), with `explicit` overrides applied on top: the default is the most common layer, so
 * a pattern costs one override per layer that differs from it.
 */
function layersOf(
  layers: number,
  attentionAt: (l: number) => AttentionSpec,
  mlpAt: (l: number) => MlpSpec,
  explicit: readonly LayerOverride[] = [],
): { layer: LayerSpec; overrides: LayerOverride[] } {
  const first = { attention: attentionAt(0), mlp: mlpAt(0) };
  const uniform = (() => {
    for (let l = 1; l < layers; l++) if (attentionAt(l) !== first.attention || mlpAt(l) !== first.mlp) return false;
    return true;
  })();
  if (uniform) return { layer: first, overrides: [...explicit] };
  // Each distinct (attention, mlp) pair is one LayerSpec object, so runs compare by identity.
  const specs: LayerSpec[] = [];
  const counts: number[] = [];
  const at: LayerSpec[] = [];
  for (let l = 0; l < layers; l++) {
    const a = attentionAt(l);
    const m = mlpAt(l);
    let i = specs.findIndex((x) => x.attention === a && x.mlp === m);
    if (i < 0) {
      i = specs.push({ attention: a, mlp: m }) - 1;
      counts.push(0);
    }
    counts[i]!++;
    at.push(specs[i]!);
  }
  const layer = specs[counts.indexOf(Math.max(...counts))]!;
  for (const o of explicit)
    for (let l = o.first; l <= o.last; l++) at[l] = { attention: o.attention ?? at[l]!.attention, mlp: o.mlp ?? at[l]!.mlp };
  const overrides: LayerOverride[] = [];
  for (let l = 0; l < layers;) {
    const spec = at[l]!;
    let last = l;
    while (last + 1 < layers && at[last + 1]!.attention === spec.attention && at[last + 1]!.mlp === spec.mlp) last++;
    if (spec.attention !== layer.attention || spec.mlp !== layer.mlp) {
      overrides.push({
        first: l,
        last,
        ...(spec.attention !== layer.attention ? { attention: spec.attention } : {}),
        ...(spec.mlp !== layer.mlp ? { mlp: spec.mlp } : {}),
      });
    }
    l = last + 1;
  }
  return { layer, overrides };
}

/** A GPT-2 model (defaults: ffn 4·hidden, gelu, layernorm, biases, learned positions, tied, eps 1e-5). */
export function gpt2Config(s: ModelSizes): Model {
  return buildModel('gpt2', s);
}

/** A Llama model (defaults: kvHeads = heads, headDim = hidden / heads, swiglu, rmsnorm, rope theta 10 000, eps 1e-5, untied). */
export function llamaConfig(s: ModelSizes & { ffn: number }): Model {
  return buildModel('llama', s);
}

/** One linear layer's weight, in → out features; `count` alike copies (routed experts). */
export interface Linear {
  name: string;
  in: number;
  out: number;
  count: number;
  /** Which part of the layer: attention projections, a dense MLP, routed experts or shared experts. */
  part: 'attention' | 'mlp' | 'routed' | 'shared';
}

/**
 * The weight matrices of `layer`'s linear layers (biases, norms, router and sinks excluded: they
 * are never quantized), as Hugging Face's modules hold them; with a shard layer (`shardLayer`)
 * the shapes of one rank's shard. `routedExperts` routed experts are listed (default: all).
 */
export function layerLinears(model: { hidden: number }, layer: LayerSpec, routedExperts?: number): Linear[] {
  const h = model.hidden;
  const a = layer.attention;
  const out: Linear[] = [];
  const lin = (name: string, i: number, o: number, part: Linear['part'], count = 1) => {
    if (count > 0 && i > 0 && o > 0) out.push({ name, in: i, out: o, count, part });
  };
  if (a.kind === 'gqa') {
    lin('q_proj', h, a.heads * a.headDim, 'attention');
    lin('k_proj', h, a.kvHeads * a.headDim, 'attention');
    lin('v_proj', h, a.kvHeads * a.headDim, 'attention');
    lin('o_proj', a.heads * a.headDim, h, 'attention');
  } else {
    const qk = qkHeadDim(a);
    if (a.qLoraRank > 0) {
      lin('q_a_proj', h, a.qLoraRank, 'attention');
      lin('q_b_proj', a.qLoraRank, a.heads * qk, 'attention');
    } else lin('q_proj', h, a.heads * qk, 'attention');
    lin('kv_a_proj_with_mqa', h, a.kvLoraRank + a.qkRopeHeadDim, 'attention');
    lin('kv_b_proj', a.kvLoraRank, a.heads * (a.qkNopeHeadDim + a.vHeadDim), 'attention');
    lin('o_proj', a.heads * a.vHeadDim, h, 'attention');
  }
  const m = layer.mlp;
  const mlp = (prefix: string, f: number, part: Linear['part'], count = 1) => {
    // Hugging Face's order (LlamaMLP declares gate_proj, up_proj, down_proj).
    if (gatedMlp(m.activation)) lin(`${prefix}gate_proj`, h, f, part, count);
    lin(`${prefix}up_proj`, h, f, part, count);
    lin(`${prefix}down_proj`, f, h, part, count);
  };
  if (m.kind === 'dense') mlp('', m.ffn, 'mlp');
  else {
    mlp('experts.', m.expertFfn, 'routed', routedExperts ?? m.experts);
    mlp('shared_experts.', m.sharedFfn, 'shared', m.sharedExperts);
  }
  return out;
}
