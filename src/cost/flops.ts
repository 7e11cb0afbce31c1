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
import { layerParams, normParams } from '../memory/params.js';
import { shardLayer, sumLayers, uniformLayer, type Model } from '../model.js';
import type { CheckedPlan, ModelSpec, ServePlan, Stage, TrainPlan } from '../plan.js';

/** Parameters of one transformer layer on one tensor rank (its shard of q, k, v, o, MLP, norms). */
export function layerMatmulParams(plan: CheckedPlan): number {
  return layerParams(plan.model, shardLayer(uniformLayer(plan.model, 'per-stage FLOPs'), plan.mesh.tensor)).total;
}

/** Output-layer parameters on one tensor rank of `stage`: V'/t × h on the last stage (tied or not), else 0. */
export function outputMatmulParams(plan: CheckedPlan, stage: Stage): number {
  return stage.hasOutput ? (plan.derived.vocabPadded / plan.mesh.tensor) * plan.model.hidden : 0;
}

/** Attention core of one layer on one tensor rank: 4 × queries × context × heads/t × head_dim (QKᵀ and AV). */
export function attentionFlops(plan: CheckedPlan, queries: number, context: number): number {
  return 4 * queries * context * plan.derived.headsPerRank * uniformLayer(plan.model, 'per-stage FLOPs').attention.headDim;
}

/** One pass of one layer on one device: its tokens and the keys each query attends to. */
export interface Dims {
  T: number; // tokens per pass on this device (before sequence sharding)
  ctx: number; // keys each query attends to, on average
  seqs: number; // sequences in the pass
}

/** Training: b sequences of s tokens, attention over the full s × s scores (Megatron's convention, not halved for the causal mask). */
export function trainDims(plan: TrainPlan): Dims {
  return { T: plan.batch.seq * plan.batch.micro, ctx: plan.batch.seq, seqs: plan.batch.micro };
}

/**
 * Prefill: `tokens` tokens of prompts of `prompt` tokens, causal as a flash kernel computes it
 * (masked blocks skipped): token j attends to j keys, on average prompt/2, whether the prompt is
 * prefilled in one pass or chunk by chunk (a later chunk attends to the earlier ones' cache).
 */
export function prefillDims(tokens: number, prompt: number): Dims {
  return { T: tokens, ctx: prompt / 2, seqs: Math.ceil(tokens / prompt) };
}

/** Decode: `batch` sequences, one token each, attending to `context` cached tokens. */
export function decodeDims(batch: number, context: number): Dims {
  return { T: batch, ctx: context, seqs: batch };
}

/**
 * FLOPs of one layer's forward on one device, by op: each matmul 2 × T × its parameters (weights
 * and biases, per rank), attention 4 × T × ctx × heads/t × head_dim, each norm 2 × T × its
 * parameters. `rope`, `act` and `residual` are elementwise (a few FLOPs per element): on the
 * graph's steps, left out of the cost model's count as Megatron's count leaves them out.
 */
export function layerFlops(plan: CheckedPlan, dims: Dims): LayerFlops {
  const { model, derived } = plan;
  // One block template serves every layer, so lowering and cost need the layers alike.
  const layer = shardLayer(uniformLayer(model, 'per-layer FLOPs'), plan.mesh.tensor);
  const p = layerParams(model, layer);
  const { T } = dims;
  return {
    qkv: 2 * T * (p.q + p.k + p.v),
    attention: attentionFlops(plan, T, dims.ctx),
    outProj: 2 * T * p.o,
    mlpUp: 2 * T * (p.up + p.gate),
    mlpDown: 2 * T * p.down,
    norm: 2 * T * normParams(model),
    rope: model.positions === 'rope' ? 6 * T * derived.headsPerRank * layer.attention.headDim : 0,
    act: 5 * T * layer.mlp.ffn,
    residual: T * model.hidden,
  };
}

/** One layer's forward FLOPs on one device, by op (`layerFlops`). */
export type LayerFlops = Record<'qkv' | 'attention' | 'outProj' | 'mlpUp' | 'mlpDown' | 'norm' | 'rope' | 'act' | 'residual', number>;

