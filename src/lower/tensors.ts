/**
 * Every tensor of the graph: weights with their Megatron sharding, and for training
 * their gradients and optimizer states (with ZeRO's sharding over data replicas);
 * saved activations; for serving the KV cache and logits. Byte sizes come from the
 * memory model's own functions, so that the graph and the memory plan agree.
 */
import { bytesPerElement, dtypeBytes, type Dtype } from '../facts/dtypes.js';
import type { GraphTensor, Shard } from '../graph/types.js';
import {
  contextAttentionTransient,
  recomputeWorkspaceBytes,
  sequenceShard,
  serveActivations,
  splitsBackward,
  trainLayerActivationBytes,
  trainOutputBytes,
  weightGradActivationBytes,
} from '../memory/activations.js';
import { zeroDegree } from '../memory/weights.js';
import { CAST, CAST_OUTPUT, castCacheBytes, CONTEXT_EXCHANGE, KEPT_ACT, keepsLayers, RECOMPUTE, WGRAD } from './layer.js';
import { gatedMlp, layerRuns, sameLayer, sameShape, type LayerSpec } from '../model.js';
import { layerBlocks } from './layer.js';
import type { CheckedPlan, ServePlan, TrainPlan } from '../plan.js';
import { hsdpShardGroup, splitTiedEmbeddings } from './mesh.js';

export interface WeightSpec {
  name: string;
  scope: 'layer' | 'stage';
  shape: number[];
  /** Split over tensor ranks along this dimension (undefined: replicated). */
  tensorDim?: number;
  /** KV heads replicated when tensor > kv_heads. */
  tensorParts?: number;
  /** MoE routed experts ([experts, …]): dim 0 split over the expert group, `expertTensorDim` over expert_tensor. */
  expertTensorDim?: number;
  owners: number[];
  /** Layer ranges that have it when the model's layers differ. */
  layers?: [number, number][];
}

type LayerWeight = Omit<WeightSpec, 'scope' | 'owners' | 'layers'>;

/** One layer's weights, as Megatron shards them (PyTorch Linear layout [out, in]). */
function layerWeights(plan: CheckedPlan, layer: LayerSpec): LayerWeight[] {
  const { model } = plan;
  const h = model.hidden;
  const out: LayerWeight[] = [];
  const w = (name: string, shape: number[], tensorDim?: number, tensorParts?: number) =>
    out.push({
      name: `layers.{l}.${name}`,
      shape,
      ...(tensorDim === undefined ? {} : { tensorDim }),
      ...(tensorParts === undefined ? {} : { tensorParts }),
    });
  const norm = (prefix: string) => {
    w(`${prefix}.weight`, [h]);
    if (model.norm === 'layernorm') w(`${prefix}.bias`, [h]);
  };
  norm('attn_norm');
  const a = layer.attention;
  if (a.kind === 'gqa') {
    const qd = a.heads * a.headDim;
    const kvd = a.kvHeads * a.headDim;
    const kvParts = Math.min(plan.mesh.tensor, a.kvHeads);
    w('attn.q.weight', [qd, h], 0);
    w('attn.k.weight', [kvd, h], 0, kvParts);
    w('attn.v.weight', [kvd, h], 0, kvParts);
    w('attn.o.weight', [h, qd], 1);
    if (model.bias || model.qkvBias) {
      w('attn.q.bias', [qd], 0);
      w('attn.k.bias', [kvd], 0, kvParts);
      w('attn.v.bias', [kvd], 0, kvParts);
    }
    if (model.bias) w('attn.o.bias', [h]);
    // Qwen3: RMSNorm gains over head_dim, shared by every head (replicated over the tensor ranks).
    if (model.qkNorm) {
      w('attn.q_norm.weight', [a.headDim]);
      w('attn.k_norm.weight', [a.headDim]);
    }
  } else {
    // MLA (DeepSeek-V2/V3): the down-projections and their norms replicated, the per-head up-projections split.
    const qk = a.qkNopeHeadDim + a.qkRopeHeadDim;
    if (a.qLoraRank > 0) {
      w('attn.q_a.weight', [a.qLoraRank, h]);
      w('attn.q_a_norm.weight', [a.qLoraRank]);
      w('attn.q_b.weight', [a.heads * qk, a.qLoraRank], 0);
    } else w('attn.q.weight', [a.heads * qk, h], 0);
    w('attn.kv_a.weight', [a.kvLoraRank + a.qkRopeHeadDim, h]);
    w('attn.kv_a_norm.weight', [a.kvLoraRank]);
    w('attn.kv_b.weight', [a.heads * (a.qkNopeHeadDim + a.vHeadDim), a.kvLoraRank], 0);
    w('attn.o.weight', [h, a.heads * a.vHeadDim], 1);
  }
  // Gemma-2/3: each sublayer's output normed too, before its residual add.
  const post = (model.normsPerLayer ?? 2) === 4;
  if (post) norm('attn_post_norm');
  norm('mlp_norm');
  if (post) norm('mlp_post_norm');
  const m = layer.mlp;
  const gated = gatedMlp(m.activation);
  if (m.kind === 'dense') {
    const f = m.ffn;
    if (gated) w('mlp.gate.weight', [f, h], 0);
    w('mlp.up.weight', [f, h], 0);
    w('mlp.down.weight', [h, f], 1);
    if (model.bias) {
      if (gated) w('mlp.gate.bias', [f], 0);
      w('mlp.up.bias', [f], 0);
      w('mlp.down.bias', [h]);
    }
    return out;
  }
  w('mlp.router.weight', [m.experts, h]);
  if (m.routerBias) w('mlp.router.bias', [m.experts]);
  const E = m.experts;
  const fe = m.expertFfn;
  const expert = (name: string, shape: number[], expertTensorDim: number) =>
    out.push({ name: `layers.{l}.${name}`, shape, expertTensorDim });
  if (gated) expert('mlp.experts.gate.weight', [E, fe, h], 1);
  expert('mlp.experts.up.weight', [E, fe, h], 1);
  expert('mlp.experts.down.weight', [E, h, fe], 2);
  if (m.sharedExperts > 0) {
    const sf = m.sharedExperts * m.sharedFfn;
    if (gated) w('mlp.shared.gate.weight', [sf, h], 0);
    w('mlp.shared.up.weight', [sf, h], 0);
    w('mlp.shared.down.weight', [h, sf], 1);
    if (m.sharedGate) w('mlp.shared_gate.weight', [1, h]);
  }
  return out;
}

