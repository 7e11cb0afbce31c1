/**
 * FLOPs. A matmul of an (n × k) input by a (k × m) weight costs 2nkm FLOPs, so a layer costs
 * 2 × its parameters × tokens; attention adds QKᵀ and AV, 2 × 2 × context × head_dim per query
 * and head. Counts are per device after tensor sharding (per-rank heads and ffn, see
 * memory/params.ts `layerParams`). Embedding lookups cost nothing; the output layer costs
 * 2 × (V'/t × h) per token whose logits are needed. Norms and biases count as parameters
 * (2 FLOPs each per token, negligible); softmax, activations and the loss are not counted.
 *
 * `layerFlops` is the one per-layer count, by op: the graph's compute steps (src/lower/layer.ts)
 * take their `flops` from it, and the cost model sums the ops it counts (`layerCountedFlops`).
 */
import { adaptedModules } from '../adapter.js';
import { modelAdapterParams } from '../memory/adapter.js';
import { layerParams, normParams, stageRuns } from '../memory/params.js';
import { selectiveOpRecomputeFlopsPerToken } from '../memory/recipes.js';
import { qkHeadDim, shardLayer, sumLayers, vHeadDim, type AttentionSpec, type LayerSpec, type Model } from '../model.js';
import type { CheckedPlan, LayerRankFacts, ServePlan, Stage, TrainPlan } from '../plan.js';

/** Parameters of one transformer layer on one tensor rank (its shard of q, k, v, o, MLP, norms); default: the first layer. */
export function layerMatmulParams(plan: CheckedPlan, layer: LayerSpec = plan.derived.layers[0]!.layer): number {
  return layerParams(plan.model, shardLayer(layer, plan.mesh.tensor)).total;
}

/** Output-layer parameters on one tensor rank of `stage`: V'/t × h on the last stage (tied or not), else 0. */
export function outputMatmulParams(plan: CheckedPlan, stage: Stage): number {
  return stage.hasOutput ? (plan.derived.vocabPadded / plan.mesh.tensor) * plan.model.hidden : 0;
}

/**
 * Attention core of one layer on one tensor rank: QKᵀ and AV, 2 × queries × context × heads/t ×
 * (qk head dim + v head dim); GQA 4 × queries × context × heads/t × head_dim. Default: the first layer.
 */
export function attentionFlops(plan: CheckedPlan, queries: number, context: number, f: LayerRankFacts = plan.derived.layers[0]!): number {
  const a = f.layer.attention;
  return 2 * queries * context * f.headsPerRank * (qkHeadDim(a) + vHeadDim(a));
}

/** One pass of one layer on one device: its tokens and the keys each query attends to. */
export interface Dims {
  T: number; // tokens per pass on this device (before sequence sharding)
  ctx: number; // keys each query attends to, on average
  seqs: number; // sequences in the pass
  /** Keys each query attends to, on average, with a sliding window of `window` positions (≤ ctx). */
  windowed: (window: number) => number;
}

/** Training: b sequences of s tokens, attention over the full s × s scores (Megatron's convention, not halved for the causal mask); a window: s × min(s, W). */
export function trainDims(plan: TrainPlan): Dims {
  const s = plan.batch.seq;
  // Context parallelism: a rank holds s/c tokens of each sequence, whose queries attend to keys of the
  // whole sequence. With the 2c load-balancing chunks (Megatron, torch's context_parallel head-tail
  // sharding) every rank gets an equal share of the causal work: 1/c of it, here of the full square.
  const T = (s / plan.mesh.context) * plan.batch.micro;
  return { T, ctx: s, seqs: plan.batch.micro, windowed: (w) => Math.min(s, w) };
}

/**
 * Prefill: `tokens` tokens of prompts of `prompt` tokens, causal as a flash kernel computes it
 * (masked blocks skipped): token j attends to j keys, on average prompt/2, whether the prompt is
 * prefilled in one pass or chunk by chunk (a later chunk attends to the earlier ones' cache).
 * With a window W < P: token j attends to min(j, W) keys, on average W − W²/(2P).
 */
export function prefillDims(tokens: number, prompt: number): Dims {
  return {
    T: tokens,
    ctx: prompt / 2,
    seqs: Math.ceil(tokens / prompt),
    windowed: (w) => (w >= prompt ? prompt / 2 : w - (w * w) / (2 * prompt)),
  };
}

/** Decode: `batch` sequences, one token each, attending to `context` cached tokens (at most the window). */
export function decodeDims(batch: number, context: number): Dims {
  return { T: batch, ctx: context, seqs: batch, windowed: (w) => Math.min(context, w) };
}

