/**
 * fp8 training (the plan's `fp8` key): what each recipe keeps beside the bf16 recipe's bytes.
 * See docs/memory.md ("fp8 training") for the sources.
 *
 * TransformerEngine (te_delayed, te_current, te_mxfp8; Megatron-LM's --fp8-format/--fp8-recipe),
 * per linear layer of each transformer layer (attention, norms, the residual stream, the router,
 * embeddings and the output layer stay bf16: TE's docs/features/low_precision_training and
 * Megatron's transformer_config.py fp8 fields, where fp8_dot_product_attention and
 * fp8_multi_head_attention default to False):
 *   weights      the bf16 weight stays (and the fp32 master copy); the fp8 copy each GEMM uses is
 *                saved for the backward pass: 1 B/param, and on Ada/Hopper its transpose too
 *                (fp8 GEMMs there take only the TN layout: TE transformer_engine/pytorch/utils.py
 *                `is_non_tn_fp8_gemm_supported`, @e7ecaeec): 2 B/param; Blackwell 1 B. MXFP8
 *                quantizes rowwise and columnwise copies separately ("both versions are computed
 *                from the high precision input", TE common/recipe/__init__.py MXFP8BlockScaling,
 *                @000b637e), each with one E8M0 scale per 32 values: 2 × (1 + 1/32) B/param.
 *   scaling      te_delayed: per GEMM module, fp32 amax histories of (history × 3) forward and
 *                (history × 2) backward plus scale and scale_inv for each: 4·(5·history + 10) B,
 *                history = Megatron's --fp8-amax-history-len default 1 (TE's own default is 1024).
 *                te_current: one fp32 scale per quantized tensor (5 per module, ×2 with scale_inv).
 *   activations  each linear's input is saved for wgrad as an fp8 (columnwise) copy, 1 B/elt
 *                instead of bf16's 2 ("Memory usage", TE docs/features/low_precision_training):
 *                the q/k/v input and the MLP input (sbh each), the MLP down projection's input
 *                (sb·f/t). The output projection's input is the attention output, which flash
 *                attention keeps in bf16 for its own backward: TE's fp8 copy is extra there
 *                (+1 B/elt, sb·a·d/t; save_original_input defaults to False); with standard
 *                attention it replaces the bf16 copy (−1 B/elt). MXFP8 adds 1/32 B/elt of scales.
 *
 * torchao Float8Linear (torchao_tensorwise, torchao_rowwise; torchtitan's float8 converter):
 * its autograd function saves the high-precision input and weight and casts again in backward
 * (torchao/float8/float8_linear.py `matmul_with_hp_or_float8_args`: `ctx.save_for_backward(input_hp,
 * weight_hp_t)`, torchao HEAD @36027d82 as read for training-recipes-anchors.md §6): no activation or
 * weight bytes change. With tensorwise scaling under FSDP2 (zero = 3) the weights are gathered in
 * fp8 (`enable_fsdp_float8_all_gather`, torchao/float8/config.py): 1 B per gathered parameter
 * instead of 2 (`gatheredBytesPerParam`).
 */
import type { CheckedPlan, LayerRankFacts, Stage, TrainPlan } from '../plan.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';
import { stageRuns } from './params.js';
import { rankLinears } from './weights.js';

/** Megatron-LM's --fp8-amax-history-len default (TE's DelayedScaling default is 1024). */
export const FP8_AMAX_HISTORY = 1;

/** Whether the plan runs TransformerEngine's fp8 GEMMs (te_*). */
export function teFp8(plan: TrainPlan): boolean {
  return plan.fp8 === 'te_delayed' || plan.fp8 === 'te_current' || plan.fp8 === 'te_mxfp8';
}

/** Bytes per parameter of the fp8 weight copies TE saves for backward (0 without TE). */
export function fp8WeightCopyBytesPerParam(plan: TrainPlan): number {
  if (!teFp8(plan)) return 0;
  if (plan.fp8 === 'te_mxfp8') return 2 * (1 + 1 / 32);
  return plan.cluster.gpu.fp8?.blackwell ? 1 : 2;
}

/** Bytes per fp8 GEMM module of scaling state. */
export function fp8ScalingBytesPerModule(plan: TrainPlan): number {
  if (plan.fp8 === 'te_delayed') return 4 * (5 * FP8_AMAX_HISTORY + 10);
  if (plan.fp8 === 'te_current') return 4 * 10;
  return 0;
}