/** The weights: each layer structure's (with the layer ranges that have them, when layers differ), then the stage tensors. */
export function weightSpecs(plan: CheckedPlan): WeightSpec[] {
  const { model, derived } = plan;
  const p = plan.mesh.pipeline;
  const h = model.hidden;
  const all = Array.from({ length: p }, (_, i) => i);
  const specs: WeightSpec[] = [];
  const blocks = layerBlocks(plan);
  if (blocks.length === 1) {
    // Every layer alike: a `layer`-scoped tensor has one shape for every layer. Object.assign onto
    // layerWeights' fresh objects, not a spread: spreading objects of several shapes (optional
    // fields) took V8's slow path and made this ~15× slower, a large part of lowering a small plan.
    for (const lw of layerWeights(plan, model.layer)) specs.push(Object.assign(lw, { scope: 'layer' as const, owners: all }));
  } else {
    const runs = layerRuns(model);
    for (const b of blocks) {
      const ranges = runs.filter((r) => sameLayer(r.layer, b.layer)).map((r) => [r.first, r.last] as [number, number]);
      for (const lw of layerWeights(plan, b.layer)) {
        const same = specs.find((x) => x.name === lw.name && x.shape.join() === lw.shape.join());
        if (same) same.layers = [...same.layers!, ...ranges].sort((x, y) => x[0] - y[0]);
        else specs.push(Object.assign(lw, { scope: 'layer' as const, owners: all, layers: ranges }));
      }
    }
  }
  specs.push({ name: 'embedding.weight', scope: 'stage', shape: [derived.vocabPadded, h], tensorDim: 0, owners: [0] });
  if (model.positions === 'learned') specs.push({ name: 'positions.weight', scope: 'stage', shape: [model.maxSeq, h], owners: [0] });
  specs.push({ name: 'final_norm.weight', scope: 'stage', shape: [h], owners: [p - 1] });
  if (model.norm === 'layernorm') specs.push({ name: 'final_norm.bias', scope: 'stage', shape: [h], owners: [p - 1] });
  if (!model.tiedEmbeddings || splitTiedEmbeddings(plan)) {
    specs.push({ name: 'output.weight', scope: 'stage', shape: [derived.vocabPadded, h], tensorDim: 0, owners: [p - 1] });
  }
  return specs;
}

function elements(shape: (number | string)[]): number {
  return shape.reduce<number>((a, b) => a * (typeof b === 'number' ? b : 1), 1);
}

/** A weight's shards with ZeRO over `zeroOver` data ranks (1: none). */
export function shardsOfWeight(w: WeightSpec, plan: CheckedPlan, zeroOver: number): Shard[] {
  return shardsOf(w, plan, zeroOver);
}

