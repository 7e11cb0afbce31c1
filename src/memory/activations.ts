/**
 * Activations.
 *
 * Training: Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
 * Models", Table 2), 16-bit activations, per layer, times the layers × microbatches a pipeline
 * stage holds at its peak under the schedule, plus the embedding (first stage) and the
 * output layer and loss (last stage).
 *
 * Serving: the transient peak of one prefill step (max_prefill_tokens through one layer at a
 * time), plus the fp32 logits of the batch on the last stage.
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { gatedMlp, qkHeadDim, sameLayer, shardLayer, type MoeMlp } from '../model.js';
import { peakInFlight, peakSplit, peakWeighted } from '../schedules/bubble.js';
import { scheduleFor } from '../schedules/index.js';
import type { ScheduleTable } from '../schedules/types.js';
import type { CheckedPlan, LayerRankFacts, ServePlan, Stage, TrainPlan } from '../plan.js';
import { layerAdapterActivationBytes } from './adapter.js';
import { layerParams, stageRuns } from './params.js';
import { fp8LayerActivationDelta } from './fp8.js';
import { webgpuLayout } from './webgpu.js';
import {
  autocastFp32,
  eagerLayerBytesPerToken,
  eagerModelled,
  logitBytesPerElement,
  residualBytes,
  selectiveOpBytesPerToken,
} from './recipes.js';
import { bytesText, num } from '../format.js';
import { ceilBytes, part, type Part } from './format.js';

/**
 * MLP activation coefficient c in sbh·c of a dense MLP: 4f/h for gelu (Korthikanti), 6f/h for
 * gated MLPs (gate, up and their product); f is the layer's ffn (default: the first layer's).
 */
export function mlpFactor(plan: CheckedPlan, f: LayerRankFacts = plan.derived.layers[0]!): number {
  const m = f.layer.mlp;
  const width = m.kind === 'dense' ? m.ffn : m.sharedExperts * m.sharedFfn;
  return ((gatedMlp(m.activation) ? 6 : 4) * width) / plan.model.hidden;
}

/** Tokens a rank routes per microbatch in a MoE layer, and the routed copies it receives (R = k·T, × capacity_factor when padded). */
export function moeTokens(plan: TrainPlan, m: MoeMlp): { T: number; R: number } {
  const T = (plan.batch.seq * plan.batch.micro) / (plan.sequenceParallel ? plan.mesh.tensor : 1);
  return { T, R: m.topK * T * (plan.capacityFactor ?? 1) };
}

/**
 * A MoE layer's routed-expert activations on one rank, in bytes at 16-bit (derived, see
 * docs/memory.md): the R routed copies it receives hold the dispatched input (R·h), the expert
 * up/gate output and its activation (R·3f/et gated, R·2f/et plain) and the down output (R·h);
 * the router keeps fp32 logits T·E (not scaled with precision, returned apart).
 */
export function moeRoutedBytes(plan: TrainPlan, f: LayerRankFacts): { routed: number; logits: number } {
  const m = f.layer.mlp;
  if (m.kind !== 'moe') return { routed: 0, logits: 0 };
  const { T, R } = moeTokens(plan, m);
  return { routed: 2 * R * (2 * plan.model.hidden + (gatedMlp(m.activation) ? 3 : 2) * f.ffnPerRank), logits: 4 * T * m.experts };
}

/**
 * Activation bytes of one transformer layer for one microbatch (may be fractional before the
 * stage total is rounded up). s = seq, b = micro, h = hidden, a = heads, t = tensor:
 *   recompute = full:        2sbh           (÷ t with sequence parallelism)
 *   otherwise, without SP:   sbh(10 + (8 + c)/t)
 *              with SP:      sbh(18 + c)/t
 *   plus 5as²b/t unless attention = flash or recompute = selective (a window W: 5as·min(s, W)b/t).
 * Scaled by bytes(precision)/2 (the table assumes 16-bit activations). Per kind of layer `f`:
 * MLA replaces the 8 by its own attention terms and adds its latents to the 10
 * (`attentionFactors`); a MoE layer's c covers its shared experts only, and it adds the routed
 * experts' 2R(2h + 3f_e/et) and the router's fp32 logits 4TE (`moeRoutedBytes`).
 */
export function trainLayerActivationBytes(plan: TrainPlan, f: LayerRankFacts = plan.derived.layers[0]!, layersPerChunk = 1): number {
  switch (plan.recompute) {
    case 'selective_op':
      return plan.batch.seq * plan.batch.micro * selectiveOpBytesPerToken(plan, f).bytes;
    case 'full': {
      // Megatron --recompute-method: uniform keeps the input of each group of N layers, block
      // recomputes the first N layers of each (virtual) stage and keeps all of the rest.
      const n = Math.min(plan.recomputeLayers, layersPerChunk);
      const input = checkpointBytes(plan);
      if (plan.recomputeMethod === 'block') return (n * input + (layersPerChunk - n) * noRecomputeBytes(plan, f)) / layersPerChunk;
      return (Math.ceil(layersPerChunk / n) * input) / layersPerChunk;
    }
    default:
      return noRecomputeBytes(plan, f);
  }
}