/** Keys each query of `a` attends to in `dims`: the window caps them. */
function contextOf(a: AttentionSpec, dims: Dims): number {
  return a.kind === 'gqa' && a.window !== undefined ? dims.windowed(a.window) : dims.ctx;
}

/** Routed token copies per token in a MoE layer: topK, × capacity_factor when training pads to capacity. */
export function routedPerToken(plan: CheckedPlan, topK: number): number {
  return topK * (plan.mode === 'train' && plan.capacityFactor !== undefined ? plan.capacityFactor : 1);
}

/**
 * FLOPs of one layer's forward on one device, by op: each matmul 2 × T × its parameters (weights
 * and biases, per rank), attention 2 × T × ctx × heads/t × (qk + v head dims), each norm 2 × T × its
 * parameters. A MoE layer computes with its active parameters: each token's topK routed experts
 * (balanced over the expert grid, one rank does 2 × T × topK × one expert / tensor), the shared
 * experts and the router. `rope`, `act` and `residual` are elementwise (a few FLOPs per element):
 * on the graph's steps, left out of the cost model's count as Megatron's count leaves them out.
 * `f`: the layer's per-rank facts (default: the first layer's, the one block lowering uses).
 */
export function layerFlops(plan: CheckedPlan, dims: Dims, f: LayerRankFacts = plan.derived.layers[0]!) {
  const { model } = plan;
  const t = plan.mesh.tensor;
  const layer = shardLayer(f.layer, t);
  const p = layerParams(model, layer);
  const { T } = dims;
  const m = layer.mlp;
  const a = layer.attention;
  const routed = m.kind === 'moe' ? routedPerToken(plan, m.topK) : 0;
  const mlpWidth = m.kind === 'dense' ? m.ffn : routed * m.expertFfn + m.sharedExperts * m.sharedFfn;
  const lora = loraFlops(plan, f.layer, T);
  return {
    qkv: 2 * T * (p.q + p.k + p.v) + lora.qkv,
    attention: attentionFlops(plan, T, contextOf(a, dims), f),
    outProj: 2 * T * p.o + lora.outProj,
    mlpUp: 2 * T * (m.kind === 'dense' ? p.up + p.gate : routed * (p.up + p.gate)) + (m.kind === 'dense' ? lora.mlpUp : 0),
    mlpDown: 2 * T * (m.kind === 'dense' ? p.down : routed * p.down) + (m.kind === 'dense' ? lora.mlpDown : 0),
    /** MoE: the shared experts (and their gate), every token. */
    shared: 2 * T * p.shared + (m.kind === 'moe' ? lora.mlpUp + lora.mlpDown : 0),
    /** LoRA: the adapters' part of the matmul ops above (forward), by op; zeros without adapters. */
    lora,
    /** MoE: the router's logits, hidden → experts, on every tensor rank. */
    router: 2 * T * p.router,
    norm: 2 * T * normParams(model),
    rope: model.positions === 'rope' ? 6 * T * f.headsPerRank * (a.kind === 'gqa' ? a.headDim : a.qkRopeHeadDim) : 0,
    act: 5 * T * mlpWidth,
    residual: T * model.hidden,
  };
}

/**
 * LoRA adapters' forward FLOPs of one layer on one tensor rank, by the op whose linear they sit
 * beside: 2·T·r·(d_in + d_out) per adapted module (A then B); zeros without adapters or when serving.
 */
export function loraFlops(
  plan: CheckedPlan,
  layer: LayerSpec,
  T: number,
): { qkv: number; outProj: number; mlpUp: number; mlpDown: number } {
  const out = { qkv: 0, outProj: 0, mlpUp: 0, mlpDown: 0 };
  const a = plan.mode === 'train' ? plan.adapter : undefined;
  if (!a) return out;
  for (const m of adaptedModules(plan.model, shardLayer(layer, plan.mesh.tensor), a.targets)) {
    const x = 2 * T * a.rank * (m.in + m.out);
    const name = m.name.slice(m.name.lastIndexOf('.') + 1);
    if (name === 'o_proj' || m.name === 'attn.c_proj') out.outProj += x;
    else if (name === 'down_proj' || m.name === 'mlp.c_proj') out.mlpDown += x;
    else if (name === 'up_proj' || name === 'gate_proj' || name === 'c_fc') out.mlpUp += x;
    else out.qkv += x;
  }
  return out;
}

