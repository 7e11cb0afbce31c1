/**
 * Tensor parallelism: what must divide the tensor degree (heads, ffn, kv_heads; MoE: each
 * expert's width by the expert tensor degree, the shared experts' by tensor) and what is
 * padded or replicated to make it split evenly (vocab, KV heads, MLA's latent). Every check
 * and fact goes run by run over the model's layers, so models whose layers differ (leading
 * dense layers, alternating windows) are checked as they are.
 */
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns, type LayerSpec, type Model } from '../model.js';
import type { Derived, ExpertMesh, LayerRankFacts, Mesh } from '../plan.js';
import { deviceCount } from '../mesh.js';
import { spanOf, type PlanContext } from './context.js';
import { defaultExpertTensor } from './expert.js';
import { divisors } from '../util/divisors.js';

/** Tensor degrees that split this model evenly (heads, ffn, and KV heads divided or replicated), with expert_tensor = tensor. */
export function validTensorDegrees(model: Model, max: number): number[] {
  const layers = distinctLayers(model);
  const splits = (t: number) =>
    layers.every(
      ({ attention: a, mlp }) =>
        a.heads % t === 0 &&
        (a.kind === 'mla' || a.kvHeads % t === 0 || t % a.kvHeads === 0) &&
        (mlp.kind === 'dense' ? mlp.ffn % t === 0 : mlp.expertFfn % t === 0 && (mlp.sharedExperts === 0 || mlp.sharedFfn % t === 0)),
    );
  const out: number[] = [];
  // A degree must divide heads, so none is above it (and the loop stays bounded).
  for (let t = 1; t <= Math.min(max, ...layers.map((l) => l.attention.heads)); t++) if (splits(t)) out.push(t);
  return out;
}

/** The model's distinct layer structures, in order of first appearance. */
function distinctLayers(model: Model): LayerSpec[] {
  const out: LayerSpec[] = [];
  for (const r of layerRuns(model)) if (!out.includes(r.layer)) out.push(r.layer);
  return out;
}

/** Per-rank facts of one layer structure (see LayerRankFacts). */
function rankFacts(layer: LayerSpec, first: number, last: number, t: number, experts: ExpertMesh): LayerRankFacts {
  const { attention: a, mlp } = layer;
  const kvHeads = a.kind === 'gqa' ? a.kvHeads : 1;
  // MLA: one latent per token that every tensor rank keeps whole (vLLM's MLAAttentionSpec, num_kv_heads 1).
  const kvHeadsPerRank = a.kind === 'mla' ? 1 : kvHeads >= t ? kvHeads / t : 1;
  const kvReplication = a.kind === 'mla' ? t : kvHeads >= t ? 1 : t / kvHeads;
  return {
    first,
    last,
    layer,
    headsPerRank: a.heads / t,
    kvHeadsPerRank,
    kvReplication,
    ffnPerRank: mlp.kind === 'dense' ? mlp.ffn / t : mlp.expertFfn / experts.tensor,
    expertsPerRank: mlp.kind === 'moe' ? mlp.experts / experts.expert : 0,
    sharedFfnPerRank: mlp.kind === 'moe' && mlp.sharedExperts > 0 ? mlp.sharedFfn / t : 0,
  };
}

/**
 * Facts that follow from the model, the mesh and the expert grid; assumes the checks below
 * passed (with errors the plan is dropped, so fractions here are never read).
 */