/** What a fully recomputed layer (or group) keeps: its input, 2sbh at 16-bit (÷ t with SP); fp32 under autocast. */
export function checkpointBytes(plan: TrainPlan): number {
  const sbh = plan.batch.seq * plan.batch.micro * plan.model.hidden;
  return (sbh * residualBytes(plan)) / (plan.sequenceParallel ? plan.mesh.tensor : 1);
}

/**
 * One layer's activations without full or per-op recompute (recompute = none | selective): with
 * precision = amp_* on dense GQA layers, eager PyTorch's (recipes.ts); otherwise Korthikanti's,
 * plus the fp32 log-sum-exp 4asb/t that flash attention saves when core attention is not
 * recomputed (selective checkpoints it, Megatron attention.py _checkpointed_attention_forward).
 */
export function noRecomputeBytes(plan: TrainPlan, f: LayerRankFacts): number {
  if (plan.amp && eagerModelled(f)) return plan.batch.seq * plan.batch.micro * eagerLayerBytesPerToken(plan, f);
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const h = plan.model.hidden;
  const a = f.layer.attention.heads;
  const t = plan.mesh.tensor;
  const scale = bytesPerElement(plan.precision) / 2;
  const sbh = s * b * h;
  const c = mlpFactor(plan, f);
  const { shard, whole } = attentionFactors(plan, f);
  const base = 10 + whole;
  let bytes = plan.sequenceParallel ? (sbh * (base + shard + c)) / t : sbh * (base + (shard + c) / t);
  // A sliding window W keeps s × min(s, W) scores per head (the band a windowed kernel computes).
  const att = f.layer.attention;
  const keys = att.kind === 'gqa' && att.window !== undefined ? Math.min(s, att.window) : s;
  if (keepsScores(plan)) bytes += (5 * a * s * keys * b) / t;
  const moe = moeRoutedBytes(plan, f);
  return (
    (bytes + moe.routed) * scale +
    moe.logits +
    lseBytes(plan, f) +
    layerAdapterActivationBytes(plan, f.layer) +
    fp8LayerActivationDelta(plan, f)
  );
}

/** Flash attention's saved fp32 log-sum-exp, 4·a·s·b/t, unless recompute = selective checkpoints core attention. */
function lseBytes(plan: TrainPlan, f: LayerRankFacts): number {
  if (plan.attention !== 'flash' || plan.recompute === 'selective') return 0;
  return (4 * f.layer.attention.heads * plan.batch.seq * plan.batch.micro) / plan.mesh.tensor;
}

/**
 * The transient of recomputing during backward, once per stage (one microbatch): full: the
 * recomputed group's activations (recompute_layers layers with uniform, one with block);
 * selective_op: one layer's recomputed part (its activations without recompute, less what the
 * policy saved); selective: one layer's core attention (the scores with standard attention, the
 * log-sum-exp with flash).
 */
export function recomputeWorkspaceBytes(plan: TrainPlan, f: LayerRankFacts, layersPerChunk: number): number {
  const sb = plan.batch.seq * plan.batch.micro;
  switch (plan.recompute) {
    case 'none':
      return 0;
    case 'full': {
      const n = plan.recomputeMethod === 'uniform' ? Math.min(plan.recomputeLayers, layersPerChunk) : 1;
      return n * noRecomputeBytes(plan, f);
    }
    case 'selective_op':
      return Math.max(0, noRecomputeBytes({ ...plan, recompute: 'none' }, f) - sb * selectiveOpBytesPerToken(plan, f).bytes);
    case 'selective': {
      const a = f.layer.attention.heads;
      const t = plan.mesh.tensor;
      if (plan.attention === 'flash') return (4 * a * sb) / t;
      const att = f.layer.attention;
      const keys = att.kind === 'gqa' && att.window !== undefined ? Math.min(plan.batch.seq, att.window) : plan.batch.seq;
      return ((5 * a * plan.batch.seq * keys * plan.batch.micro) / t) * (bytesPerElement(plan.precision) / 2);
    }
  }
}

/**
 * The attention terms of Korthikanti's sbh coefficient: split over tensor (8 for GQA: Q, K, V and
 * the attention output, as the paper counts them) and whole on every rank (0 for GQA). MLA
 * (derived): Q and the expanded K at a·(qk_nope + qk_rope), V and the output at a·v_head_dim,
 * 2 B each over h; the q and kv latents (q_lora_rank + kv_lora_rank + qk_rope_head_dim) are whole.
 */
export function attentionFactors(plan: CheckedPlan, f: LayerRankFacts): { shard: number; whole: number } {
  const a = f.layer.attention;
  if (a.kind === 'gqa') return { shard: 8, whole: 0 };
  const h = plan.model.hidden;
  return {
    shard: (2 * a.heads * (2 * qkHeadDim(a) + 2 * a.vHeadDim)) / h,
    whole: (2 * (a.qLoraRank + a.kvLoraRank + a.qkRopeHeadDim)) / h,
  };
}

function keepsScores(plan: TrainPlan): boolean {
  return plan.attention === 'standard' && plan.recompute !== 'selective';
}