/** Bytes of one shard of a weight in `dtype`, ZeRO over `zeroOver` data ranks. */
export function shardBytesOf(w: WeightSpec, plan: CheckedPlan, zeroOver: number, dtype: Dtype): number {
  return shardBytes(w, plan, zeroOver, dtype);
}

function shardsOf(w: WeightSpec, plan: CheckedPlan, zeroOver: number): Shard[] {
  const t = plan.mesh.tensor;
  const shards: Shard[] = [];
  if (w.expertTensorDim !== undefined) {
    // Routed experts: split over the expert group, each expert over expert_tensor, ZeRO over expert data.
    const { expert, tensor, data } = plan.experts;
    if (expert > 1) shards.push({ dim: 0, parts: expert, over: 'expert' });
    if (tensor > 1) shards.push({ dim: w.expertTensorDim, parts: tensor, over: 'expert_tensor' });
    if (zeroOver > 1 && data > 1) shards.push({ dim: -1, parts: data, over: 'expert_data' });
    return shards;
  }
  if (w.tensorDim !== undefined && t > 1) {
    const parts = w.tensorParts ?? t;
    shards.push(parts < t ? { dim: w.tensorDim, parts, over: 'tensor', replicas: t / parts } : { dim: w.tensorDim, parts, over: 'tensor' });
  }
  // ZeRO's flat shards over data × context (src/memory/zero.ts zeroDegree): the context index
  // picks a 1/c slice, the data index a 1/d slice of it.
  if (zeroOver > 1 && plan.mesh.context > 1) shards.push({ dim: -1, parts: plan.mesh.context, over: 'context' });
  // HSDP: the shard group's ranks split it; the replicate groups hold the same shards.
  const hsdp = hsdpShardGroup(plan);
  if (zeroOver > 1 && hsdp !== undefined) {
    if (hsdp > 1) shards.push({ dim: -1, parts: hsdp, over: 'data_shard' });
  } else if (zeroOver > 1 && plan.mesh.data > 1) shards.push({ dim: -1, parts: plan.mesh.data, over: 'data' });
  return shards;
}

function shardBytes(w: WeightSpec, plan: CheckedPlan, zeroOver: number, dtype: Dtype): number {
  if (w.expertTensorDim !== undefined) {
    const { expert, tensor, data } = plan.experts;
    return dtypeBytes(Math.ceil(elements(w.shape) / (expert * tensor) / (zeroOver > 1 ? data : 1)), dtype);
  }
  const tp = w.tensorDim !== undefined ? (w.tensorParts ?? plan.mesh.tensor) : 1;
  return dtypeBytes(Math.ceil(elements(w.shape) / tp / zeroOver), dtype);
}

/** The tensor entry's layer ranges, when the model's layers differ. */
function rangesOf(w: WeightSpec): { layers?: [number, number][] } {
  return w.layers ? { layers: w.layers } : {};
}

export function lowerTensors(plan: CheckedPlan): GraphTensor[] {
  return plan.mode === 'train' ? trainTensors(plan) : serveTensors(plan);
}

