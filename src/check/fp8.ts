/**
 * The `fp8` key's own rules: the GPU must have fp8 tensor cores (MXFP8: Blackwell), the
 * recipe runs on a 16-bit training precision, and TransformerEngine's GEMM shapes must be
 * divisible as it asserts.
 */
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns } from '../model.js';
import type { Fp8Recipe } from '../plan.js';
import { spanOf, type PlanContext } from './context.js';

/** TransformerEngine's recipes (te_*), as opposed to torchao's Float8Linear (torchao_*). */
export function isTeRecipe(r: Fp8Recipe): boolean {
  return r.startsWith('te_');
}

/**
 * Checks `fp8 = recipe` against the GPU, the precision and the GEMM shapes; false after an
 * error. The shapes: TransformerEngine asserts, for each fp8 GEMM's input and weight, that the
 * last dimension is divisible by 16 and the product of the others by 8
 * (transformer_engine/pytorch/utils.py `assert_dim_for_fp8_exec`, @e7ecaeec): for a linear
 * in → out on tokens rows, in % 16, out % 8 and tokens % 8, per tensor rank. torchao's float8
 * converter skips such linears instead (they stay bf16; torchtitan's `float8.filter_fqns` doc:
 * "nn.Linear modules with any dim size not divisible by 16 are always skipped"), so torchao is
 * not refused.
 */
export function checkFp8(ctx: PlanContext, recipe: Fp8Recipe, precision: string, tokens: number | undefined): boolean {
  if (recipe === 'none') return true;
  const gpu = ctx.cluster.gpu;
  const span = spanOf(ctx, 'fp8');
  if (gpu.fp8 === undefined) {
    ctx.out.push(
      diag(
        'PP3045',
        span,
        { recipe, gpu: gpu.id },
        {
          help: `fp8 needs Ada (L4, L40S, RTX_4090), Hopper (H100, H200), Blackwell (B200, GB200) or MI300-class GPUs; on ${gpu.name} train in bf16 (remove fp8)`,
        },
      ),
    );
    return false;
  }
  if (recipe === 'te_mxfp8' && !gpu.fp8.blackwell) {
    ctx.out.push(
      diag(
        'PP3046',
        span,
        { gpu: gpu.id },
        { help: `on ${gpu.name} use fp8 = te_current (per-tensor current scaling) or te_delayed; MXFP8 needs a B200 or GB200` },
      ),
    );
    return false;
  }
  // TE as Megatron-LM runs it: bf16 weights beside fp32 master weights (precision = bf16). torchao as
  // torchtitan runs it: FSDP2's mixed precision, fp32 parameters gathered and computed in bf16 (amp_bf16).
  const wanted = isTeRecipe(recipe) ? 'bf16' : 'amp_bf16';
  if (precision !== wanted) {
    ctx.out.push(
      diag(
        'PP3048',
        spanOf(ctx, ctx.fields.has('precision') ? 'precision' : 'fp8'),
        { recipe, need: wanted, precision },
        {
          help: isTeRecipe(recipe)
            ? "Megatron-LM runs TransformerEngine's fp8 GEMMs beside bf16 weights and activations and fp32 master weights: set precision = bf16"
            : "torchtitan runs torchao's Float8Linear under FSDP2's mixed precision (fp32 parameters, bf16 compute, MixedPrecisionPolicy): set precision = amp_bf16",
        },
      ),
    );
    return false;
  }
  if (!isTeRecipe(recipe)) return true;
  const t = ctx.mesh.tensor;
  const m = ctx.model;
  const bad: string[] = [];
  const need = (what: string, value: number, by: number) => {
    if (value % by !== 0 && !bad.some((b) => b.startsWith(what))) bad.push(`${what} = ${value} is not divisible by ${by}`);
  };
  need('hidden (the input width of q/k/v and the MLP up projection)', m.hidden, 16);
  for (const r of layerRuns(m)) {
    const a = r.layer.attention;
    if (a.kind === 'gqa') {
      need(`heads × head_dim / tensor (the output projection's input width on each of ${t} tensor ranks)`, (a.heads * a.headDim) / t, 16);
      // Megatron fuses q, k and v into one linear: its output width per tensor rank.
      need(
        '(heads + 2 × kv_heads) × head_dim / tensor (the fused q/k/v output per tensor rank)',
        (a.heads / t + 2 * Math.max(1, a.kvHeads / t)) * a.headDim,
        8,
      );
    }
    const mlp = r.layer.mlp;
    if (mlp.kind === 'dense') need(`ffn / tensor (the down projection's input width on each of ${t} tensor ranks)`, mlp.ffn / t, 16);
  }
  if (tokens !== undefined) need('tokens per microbatch (seq × micro, ÷ tensor with sequence_parallel)', tokens, 8);
  if (bad.length === 0) return true;
  ctx.out.push(
    diag(
      'PP3047',
      span,
      { recipe, what: bad[0]! },
      {
        help: 'TransformerEngine asserts these shapes for fp8 GEMMs; use torchao_tensorwise or torchao_rowwise (which keep such linears in bf16), or change the shape',
        related: [{ span: m.span, message: `model '${m.name}' declared here` }],
      },
    ),
  );
  return false;
}