function layerFormula(plan: TrainPlan, f: LayerRankFacts = plan.derived.layers[0]!, layersPerChunk = 1): string {
  const input = plan.sequenceParallel ? `${residualBytes(plan)}sbh/t` : `${residualBytes(plan)}sbh`;
  if (plan.recompute === 'selective_op') {
    const op = selectiveOpBytesPerToken(plan, f);
    return `selective_op: input + saved ${op.saved.join(', ')} = ${num(op.bytes)} B/token`;
  }
  if (plan.recompute === 'full') {
    const n = Math.min(plan.recomputeLayers, layersPerChunk);
    if (plan.recomputeMethod === 'block')
      return n >= layersPerChunk
        ? `${input} (full recompute)`
        : `(${n} × ${input} (full recompute, block) + ${layersPerChunk - n} × [${noRecomputeFormula(plan, f)}]) / ${layersPerChunk}`;
    return n === 1
      ? `${input} (full recompute)`
      : `⌈${layersPerChunk}/${n}⌉ × ${input} / ${layersPerChunk} (full recompute, uniform groups of ${n})`;
  }
  return noRecomputeFormula(plan, f);
}

function noRecomputeFormula(plan: TrainPlan, f: LayerRankFacts): string {
  if (plan.amp && eagerModelled(f))
    return `eager PyTorch under ${autocastFp32(plan) ? 'autocast (fp32 residual stream)' : 'FSDP2 bf16 compute'}: ${num(eagerLayerBytesPerToken(plan, f))} B/token`;
  const m = f.layer.mlp;
  const c = num(mlpFactor(plan, f));
  const gated = gatedMlp(m.activation);
  const cText = m.kind === 'dense' ? `c = ${gated ? '6f/h' : '4f/h'} = ${c}` : `c = ${gated ? '6' : '4'}·shared·f_s/h = ${c}`;
  const { shard, whole } = attentionFactors(plan, f);
  const att = shard === 8 && whole === 0 ? '8' : num(shard);
  const formula = plan.sequenceParallel
    ? att === '8' && whole === 0
      ? `sbh(18 + c)/t`
      : `sbh(${num(10 + whole)} + ${att} + c)/t`
    : `sbh(${num(10 + whole)} + (${att} + c)/t)`;
  const scores = keepsScores(plan) ? ' + 5as²b/t' : '';
  const lse = lseBytes(plan, f) > 0 ? ' + 4asb/t (flash LSE)' : '';
  const moe = m.kind === 'moe' ? ` + 2R(2h + ${gated ? 3 : 2}f_e/et) + 4sbE, R = ${num(moeTokens(plan, m).R)}` : '';
  const mla = f.layer.attention.kind === 'mla' ? ' (MLA attention terms)' : '';
  const ad = plan.adapter;
  const lora = ad
    ? ` + LoRA ${num(layerAdapterActivationBytes(plan, f.layer))} B (sb·r per adapter${ad.dropout > 0 ? ' + dropout copy and mask sb·d_in·(B + 1)' : ''})`
    : '';
  const d = fp8LayerActivationDelta(plan, f);
  const fp8 = d !== 0 ? ` ${d < 0 ? '−' : '+'} ${num(Math.abs(d))} B (${plan.fp8}: linear inputs saved in fp8)` : '';
  return `${formula}${scores}${lse}${moe}${mla}${lora}${fp8}, ${cText}`;
}

/**
 * M_W of one layer on one tensor rank: what a deferred weight-gradient pass (a zero-bubble W
 * action) keeps after the input-gradient pass (I) has released the rest, per Qi et al. 2024
 * (Zero Bubble Pipeline Parallelism, Table 1: M_W = 32sbh for a GPT layer, M_B = sb(34h + 5as)):
 * for each linear layer its input and the gradient of its output, s·b tokens × bytes(precision):
 *   inputs:  h (QKV) + o's input width + h (MLP up) + the down projection's input width
 *   outputs: q + k + v widths + h (o) + up (and gate) widths + h (down)
 * widths per tensor rank (the rank's shard of each weight ÷ its input width); the h-wide inputs
 * ÷ t with sequence parallelism. For a GPT layer (no GQA, f = 4h, t = 1): (7h + 9h) · 2 B = 32sbh.
 * A MoE layer's MLP terms are its shared experts' and topK routed experts' (÷ expert_tensor).
 */
export function weightGradActivationBytes(plan: TrainPlan, f: LayerRankFacts = plan.derived.layers[0]!): number {
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel ? t : 1;
  const p = layerParams(plan.model, shardLayer(f.layer, t));
  const m = f.layer.mlp;
  // Widths from the weights (biases left out): a column-parallel h → w weight with its bias is (h + 1)·w, a row-parallel w → h one w·h + h.
  const bias = plan.model.bias ? 1 : 0;
  const qkvBias = plan.model.bias || plan.model.qkvBias === true ? 1 : 0;
  const column = (n: number, withBias: number) => n / (h + withBias);
  const row = (n: number) => (n - bias * h) / h;
  // MLP widths per token: up(+gate) outputs and down inputs; a MoE layer's topK routed experts (each 1/expert_tensor wide) and shared ones.
  const routed = m.kind === 'moe' ? (m.topK * t) / plan.experts.tensor : 0;
  const sharedUp = m.kind === 'moe' && m.sharedExperts > 0 ? (p.shared * (gatedMlp(m.activation) ? 2 / 3 : 1 / 2)) / h : 0;
  const sharedDown = m.kind === 'moe' && m.sharedExperts > 0 ? p.shared / h - sharedUp : 0;
  const upOut = m.kind === 'dense' ? column(p.up + p.gate, bias) : routed * column(p.up + p.gate, bias) + sharedUp;
  const downIn = m.kind === 'dense' ? row(p.down) : routed * row(p.down) + sharedDown;
  const inputs = (2 * h) / sp + row(p.o) + downIn;
  const outputs = column(p.q + p.k + p.v, qkvBias) + h + upOut + h;
  return plan.batch.seq * plan.batch.micro * (inputs + outputs) * bytesPerElement(plan.precision);
}

