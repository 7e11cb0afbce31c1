/**
 * Weights: the parameters a device holds, in the training precision (sharded over the data
 * replicas under ZeRO-3) or in the served model's dtype (int4 packs two per byte).
 */
import { DTYPES, dtypeBytes } from '../facts/dtypes.js';
import type { CheckedPlan } from '../plan.js';
import { bytesText, num } from '../format.js';
import type { Part } from './format.js';

/** Elements each data replica keeps of a ZeRO-partitioned tensor of `params` elements (even split, padded). */
export function zeroShard(params: number, data: number): number {
  return Math.ceil(params / data);
}

/** Weight bytes for a device holding `params` parameters. */
export function weights(plan: CheckedPlan, params: number): Part {
  if (plan.mode === 'serve') {
    const dt = plan.model.dtype;
    const bytes = dtypeBytes(params, dt);
    const per = DTYPES[dt].bits / 8;
    return { bytes, why: `weights: ${num(params)} params × ${num(per)} B (${dt})${per < 1 ? ', rounded up' : ''} = ${bytesText(bytes)}` };
  }
  const dt = plan.precision;
  const per = DTYPES[dt].bits / 8;
  if (plan.zero === 3 && plan.mesh.data > 1) {
    const shard = zeroShard(params, plan.mesh.data);
    const bytes = shard * per;
    return {
      bytes,
      why: `weights: ⌈${num(params)} params / ${plan.mesh.data} data (ZeRO-3)⌉ = ${num(shard)} × ${per} B (${dt}) = ${bytesText(bytes)}`,
    };
  }
  const bytes = params * per;
  return { bytes, why: `weights: ${num(params)} params × ${per} B (${dt}) = ${bytesText(bytes)}` };
}
