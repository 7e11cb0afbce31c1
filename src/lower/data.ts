/**
 * Data parallelism: after the pipeline has run every microbatch, gradients are
 * synchronised across replicas and the optimizer steps.
 *  - zero 0: all-reduce of the gradients (PyTorch DDP / Megatron);
 *  - zero 1, 2: reduce-scatter of the gradients, the optimizer on the local shard,
 *    all-gather of the updated weights (Megatron's distributed optimizer, ZeRO-1/2);
 *  - zero 3: gradients were reduce-scattered layer by layer in backward; weights are
 *    gathered before use, so only the optimizer on the shard remains.
 * Tied embeddings split over the first and last stage first sum their gradients.
 */
import { bytesPerElement } from '../facts/dtypes.js';
import type { Step } from '../graph/types.js';
import { deviceParams } from '../memory/params.js';
import type { Stage, TrainPlan } from '../plan.js';
import { splitTiedEmbeddings } from './mesh.js';

export function gradientSyncSteps(plan: TrainPlan, stage: Stage): Step[] {
  const params = deviceParams(plan, stage).total;
  const gradBytes = params * bytesPerElement(plan.gradDtype);
  const weightBytes = params * bytesPerElement(plan.precision);
  const steps: Step[] = [];
  if (splitTiedEmbeddings(plan) && (stage.hasEmbedding || stage.hasOutput)) {
    const rows = plan.derived.vocabPadded / plan.mesh.tensor;
    steps.push({
      op: 'all-reduce',
      axis: 'embedding',
      tensor: 'grad.tied_embedding',
      bytes: rows * plan.model.hidden * bytesPerElement(plan.gradDtype),
    });
  }
  const d = plan.mesh.data;
  if (d > 1) {
    if (plan.zero === 0) steps.push({ op: 'all-reduce', axis: 'data', tensor: 'grad.*', bytes: gradBytes });
    else if (plan.zero <= 2) steps.push({ op: 'reduce-scatter', axis: 'data', tensor: 'grad.*', bytes: gradBytes });
  }
  const shard = plan.zero >= 1 && d > 1 ? Math.ceil(params / d) : params;
  // Adam: about 10 FLOPs per parameter (moments, bias correction, update).
  steps.push({
    op: 'compute',
    kind: 'optimizer',
    pass: 'forward',
    reads: ['grad.*', 'optim.*'],
    writes: ['optim.*', '*'],
    flops: 10 * shard,
  });
  if (d > 1 && (plan.zero === 1 || plan.zero === 2)) steps.push({ op: 'all-gather', axis: 'data', tensor: '*', bytes: weightBytes });
  return steps;
}