/** Whether an action table splits backwards into I and W (zero-bubble schedules). */
export function splitsBackward(plan: TrainPlan): boolean {
  return plan.schedule === 'table' && (plan.actions ?? []).some((row) => row.some((a) => a.kind === 'I' || a.kind === 'W'));
}

/**
 * Microbatches whose activations a stage holds at its peak:
 *   gpipe: all microbatches; 1f1b: min(m, p − stage);
 *   interleaved: ⌈in-flight chunks / v⌉ (capped at m), for the per-microbatch embedding terms.
 */
export function inFlightMicrobatches(plan: TrainPlan, stageIndex: number): number {
  const m = plan.microbatches;
  const p = plan.mesh.pipeline;
  switch (plan.schedule) {
    case 'gpipe':
      return m;
    case '1f1b':
      return Math.min(m, p - stageIndex);
    case 'interleaved':
      // Megatron's order runs chunk 0 of rank 0 for two groups of p microbatches before
      // its first backward: 2p in flight (checked against the schedule in test/lower).
      return stageIndex === 0 ? Math.min(m, 2 * p) : Math.min(m, Math.ceil(inFlightChunks(plan, stageIndex) / plan.virtual));
    case 'table':
      // Read off the plan's own table: microbatches held by the rank's first virtual stage.
      return tableInFlight(plan).perStage[stageIndex] ?? 0;
  }
}

const inFlightCache = new WeakMap<ScheduleTable, ReturnType<typeof peakInFlight>>();

/** Peak in-flight counts of an action-table plan (schedule = table). */
function tableInFlight(plan: TrainPlan): ReturnType<typeof peakInFlight> {
  const table = plan.actions ?? [];
  let got = inFlightCache.get(table);
  if (!got) inFlightCache.set(table, (got = peakInFlight(table)));
  return got;
}

/**
 * Model chunks (microbatch × chunk forward passes) a stage holds at its peak. Interleaved
 * (Megatron's schedule, v = virtual): warm-up is 2(p − stage − 1) + (v − 1)p forwards, plus
 * the first steady-state forward, so min(m·v, 2(p − stage − 1) + (v − 1)p + 1). At stage 0
 * this is p·v·(1 + (p − 1)/(p·v)): Megatron's interleave factor. Otherwise the microbatches.
 */
export function inFlightChunks(plan: TrainPlan, stageIndex: number): number {
  if (plan.schedule === 'table') return tableInFlight(plan).perRank[stageIndex] ?? 0;
  if (plan.schedule !== 'interleaved') return inFlightMicrobatches(plan, stageIndex);
  const p = plan.mesh.pipeline;
  const v = plan.virtual;
  return Math.min(plan.microbatches * v, 2 * (p - stageIndex - 1) + (v - 1) * p + 1);
}

/** Layer-microbatches held at the stage's peak: in-flight chunks × layers per chunk (stage layers / v). */
export function layersInFlight(plan: TrainPlan, stage: Stage): number {
  const v = plan.virtual;
  return (inFlightChunks(plan, stage.index) * stage.layers) / v;
}

const layerCache = new WeakMap<TrainPlan, Map<LayerRankFacts, Map<number, number>>>();

/** A kind of layer's activation bytes per microbatch, on a stage of `layersPerChunk` layers per chunk: worked out once per plan (its formula: layerFormula). */
function layerActivationBytes(plan: TrainPlan, f: LayerRankFacts, layersPerChunk: number): number {
  let kinds = layerCache.get(plan);
  if (!kinds) layerCache.set(plan, (kinds = new Map()));
  let byChunk = kinds.get(f);
  if (!byChunk) kinds.set(f, (byChunk = new Map()));
  let got = byChunk.get(layersPerChunk);
  if (got === undefined) byChunk.set(layersPerChunk, (got = trainLayerActivationBytes(plan, f, layersPerChunk)));
  return got;
}

/**
 * What one context rank computes activations for: the plan with seq / context tokens per
 * sequence and no context axis. Context parallelism splits the inputs and every activation
 * along the sequence (Megatron-Core docs/user-guide/features/context_parallel.md;
 * torch.distributed.tensor.experimental.context_parallel shards the buffers on their seq dim), so
 * the per-layer terms, the embedding's and the logits' are those of a c times shorter sequence;
 * at context = 1 it is the plan itself.
 */
export function sequenceShard(plan: TrainPlan): TrainPlan {
  if (plan.mesh.context === 1) return plan;
  return { ...plan, batch: { ...plan.batch, seq: plan.batch.seq / plan.mesh.context }, mesh: { ...plan.mesh, context: 1 } };
}

