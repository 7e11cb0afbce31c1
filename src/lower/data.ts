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
import { zeroDegree } from '../memory/zero.js';
import { overlapsGradSync } from '../cost/train.js';
import type { Stage, TrainPlan } from '../plan.js';
import { layerRuns } from '../model.js';
import { layerShardParams, overZeroGroup } from './layer.js';
import { hasExperts, splitTiedEmbeddings } from './mesh.js';

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
  // The ZeRO group (src/memory/zero.ts): with HSDP the shard group × context, not every data rank.
  const z = zeroDegree(plan);
  const shard = (plan.zero >= 1 && z > 1 ? Math.ceil(sync.dense / z) : sync.dense) + expertShard;
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
