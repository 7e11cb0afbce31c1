/**
 * The PyTorch training recipes beside Megatron's (docs/memory.md, "AMP and FSDP2" and
 * "Activation checkpointing"): per-token activation bytes of one layer as eager PyTorch modules
 * save them (Hugging Face / torchtitan Llama and GPT-2 blocks), torchtitan's per-op selective
 * checkpointing (recompute = selective_op), and FSDP2's gathered and reduce buffers.
 *
 * Notation per token of one microbatch: h hidden, hq = a·d query width, kv = g·d key/value width,
 * f ffn, t tensor; e = bytes of the 16-bit compute dtype (4 for fp32), r = bytes of the residual
 * stream (fp32 under autocast over fp32 parameters, e otherwise).
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { gatedMlp } from '../model.js';
import type { LayerRankFacts, TrainPlan } from '../plan.js';

/** Autocast over fp32 parameters (precision = amp_* without FSDP2): the residual stream and norm inputs stay fp32. */
export function autocastFp32(plan: TrainPlan): boolean {
  return plan.amp && plan.zero !== 3;
}

/** Bytes per element of the residual stream (what a checkpointed layer keeps as its input). */
export function residualBytes(plan: TrainPlan): number {
  return autocastFp32(plan) ? 4 : bytesPerElement(plan.precision);
}

/** Whether the eager-module derivations below cover this kind of layer (dense MLP, grouped-query attention). */
export function eagerModelled(f: LayerRankFacts): boolean {
  return f.layer.mlp.kind === 'dense' && f.layer.attention.kind === 'gqa';
}

/**
 * One dense GQA layer's saved activations per token, eager PyTorch, no recompute, flash/SDPA
 * attention, no dropout (derived from the modules' autograd: docs/memory.md):
 *   norms      RMSNorm (HF LlamaRMSNorm, upcasts): fp32 input 4h + the normalized tensor the weight multiplies, r·h;
 *              LayerNorm (native_layer_norm): its input r·h
 *   attention  linear input casts: under autocast each of q, k, v casts the fp32 input itself (3·e·h;
 *              GPT-2's fused c_attn: one), else the norm output once (e·h); SDPA saves q, k, v and
 *              its output, e·(2hq + 2kv)/t, and the fp32 log-sum-exp 4a/t; o_proj saves its
 *              contiguous input e·hq/t
 *   mlp        input casts (autocast, gated: gate and up each, 2·e·h; else e·h) + gated: gate, its
 *              activation, up and the product 4·e·f/t; gelu: fc output and its activation 2·e·f/t
 * With standard attention the fp32 scores and their softmax add Korthikanti's 5·a·s·(e/2)/t.
 */
export function eagerLayerBytesPerToken(plan: TrainPlan, f: LayerRankFacts): number {
  const { model } = plan;
  const h = model.hidden;
  const t = plan.mesh.tensor;
  const e = bytesPerElement(plan.precision);
  const r = residualBytes(plan);
  const att = f.layer.attention;
  if (att.kind !== 'gqa') throw new Error('eagerLayerBytesPerToken needs grouped-query attention');
  const autocast = autocastFp32(plan);
  const norms = (model.normsPerLayer ?? 2) * (model.norm === 'layernorm' ? r * h : 4 * h + r * h);
  const fusedQkv = model.arch === 'gpt2';
  const hq = (att.heads * att.headDim) / t;
  const kv = (att.kvHeads * att.headDim) / t;
  const heads = att.heads / t;
  let attention = (autocast && !fusedQkv ? 3 : 1) * e * h + e * (2 * hq + 2 * kv) + 4 * heads + e * hq;
  if (plan.attention === 'standard') {
    const keys = att.window !== undefined ? Math.min(plan.batch.seq, att.window) : plan.batch.seq;
    attention += (5 * heads * keys * e) / 2;
  }
  const m = f.layer.mlp;
  const ff = f.ffnPerRank;
  const gated = gatedMlp(m.activation);
  const mlp = gated ? (autocast ? 2 : 1) * e * h + 4 * e * ff : e * h + 2 * e * ff;
  return norms + attention + mlp;
}

/** A linear of one layer in execution order, for the op-SAC counter: its output width per token on this rank, and whether it has a bias. */
interface OpMatmul {
  name: string;
  out: number;
  bias: boolean;
  /** Input width per token on this rank (its FLOPs are 2·in·out per token). */
  in: number;
}

