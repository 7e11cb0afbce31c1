/**
 * Tensor parallelism: what must divide the tensor degree (heads, ffn, kv_heads)
 * and what is padded or replicated to make it split evenly (vocab, KV heads).
 */
import { diag } from '../diagnostics/diagnostic.js';
import type { Derived, Mesh, ModelSpec } from '../plan.js';
import { spanOf, type PlanContext } from './context.js';

/** Tensor degrees that split this model evenly (heads, ffn, and KV heads divided or replicated). */
export function validTensorDegrees(model: ModelSpec, max: number): number[] {
  const out: number[] = [];
  // A degree must divide heads, so none is above it (and the loop stays bounded).
  for (let t = 1; t <= Math.min(max, model.heads); t++) {
    if (model.heads % t === 0 && model.ffn % t === 0 && (model.kvHeads % t === 0 || t % model.kvHeads === 0)) out.push(t);
  }
  return out;
}

/** Facts that follow from the model and the mesh; assumes the checks below passed. */
export function deriveFacts(model: ModelSpec, mesh: Mesh): Derived {
  const t = mesh.tensor;
  const kvHeadsPerRank = model.kvHeads >= t ? model.kvHeads / t : 1;
  return {
    vocabPadded: Math.ceil(model.vocab / t) * t,
    headsPerRank: model.heads / t,
    kvHeadsPerRank,
    kvReplication: model.kvHeads >= t ? 1 : t / model.kvHeads,
    ffnPerRank: model.ffn / t,
    gpusUsed: t * mesh.pipeline * mesh.data,
  };
}

function suggestion(ctx: PlanContext): string {
  const maxT = Math.max(1, Math.floor(ctx.cluster.gpus / (ctx.mesh.pipeline * ctx.mesh.data)));
  const valid = validTensorDegrees(ctx.model, Math.max(maxT, ctx.mesh.tensor)).filter((t) => t <= maxT);
  const t = ctx.mesh.tensor;
  const below = valid.filter((v) => v < t).pop();
  const above = valid.find((v) => v > t);
  const picks = [below, above].filter((v): v is number => v !== undefined && v > 1);
  return picks.length > 0 ? `tensor = ${picks.join(' or ')} splits model '${ctx.model.name}' evenly` : 'tensor = 1 (no tensor parallelism) always works';
}

/** Returns false when the tensor degree cannot split the model. */
export function checkTensor(ctx: PlanContext): boolean {
  const { model, out } = ctx;
  const t = ctx.mesh.tensor;
  if (t === 1) return true;
  const at = spanOf(ctx, 'tensor');
  const related = [{ span: model.span, message: `model '${model.name}' declared here` }];
  let ok = true;
  if (model.heads % t !== 0) {
    out.push(diag('PP3001', at, { heads: model.heads, tensor: t }, { help: suggestion(ctx), related }));
    ok = false;
  }
  // With kv_heads = heads (multi-head attention) a bad degree is one mistake: PP3001 says it.
  if (model.kvHeads % t !== 0 && t % model.kvHeads !== 0 && !(model.kvHeads === model.heads && !ok)) {
    out.push(diag('PP3002', at, { kvHeads: model.kvHeads, tensor: t }, { help: `${suggestion(ctx)}; KV heads are split when tensor divides kv_heads and replicated when kv_heads divides tensor`, related }));
    ok = false;
  } else if (model.kvHeads < t && ok) {
    out.push(diag('PP3003', at, { tensor: t, kvHeads: model.kvHeads, copies: t / model.kvHeads }, { help: `as vLLM does: each tensor rank keeps 1 KV head, so the KV cache is ${t / model.kvHeads}× larger in total than with tensor = ${model.kvHeads}` }));
  }
  if (model.ffn % t !== 0) {
    out.push(diag('PP3004', at, { ffn: model.ffn, tensor: t }, { help: suggestion(ctx), related }));
    ok = false;
  }
  if (ok && model.vocab % t !== 0) {
    const padded = Math.ceil(model.vocab / t) * t;
    out.push(diag('PP3005', at, { vocab: model.vocab, padded, tensor: t }, { help: `each tensor rank holds ${padded / t} rows of the embedding and output layer; the ${padded - model.vocab} padding rows are never produced as tokens` }));
  }
  return ok;
}
