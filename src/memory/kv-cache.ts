/**
 * KV cache (serving only), as vLLM sizes it: per layer and token, a key and a value for each KV
 * head on the device (`derived.kvHeadsPerRank`: kv_heads / tensor, or 1 when replicated),
 * for max_batch sequences of seq tokens each:
 *   2 × layers on the stage × kvHeadsPerRank × head_dim × bytes(kv_dtype) × max_batch × seq
 */
import { DTYPES, dtypeBytes } from '../facts/dtypes.js';
import { uniformLayer } from '../model.js';
import type { CheckedPlan, ServePlan, Stage } from '../plan.js';
import { bytesText, num } from '../format.js';
import type { Part } from './format.js';

/** KV-cache bytes per token on one device of `stage` (int4 rounded up per token). */
export function kvBytesPerToken(plan: ServePlan, stage: Stage): number {
  return dtypeBytes(
    2 * stage.layers * plan.derived.kvHeadsPerRank * uniformLayer(plan.model, 'the KV cache').attention.headDim,
    plan.kvDtype,
  );
}

export function kvCache(plan: CheckedPlan, stage: Stage): Part {
  if (plan.mode === 'train') return { bytes: 0, why: 'kvCache: 0 (training keeps no KV cache)' };
  const kvpr = plan.derived.kvHeadsPerRank;
  const d = uniformLayer(plan.model, 'the KV cache').attention.headDim;
  const { maxBatch, seq } = plan.batch;
  const dt = plan.kvDtype;
  const bytes = dtypeBytes(2 * stage.layers * kvpr * d * maxBatch * seq, dt);
  const repl = plan.derived.kvReplication > 1 ? `, each replicated on ${plan.derived.kvReplication} tensor ranks` : '';
  return {
    bytes,
    why: `kvCache: 2 (K, V) × ${stage.layers} layers × ${kvpr} KV heads${repl} × ${d} head_dim × ${num(DTYPES[dt].bits / 8)} B (${dt}) × ${maxBatch} seqs × ${num(seq)} tokens = ${bytesText(bytes)}`,
  };
}
