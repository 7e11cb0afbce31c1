/** Number formats against the hardware, and knobs that do nothing in this plan. */
import { diag } from '../diagnostics/diagnostic.js';
import { tensorFormatOf } from '../facts/dtypes.js';
import { defaultValue } from '../facts/keys.js';
import { layerRuns } from '../model.js';
import { spanOf, type PlanContext } from './context.js';

/** bf16 needs Ampere or newer (vLLM and PyTorch refuse it on T4 and V100). */
export function checkBf16(ctx: PlanContext, uses: { key: string; what: string; dtype: string }[]): boolean {
  if (ctx.cluster.gpu.bf16) return true;
  let ok = true;
  for (const u of uses) {
    if (u.dtype !== 'bf16') continue;
    const span = u.key === 'model.dtype' ? ctx.model.span : spanOf(ctx, u.key);
    ctx.out.push(
      diag('PP3023', span, { what: u.what, gpu: ctx.cluster.gpu.id }, { help: `use fp16 (or fp32) on ${ctx.cluster.gpu.name}` }),
    );
    ok = false;
  }
  return ok;
}

/**
 * precision = amp_bf16 | amp_fp16 (PyTorch autocast, FSDP2 MixedPrecisionPolicy): gradients are
 * the fp32 parameters' `.grad` (FSDP2: reduce_dtype fp32 into the fp32 sharded grad), so a
 * 16-bit grad_dtype is not this recipe (PP3040).
 */
export function checkAmp(ctx: PlanContext, amp: boolean, recipe: string): boolean {
  const g = ctx.fields.get('grad_dtype');
  const gradDtype = ctx.fields.value<string>('grad_dtype');
  if (!amp || !g || gradDtype === 'fp32') return true;
  ctx.out.push(
    diag(
      'PP3040',
      g.entry.value.span,
      { gradDtype: gradDtype ?? '', precision: recipe },
      {
        help: `remove grad_dtype (fp32), or use precision = ${recipe.slice(4)} (Megatron's recipe, 16-bit weights with an fp32 master copy) for 16-bit gradients`,
      },
    ),
  );
  return false;
}

/**
 * recompute = selective_op counts torchtitan's op list for the layers derived in docs/memory.md
 * (dense MLPs with grouped-query attention); MoE and MLA layers are refused (PP3041).
 */
export function checkRecompute(ctx: PlanContext): boolean {
  if (ctx.fields.value<string>('recompute') !== 'selective_op') return true;
  const runs = layerRuns(ctx.model);
  const what = runs.some((r) => r.layer.mlp.kind === 'moe')
    ? 'Mixture-of-Experts layers'
    : runs.some((r) => r.layer.attention.kind === 'mla')
      ? 'multi-head latent attention'
      : undefined;
  if (!what) return true;
  ctx.out.push(
    diag(
      'PP3041',
      spanOf(ctx, 'recompute'),
      { what },
      {
        help: 'use recompute = selective (Megatron: recompute core attention) or full; selective_op is derived for dense layers with grouped-query attention',
        related: [{ span: ctx.model.span, message: `model '${ctx.model.name}' declared here` }],
      },
    ),
  );
  return false;
}

/** Warnings for knobs that are set but cannot act with this mesh. */
export function checkNoEffect(ctx: PlanContext): void {
  const f = ctx.fields;
  const warn = (key: string, why: string, help: string) => {
    const e = f.get(key);
    if (e) ctx.out.push(diag('PP3020', e.entry.keySpan, { key, why }, { help }));
  };
  // Like sequence_parallel above: only a value other than the default is a knob that was meant to act.
  if (ctx.mesh.context === 1 && f.has('context_comm') && f.value<string>('context_comm') !== defaultValue('plan', 'context_comm')) {
    warn('context_comm', 'with context = 1', 'it chooses how context-parallel ranks exchange K and V; set context > 1 or remove it');
  }
  if (ctx.mesh.tensor === 1 && f.value<boolean>('sequence_parallel') === true) {
    warn(
      'sequence_parallel',
      'with tensor = 1',
      'sequence parallelism shards activations over the tensor group; set tensor > 1 or remove it',
    );
  }
  // Like sequence_parallel above, only a value other than the default is a knob that was meant to act.
  if (f.valueOrDefault<string>('recompute') !== 'full')
    for (const key of ['recompute_layers', 'recompute_method'])
      if (f.has(key) && f.value(key) !== (key === 'recompute_layers' ? 1 : 'uniform'))
        warn(
          key,
          `with recompute = ${f.valueOrDefault<string>('recompute')}`,
          `${key} chooses the layers recompute = full checkpoints; set recompute = full or remove it`,
        );
  // With offload, ZeRO is what moves the optimizer to the CPU, even on one GPU (DeepSpeed's ZeRO-Offload tutorial).
  // ZeRO shards over data × context (src/memory/zero.ts zeroDegree): context ranks count too.
  if (
    ctx.mesh.data === 1 &&
    ctx.mesh.context === 1 &&
    f.valueOrDefault<number>('zero') > 0 &&
    (ctx.mode !== 'train' || f.valueOrDefault<string>('offload') === 'none')
  ) {
    warn('zero', 'with data = 1', 'ZeRO shards state across data replicas; set data > 1 or remove it');
  }
}

/** parplan's WebGPU runtime keeps weights and the KV cache only in the dtypes it has a storage format for (fp32, fp16, bf16). */
export function checkEngineDtypes(ctx: PlanContext, uses: { key: string; what: string; dtype: string }[]): boolean {
  let ok = true;
  for (const u of uses) {
    if (tensorFormatOf(u.dtype) !== undefined) continue;
    const span = u.key === 'model.dtype' ? ctx.model.span : spanOf(ctx, u.key);
    ctx.out.push(
      diag(
        'PP3024',
        span,
        { what: u.what, dtype: u.dtype },
        { help: 'use fp16 or bf16 (quantized weights and caches need engine = generic)' },
      ),
    );
    ok = false;
  }
  return ok;
}