/** What the cost model counts of one layer: matmuls, attention core and both norms, = 2 · P_layer · T + attention. */
export function layerCountedFlops(plan: CheckedPlan, dims: Dims): number {
  return countedFlops(layerFlops(plan, dims));
}

/** The ops of `layerFlops` that the cost model counts, summed. */
function countedFlops(f: LayerFlops): number {
  return f.qkv + f.attention + f.outProj + f.mlpUp + f.mlpDown + 2 * f.norm;
}

/** One microbatch's FLOPs on one device of a training stage. */
export interface MicrobatchFlops {
  forward: number;
  /** 2 × forward (gradients of inputs and of weights). */
  backward: number;
  /** Forward work done again in the backward pass. */
  recompute: number;
}

/**
 * Training FLOPs of one microbatch (b sequences of s tokens) on one device of `stage`, with
 * Megatron's convention for attention (Narayanan et al. 2021, eq. 3): the full s × s score
 * matrix, 4s²·h per layer and sequence, not halved for the causal mask.
 *   layers  = 2 · P_layer · s·b · L_stage + b · 4s²·(a/t)·d · L_stage
 *   forward = layers + 2 · (V'/t · h) · s·b                 (output layer, last stage)
 *   backward = 2 × forward
 *   recompute: full → layers (the output layer is not recomputed);
 *              selective → the attention core b · 4s²·(a/t)·d · L_stage; none → 0
 */
export function trainMicrobatchFlops(
  plan: TrainPlan,
  stage: Stage,
  /** One layer's FLOPs, the same on every stage: a caller looping over the stages passes them, worked out once. */
  layer = layerFlops(plan, trainDims(plan)),
): MicrobatchFlops {
  const core = layer.attention * stage.layers;
  const layers = countedFlops(layer) * stage.layers;
  const forward = layers + 2 * outputMatmulParams(plan, stage) * trainDims(plan).T;
  const recompute = plan.recompute === 'full' ? layers : plan.recompute === 'selective' ? core : 0;
  return { forward, backward: 2 * forward, recompute };
}

/**
 * Forward FLOPs of one `seq`-token sequence through the whole (unsharded) model, Megatron's
 * convention: 2 · (L · P_layer + V · h) · s + 4s² · a · d · L, with the unpadded vocabulary
 * and no replicated KV heads. With f = 4h and no GQA this is Narayanan's
 * 24·s·L·h²·(1 + s/(6h) + V/(12·L·h)).
 */
export function modelForwardFlops(model: Model, seq: number): number {
  const params = sumLayers(model, (l) => layerParams(model, l).total);
  const attention = sumLayers(model, (l) => 4 * seq * seq * l.attention.heads * l.attention.headDim);
  return 2 * (params + model.vocab * model.hidden) * seq + attention;
}

/** Model FLOPs of one training step: 3 × forward × global sequences (no recomputation; the MFU numerator). */
export function modelFlopsPerStep(plan: TrainPlan): number {
  return 3 * modelForwardFlops(plan.model, plan.batch.seq) * plan.batch.global;
}

/**
 * Prefill of one prompt of P tokens on one device of `stage`. Serving counts the causal work
 * actually done (a flash kernel skips masked blocks): token i attends to i tokens, average
 * context P/2. Only the last token's logits are computed.
 *   2 · P_layer · P · L_stage + 4 · P · (P/2) · (a/t)·d · L_stage + 2 · (V'/t · h)
 */
export function prefillFlops(plan: ServePlan, stage: Stage, tokens: number): number {
  return layerCountedFlops(plan, prefillDims(tokens, tokens)) * stage.layers + 2 * outputMatmulParams(plan, stage);
}

/**
 * One decode step of `batch` sequences at `context` tokens each, on one device of `stage`:
 *   batch · (2 · (P_layer · L_stage + V'/t · h) + 4 · context · (a/t)·d · L_stage)
 */
export function decodeFlops(plan: ServePlan, stage: Stage, batch: number, context: number): number {
  return layerCountedFlops(plan, decodeDims(batch, context)) * stage.layers + 2 * batch * outputMatmulParams(plan, stage);
}
