/**
 * LoRA (plan `adapter { }`): the trainable parameters one device holds, and the extra activations
 * of the adapter branch. An adapter on a module d_in → d_out adds A (r × d_in) and B (d_out × r)
 * (peft tuners/lora/layer.py: lora_A = nn.Linear(in_features, r), lora_B = nn.Linear(r, out_features),
 * no biases with bias = "none", PEFT's default); on a tensor-parallel rank it splits as its base
 * linear does (the shard's d_in, d_out: column-parallel B's rows, row-parallel A's columns).
 */
import { adaptedModules } from '../adapter.js';
import { bytesPerElement } from '../facts/dtypes.js';
import { shardLayer, type LayerSpec } from '../model.js';
import type { Stage, TrainPlan } from '../plan.js';
import { stageRuns } from './params.js';

/** Adapter parameters of one layer on one tensor rank: Σ over adapted modules r·(d_in + d_out) of the shard. */
export function layerAdapterParams(plan: TrainPlan, layer: LayerSpec): number {
  const a = plan.adapter;
  if (!a) return 0;
  let n = 0;
  for (const m of adaptedModules(plan.model, shardLayer(layer, plan.mesh.tensor), a.targets)) n += a.rank * (m.in + m.out);
  return n;
}

/** Adapter parameters on one device of `stage`. */
export function adapterParams(plan: TrainPlan, stage: Stage): number {
  let n = 0;
  for (const r of stageRuns(plan, stage)) n += r.n * layerAdapterParams(plan, r.f.layer);
  return n;
}

/** Adapter parameters of the whole (unsharded) model. */
export function modelAdapterParams(plan: TrainPlan): number {
  const a = plan.adapter;
  if (!a) return 0;
  let n = 0;
  for (const f of plan.derived.layers)
    for (const m of adaptedModules(plan.model, f.layer, a.targets)) n += (f.last - f.first + 1) * a.rank * (m.in + m.out);
  return n;
}

/**
 * Activation bytes one layer's adapters add per microbatch (T = s·b tokens, B = bytes(precision)):
 * each adapted module keeps A's output for B's weight gradient, T·r·B (the input x the branch
 * needs for A's gradient is the base linear's input, already counted); with dropout > 0 the
 * branch runs on dropout(x), a copy it keeps, T·d_in·B, and the mask, T·d_in bytes (torch's
 * native dropout saves a bool mask). Under full recomputation only layer inputs are kept (0).
 */
export function layerAdapterActivationBytes(plan: TrainPlan, layer: LayerSpec): number {
  const a = plan.adapter;
  if (!a || plan.recompute === 'full') return 0;
  const T = plan.batch.seq * plan.batch.micro;
  const B = bytesPerElement(plan.precision);
  let bytes = 0;
  for (const m of adaptedModules(plan.model, shardLayer(layer, plan.mesh.tensor), a.targets)) {
    bytes += T * a.rank * B;
    if (a.dropout > 0) bytes += T * m.in * (B + 1);
  }
  return bytes;
}
