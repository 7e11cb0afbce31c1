/** Number formats against the hardware, and knobs that do nothing in this plan. */
import { diag } from '../diagnostics/diagnostic.js';
import { tensorFormatOf } from '../facts/dtypes.js';
import { defaultValue } from '../facts/keys.js';
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
  // ZeRO shards over data × context (src/memory/weights.ts zeroDegree): context ranks count too.
  if (ctx.mesh.data === 1 && ctx.mesh.context === 1 && f.valueOrDefault<number>('zero') > 0) {
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
