/**
 * Tensor parallelism: what must divide the tensor degree (heads, ffn, kv_heads)
 * and what is padded or replicated to make it split evenly (vocab, KV heads).
 */
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns, type Model } from '../model.js';
import type { Derived, Mesh } from '../plan.js';
import { spanOf, type PlanContext } from './context.js';

/** Tensor degrees that split this model evenly (heads, ffn, and KV heads divided or replicated). */
export function validTensorDegrees(model: Model, max: number): number[] {
  const layers = layerRuns(model).map((r) => r.layer);
  const splits = (t: number) =>
    layers.every(
      ({ attention: a, mlp }) =>
        a.heads % t === 0 &&
        (a.kind === 'mla' || a.kvHeads % t === 0 || t % a.kvHeads === 0) &&
        (mlp.kind === 'dense' ? mlp.ffn % t === 0 : mlp.expertFfn % t === 0 && mlp.sharedFfn % t === 0),
    );
  const out: number[] = [];
  // A degree must divide heads, so none is above it (and the loop stays bounded).
  for (let t = 1; t <= Math.min(max, ...layers.map((l) => l.attention.heads)); t++) if (splits(t)) out.push(t);
  return out;
}

/** Facts that follow from the model and the mesh; assumes the checks below passed. */
/**
 * Interim (expert-parallelism branch; the memory helper's per-layer version replaces it): the
 * first layer's heads (MLA: kv_heads = heads, nothing replicated) and the first dense MLP's width,
 * else the routed experts' width, so that MoE, MLA and sliding-window models reach the checks.
 */
function representative(model: Model): { attention: { heads: number; kvHeads: number }; ffn: number } {
  const runs = layerRuns(model);
  const a = runs[0]!.layer.attention;
  const dense = runs.find((r) => r.layer.mlp.kind === 'dense')?.layer.mlp;
  const m = runs[0]!.layer.mlp;
  const ffn = dense?.kind === 'dense' ? dense.ffn : m.kind === 'moe' ? m.expertFfn : m.ffn;
  return { attention: { heads: a.heads, kvHeads: a.kind === 'gqa' ? a.kvHeads : a.heads }, ffn };
}

export function deriveFacts(model: Model, mesh: Mesh): Derived {
  const t = mesh.tensor;
  const { attention: a, ffn } = representative(model);
  const kvHeadsPerRank = a.kvHeads >= t ? a.kvHeads / t : 1;
  return {
    vocabPadded: Math.ceil(model.vocab / t) * t,
    headsPerRank: a.heads / t,
    kvHeadsPerRank,
    kvReplication: a.kvHeads >= t ? 1 : t / a.kvHeads,
    ffnPerRank: ffn / t,
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
  return picks.length > 0
    ? `tensor = ${picks.join(' or ')} splits model '${ctx.model.name}' evenly`
    : 'tensor = 1 (no tensor parallelism) always works';
}

/** Returns false when the tensor degree cannot split the model. */
export function checkTensor(ctx: PlanContext): boolean {
  const { model, out } = ctx;
  const t = ctx.mesh.tensor;
  if (t === 1) return true;
  const at = spanOf(ctx, 'tensor');
  const related = [{ span: model.span, message: `model '${model.name}' declared here` }];
  const { attention: a, ffn } = representative(model);
  const { heads, kvHeads } = a;
  let ok = true;
  if (heads % t !== 0) {
    out.push(diag('PP3001', at, { heads, tensor: t }, { help: suggestion(ctx), related }));
    ok = false;
  }
  // With kv_heads = heads (multi-head attention) a bad degree is one mistake: PP3001 says it.
  if (kvHeads % t !== 0 && t % kvHeads !== 0 && !(kvHeads === heads && !ok)) {
    out.push(
      diag(
        'PP3002',
        at,
        { kvHeads, tensor: t },
        {
          help: `${suggestion(ctx)}; KV heads are split when tensor divides kv_heads and replicated when kv_heads divides tensor`,
          related,
        },
      ),
    );
    ok = false;
  } else if (kvHeads < t && ok) {
    out.push(
      diag(
        'PP3003',
        at,
        { tensor: t, kvHeads, copies: t / kvHeads },
        {
          help: `as vLLM does: each tensor rank keeps 1 KV head, so the KV cache is ${t / kvHeads}× larger in total than with tensor = ${kvHeads}`,
        },
      ),
    );
  }
  if (ffn % t !== 0) {
    out.push(diag('PP3004', at, { ffn, tensor: t }, { help: suggestion(ctx), related }));
    ok = false;
  }
  if (ok && model.vocab % t !== 0) {
    const padded = Math.ceil(model.vocab / t) * t;
    out.push(
      diag(
        'PP3005',
        at,
        { vocab: model.vocab, padded, tensor: t },
        {
          help: `each tensor rank holds ${padded / t} rows of the embedding and output layer; the ${padded - model.vocab} padding rows are never produced as tokens`,
        },
      ),
    );
  }
  return ok;
}
