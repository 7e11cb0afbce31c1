/**
 * Every tensor of the graph: weights with their Megatron sharding, and for training
 * their gradients and optimizer states (with ZeRO's sharding over data replicas);
 * saved activations; for serving the KV cache and logits. Byte sizes come from the
 * memory model's own functions, so that the graph and the memory plan agree.
 */
import { bytesPerElement, dtypeBytes, type Dtype } from '../facts/dtypes.js';
import type { GraphTensor, Shard } from '../graph/types.js';
import { serveActivations, trainLayerActivationBytes } from '../memory/activations.js';
import { uniformLayer } from '../model.js';
import type { CheckedPlan, ServePlan, TrainPlan } from '../plan.js';
import { splitTiedEmbeddings } from './mesh.js';

interface WeightSpec {
  name: string;
  scope: 'layer' | 'stage';
  shape: number[];
  /** Split over tensor ranks along this dimension (undefined: replicated). */
  tensorDim?: number;
  /** KV heads replicated when tensor > kv_heads. */
  tensorParts?: number;
  owners: number[];
}

/** The weights, as Megatron shards them (PyTorch Linear layout [out, in]). */
export function weightSpecs(plan: CheckedPlan): WeightSpec[] {
  const { model, derived } = plan;
  const p = plan.mesh.pipeline;
  const h = model.hidden;
  // A `layer`-scoped tensor has one shape for every layer.
  const { attention: a, mlp } = uniformLayer(model, 'lowering');
  const qd = a.heads * a.headDim;
  const kvd = a.kvHeads * a.headDim;
  const f = mlp.ffn;
  const all = Array.from({ length: p }, (_, i) => i);
  const kvParts = Math.min(plan.mesh.tensor, a.kvHeads);
  const specs: WeightSpec[] = [];
  const layer = (name: string, shape: number[], tensorDim?: number, tensorParts?: number) =>
    specs.push({
      name: `layers.{l}.${name}`,
      scope: 'layer',
      shape,
      owners: all,
      ...(tensorDim === undefined ? {} : { tensorDim }),
      ...(tensorParts === undefined ? {} : { tensorParts }),
    });
  const norm = (prefix: string) => {
    layer(`${prefix}.weight`, [h]);
    if (model.norm === 'layernorm') layer(`${prefix}.bias`, [h]);
  };
  norm('attn_norm');
  layer('attn.q.weight', [qd, h], 0);
  layer('attn.k.weight', [kvd, h], 0, kvParts);
  layer('attn.v.weight', [kvd, h], 0, kvParts);
  layer('attn.o.weight', [h, qd], 1);
  if (model.bias) {
    layer('attn.q.bias', [qd], 0);
    layer('attn.k.bias', [kvd], 0, kvParts);
    layer('attn.v.bias', [kvd], 0, kvParts);
    layer('attn.o.bias', [h]);
  }
  norm('mlp_norm');
  if (mlp.activation === 'swiglu') layer('mlp.gate.weight', [f, h], 0);
  layer('mlp.up.weight', [f, h], 0);
  layer('mlp.down.weight', [h, f], 1);
  if (model.bias) {
    if (mlp.activation === 'swiglu') layer('mlp.gate.bias', [f], 0);
    layer('mlp.up.bias', [f], 0);
    layer('mlp.down.bias', [h]);
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

function shardsOf(w: WeightSpec, t: number, zeroOver: number): Shard[] {
  const shards: Shard[] = [];
  if (w.tensorDim !== undefined && t > 1) {
    const parts = w.tensorParts ?? t;
    shards.push(parts < t ? { dim: w.tensorDim, parts, over: 'tensor', replicas: t / parts } : { dim: w.tensorDim, parts, over: 'tensor' });
  }
  if (zeroOver > 1) shards.push({ dim: -1, parts: zeroOver, over: 'data' });
  return shards;
}

function shardBytes(w: WeightSpec, t: number, zeroOver: number, dtype: Dtype): number {
  const tp = w.tensorDim !== undefined ? (w.tensorParts ?? t) : 1;
  return dtypeBytes(Math.ceil(elements(w.shape) / tp / zeroOver), dtype);
}

export function lowerTensors(plan: CheckedPlan): GraphTensor[] {
  return plan.mode === 'train' ? trainTensors(plan) : serveTensors(plan);
}

function trainTensors(plan: TrainPlan): GraphTensor[] {
  const t = plan.mesh.tensor;
  const d = plan.mesh.data;
  const out: GraphTensor[] = [];
  const optimizerCopies = (plan.optimizer === 'sgd' ? 1 : 2) + (plan.precision === 'fp32' ? 0 : 1);
  for (const w of weightSpecs(plan)) {
    const z3 = plan.zero >= 3 ? d : 1;
    const z2 = plan.zero >= 2 ? d : 1;
    const z1 = plan.zero >= 1 ? d : 1;
    out.push({
      name: w.name,
      role: 'weight',
      scope: w.scope,
      shape: w.shape,
      dtype: plan.precision,
      shards: shardsOf(w, t, z3),
      bytes: shardBytes(w, t, z3, plan.precision),
      owners: w.owners,
    });
    out.push({
      name: `grad.${w.name}`,
      role: 'gradient',
      scope: w.scope,
      shape: w.shape,
      dtype: plan.gradDtype,
      shards: shardsOf(w, t, z2),
      bytes: shardBytes(w, t, z2, plan.gradDtype),
      owners: w.owners,
    });
    out.push({
      name: `optim.${w.name}`,
      role: 'optimizer',
      scope: w.scope,
      shape: [optimizerCopies, ...w.shape],
      dtype: 'fp32',
      shards: shardsOf(w, t, z1),
      bytes: optimizerCopies * shardBytes(w, t, z1, 'fp32'),
      owners: w.owners,
    });
  }
  const all = Array.from({ length: plan.mesh.pipeline }, (_, i) => i);
  const { seq: s, micro: b } = plan.batch;
  const h = plan.model.hidden;
  // What backward needs of each layer (Korthikanti et al. 2022; see docs/memory.md).
  out.push({
    name: 'act.{l}.mb{m}',
    role: 'activation',
    scope: 'layer',
    shape: [b, s, h],
    dtype: plan.precision,
    shards: [],
    bytes: trainLayerActivationBytes(plan),
    owners: all,
  });
  const sp = plan.sequenceParallel && t > 1 ? t : 1;
  // First stage, per microbatch in flight: int64 token ids and the embedding dropout mask.
  out.push({
    name: 'input.mb{m}',
    role: 'input',
    scope: 'stage',
    shape: [b, s],
    dtype: 'fp32',
    shards: [],
    bytes: 8 * s * b + (s * b * h) / sp,
    owners: [0],
  });
  // Last stage, per microbatch until its backward: norm and output-layer inputs, fp32 logits.
  const scale = bytesPerElement(plan.precision) / 2;
  out.push({
    name: 'output.mb{m}',
    role: 'logits',
    scope: 'stage',
    shape: [b, s, plan.derived.vocabPadded],
    dtype: 'fp32',
    shards: t > 1 ? [{ dim: 2, parts: t, over: 'tensor' }] : [],
    bytes: Math.ceil(((4 * s * b * h) / sp) * scale + 4 * s * b * (plan.derived.vocabPadded / t)),
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
      shards: shardsOf(w, t, 1),
      bytes: shardBytes(w, t, 1, plan.model.dtype),
      owners: w.owners,
    });
  }
  const { model, derived } = plan;
  const all = Array.from({ length: plan.mesh.pipeline }, (_, i) => i);
  const { kvHeads, headDim } = uniformLayer(model, 'lowering').attention;
  const kvParts = Math.min(t, kvHeads);
  const kvShards: Shard[] =
    t > 1
      ? [kvParts < t ? { dim: 3, parts: kvParts, over: 'tensor', replicas: t / kvParts } : { dim: 3, parts: kvParts, over: 'tensor' }]
      : [];
  out.push({
    name: 'kv.{l}',
    role: 'kvCache',
    scope: 'layer',
    shape: [2, 'batch', 'seq', kvHeads, headDim],
    dtype: plan.kvDtype,
    shards: kvShards,
    bytes: dtypeBytes(2 * plan.batch.maxBatch * plan.batch.seq * derived.kvHeadsPerRank * headDim, plan.kvDtype),
    owners: all,
  });
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