/** Context parallelism: a rank's saved activations at s/c (sequenceShard), plus one layer's exchange buffers. */
function contextActivations(plan: TrainPlan, stage: Stage): Part {
  const kinds = uniqueKinds(stageRuns(plan, stage));
  const cp = Math.max(0, ...kinds.map((k) => contextAttentionTransient(plan, k.f)));
  // The exchange buffers live during a layer's backward, beside its recompute workspace (after the logits are freed).
  const local = trainActivations(sequenceShard(plan), stage, cp);
  return part(
    local.bytes,
    () =>
      `${local.why.replace(/ = [^=]*$/, '')} [per context rank: s = seq/context = ${num(plan.batch.seq / plan.mesh.context)}; the backward transient includes the context-parallel attention exchange (${plan.contextComm}, one layer) ${num(cp)} B] = ${bytesText(local.bytes)}`,
  );
}

/**
 * The transient bytes of one layer's context-parallel attention on one rank (0 at context = 1),
 * the larger of its forward and its backward (only one layer's attention runs at a time). With
 * c = context, s' = s/c local tokens, b = micro, A query heads and g KV heads per tensor rank,
 * d = head_dim, e = bytes(precision):
 *   p2p (TransformerEngine context_parallel.py, AttnFuncWithCPAndKVP2P): forward keeps each ring
 *       step's received K,V chunk (c of them: the full sequence, 2·s·b·g·d·e) and the fp32
 *       output/LSE accumulator (4·s'·b·A·(d + 1)); backward double-buffers the KV and dKV chunks
 *       (2 × 2 × 2·s'·b·g·d·e) beside an fp32 dq accumulator (4·s'·b·A·d)
 *   all_gather (TE AttnFuncWithCPAndKVAllGather; torch _context_parallel/_attention.py, rotate
 *       ALL_GATHER, merging out/LSE in fp32): forward the all-gathered K,V of the whole sequence
 *       (2·s·b·g·d·e) and the fp32 accumulator; backward gathers K,V again and builds the
 *       whole sequence's dK,dV before reduce-scattering them (2 × 2·s·b·g·d·e)
 *   a2a (TE AttnFuncWithCPAndQKVOA2A, Ulysses-style): q, k, v and the output re-laid from s'
 *       tokens × all heads to s tokens × heads/c, the same size (s'·b·(2A + 2g)·d·e); backward
 *       also their gradients (× 2)
 */
export function contextAttentionTransient(plan: TrainPlan, f: LayerRankFacts = plan.derived.layers[0]!): number {
  const c = plan.mesh.context;
  if (c === 1) return 0;
  const a = f.layer.attention;
  if (a.kind !== 'gqa') return 0; // MLA with context is refused by the checker (PP3059)
  const s = plan.batch.seq;
  const sl = s / c;
  const b = plan.batch.micro;
  const A = f.headsPerRank;
  const g = f.kvHeadsPerRank;
  const d = a.headDim;
  const e = bytesPerElement(plan.precision);
  const accumulator = 4 * sl * b * A * (d + 1);
  switch (plan.contextComm) {
    case 'p2p':
      return Math.max(2 * s * b * g * d * e + accumulator, 8 * sl * b * g * d * e + 4 * sl * b * A * d);
    case 'all_gather':
      return Math.max(2 * s * b * g * d * e + accumulator, 4 * s * b * g * d * e + 4 * sl * b * A * d);
    case 'a2a':
      return 2 * sl * b * (2 * A + 2 * g) * d * e;
  }
}

/**
 * A split-backward table's layer activations on `stage`: the rank's peak of held × M_B + pending
 * × M_W (schedules/bubble.ts `peakSplit`, per chunk of stage layers / virtual layers), M_B and
 * M_W summed over the chunk's kinds of layer (shared out by their counts, as the unsplit count is).
 */
function splitPeak(
  plan: TrainPlan,
  stage: Stage,
  kinds: { n: number; f: LayerRankFacts; bytes: number }[],
): { bytes: number; held: number; pending: number } {
  const per = 1 / plan.virtual;
  const mB = kinds.reduce((sum, k) => sum + k.n * k.bytes * per, 0);
  const mW = kinds.reduce((sum, k) => sum + k.n * weightGradActivationBytes(plan, k.f) * per, 0);
  const peak = peakSplit(plan.actions ?? [], mB, mW)[stage.index] ?? { held: 0, pending: 0 };
  return { bytes: peak.held * mB + peak.pending * mW, held: peak.held, pending: peak.pending };
}

/**
 * What the last stage keeps of one microbatch from the loss's forward to its backward: the
 * final-norm input and the output-layer input (2 × 2sbh, ÷ t with SP; under autocast the norm
 * input is fp32) + the loss path's logits (recipes.ts logitBytesPerElement). The graph's
 * `output.mb{m}` tensor (src/lower/tensors.ts) is this many bytes.
 */
export function trainOutputBytes(plan: TrainPlan): number {
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel ? t : 1;
  const scale = bytesPerElement(plan.precision) / 2;
  const vocabRows = plan.derived.vocabPadded / t;
  const inputs = plan.amp ? ((residualBytes(plan) + bytesPerElement(plan.precision)) * s * b * h) / sp : ((4 * s * b * h) / sp) * scale;
  return inputs + logitBytesPerElement(plan) * s * b * vocabRows;
}