export function deriveFacts(model: Model, mesh: Mesh, experts: ExpertMesh = { tensor: mesh.tensor, expert: 1, data: mesh.data }): Derived {
  const t = mesh.tensor;
  const layers = layerRuns(model).map((r) => rankFacts(r.layer, r.first, r.last, t, experts));
  const most = (f: (l: LayerRankFacts) => number) => Math.max(...layers.map(f));
  return {
    vocabPadded: Math.ceil(model.vocab / t) * t,
    headsPerRank: most((l) => l.headsPerRank),
    kvHeadsPerRank: most((l) => l.kvHeadsPerRank),
    kvReplication: most((l) => l.kvReplication),
    ffnPerRank: most((l) => l.ffnPerRank),
    layers,
    gpusUsed: deviceCount(mesh),
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

/** Returns false when the tensor degree (or, for MoE, the expert tensor degree) cannot split the model. */
export function checkTensor(ctx: PlanContext): boolean {
  const { model, out } = ctx;
  const t = ctx.mesh.tensor;
  const related = [{ span: model.span, message: `model '${model.name}' declared here` }];
  const layers = distinctLayers(model);
  let ok = checkExpertWidths(ctx, layers, related);
  if (t === 1) return ok;
  const at = spanOf(ctx, 'tensor');
  // One diagnostic per code: the first layer structure that breaks each rule (layers that differ share most sizes).
  const heads = layers.find((l) => l.attention.heads % t !== 0)?.attention.heads;
  let headsOk = true;
  if (heads !== undefined) {
    out.push(diag('PP3001', at, { heads, tensor: t }, { help: suggestion(ctx), related }));
    ok = headsOk = false;
  }
  const gqa = layers.flatMap((l) => (l.attention.kind === 'gqa' ? [l.attention] : []));
  const badKv = gqa.find((a) => a.kvHeads % t !== 0 && t % a.kvHeads !== 0);
  // With kv_heads = heads (multi-head attention) a bad degree is one mistake: PP3001 says it.
  if (badKv && !(badKv.kvHeads === badKv.heads && !headsOk)) {
    out.push(
      diag(
        'PP3002',
        at,
        { kvHeads: badKv.kvHeads, tensor: t },
        {
          help: `${suggestion(ctx)}; KV heads are split when tensor divides kv_heads and replicated when kv_heads divides tensor`,
          related,
        },
      ),
    );
    ok = false;
  } else if (!badKv && headsOk) {
    const few = gqa.find((a) => a.kvHeads < t);
    if (few) {
      const kvHeads = few.kvHeads;
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
  }
  const ffn = layers.flatMap((l) => (l.mlp.kind === 'dense' ? [l.mlp.ffn] : [])).find((f) => f % t !== 0);
  if (ffn !== undefined) {
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

/**
 * MoE: each routed expert's up/gate/down split over the expert tensor degree (expert_tensor,
 * default tensor; Megatron-Core's expert tensor parallelism), the shared experts over tensor
 * like a dense MLP. Each must divide evenly (PP3035).
 */
function checkExpertWidths(
  ctx: PlanContext,
  layers: LayerSpec[],
  related: { span: PlanContext['model']['span']; message: string }[],
): boolean {
  const moe = layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp] : []));
  if (moe.length === 0) return true;
  const t = ctx.mesh.tensor;
  const etGiven = ctx.fields.value<number>('expert_tensor');
  // The mode's default (src/check/expert.ts): tensor, or tensor × data / expert when serving with expert > 1.
  const et = etGiven ?? defaultExpertTensor(ctx.mode, t, ctx.mesh.data, ctx.fields.valueOrDefault<number>('expert'));
  let ok = true;
  // A default that is no whole number is the expert grid's mistake (PP3026), reported there.
  const routed = Number.isInteger(et) ? moe.find((m) => m.expertFfn % et !== 0) : undefined;
  if (routed) {
    const fits = divisors(routed.expertFfn)
      .filter((d) => d <= et)
      .filter((d) => d > 1);
    ctx.out.push(
      diag(
        'PP3035',
        spanOf(ctx, etGiven !== undefined ? 'expert_tensor' : et !== t ? 'expert' : 'tensor'),
        {
          key: 'expert_ffn',
          width: routed.expertFfn,
          axis:
            etGiven !== undefined ? 'expert_tensor' : et !== t ? 'expert_tensor (= tensor × data / expert)' : 'expert_tensor (= tensor)',
          degree: et,
        },
        {
          help:
            fits.length > 0
              ? `expert_tensor = ${fits[fits.length - 1]} splits each expert evenly; expert_tensor = 1 keeps every expert whole on its rank`
              : 'expert_tensor = 1 keeps every expert whole on its rank (the expert grid then splits experts, not their width)',
          related,
        },
      ),
    );
    ok = false;
  }
  const shared = moe.find((m) => m.sharedExperts > 0 && m.sharedFfn % t !== 0);
  if (shared) {
    ctx.out.push(
      diag(
        'PP3035',
        spanOf(ctx, 'tensor'),
        { key: 'shared_expert_ffn', width: shared.sharedFfn, axis: 'tensor', degree: t },
        { help: suggestion(ctx), related },
      ),
    );
    ok = false;
  }
  return ok;
}
