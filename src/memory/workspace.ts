/**
 * Workspace: the plan's per-GPU scratch (kernels, communication buffers), plus under ZeRO-3 the
 * buffer for one gathered module and its gradient, DeepSpeed's `largest_layer_memory =
 * 4 × largest_layer_params` (estimate_zero3_model_states_mem_needs); we write 2 × bytes(precision),
 * which is DeepSpeed's 4 for 16-bit training.
 */
import { gatheredBytesPerParam } from './fp8.js';
import { bytesPerElement } from '../facts/dtypes.js';
import type { CheckedPlan, Stage, TrainPlan } from '../plan.js';
import { deviceParams } from './params.js';
import { webgpuPart } from './activations.js';
import { layerRuns } from '../model.js';
import { quantizes, rankLinears } from './weights.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';

export function workspace(plan: CheckedPlan, largestModuleParams: number, stage?: Stage): Part {
  if (plan.mode === 'serve' && plan.engine === 'webgpu' && stage) return webgpuPart(plan, stage, 'workspace');
  const base = plan.workspaceBytes;
  if (plan.mode === 'train' && plan.zero === 3 && plan.amp && stage) return fsdp2Workspace(plan, stage);
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

/**
 * precision = amp_* with ZeRO-3 is FSDP2 (torch/distributed/fsdp/_fully_shard, MixedPrecisionPolicy
 * param_dtype 16-bit, reduce_dtype fp32) as torchtitan applies it (distributed/fsdp.py; at
 * 775a486e models/llama3/parallelize_llama.py apply_fsdp): one FSDP group per transformer block
 * and the root (embedding, final norm, output layer). At the start of backward it holds:
 *   - the root's 16-bit gathered parameters, kept after forward (fully_shard: "the root FSDP state
 *     has its value specially set to False") and the output layer's 16-bit gradient until the
 *     root's reduce-scatter at the end of backward: 2 B × root params + 2 B × output params;
 *   - two blocks gathered in 16-bit: the one in backward and the one prefetched (backward prefetches
 *     one group); with pipeline > 1 torchtitan does not reshard after forward, so every block
 *     of the stage stays gathered;
 *   - the block's 16-bit unsharded gradients (2 B) and the fp32 reduce-scatter input they are
 *     copied into (4 B, _fsdp_collectives.py foreach_reduce).
 */
export function fsdp2Workspace(plan: TrainPlan, stage: Stage): Part {
  const base = plan.workspaceBytes;
  const e = bytesPerElement(plan.precision);
  const p = deviceParams(plan, stage, 0);
  const block = stage.layers > 0 ? p.layers / stage.layers : 0;
  const root = p.embedding + p.positions + p.finalNorm + p.output;
  const gathered = plan.mesh.pipeline > 1 ? p.layers : Math.min(2, stage.layers) * block;
  // torchao tensorwise fp8 gathers the blocks' linear weights in fp8 (1 B; a block's two norms, 2h
  // params, are counted so too); the root (embeddings, output layer) stays 16-bit.
  const g = gatheredBytesPerParam(plan, e);
  const bytes = base + e * (root + p.output) + g * gathered + (e + 4) * block;
  return part(
    bytes,
    () =>
      `workspace: ${num(base)} B (plan workspace) + FSDP2: ${e} B × (${num(root)} root params gathered + ${num(p.output)} output-layer gradient) + ${g} B${g !== e ? ' (fp8 all-gather)' : ''} × ${num(gathered)} ${plan.mesh.pipeline > 1 ? 'stage params gathered (torchtitan: no reshard after forward with pipeline > 1)' : 'params of two blocks gathered (current + prefetched)'} + (${e} + 4) B × ${num(block)} params of one block (${plan.precision} gradients + fp32 reduce-scatter input) = ${bytesText(bytes)}`,
  );
}
