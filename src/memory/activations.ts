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
import { uniformLayer } from '../model.js';
import { peakInFlight } from '../schedules/bubble.js';
import type { ScheduleTable } from '../schedules/types.js';
import type { CheckedPlan, ServePlan, Stage, TrainPlan } from '../plan.js';
import { webgpuLayout } from './webgpu.js';
import { bytesText, num } from '../format.js';
import { ceilBytes, type Part } from './format.js';

/** MLP activation coefficient c in sbh·c: 4f/h for gelu (Korthikanti), 6f/h for swiglu (gate, up and their product). */
export function mlpFactor(plan: CheckedPlan): number {
  const { ffn, activation } = uniformLayer(plan.model, 'the activation model').mlp;
  const { hidden } = plan.model;
  return ((activation === 'swiglu' ? 6 : 4) * ffn) / hidden;
}

/**
 * Activation bytes of one transformer layer for one microbatch (may be fractional before the
 * stage total is rounded up). s = seq, b = micro, h = hidden, a = heads, t = tensor:
 *   recompute = full:        2sbh           (÷ t with sequence parallelism)
 *   otherwise, without SP:   sbh(10 + (8 + c)/t)
 *              with SP:      sbh(18 + c)/t
 *   plus 5as²b/t unless attention = flash or recompute = selective.
 * Scaled by bytes(precision)/2 (the table assumes 16-bit activations).
 */
export function trainLayerActivationBytes(plan: TrainPlan): number {
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const h = plan.model.hidden;
  const a = uniformLayer(plan.model, 'the activation model').attention.heads;
  const t = plan.mesh.tensor;
  const scale = bytesPerElement(plan.precision) / 2;
  const sbh = s * b * h;
  if (plan.recompute === 'full') return ((2 * sbh) / (plan.sequenceParallel ? t : 1)) * scale;
  const c = mlpFactor(plan);
  let bytes = plan.sequenceParallel ? (sbh * (18 + c)) / t : sbh * (10 + (8 + c) / t);
  if (keepsScores(plan)) bytes += (5 * a * s * s * b) / t;
  return bytes * scale;
}

function keepsScores(plan: TrainPlan): boolean {
  return plan.attention === 'standard' && plan.recompute !== 'selective';
}

function layerFormula(plan: TrainPlan): string {
  if (plan.recompute === 'full') return plan.sequenceParallel ? '2sbh/t (full recompute, SP)' : '2sbh (full recompute)';
  const c = num(mlpFactor(plan));
  const cText = `c = ${uniformLayer(plan.model).mlp.activation === 'swiglu' ? '6f/h' : '4f/h'} = ${c}`;
  const base = plan.sequenceParallel ? `sbh(18 + c)/t` : `sbh(10 + (8 + c)/t)`;
  const scores = keepsScores(plan) ? ' + 5as²b/t' : '';
  return `${base}${scores}, ${cText}`;
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
  const v = plan.schedule === 'interleaved' || plan.schedule === 'table' ? plan.virtual : 1;
  return (inFlightChunks(plan, stage.index) * stage.layers) / v;
}

/** Training activations of one pipeline stage (the same on every tensor rank). */
export function trainActivations(plan: TrainPlan, stage: Stage): Part {
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel ? t : 1;
  const scale = bytesPerElement(plan.precision) / 2;
  const perLayer = trainLayerActivationBytes(plan);
  const held = layersInFlight(plan, stage);
  let total = held * perLayer;
  const chunks = inFlightChunks(plan, stage.index);
  const heldText =
    plan.schedule === 'interleaved' || (plan.schedule === 'table' && plan.virtual > 1)
      ? `${chunks} chunks in flight (${plan.schedule === 'table' ? 'action table' : 'interleaved'}, v = ${plan.virtual}) × ${num(stage.layers / plan.virtual)} layers`
      : `${stage.layers} layers × ${chunks} microbatches in flight (${plan.schedule})`;
  let why = `activations: ${heldText} × ${num(perLayer)} B/layer [${layerFormula(plan)}; s=${s} b=${b} h=${h} a=${uniformLayer(plan.model).attention.heads} t=${t}]`;
  if (stage.hasEmbedding) {
    // int64 token ids (8sb, needed whole on every tensor rank) + the 1-byte embedding dropout mask (sbh, ÷ t with SP).
    const mb = inFlightMicrobatches(plan, stage.index);
    const embed = mb * (8 * s * b + (s * b * h) / sp);
    total += embed;
    why += ` + embedding ${mb} × (8sb + sbh${sp > 1 ? '/t' : ''}) = ${num(embed)} B`;
  }
  if (stage.hasOutput) {
    // Final-norm input and output-layer input (2 × 2sbh, ÷ t with SP) + fp32 logits for one microbatch.
    const vocabRows = plan.derived.vocabPadded / t;
    const out = ((4 * s * b * h) / sp) * scale + 4 * s * b * vocabRows;
    total += out;
    why += ` + output (4sbh${sp > 1 ? '/t' : ''} + 4sb·V/t, V=${plan.derived.vocabPadded}) = ${num(out)} B`;
  }
  const bytes = ceilBytes(total);
  return { bytes, why: `${why} = ${bytesText(bytes)}` };
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
  const layer = uniformLayer(model, 'the activation model');
  const d = layer.attention.headDim;
  const hpr = derived.headsPerRank;
  const kvpr = derived.kvHeadsPerRank;
  const attnElems = (hpr + 2 * kvpr) * d + hpr * d;
  const scores = plan.attention === 'standard' ? 4 * hpr * T * Math.min(T, plan.batch.seq) : 0;
  const attn = e * T * attnElems + scores;
  const mlpElems = (layer.mlp.activation === 'swiglu' ? 3 : 2) * derived.ffnPerRank;
  const mlp = e * T * mlpElems;
  const prefill = e * T * 2 * h + Math.max(attn, mlp);
  let why =
    `activations: prefill ${num(T)} tokens × ${e} B × (2h ${num(2 * h)} + max(attention ${num(attnElems)}, mlp ${num(mlpElems)}))` +
    (scores ? ` + fp32 scores 4 × ${hpr} heads × ${num(T)} × ${num(Math.min(T, plan.batch.seq))}` : '') +
    ` = ${num(prefill)} B`;
  let total = prefill;
  if (stage.hasOutput) {
    const logits = plan.batch.maxBatch * (derived.vocabPadded / plan.mesh.tensor) * 4;
    total += logits;
    why += ` + logits ${plan.batch.maxBatch} × ${num(derived.vocabPadded / plan.mesh.tensor)} × 4 B = ${num(logits)} B`;
  }
  const bytes = ceilBytes(total);
  return { bytes, why: `${why} = ${bytesText(bytes)}` };
}

export function activations(plan: CheckedPlan, stage: Stage): Part {
  if (plan.mode === 'train') return trainActivations(plan, stage);
  return plan.engine === 'webgpu' ? webgpuPart(plan, stage, 'activations') : serveActivations(plan, stage);
}

/** The webgpu engine's own buffers of one category (src/memory/webgpu.ts). */
export function webgpuPart(plan: ServePlan, stage: Stage, category: 'activations' | 'workspace'): Part {
  const regions = webgpuLayout(plan, stage).filter((r) => r.category === category);
  const bytes = regions.reduce((a, r) => a + r.bytes, 0);
  return { bytes, why: `${category}: webgpu engine ${regions.map((r) => `${r.name} ${num(r.bytes)}`).join(' + ')} = ${bytesText(bytes)}` };
}