function trainTensors(plan: TrainPlan): GraphTensor[] {
  const t = plan.mesh.tensor;
  const d = zeroDegree(plan);
  const out: GraphTensor[] = [];
  // precision = amp_*: fp32 weights are the master weights (no optimizer copy).
  const optimizerCopies = (plan.optimizer === 'sgd' ? 1 : 2) + (plan.precision === 'fp32' || plan.amp ? 0 : 1);
  const weightDtype = plan.amp ? 'fp32' : plan.precision;
  for (const w of weightSpecs(plan)) {
    const z3 = plan.zero >= 3 ? d : 1;
    const z2 = plan.zero >= 2 ? d : 1;
    const z1 = plan.zero >= 1 ? d : 1;
    out.push({
      name: w.name,
      role: 'weight',
      scope: w.scope,
      shape: w.shape,
      dtype: weightDtype,
      shards: shardsOf(w, plan, z3),
      bytes: shardBytes(w, plan, z3, weightDtype),
      owners: w.owners,
      ...rangesOf(w),
    });
    out.push({
      name: `grad.${w.name}`,
      role: 'gradient',
      scope: w.scope,
      shape: w.shape,
      dtype: plan.gradDtype,
      shards: shardsOf(w, plan, z2),
      bytes: shardBytes(w, plan, z2, plan.gradDtype),
      owners: w.owners,
      ...rangesOf(w),
    });
    out.push({
      name: `optim.${w.name}`,
      role: 'optimizer',
      scope: w.scope,
      shape: [optimizerCopies, ...w.shape],
      dtype: 'fp32',
      shards: shardsOf(w, plan, z1),
      bytes: optimizerCopies * shardBytes(w, plan, z1, 'fp32'),
      owners: w.owners,
      ...rangesOf(w),
    });
  }
  const all = Array.from({ length: plan.mesh.pipeline }, (_, i) => i);
  const cast = castCacheBytes(plan);
  if (cast) {
    // Autocast's 16-bit copies of the fp32 weights (aten cached_cast), kept by the linears for their backward.
    out.push({
      name: CAST,
      role: 'cast',
      scope: 'layer',
      shape: [cast.layer / bytesPerElement(plan.precision)],
      dtype: plan.precision,
      shards: [],
      bytes: cast.layer,
      owners: all,
    });
    if (cast.head > 0)
      out.push({
        name: CAST_OUTPUT,
        role: 'cast',
        scope: 'stage',
        shape: [cast.head / bytesPerElement(plan.precision)],
        dtype: plan.precision,
        shards: [],
        bytes: cast.head,
        owners: [plan.mesh.pipeline - 1],
      });
  }
  const { seq, micro: b } = plan.batch;
  // Context parallelism: each rank holds s/c tokens of every sequence (shape: the whole, split over context).
  const c = plan.mesh.context;
  const s = seq / c;
  const seqShard = (dim: number): Shard[] => (c > 1 ? [{ dim, parts: c, over: 'context' }] : []);
  const h = plan.model.hidden;
  // What backward needs of each layer (Korthikanti et al. 2022; see docs/memory.md).
  out.push({
    name: 'act.{l}.mb{m}',
    role: 'activation',
    scope: 'layer',
    shape: [b, seq, h],
    dtype: plan.precision,
    shards: seqShard(1),
    bytes: trainLayerActivationBytes(sequenceShard(plan)),
    owners: all,
  });
  if (keepsLayers(plan))
    // recompute_method = block: the layers past a chunk's first recompute_layers keep all their activations.
    out.push({
      name: KEPT_ACT,
      role: 'activation',
      scope: 'layer',
      shape: [b, seq, h],
      dtype: plan.precision,
      shards: seqShard(1),
      bytes: trainLayerActivationBytes({ ...sequenceShard(plan), recompute: 'none' }),
      owners: all,
    });
  if (plan.recompute !== 'none') {
    // What a layer's backward rebuilds (full, selective_op) or recomputes (selective), one layer at a time.
    const v = plan.virtual;
    const local = sequenceShard(plan);
    out.push({
      name: RECOMPUTE,
      role: 'activation',
      scope: 'layer',
      shape: [b, seq, h],
      dtype: plan.precision,
      shards: seqShard(1),
      bytes: Math.max(0, ...local.derived.layers.map((f) => recomputeWorkspaceBytes(local, f, Math.max(1, plan.stages[0]!.layers / v)))),
      owners: all,
    });
  }
  if (c > 1)
    out.push({
      name: CONTEXT_EXCHANGE,
      role: 'activation',
      scope: 'layer',
      shape: [b, seq, h],
      dtype: plan.precision,
      shards: seqShard(1),
      bytes: contextAttentionTransient(plan),
      owners: all,
    });
  if (splitsBackward(plan)) {
    // Zero-bubble: what W keeps of a layer between its I and its W (M_W, Qi et al. 2024 Table 1).
    out.push({
      name: WGRAD,
      role: 'activation',
      scope: 'layer',
      shape: [b, s, h],
      dtype: plan.precision,
      shards: [],
      bytes: weightGradActivationBytes(plan),
      owners: all,
    });
  }
  const sp = plan.sequenceParallel && t > 1 ? t : 1;
  // First stage, per microbatch in flight: int64 token ids and the embedding dropout mask.
  out.push({
    name: 'input.mb{m}',
    role: 'input',
    scope: 'stage',
    shape: [b, seq],
    dtype: 'fp32',
    shards: seqShard(1),
    bytes: 8 * s * b + (s * b * h) / sp,
    owners: [0],
  });
  // Last stage, per microbatch until its backward: norm and output-layer inputs, the loss path's logits (fp32, or
  // under autocast 16-bit logits upcast with the fp32 log-softmax and its gradient: the memory plan's output term).
  out.push({
    name: 'output.mb{m}',
    role: 'logits',
    scope: 'stage',
    shape: [b, seq, plan.derived.vocabPadded],
    dtype: 'fp32',
    shards: [...seqShard(1), ...(t > 1 ? [{ dim: 2, parts: t, over: 'tensor' } as Shard] : [])],
    bytes: Math.ceil(trainOutputBytes(sequenceShard(plan))),
    owners: [plan.mesh.pipeline - 1],
  });
  return out;
}

