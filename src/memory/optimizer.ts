/**
 * Optimizer states (training only), per parameter (ZeRO paper's K; Megatron's 18 B = 2 + 4 + 12):
 *   adam / adamw: fp32 master copy 4 (only when the weights are 16-bit) + m 4 + v 4
 *   sgd:          fp32 master copy 4 (only when the weights are 16-bit) + momentum 4
 * sharded over the data (× context) replicas from ZeRO-1 on (routed experts' over the expert data replicas,
 * Megatron-Core's distributed optimizer over the expert data-parallel group).
 */
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';
import { zeroPart } from './weights.js';
import { zeroDegree } from './zero.js';
import { offloadedOptimizer } from './offload.js';

/** Optimizer bytes per parameter, and what they are. */
export function optimizerBytesPerParam(plan: TrainPlan): { bytes: number; parts: string } {
  // precision = amp_*: the fp32 parameters are the master weights; the moments are fp32 (the parameters' dtype).
  // Adapters (LoRA) in a 16-bit precision are updated in place, with no fp32 copy: QLoRA's recipe
  // casts the LoRA layers to bf16 (artidoro/qlora qlora.py, `module.to(torch.bfloat16)` under
  // --bf16) and its 32-bit optimizer keeps fp32 moments for them (bitsandbytes paged_adamw_32bit).
  const master = plan.precision === 'fp32' || plan.amp || plan.adapter ? 0 : 4;
  const m = master ? 'fp32 master 4 + ' : '';
  if (plan.optimizer === 'sgd') return { bytes: master + 4, parts: `${plan.optimizer}: ${m}momentum 4` };
  return { bytes: master + 8, parts: `${plan.optimizer}: ${m}m 4 + v 4` };
}

/**
 * precision = amp_fp16: torch.amp.GradScaler's state on each device, its fp32 scale, int32
 * growth tracker and fp32 found_inf (torch/amp/grad_scaler.py; unscale_ works in place).
 */
export const GRAD_SCALER_BYTES = 12;

export function optimizer(plan: CheckedPlan, params: number, routed = 0, what = ''): Part {
  if (plan.mode === 'serve') return { bytes: 0, why: 'optimizer: 0 (serving keeps no optimizer states)' };
  if (plan.offload !== 'none') return offloadedOptimizer(plan);
  const states = optimizerStates(plan, params, routed, what);
  if (!(plan.amp && plan.precision === 'fp16')) return states;
  const bytes = states.bytes + GRAD_SCALER_BYTES;
  return part(
    bytes,
    () =>
      `${states.why.replace(/ = [^=]*$/, '')} + ${GRAD_SCALER_BYTES} B GradScaler (scale, growth tracker, found_inf) = ${bytesText(bytes)}`,
  );
}

function optimizerStates(plan: TrainPlan, params: number, routed: number, what: string): Part {
  const { bytes: per, parts } = optimizerBytesPerParam(plan);
  if (plan.zero >= 1 && (zeroDegree(plan) > 1 || (routed > 0 && plan.experts.data > 1)))
    return zeroPart(plan, what ? `optimizer (${what.trim()}s)` : 'optimizer', params, routed, per, parts, plan.zero);
  const bytes = params * per;
  return part(bytes, () => `optimizer: ${num(params)} ${what}params × ${per} B (${parts}) = ${bytesText(bytes)}`);
}