/**
 * Backward FLOPs of a matmul op whose forward is `x`, `lora` of it adapters: 2x (input and weight
 * gradients) when every weight trains; with LoRA the frozen base computes input gradients only
 * (x − lora) and the adapters both (2·lora).
 */
export function matmulBackward(plan: CheckedPlan, x: number, lora = 0): number {
  return plan.mode === 'train' && plan.adapter ? x + lora : 2 * x;
}

/** What the cost model counts of one layer: matmuls, attention core and the norms, = 2 · P_active · T + attention. */
export function layerCountedFlops(plan: CheckedPlan, dims: Dims, f: LayerRankFacts = plan.derived.layers[0]!): number {
  return countedFlops(plan, layerFlops(plan, dims, f));
}

/** The ops of `layerFlops` that the cost model counts, summed. */
function countedFlops(plan: CheckedPlan, x: ReturnType<typeof layerFlops>): number {
  const norms = (plan.model.normsPerLayer ?? 2) * x.norm;
  return x.qkv + x.attention + x.outProj + x.mlpUp + x.mlpDown + x.shared + x.router + norms;
}

/** The counted FLOPs of the stage's layers: Σ runs layers × layerCountedFlops. */
export function stageLayerFlops(plan: CheckedPlan, stage: Stage, dims: Dims): number {
  let sum = 0;
  for (const r of stageRuns(plan, stage)) sum += r.n * layerCountedFlops(plan, dims, r.f);
  return sum;
}

/** One microbatch's FLOPs on one device of a training stage. */
export interface MicrobatchFlops {
  forward: number;
  /** 2 × forward (gradients of inputs and of weights). */
  backward: number;
  /** Forward work done again in the backward pass. */
  recompute: number;
  /** Of forward + backward + recompute, the FLOPs of fp8 GEMMs (plan `fp8`: the layers' linears, not the router or output layer); 0 without fp8. */
  fp8: number;
  /** Of backward + recompute, the fp8 GEMMs' FLOPs. */
  fp8Backward: number;
  /**
   * The weight-gradient half of the layers' backward (a zero-bubble W): each matmul's weight
   * gradient costs its forward, so = the layers' matmul FLOPs (QKV, output projection, MLP or
   * routed and shared experts, router), T_W in Qi et al. 2024 Table 1 (24sbh² for a GPT layer).
   * The output layer's weight gradient stays with the input gradients (src/lower/pipeline.ts).
   */
  weightGrad: number;
}

/**
 * Training FLOPs of one microbatch (b sequences of s tokens) on one device of `stage`, with
 * Megatron's convention for attention (Narayanan et al. 2021, eq. 3): the full s × s score
 * matrix, 4s²·h per layer and sequence, not halved for the causal mask.
 *   layers  = 2 · P_layer · s·b · L_stage + b · 4s²·(a/t)·d · L_stage
 *   forward = layers + 2 · (V'/t · h) · s·b                 (output layer, last stage)
 *   backward = 2 × forward
 *   recompute: full → layers (the output layer is not recomputed);
 *              (with recompute_method = block: the recompute_layers of each chunk);
 *              selective → the attention core b · 4s²·(a/t)·d · L_stage;
 *              selective_op → the matmuls torchtitan's policy does not save (memory/recipes.ts); none → 0
 */