/** The layer's matmuls in the order the forward runs them (HF and torchtitan Llama: q, k, v, o, then gate, up, down; GPT-2: c_attn, c_proj, c_fc, c_proj). */
function layerMatmuls(plan: TrainPlan, f: LayerRankFacts): OpMatmul[] {
  const { model } = plan;
  const h = model.hidden;
  const t = plan.mesh.tensor;
  const att = f.layer.attention;
  if (att.kind !== 'gqa') return [];
  const qkvBias = model.bias || model.qkvBias === true;
  const hq = (att.heads * att.headDim) / t;
  const kv = (att.kvHeads * att.headDim) / t;
  const out: OpMatmul[] =
    model.arch === 'gpt2'
      ? [{ name: 'c_attn', in: h, out: hq + 2 * kv, bias: qkvBias }]
      : [
          { name: 'q_proj', in: h, out: hq, bias: qkvBias },
          { name: 'k_proj', in: h, out: kv, bias: qkvBias },
          { name: 'v_proj', in: h, out: kv, bias: qkvBias },
        ];
  // Row-parallel outputs are the whole h on every rank (partial sums before the reduction).
  out.push({ name: 'o_proj', in: hq, out: h, bias: model.bias });
  const ff = f.ffnPerRank;
  if (gatedMlp(f.layer.mlp.activation))
    out.push({ name: 'gate_proj', in: h, out: ff, bias: model.bias }, { name: 'up_proj', in: h, out: ff, bias: model.bias });
  else out.push({ name: 'fc', in: h, out: ff, bias: model.bias });
  out.push({ name: 'down_proj', in: ff, out: h, bias: model.bias });
  return out;
}

/** The layer's matmuls split by the op-SAC rule: a biased linear dispatches addmm, saved always; a bias-free one dispatches mm, saved when the count is odd. */
function savedMatmuls(plan: TrainPlan, f: LayerRankFacts): { saved: OpMatmul[]; recomputed: OpMatmul[] } {
  const saved: OpMatmul[] = [];
  const recomputed: OpMatmul[] = [];
  let mm = 0;
  for (const l of layerMatmuls(plan, f)) {
    if (!l.bias) mm++;
    (l.bias || mm % 2 === 1 ? saved : recomputed).push(l);
  }
  return { saved, recomputed };
}

/** The matmuls recompute = selective_op runs again in a layer's backward, in forward order (the graph's recompute steps). */
export function selectiveOpRecomputed(plan: TrainPlan, f: LayerRankFacts): readonly { name: string; in: number; out: number }[] {
  return savedMatmuls(plan, f).recomputed;
}

/** FLOPs per token that recompute = selective_op runs again in backward: the matmuls whose outputs it does not save (2·in·out each). */
export function selectiveOpRecomputeFlopsPerToken(plan: TrainPlan, f: LayerRankFacts): number {
  return savedMatmuls(plan, f).recomputed.reduce((sum, l) => sum + 2 * l.in * l.out, 0);
}

/**
 * recompute = selective_op, torchtitan's per-op policy (torchtitan/distributed/activation_checkpoint.py
 * @c5d93d10; the same rule at 775a486e in models/llama3/parallelize_llama.py `_save_list`): inside each
 * checkpointed block, save the outputs of aten.mm except every second one (a counter per block and
 * pass), of every other compute-intensive op (addmm: a linear with a bias), of SDPA (output and
 * fp32 log-sum-exp) and of reduce_scatter (sequence parallelism's row-parallel outputs); recompute
 * the rest. Plus the block's input, which the checkpoint keeps. Per token:
 *   r·h (input, ÷ t with SP) + e·Σ saved matmul outputs + e·hq/t + 4a/t + [SP] 2·e·h/t
 */
export function selectiveOpBytesPerToken(plan: TrainPlan, f: LayerRankFacts): { bytes: number; saved: string[] } {
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const e = bytesPerElement(plan.precision);
  const sp = plan.sequenceParallel ? t : 1;
  const att = f.layer.attention;
  if (att.kind !== 'gqa') throw new Error('selectiveOpBytesPerToken needs grouped-query attention');
  let bytes = (residualBytes(plan) * h) / sp;
  const saved: string[] = [];
  for (const l of savedMatmuls(plan, f).saved) {
    bytes += e * l.out;
    saved.push(l.name);
  }
  const heads = att.heads / t;
  bytes += e * ((att.heads * att.headDim) / t) + 4 * heads;
  saved.push('sdpa');
  if (plan.sequenceParallel && t > 1) {
    bytes += (2 * e * h) / t;
    saved.push('reduce_scatter ×2');
  }
  return { bytes, saved };
}

/**
 * The loss path's bytes per logit element: Megatron's fused vocab-parallel cross entropy keeps
 * fp32 logits (4); PyTorch's (HF ForCausalLMLoss, transformers src/transformers/loss/loss_utils.py;
 * torchtitan components/loss.py: cross_entropy(pred.flatten(0, 1).float(), …)) upcasts the 16-bit
 * logits and log_softmax saves its fp32 output. Its peak is the start of backward: the saved
 * log-probabilities 4 + nll_loss's fp32 gradient 4 + log_softmax's fp32 gradient 4 = 12 (the
 * 16-bit logits, 2, are dropped before backward: torchtitan `del pred`; the forward's 2 + 4 + 4 = 10 is below).
 */
export function logitBytesPerElement(plan: TrainPlan): number {
  return plan.amp ? 12 : 4;
}
