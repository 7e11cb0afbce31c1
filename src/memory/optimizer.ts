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
import { zeroDegree, zeroPart } from './weights.js';

/** Optimizer bytes per parameter, and what they are. */
export function optimizerBytesPerParam(plan: TrainPlan): { bytes: number; parts: string } {
  const master = plan.precision === 'fp32' ? 0 : 4;
  const m = master ? 'fp32 master 4 + ' : '';
  if (plan.optimizer === 'sgd') return { bytes: master + 4, parts: `${plan.optimizer}: ${m}momentum 4` };
  return { bytes: master + 8, parts: `${plan.optimizer}: ${m}m 4 + v 4` };
}

export function optimizer(plan: CheckedPlan, params: number, routed = 0): Part {
  if (plan.mode === 'serve') return { bytes: 0, why: 'optimizer: 0 (serving keeps no optimizer states)' };
  const { bytes: per, parts } = optimizerBytesPerParam(plan);
  if (plan.zero >= 1 && (zeroDegree(plan) > 1 || (routed > 0 && plan.experts.data > 1)))
    return zeroPart(plan, 'optimizer', params, routed, per, parts, plan.zero);
  const bytes = params * per;
  return part(bytes, () => `optimizer: ${num(params)} params × ${per} B (${parts}) = ${bytesText(bytes)}`);
}