export function trainMicrobatchFlops(plan: TrainPlan, stage: Stage): MicrobatchFlops {
  const dims = trainDims(plan);
  // One layerFlops per run of alike layers: the attention core and the counted total from it.
  let core = 0;
  let layers = 0;
  let linears = 0;
  let opSac = 0;
  let lora = 0;
  let weightGrad = 0;
  for (const r of stageRuns(plan, stage)) {
    const x = layerFlops(plan, dims, r.f);
    core += r.n * x.attention;
    layers += r.n * countedFlops(plan, x);
    linears += r.n * (x.qkv + x.outProj + x.mlpUp + x.mlpDown + x.shared);
    if (plan.recompute === 'selective_op') opSac += r.n * dims.T * selectiveOpRecomputeFlopsPerToken(plan, r.f);
    lora += r.n * (x.lora.qkv + x.lora.outProj + x.lora.mlpUp + x.lora.mlpDown);
    weightGrad += r.n * (x.qkv + x.outProj + x.mlpUp + x.mlpDown + x.shared + x.router);
  }
  const forward = layers + 2 * outputMatmulParams(plan, stage) * dims.T;
  // full with method = block recomputes recompute_layers of each chunk's layers; uniform recomputes all.
  const v = plan.virtual;
  const perChunk = Math.max(1, stage.layers / v);
  const fullShare = plan.recomputeMethod === 'block' ? Math.min(plan.recomputeLayers, perChunk) / perChunk : 1;
  const recompute =
    plan.recompute === 'full' ? layers * fullShare : plan.recompute === 'selective' ? core : plan.recompute === 'selective_op' ? opSac : 0;
  // LoRA: the frozen base (layers and output layer) computes input gradients only, once its
  // forward; attention's core (no weights) and the adapters twice theirs.
  const backward = plan.adapter ? forward + core + lora : 2 * forward;
  // fp8 runs each linear's fprop, dgrad and wgrad GEMMs in fp8 (Megatron fp8_wgrad = True; torchao casts all three); a full
  // recompute runs the recomputed layers' forward GEMMs again, selective_op the linears it did not save (the same
  // Float8Linear modules run again); selective recomputes no linear. With LoRA the frozen base has no weight gradient:
  // its linears' backward is dgrad only.
  const fp8 = plan.fp8 === undefined || plan.fp8 === 'none' ? 0 : linears;
  const fp8Recompute = fp8 === 0 ? 0 : plan.recompute === 'full' ? fp8 * fullShare : plan.recompute === 'selective_op' ? opSac : 0;
  const fp8Backward = (plan.adapter ? 1 : 2) * fp8 + fp8Recompute;
  // A zero-bubble W: the layers' weight gradients (with LoRA, the adapters' only: the frozen base has none).
  return { forward, backward, recompute, fp8: fp8 + fp8Backward, fp8Backward, weightGrad: plan.adapter ? lora : weightGrad };
}

/**
 * Forward FLOPs of one `seq`-token sequence through the whole (unsharded) model, Megatron's
 * convention: 2 · (Σ P_active + V · h) · s + Σ 2s·min(s, W)·a·(qk + v head dims), with the unpadded
 * vocabulary and no replicated KV heads; P_active counts a MoE layer's topK routed experts, shared
 * experts and router, not all its experts. With f = 4h and no GQA this is Narayanan's
 * 24·s·L·h²·(1 + s/(6h) + V/(12·L·h)).
 */
export function modelForwardFlops(model: Model, seq: number): number {
  const params = sumLayers(model, (l) => layerParams(model, l).active);
  const attention = sumLayers(
    model,
    (l) =>
      2 *
      seq *
      contextOf(l.attention, { T: seq, ctx: seq, seqs: 1, windowed: (w) => Math.min(seq, w) }) *
      l.attention.heads *
      (qkHeadDim(l.attention) + vHeadDim(l.attention)),
  );
  return 2 * (params + model.vocab * model.hidden) * seq + attention;
}

/** Model FLOPs of one training step: 3 × forward × global sequences (no recomputation; the MFU numerator). */
export function modelFlopsPerStep(plan: TrainPlan): number {
  const F = modelForwardFlops(plan.model, plan.batch.seq);
  if (!plan.adapter) return 3 * F * plan.batch.global;
  // LoRA: forward, the base's input gradients (once its forward, attention's core twice) and the adapters' 3 × 2·r·(d_in + d_out) per token.
  const s = plan.batch.seq;
  const weights = 2 * (sumLayers(plan.model, (l) => layerParams(plan.model, l).active) + plan.model.vocab * plan.model.hidden) * s;
  return (2 * F + (F - weights) + 6 * modelAdapterParams(plan) * s) * plan.batch.global;
}

/**
 * Prefill of one prompt of P tokens on one device of `stage`. Serving counts the causal work
 * actually done (a flash kernel skips masked blocks): token i attends to i tokens, average
 * context P/2. Only the last token's logits are computed.
 *   2 · P_layer · P · L_stage + 4 · P · (P/2) · (a/t)·d · L_stage + 2 · (V'/t · h)
 */
export function prefillFlops(plan: ServePlan, stage: Stage, tokens: number): number {
  return stageLayerFlops(plan, stage, prefillDims(tokens, tokens)) + 2 * outputMatmulParams(plan, stage);
}

/**
 * One decode step of `batch` sequences at `context` tokens each, on one device of `stage`:
 *   batch · (2 · (P_layer · L_stage + V'/t · h) + 4 · context · (a/t)·d · L_stage)
 */
export function decodeFlops(plan: ServePlan, stage: Stage, batch: number, context: number): number {
  return stageLayerFlops(plan, stage, decodeDims(batch, context)) + 2 * batch * outputMatmulParams(plan, stage);
}