/** Training activations of one pipeline stage (the same on every tensor rank). */
export function trainActivations(plan: TrainPlan, stage: Stage, backwardTransient = 0): Part {
  if (plan.mesh.context > 1) return contextActivations(plan, stage);
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel ? t : 1;
  const runs = stageRuns(plan, stage);
  const v = plan.virtual;
  const lpc = Math.max(1, stage.layers / v);
  // Layer-microbatches held at the peak, shared out over the stage's kinds of layer by their counts.
  const held = layersInFlight(plan, stage);
  const kinds = uniqueKinds(runs).map((k) => ({ n: k.n, f: k.f, bytes: layerActivationBytes(plan, k.f, lpc) }));
  const one = kinds.length === 1 ? kinds[0]! : undefined;
  const split = splitsBackward(plan) ? splitPeak(plan, stage, kinds) : undefined;
  let total = split ? split.bytes : one ? held * one.bytes : kinds.reduce((sum, k) => sum + (held * k.n * k.bytes) / stage.layers, 0);
  let out: number | undefined;
  const logitBytes = logitBytesPerElement(plan);
  // The loss's tensors for one microbatch (trainOutputBytes; the graph's output.mb{m}).
  if (stage.hasOutput) out = trainOutputBytes(plan);
  let embed: { mb: number; bytes: number } | undefined;
  let chunked: LayoutPeak | undefined;
  /** A layout's walk without the loss's tensors: what a layer's backward (its recompute workspace) adds to. */
  let chunkedLayers = 0;
  if (stage.chunks) {
    // A layout: each virtual stage holds its own layers (and the embedding's inputs, or the loss's
    // tensors) per microbatch in flight, from its forward to its backward; the walk finds the moment
    // they add up to most (the loss's chunk holds them while other chunks hold fewer microbatches).
    const perLayer = kinds.reduce((sum, k) => sum + k.n * k.bytes, 0) / Math.max(1, stage.layers);
    const perEmbed = 8 * s * b + (s * b * h) / sp;
    chunked = layoutPeak(plan, stage, perLayer, perEmbed, out ?? 0);
    chunkedLayers = out === undefined ? chunked.bytes : layoutPeak(plan, stage, perLayer, perEmbed, 0).bytes;
    total = chunked.bytes;
    if (stage.hasEmbedding) embed = { mb: chunked.embedMb, bytes: chunked.embedMb * perEmbed };
  } else if (stage.hasEmbedding) {
    // int64 token ids (8sb, needed whole on every tensor rank) + the 1-byte embedding dropout mask (sbh, ÷ t with SP).
    // A split backward releases the stage's input at I (the embedding's backward runs with it).
    const mb =
      split && plan.virtual === 1 ? (peakSplit(plan.actions ?? [], 1, 0)[stage.index]?.held ?? 0) : inFlightMicrobatches(plan, stage.index);
    embed = { mb, bytes: mb * (8 * s * b + (s * b * h) / sp) };
    total += embed.bytes;
  }
  // Without a layout the loss's tensors (one microbatch's: the last stage runs its forward and backward back to back) add to the held layers.
  if (out !== undefined && !chunked) total += out;
  // Recomputing during backward needs one layer's (or group's) activations at a time, once per stage.
  // On the last stage it comes after the loss's backward has freed the logits: the two never coexist.
  // The largest over the model's kinds of layer (not only the stage's): the graph holds one workspace tensor for every stage.
  const recompute =
    stage.layers > 0 ? Math.max(0, ...plan.derived.layers.map((f) => recomputeWorkspaceBytes(plan, f, lpc))) + backwardTransient : 0;
  // A layout: a layer's backward runs while the loss's chunk holds nothing, on the walk without the loss's tensors.
  if (chunked) total = Math.max(total, chunkedLayers + recompute);
  else total += out !== undefined ? Math.max(0, recompute - out) : recompute;
  const bytes = ceilBytes(total);
  return part(bytes, () => {
    const chunks = inFlightChunks(plan, stage.index);
    const heldText = chunked
      ? `layout (${plan.schedule}${plan.virtual > 1 ? `, v = ${plan.virtual}` : ''}): at the peak ${chunked.terms.map((t) => `${t.mb} × ${t.layers}`).join(' + ')} = ${num(chunked.layerMb)} layer-microbatches`
      : plan.schedule === 'interleaved' || (plan.schedule === 'table' && plan.virtual > 1)
        ? `${chunks} chunks in flight (${plan.schedule === 'table' ? 'action table' : 'interleaved'}, v = ${plan.virtual}) × ${num(stage.layers / plan.virtual)} layers`
        : `${stage.layers} layers × ${chunks} microbatches in flight (${plan.schedule})`;
    const first = one ?? { f: plan.derived.layers[0]!, bytes: layerActivationBytes(plan, plan.derived.layers[0]!, lpc) };
    let why = split
      ? `activations: ${split.held} chunks held × ${num(stage.layers / plan.virtual)} layers × M_B + ${split.pending} pending W × ${num(stage.layers / plan.virtual)} layers × M_W (zero-bubble, Qi et al. 2024 Table 1), by kind of layer: ${kinds
          .map(
            (k) => `${k.n} × (M_B ${num(k.bytes)} B [${layerFormula(plan, k.f, lpc)}], M_W ${num(weightGradActivationBytes(plan, k.f))} B)`,
          )
          .join(' + ')} (s=${s} b=${b} h=${h} t=${t})`
      : kinds.length <= 1
        ? `activations: ${heldText} × ${num(first.bytes)} B/layer [${layerFormula(plan, first.f, lpc)}; s=${s} b=${b} h=${h} a=${first.f.layer.attention.heads} t=${t}]`
        : `activations: ${heldText}, by kind of layer: ${kinds
            .map((k) => `${k.n} × ${num(k.bytes)} B/layer [${layerFormula(plan, k.f, lpc)}; a=${k.f.layer.attention.heads}]`)
            .join(' + ')} (s=${s} b=${b} h=${h} t=${t})`;
    if (embed) why += ` + embedding ${embed.mb} × (8sb + sbh${sp > 1 ? '/t' : ''}) = ${num(embed.bytes)} B`;
    // A layout's walk counts the loss's tensors for the microbatches its chunk holds at the peak.
    const lossMb = chunked
      ? stage.chunks!.filter((c) => c.hasOutput).reduce((a, c) => a + (chunked!.terms.find((x) => x.stage === c.index)?.mb ?? 0), 0)
      : 1;
    if (out !== undefined && lossMb !== 1) why += ` + output ${lossMb} × ${num(out)} B (the loss's chunk at the peak)`;
    else if (out !== undefined)
      why += plan.amp
        ? ` + output (final-norm and output-layer inputs + ${logitBytes}sb·V/t: 16-bit logits upcast, fp32 log-softmax and its gradients, V=${plan.derived.vocabPadded}) = ${num(out)} B`
        : ` + output (4sbh${sp > 1 ? '/t' : ''} + 4sb·V/t, V=${plan.derived.vocabPadded}) = ${num(out)} B`;
    if (recompute > 0)
      why +=
        (backwardTransient > 0
          ? ` + one layer's backward transients (recompute workspace ${num(recompute - backwardTransient)} B + context exchange ${num(backwardTransient)} B)`
          : ` + recompute workspace (one ${plan.recompute === 'full' && plan.recomputeMethod === 'uniform' && plan.recomputeLayers > 1 ? 'group' : 'layer'} during backward) ${num(recompute)} B`) +
        (chunked
          ? ` (during a layer's backward, on the walk without the loss's tensors: the larger of the two)`
          : out !== undefined
            ? ` (after the logits are freed: counted beyond them, ${num(Math.max(0, recompute - out))} B)`
            : '');
    return `${why} = ${bytesText(bytes)}`;
  });
}