function serveTensors(plan: ServePlan): GraphTensor[] {
  const t = plan.mesh.tensor;
  const out: GraphTensor[] = [];
  for (const w of weightSpecs(plan)) {
    out.push({
      name: w.name,
      role: 'weight',
      scope: w.scope,
      shape: w.shape,
      dtype: plan.model.dtype,
      shards: shardsOf(w, plan, 1),
      bytes: shardBytes(w, plan, 1, plan.model.dtype),
      owners: w.owners,
      ...rangesOf(w),
    });
  }
  const { model, derived } = plan;
  const all = Array.from({ length: plan.mesh.pipeline }, (_, i) => i);
  out.push(...kvTensors(plan));
  // The prefill peak of one layer (transient: allocated and freed within each layer's prefill).
  const inner = plan.stages.find((st) => !st.hasOutput) ?? { ...plan.stages[0]!, hasOutput: false };
  out.push({
    name: 'scratch.prefill',
    role: 'activation',
    scope: 'stage',
    shape: ['tokens', model.hidden],
    dtype: plan.model.dtype,
    shards: [],
    bytes: serveActivations(plan, inner).bytes,
    owners: all,
  });
  out.push({
    name: 'logits',
    role: 'logits',
    scope: 'stage',
    shape: ['batch', derived.vocabPadded],
    dtype: 'fp32',
    shards: t > 1 ? [{ dim: 1, parts: t, over: 'tensor' }] : [],
    bytes: plan.batch.maxBatch * (derived.vocabPadded / t) * 4,
    owners: [plan.mesh.pipeline - 1],
  });
  return out;
}

/**
 * The KV cache per layer (`kv.{l}`): [2, batch, seq, kv_heads, head_dim] split over the tensor
 * ranks as the heads are; a sliding-window layer keeps at most `window` positions; an MLA layer
 * keeps the compressed latent and the shared rotary key, [batch, seq, kv_lora_rank + rope dim],
 * whole on every tensor rank (vLLM's MLA cache).
 */
function kvTensors(plan: ServePlan): GraphTensor[] {
  const { model, derived } = plan;
  const t = plan.mesh.tensor;
  const all = Array.from({ length: plan.mesh.pipeline }, (_, i) => i);
  // The webgpu engine's caches ignore the window (below): layers that differ only in it share one tensor.
  const same = plan.engine === 'webgpu' ? sameShape : sameLayer;
  const blocks = layerBlocks(plan).filter((b, i, all) => all.findIndex((o) => same(o.layer, b.layer)) === i);
  const runs = blocks.length > 1 ? layerRuns(model) : [];
  const out: GraphTensor[] = [];
  for (const b of blocks) {
    const a = b.layer.attention;
    const ranges =
      blocks.length > 1 ? { layers: runs.filter((r) => same(r.layer, b.layer)).map((r) => [r.first, r.last] as [number, number]) } : {};
    const B = plan.batch.maxBatch;
    if (a.kind === 'mla') {
      const width = a.kvLoraRank + a.qkRopeHeadDim;
      out.push({
        name: 'kv.{l}',
        role: 'kvCache',
        scope: 'layer',
        shape: ['batch', 'seq', width],
        dtype: plan.kvDtype,
        shards: [],
        bytes: dtypeBytes(B * plan.batch.seq * width, plan.kvDtype),
        owners: all,
        ...ranges,
      });
      continue;
    }
    const kvParts = Math.min(t, a.kvHeads);
    const kvShards: Shard[] =
      t > 1
        ? [kvParts < t ? { dim: 3, parts: kvParts, over: 'tensor', replicas: t / kvParts } : { dim: 3, parts: kvParts, over: 'tensor' }]
        : [];
    // The webgpu engine keeps every position of a sequence and masks by the window (src/memory/kv-cache.ts).
    const window = plan.engine === 'webgpu' ? undefined : a.window;
    const positions = window !== undefined ? Math.min(window, plan.batch.seq) : plan.batch.seq;
    const perRank = blocks.length > 1 ? (a.kvHeads >= t ? a.kvHeads / t : 1) : derived.kvHeadsPerRank;
    out.push({
      name: 'kv.{l}',
      role: 'kvCache',
      scope: 'layer',
      shape: [2, 'batch', window !== undefined && window < plan.batch.seq ? window : 'seq', a.kvHeads, a.headDim],
      dtype: plan.kvDtype,
      shards: kvShards,
      bytes: dtypeBytes(2 * B * positions * perRank * a.headDim, plan.kvDtype),
      owners: all,
      ...ranges,
    });
  }
  return out;
}