/**
 * The linear parameters one device of `stage` runs in fp8 (each layer's tensor shard, routed
 * experts per the expert grid; not the router, embeddings or output layer), and the GEMM
 * modules they form as Megatron builds them (q/k/v fused, gate/up fused, one per expert).
 */
export function fp8Linears(plan: TrainPlan, stage: Stage): { params: number; modules: number } {
  let params = 0;
  let modules = 0;
  for (const r of stageRuns(plan, stage)) {
    const ls = rankLinears(plan, r.f.layer);
    let perLayer = 0;
    for (const l of ls) {
      params += r.n * l.count * l.in * l.out;
      // Fused in Megatron: k/v into q's linear_qkv, gate into up's linear_fc1.
      if (l.name.endsWith('k_proj') || l.name.endsWith('v_proj') || l.name.endsWith('gate_proj')) continue;
      perLayer += l.part === 'routed' ? l.count : 1;
    }
    modules += r.n * perLayer;
  }
  return { params, modules };
}

/** The fp8 weight copies and scaling state of one device of `stage`, and its parts (0 without TE). */
export function fp8WeightBytes(
  plan: TrainPlan,
  stage: Stage,
): { bytes: number; params: number; perParam: number; modules: number; perModule: number } {
  const perParam = fp8WeightCopyBytesPerParam(plan);
  if (perParam === 0) return { bytes: 0, params: 0, perParam: 0, modules: 0, perModule: 0 };
  const { params, modules } = fp8Linears(plan, stage);
  const perModule = fp8ScalingBytesPerModule(plan);
  return { bytes: Math.ceil(params * perParam) + modules * perModule, params, perParam, modules, perModule };
}

/**
 * The change TE's fp8 makes to one layer's saved activations for one microbatch, bytes (negative:
 * saves), beside the bf16 count of src/memory/activations.ts; 0 without TE, with full
 * recompute (only layer inputs are kept) and for MoE layers' routed experts (not modelled).
 */
export function fp8LayerActivationDelta(plan: TrainPlan, f: LayerRankFacts): number {
  if (!teFp8(plan) || plan.recompute === 'full') return 0;
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel ? t : 1;
  const a = f.layer.attention;
  const attnOut = (a.kind === 'gqa' ? a.heads * a.headDim : a.heads * a.vHeadDim) / t;
  const m = f.layer.mlp;
  const mlpIn = m.kind === 'dense' ? 1 : m.sharedExperts > 0 ? 1 : 0;
  const downIn = m.kind === 'dense' ? f.ffnPerRank : m.sharedExperts * f.sharedFfnPerRank;
  // Elements each saved linear input has: q/k/v input, MLP input (÷ t with SP), out-proj input, down-proj input.
  const qkvIn = (s * b * h) / sp;
  const fc1In = (mlpIn * s * b * h) / sp;
  const projIn = s * b * attnOut;
  const fc2In = s * b * downIn;
  const flash = plan.attention === 'flash';
  let delta = -qkvIn - fc1In + (flash ? projIn : -projIn) - fc2In;
  if (plan.fp8 === 'te_mxfp8') delta += (qkvIn + fc1In + projIn + fc2In) / 32;
  return delta;
}

/**
 * Bytes per parameter of the weights FSDP2 gathers under zero = 3: 1 with torchao's tensorwise
 * fp8 all-gather, otherwise the training precision's.
 */
export function gatheredBytesPerParam(plan: TrainPlan, precisionBytes: number): number {
  return plan.fp8 === 'torchao_tensorwise' && plan.zero === 3 ? 1 : precisionBytes;
}

/** The weights category with TE's fp8 copies and scaling state added (unchanged without TE). */
export function withFp8Weights(plan: CheckedPlan, base: Part, stage: Stage): Part {
  if (plan.mode !== 'train') return base;
  const f = fp8WeightBytes(plan, stage);
  if (f.bytes === 0) return base;
  const bytes = base.bytes + f.bytes;
  return part(bytes, () => {
    const copies = `${num(f.params)} fp8-GEMM params × ${num(f.perParam)} B (${plan.fp8} copies${f.perParam === 2 ? ': fp8 weight and its transpose' : ''})`;
    const scaling = f.perModule > 0 ? ` + ${num(f.modules)} GEMM modules × ${f.perModule} B scaling state` : '';
    return `${base.why.replace(/ = [^=]*$/, '')} + ${copies}${scaling} = ${bytesText(bytes)}`;
  });
}