interface LayoutPeak {
  /** Layer and embedding activations at the rank's peak. */
  bytes: number;
  /** Microbatches × layers held by each virtual stage of the rank at that peak. */
  terms: { stage: number; mb: number; layers: number }[];
  layerMb: number;
  /** Microbatches of the embedding's inputs held at the peak (0 off the embedding's rank). */
  embedMb: number;
}

const scheduleCache = new WeakMap<TrainPlan, ReturnType<typeof scheduleFor>>();

/**
 * The peak of a rank with uneven virtual stages (a `layout`): its actions, in the order the
 * plan's schedule runs them (src/schedules: Megatron's 1F1B warm-up p − r − 1, interleaved
 * 2(p − r − 1) + (v − 1)p, get_pp_rank_microbatches), each forward holding its stage's layers
 * × per-layer bytes (+ the embedding's inputs on the stage with E, the loss's tensors, `perLoss`, on the
 * stage with L: Megatron's last stage keeps them in the autograd graph until the microbatch's backward) until its backward. The
 * heaviest moment depends on the layer counts: with uneven chunks it need not be the end of
 * the warm-up, nor rank 0 (every rank is computed).
 */
function layoutPeak(plan: TrainPlan, stage: Stage, perLayer: number, perEmbed: number, perLoss: number): LayoutPeak {
  let table = scheduleCache.get(plan);
  if (!table) {
    // Megatron's interleaved order is defined for microbatches in multiples of p (the checker's PP3018); a
    // variant plan built without the checker (a fit probe) is walked with m rounded up, never a lower peak.
    const p = plan.mesh.pipeline;
    const m = plan.schedule === 'interleaved' ? Math.ceil(plan.microbatches / p) * p : plan.microbatches;
    scheduleCache.set(plan, (table = scheduleFor({ ...plan, microbatches: m })));
  }
  const chunks = new Map(stage.chunks!.map((c) => [c.index, c]));
  const weight = (v: number): number => {
    const c = chunks.get(v);
    return c ? c.layers * perLayer + (c.hasEmbedding ? perEmbed : 0) + (c.hasOutput ? perLoss : 0) : 0;
  };
  const { peak, held } = peakWeighted(table[stage.index] ?? [], weight);
  const terms = stage.chunks!.map((c) => ({ stage: c.index, mb: held.get(c.index) ?? 0, layers: c.layers }));
  const embedMb = stage.chunks!.filter((c) => c.hasEmbedding).reduce((a, c) => a + (held.get(c.index) ?? 0), 0);
  return { bytes: peak, terms, layerMb: terms.reduce((a, t) => a + t.mb * t.layers, 0), embedMb };
}

/** Bytes per element of serving activations: the model dtype, but at least 16-bit (quantized weights compute in 16-bit). */
export function serveActivationElementBytes(plan: ServePlan): number {
  return Math.max(2, bytesPerElement(plan.model.dtype));
}

