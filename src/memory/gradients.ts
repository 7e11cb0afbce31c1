/**
 * Gradients (training only): one gradient per parameter in `grad_dtype` (Megatron's main-gradient
 * buffer, fp32 by default), sharded over the data (× context) replicas under ZeRO-2 and ZeRO-3 (routed experts'
 * over the expert data replicas).
 */
import { DTYPES } from '../facts/dtypes.js';
import type { CheckedPlan } from '../plan.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';
import { zeroPart } from './weights.js';
import { zeroDegree } from './zero.js';
import { offloadedGradients } from './offload.js';

export function gradients(plan: CheckedPlan, params: number, routed = 0, largestModule = 0, what = ''): Part {
  if (plan.mode === 'serve') return { bytes: 0, why: 'gradients: 0 (serving keeps no gradients)' };
  if (plan.offload !== 'none') return offloadedGradients(plan, params, largestModule);
  const dt = plan.gradDtype;
  const per = DTYPES[dt].bits / 8;
  if (plan.zero >= 2 && (zeroDegree(plan) > 1 || (routed > 0 && plan.experts.data > 1)))
    return zeroPart(plan, what ? `gradients (${what.trim()}s)` : 'gradients', params, routed, per, dt, plan.zero);
  const bytes = params * per;
  return part(bytes, () => `gradients: ${num(params)} ${what}params × ${per} B (${dt}) = ${bytesText(bytes)}`);
}
