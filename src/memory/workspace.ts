/**
 * Workspace: the plan's per-GPU scratch (kernels, communication buffers), plus under ZeRO-3 the
 * buffer for one gathered module and its gradient, DeepSpeed's `largest_layer_memory =
 * 4 × largest_layer_params` (estimate_zero3_model_states_mem_needs); we write 2 × bytes(precision),
 * which is DeepSpeed's 4 for 16-bit training.
 */
import { bytesPerElement } from '../facts/dtypes.js';
import type { CheckedPlan, Stage } from '../plan.js';
import { webgpuPart } from './activations.js';
import { layerRuns } from '../model.js';
import { quantizes, rankLinears } from './weights.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';

export function workspace(plan: CheckedPlan, largestModuleParams: number, stage?: Stage): Part {
  if (plan.mode === 'serve' && plan.engine === 'webgpu' && stage) return webgpuPart(plan, stage, 'workspace');
  const base = plan.workspaceBytes;
  const q = plan.model.quant;
  if (plan.mode === 'train' && plan.adapter && q && stage) {
    // bitsandbytes' MatMul4Bit (autograd/_functions.py) dequantizes each 4-bit weight to a 16-bit
    // copy for its matmul, forward and backward, one linear at a time: the largest one's.
    const largest = Math.max(
      0,
      ...layerRuns(plan.model, stage.firstLayer, stage.firstLayer + stage.layers - 1).flatMap((r) =>
        rankLinears(plan, r.layer)
          .filter((l) => quantizes(q, l))
          .map((l) => l.in * l.out),
      ),
    );
    const per = bytesPerElement(plan.precision);
    const bytes = base + per * largest;
    return part(
      bytes,
      () =>
        `workspace: ${num(base)} B (plan workspace) + ${per} B × ${num(largest)} of the largest quantized linear (dequantized for its matmul) = ${bytesText(bytes)}`,
    );
  }
  if (plan.mode === 'train' && plan.zero === 3) {
    const per = 2 * bytesPerElement(plan.precision);
    const gather = per * largestModuleParams;
    const bytes = base + gather;
    return part(
      bytes,
      () =>
        `workspace: ${num(base)} B (plan workspace) + ${per} B × ${num(largestModuleParams)} params of the largest module (ZeRO-3 gathered ${plan.precision} weights + gradients) = ${bytesText(bytes)}`,
    );
  }
  return part(base, () => `workspace: ${bytesText(base)}, the plan's workspace`);
}
