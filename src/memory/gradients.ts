/**
 * Gradients (training only): one gradient per parameter in `grad_dtype` (Megatron's main-gradient
 * buffer, fp32 by default), sharded over the data replicas under ZeRO-2 and ZeRO-3.
 */
import { DTYPES } from '../facts/dtypes.js';
import type { CheckedPlan } from '../plan.js';
import { bytesText, num } from '../format.js';
import type { Part } from './format.js';
import { zeroShard } from './weights.js';

export function gradients(plan: CheckedPlan, params: number): Part {
  if (plan.mode === 'serve') return { bytes: 0, why: 'gradients: 0 (serving keeps no gradients)' };
  const dt = plan.gradDtype;
  const per = DTYPES[dt].bits / 8;
  if (plan.zero >= 2 && plan.mesh.data > 1) {
    const shard = zeroShard(params, plan.mesh.data);
    const bytes = shard * per;
    return {
      bytes,
      why: `gradients: ⌈${num(params)} params / ${plan.mesh.data} data (ZeRO-${plan.zero})⌉ = ${num(shard)} × ${per} B (${dt}) = ${bytesText(bytes)}`,
    };
  }
  const bytes = params * per;
  return { bytes, why: `gradients: ${num(params)} params × ${per} B (${dt}) = ${bytesText(bytes)}` };
}