/**
 * Serving activations: the prefill peak of T = max_prefill_tokens tokens through one layer,
 *   e·T·(2h + max(attention, mlp)) + [standard attention] 4·heads/t·T·min(T, seq)
 * where attention = (heads/t + 2·kv heads per rank)·d (q, k, v) + heads/t·d (attention output),
 * mlp = 3·ffn/t (swiglu: gate, up, product) or 2·ffn/t (gelu), e = max(2, bytes(dtype));
 * the fp32 score matrix belongs to the attention phase. The last stage adds fp32 logits
 * max_batch × vocabPadded/t × 4.
 */
export function serveActivations(plan: ServePlan, stage: Stage): Part {
  const { model, derived } = plan;
  const T = plan.batch.maxPrefillTokens;
  const e = serveActivationElementBytes(plan);
  const h = model.hidden;
  // The peak of the stage's kinds of layer (one layer runs at a time).
  const peaks = uniqueKinds(stageRuns(plan, stage)).map((k) => servePrefillPeak(plan, k.f));
  const peak = peaks.reduce((a, b) => (b.bytes > a.bytes ? b : a), peaks[0] ?? servePrefillPeak(plan, derived.layers[0]!));
  const { attnElems, mlpElems, scores, hpr } = peak;
  const prefill = peak.bytes;
  const logits = stage.hasOutput ? plan.batch.maxBatch * (derived.vocabPadded / plan.mesh.tensor) * 4 : 0;
  const bytes = ceilBytes(prefill + logits);
  return part(bytes, () => {
    let why =
      `activations: prefill ${num(T)} tokens × ${e} B × (2h ${num(2 * h)} + max(attention ${num(attnElems)}, mlp ${num(mlpElems)}))` +
      (scores ? ` + fp32 scores 4 × ${hpr} heads × ${num(T)} × ${num(Math.min(T, plan.batch.seq))}` : '') +
      (peaks.length > 1 ? ` (the largest of the stage's ${peaks.length} kinds of layer)` : '') +
      ` = ${num(prefill)} B`;
    if (stage.hasOutput)
      why += ` + logits ${plan.batch.maxBatch} × ${num(derived.vocabPadded / plan.mesh.tensor)} × 4 B = ${num(logits)} B`;
    return `${why} = ${bytesText(bytes)}`;
  });
}

/**
 * The prefill peak of one kind of layer, per token (elements of e bytes):
 *   attention  GQA (a/t + 2·kv/t)·d + a/t·d; MLA a/t·(2·(qk_nope + qk_rope) + 2·v) + q_lora + kv_lora + qk_rope
 *   mlp        dense (3|2)·f/t; MoE (derived) k·(2h + (3|2)·f_e/et) routed copies (dispatched in, expert
 *              up/gate, combined out) + (3|2)·shared·f_s/t + 4/e·E fp32 router logits
 */
function servePrefillPeak(plan: ServePlan, f: LayerRankFacts) {
  const T = plan.batch.maxPrefillTokens;
  const e = serveActivationElementBytes(plan);
  const h = plan.model.hidden;
  const a = f.layer.attention;
  const hpr = f.headsPerRank;
  const attnElems =
    a.kind === 'gqa'
      ? (hpr + 2 * f.kvHeadsPerRank) * a.headDim + hpr * a.headDim
      : hpr * (2 * qkHeadDim(a) + 2 * a.vHeadDim) + a.qLoraRank + a.kvLoraRank + a.qkRopeHeadDim;
  const scores = plan.attention === 'standard' ? 4 * hpr * T * Math.min(T, plan.batch.seq) : 0;
  const attn = e * T * attnElems + scores;
  const m = f.layer.mlp;
  const k = gatedMlp(m.activation) ? 3 : 2;
  const mlpElems =
    m.kind === 'dense'
      ? k * f.ffnPerRank
      : m.topK * (2 * h + k * f.ffnPerRank) + k * m.sharedExperts * f.sharedFfnPerRank + (4 / e) * m.experts;
  const mlp = e * T * mlpElems;
  return { bytes: e * T * 2 * h + Math.max(attn, mlp), attnElems, mlpElems, scores, hpr };
}

/** The distinct kinds of layer among runs, with their layer counts. */
function uniqueKinds(runs: { n: number; f: LayerRankFacts }[]): { n: number; f: LayerRankFacts }[] {
  const out: { n: number; f: LayerRankFacts }[] = [];
  for (const r of runs) {
    const k = out.find((x) => sameLayer(x.f.layer, r.f.layer));
    if (k) k.n += r.n;
    else out.push({ n: r.n, f: r.f });
  }
  return out;
}

export function activations(plan: CheckedPlan, stage: Stage): Part {
  if (plan.mode === 'train') return trainActivations(plan, stage);
  return plan.engine === 'webgpu' ? webgpuPart(plan, stage, 'activations') : serveActivations(plan, stage);
}

/** The webgpu engine's own buffers of one category (src/memory/webgpu.ts). */
export function webgpuPart(plan: ServePlan, stage: Stage, category: 'activations' | 'workspace'): Part {
  const regions = webgpuLayout(plan, stage).filter((r) => r.category === category);
  const bytes = regions.reduce((a, r) => a + r.bytes, 0);
  return part(
    bytes,
    () => `${category}: webgpu engine ${regions.map((r) => `${r.name} ${num(r.bytes)}`).join(' + ')} = ${bytesText(bytes)}`,
  );
}
