/**
 * Data parallelism: after the pipeline has run every microbatch, gradients are
 * synchronised across replicas and the optimizer steps.
 *  - zero 0: all-reduce of the gradients (PyTorch DDP / Megatron);
 *  - zero 1, 2: reduce-scatter of the gradients, the optimizer on the local shard,
 *    all-gather of the updated weights (Megatron's distributed optimizer, ZeRO-1/2);
 *  - zero 3: gradients were reduce-scattered layer by layer in backward; weights are
 *    gathered before use, so only the optimizer on the shard remains.
 * Tied embeddings split over the first and last stage first sum their gradients. A MoE
 * model's expert gradients sync over the expert-data group instead (`syncParams`).
 */
import { bytesPerElement } from '../facts/dtypes.js';
import type { Step } from '../graph/types.js';
import { adapterParams } from '../memory/adapter.js';
import { deviceParams } from '../memory/params.js';
import type { Stage, TrainPlan } from '../plan.js';
import { layerRuns } from '../model.js';
import { layerShardParams, overZeroGroup } from './layer.js';
import { hasExperts, splitTiedEmbeddings } from './mesh.js';
import { splitsBackward } from '../memory/activations.js';

/**
 * A stage's parameters on one rank, as the data group and the expert-data group replicate
 * them: a MoE model's routed experts (each rank holds experts / expert of them, each split over
 * expert_tensor) sync over their expert-data replicas, everything else over data.
 */
export function syncParams(plan: TrainPlan, stage: Stage): { dense: number; experts: number } {
  // LoRA: only the adapters have gradients to sync and weights to step (routed experts are never adapted).
  if (plan.adapter) return { dense: adapterParams(plan, stage), experts: 0 };
  const dp = deviceParams(plan, stage);
  if (!hasExperts(plan)) return { dense: dp.total, experts: 0 };
  let dense = dp.total - dp.layers;
  let experts = 0;
  for (const r of layerRuns(plan.model, stage.firstLayer, stage.firstLayer + stage.layers - 1)) {
    const p = layerShardParams(plan, r.layer);
    dense += (r.last - r.first + 1) * p.dense;
    experts += (r.last - r.first + 1) * p.experts;
  }
  return { dense, experts };
}

/**
 * Whether the gradients of each layer are reduced as the last microbatch's backward makes them, overlapped with
 * the backward of the layers before it: PyTorch DDP's gradient buckets (torch/nn/parallel/distributed.py, reducer
 * hooks; no_sync for the microbatches before the last) and Megatron's --overlap-grad-reduce (its distributed
 * optimizer's bucketed reduce-scatter), which the cost model's per-step data traffic assumes (src/cost/train.ts:
 * overlapped with the last microbatch's backward). Layer by layer here (a bucket per layer); the embedding, final
 * norm and output layer's gradients after the backward. Not for ZeRO-3 (its reduce-scatters are per layer already),
 * LoRA, MoE models (expert gradients sync over expert data) or split-backward tables (W makes the weight gradients).
 */
export function overlapsGradSync(plan: TrainPlan): boolean {
  return plan.zero <= 2 && plan.mesh.data * plan.mesh.context > 1 && !plan.adapter && !hasExperts(plan) && !splitsBackward(plan);
}

/** One layer's gradient reduction in the last microbatch's backward (overlapsGradSync), issued on the communication stream. */
export function layerGradSyncSteps(plan: TrainPlan, layer: number): Step[] {
  const spec = layerRuns(plan.model, layer, layer)[0]!.layer;
  const bytes = layerShardParams(plan, spec).dense * bytesPerElement(plan.gradDtype);
  const op = plan.zero === 0 ? 'all-reduce' : 'reduce-scatter';
  return overZeroGroup(plan, op, `grad.layers.${layer}.*`, bytes).map((s) => ({ ...s, overlap: true }) as Step);
}

export function gradientSyncSteps(plan: TrainPlan, stage: Stage): Step[] {
  const sync = syncParams(plan, stage);
  const { experts } = sync;
  // The layers' gradients went out layer by layer in the last backward (layerGradSyncSteps): the rest here.
  let params = sync.dense;
  if (overlapsGradSync(plan))
    for (const r of layerRuns(plan.model, stage.firstLayer, stage.firstLayer + stage.layers - 1))
      params -= (r.last - r.first + 1) * layerShardParams(plan, r.layer).dense;
  const gradBytes = params * bytesPerElement(plan.gradDtype);
  // ZeRO-1/2 all-gather every updated weight after the optimizer (the layers' too).
  const weightBytes = sync.dense * bytesPerElement(plan.precision);
  const steps: Step[] = [];
  if (splitTiedEmbeddings(plan) && !plan.adapter && (stage.hasEmbedding || stage.hasOutput)) {
    const rows = plan.derived.vocabPadded / plan.mesh.tensor;
    steps.push({
      op: 'all-reduce',
      axis: 'embedding',
      tensor: 'grad.tied_embedding',
      bytes: rows * plan.model.hidden * bytesPerElement(plan.gradDtype),
    });
  }
  const d = plan.mesh.data;
  const c = plan.mesh.context;
  if (plan.zero === 0) steps.push(...overZeroGroup(plan, 'all-reduce', 'grad.*', gradBytes));
  else if (plan.zero <= 2) steps.push(...overZeroGroup(plan, 'reduce-scatter', 'grad.*', gradBytes));
  // Expert gradients: the same, over the expert-data group (Megatron-Core's expert data parallelism).
  const ed = plan.experts.data;
  if (experts > 0 && ed > 1) {
    const bytes = experts * bytesPerElement(plan.gradDtype);
    if (plan.zero === 0) steps.push({ op: 'all-reduce', axis: 'expert_data', tensor: 'grad.experts', bytes });
    else if (plan.zero <= 2) steps.push({ op: 'reduce-scatter', axis: 'expert_data', tensor: 'grad.experts', bytes });
  }
  const expertShard = plan.zero >= 1 && ed > 1 ? Math.ceil(experts / ed) : experts;
  const shard = (plan.zero >= 1 && d * c > 1 ? Math.ceil(sync.dense / (d * c)) : sync.dense) + expertShard;
  // Adam: about 10 FLOPs per parameter (moments, bias correction, update).
  steps.push({
    op: 'compute',
    kind: 'optimizer',
    pass: 'forward',
    reads: ['grad.*', 'optim.*'],
    writes: ['optim.*', '*'],
    flops: 10 * shard,
  });
  if (plan.zero === 1 || plan.zero === 2) steps.push(...overZeroGroup(plan, 'all-gather', '*', weightBytes));
  if (experts > 0 && ed > 1 && (plan.zero === 1 || plan.zero === 2))
    steps.push({ op: 'all-gather', axis: 'expert_data', tensor: 'experts', bytes: experts * bytesPerElement(plan.precision) });
  return steps;
}
