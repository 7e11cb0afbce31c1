/**
 * engine = webgpu, training: the buffers parplan's WebGPU runtime holds on one device, as data
 * (docs/memory.md, "engine = webgpu (training)"). The lowering (src/lower/webgpu-train.ts) names
 * each of these as a graph tensor, so what the memory plan counts is what a step binds.
 *
 * Activations are f32. Per layer per microbatch the backward kernels read the saved parts
 * (`act.{l}.mb{m}.<part>`, `webgpuSavedParts`); recompute = full keeps only `x` and re-creates the
 * rest one layer at a time. The tracked bytes (what steps allocate and free: saved parts, the
 * final norm's parts, the head's logits, token ids and labels, a zero-bubble W's kept inputs and
 * output gradients) peak where the schedule holds most of them: `webgpuTrainPeak` walks the
 * schedule's actions of the rank as the simulation does. Everything else is a buffer reused by
 * every layer and microbatch (`webgpuTrainRegions`, the workspace).
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { gatedMlp, uniformLayer } from '../model.js';
import type { Stage, TrainPlan } from '../plan.js';
import { scheduleFor } from '../schedules/index.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';
import { WEBGPU_ELEMENT_BYTES, WEBGPU_UNIFORM_POOL_BYTES, type WebgpuRegion } from './webgpu.js';
import { splitsBackward } from './activations.js';
import { zeroDegree, zeroShard } from './zero.js';
import { deviceParams } from './params.js';

/** The per-rank dimensions every buffer is made of. */
export interface WebgpuTrainDims {
  /** Tokens of one microbatch on this rank: micro × seq. */
  T: number;
  h: number;
  /** Query heads, KV heads (replicated when tensor > kv_heads), head size, ffn width: on this tensor rank. */
  aLoc: number;
  kvLoc: number;
  d: number;
  fLoc: number;
  /** Vocabulary rows on this tensor rank (vocab padded / tensor). */
  vLoc: number;
  gated: boolean;
  layernorm: boolean;
}

export function webgpuTrainDims(plan: TrainPlan): WebgpuTrainDims {
  const layer = uniformLayer(plan.model, 'training on the WebGPU runtime');
  const { derived } = plan;
  return {
    T: plan.batch.micro * plan.batch.seq,
    h: plan.model.hidden,
    aLoc: derived.headsPerRank,
    kvLoc: derived.kvHeadsPerRank,
    d: layer.attention.headDim,
    fLoc: derived.ffnPerRank,
    vLoc: derived.vocabPadded / plan.mesh.tensor,
    gated: gatedMlp(layer.mlp.activation),
    layernorm: plan.model.norm === 'layernorm',
  };
}

/** One saved activation of a layer (or of the final norm) for one microbatch: its name after the prefix, shape and f32 elements. */
export interface SavedPart {
  part: string;
  shape: number[];
  doc: string;
}

export function elementsOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * What the backward of one layer reads, saved per microbatch (issue 16's contract): the layer
 * input, each norm's statistics and output, q, k, v after RoPE, the attention output and its
 * log-sum-exp, the residual after attention, the MLP's pre-activations and activated value.
 */
export function webgpuSavedParts(plan: TrainPlan): SavedPart[] {
  const { T, h, aLoc, kvLoc, d, fLoc, gated, layernorm } = webgpuTrainDims(plan);
  const norm = (n: string, input: string): SavedPart[] => [
    { part: `${n}.rstd`, shape: [T], doc: `1/sqrt(var + eps) of each token of ${input}` },
    ...(layernorm ? [{ part: `${n}.mean`, shape: [T], doc: `mean of each token of ${input}` }] : []),
    { part: `${n}.out`, shape: [T, h], doc: `normalised ${input}` },
  ];
  return [
    { part: 'x', shape: [T, h], doc: 'layer input' },
    ...norm('ln1', 'x'),
    { part: 'q', shape: [T, aLoc * d], doc: 'queries (after RoPE)' },
    { part: 'k', shape: [T, kvLoc * d], doc: 'keys (after RoPE)' },
    { part: 'v', shape: [T, kvLoc * d], doc: 'values' },
    { part: 'attn.out', shape: [T, aLoc * d], doc: 'attention output O' },
    { part: 'attn.lse', shape: [T, aLoc], doc: 'log-sum-exp of each score row' },
    { part: 'h1', shape: [T, h], doc: 'residual after attention' },
    ...norm('ln2', 'h1'),
    ...(gated ? [{ part: 'gate', shape: [T, fLoc], doc: 'MLP gate pre-activation' }] : []),
    { part: 'up', shape: [T, fLoc], doc: 'MLP up pre-activation' },
    { part: 'mlp.act', shape: [T, fLoc], doc: 'activated value, the down projection input' },
  ];
}

/** The final norm's saved parts (`act.final.mb{m}.<part>`). */
export function webgpuFinalParts(plan: TrainPlan): SavedPart[] {
  const { T, h, layernorm } = webgpuTrainDims(plan);
  return [
    { part: 'x', shape: [T, h], doc: 'final norm input' },
    { part: 'rstd', shape: [T], doc: '1/sqrt(var + eps) of each token' },
    ...(layernorm ? [{ part: 'mean', shape: [T], doc: 'mean of each token' }] : []),
    { part: 'out', shape: [T, h], doc: 'final norm output: the head matmul input' },
  ];
}

/** The parts a zero-bubble I keeps for its W: each matmul's input (the weight gradient's other operand). */
export const WGRAD_KEPT = ['ln1.out', 'attn.out', 'ln2.out', 'mlp.act'] as const;

/** A zero-bubble I's output gradients that its W reads (`wgrad.{l}.mb{m}.<part>`): each matmul's output gradient. */
export function webgpuWgradParts(plan: TrainPlan): SavedPart[] {
  const { T, h, aLoc, kvLoc, d, fLoc, gated } = webgpuTrainDims(plan);
  return [
    { part: 'dqkv', shape: [T, (aLoc + 2 * kvLoc) * d], doc: 'gradient of q | k | v (before RoPE)' },
    { part: 'do', shape: [T, h], doc: 'gradient of the attention output projection' },
    { part: 'dup', shape: [T, (gated ? 2 : 1) * fLoc], doc: 'gradient of the MLP (gate |) up pre-activation' },
    { part: 'ddown', shape: [T, h], doc: 'gradient of the MLP down projection' },
  ];
}

const bytesOf = (parts: readonly SavedPart[]) => parts.reduce((a, p) => a + elementsOf(p.shape) * WEBGPU_ELEMENT_BYTES, 0);

/** Per-layer, per-microbatch byte totals the walk adds and removes. */
export function webgpuTrainUnits(plan: TrainPlan): {
  /** Saved by a layer's forward: every part, or `x` alone with recompute = full. */
  saved: number;
  /** Re-created by the recompute pass (full) for one layer's backward. */
  recomputed: number;
  /** Kept by a zero-bubble I for its W, and the output gradients it writes for W. */
  kept: number;
  wgrad: number;
  /** Token ids (first stage), labels (last stage): u32 per token. */
  tokens: number;
  labels: number;
  final: number;
  logits: number;
} {
  const parts = webgpuSavedParts(plan);
  const { T, vLoc } = webgpuTrainDims(plan);
  const full = plan.recompute === 'full';
  const x = parts.filter((p) => p.part === 'x');
  return {
    saved: bytesOf(full ? x : parts),
    recomputed: full ? bytesOf(parts.filter((p) => p.part !== 'x')) : 0,
    kept: bytesOf(parts.filter((p) => (WGRAD_KEPT as readonly string[]).includes(p.part))),
    wgrad: bytesOf(webgpuWgradParts(plan)),
    tokens: 4 * T,
    labels: 4 * T,
    final: bytesOf(webgpuFinalParts(plan)),
    logits: 4 * T * vLoc,
  };
}

/** A rank's model chunks by virtual stage index: layers, and whether the embedding or the loss runs there (as src/lower/pipeline.ts virtualStages). */
function chunksOf(plan: TrainPlan): Map<number, { layers: number; embed: boolean; loss: boolean }> {
  const out = new Map<number, { layers: number; embed: boolean; loss: boolean }>();
  const layout = plan.stages.flatMap((s) => s.chunks ?? []);
  if (layout.length > 0) {
    for (const c of layout) out.set(c.index, { layers: c.layers, embed: c.hasEmbedding, loss: c.hasOutput });
    return out;
  }
  const p = plan.mesh.pipeline;
  const v = plan.virtual;
  const total = plan.stages.reduce((a, s) => a + s.layers, 0);
  for (let c = 0; c < p * v; c++) {
    const layers = v === 1 ? plan.stages[c]!.layers : total / (p * v);
    out.set(c, { layers, embed: c === 0, loss: c === p * v - 1 });
  }
  return out;
}

/**
 * The most tracked bytes the rank of `stage` holds at once during one training step, walking its
 * schedule actions in order: F allocates the token ids (embedding), each layer's saved parts, the
 * final norm's parts, the logits and (for the loss step only) the labels; B releases them, one
 * layer at a time with recompute = full holding that layer's re-created parts; a zero-bubble I
 * keeps each layer's matmul inputs and writes its output gradients for W, which releases both.
 */
export function webgpuTrainPeak(plan: TrainPlan, stage: Stage): number {
  const u = webgpuTrainUnits(plan);
  const chunks = chunksOf(plan);
  let live = 0;
  let peak = 0;
  const at = (bytes: number) => (peak = Math.max(peak, bytes));
  for (const a of scheduleFor(plan)[stage.index] ?? []) {
    const c = chunks.get(a.stage)!;
    if (a.kind === 'F') {
      if (c.embed) at((live += u.tokens));
      at((live += c.layers * u.saved));
      if (c.loss) {
        at((live += u.final));
        at((live += u.logits));
        at(live + u.labels);
      }
    } else if (a.kind === 'W') {
      live -= c.layers * (u.kept + u.wgrad);
    } else {
      if (c.loss) live -= u.logits + u.final;
      for (let l = 0; l < c.layers; l++) {
        if (a.kind === 'I') {
          at(live + u.recomputed + u.wgrad);
          live += u.kept + u.wgrad - u.saved;
        } else {
          at(live + u.recomputed);
          live -= u.saved;
        }
      }
      if (c.embed) live -= u.tokens;
    }
  }
  return peak;
}

export function webgpuTrainActivations(plan: TrainPlan, stage: Stage): Part {
  const bytes = webgpuTrainPeak(plan, stage);
  const u = webgpuTrainUnits(plan);
  return part(
    bytes,
    () =>
      `activations: webgpu engine, the peak of the schedule's saved tensors (per layer per microbatch ${num(u.saved)} B saved` +
      (u.recomputed ? `, ${num(u.recomputed)} B re-created in its backward` : '') +
      (splitsBackward(plan) ? `, ${num(u.kept + u.wgrad)} B kept for W` : '') +
      `; per microbatch: token ids ${num(u.tokens)} B, final norm ${num(u.final)} B, logits ${num(u.logits)} B, labels ${num(u.labels)} B) = ${bytesText(bytes)}`,
  );
}

/**
 * Weights, gradients and optimizer states per parameter tensor as the graph holds them: the
 * elements this rank owns of `grad.X` (fp32), `optim.X` (AdamW: m, v; SGD: none; with bf16
 * weights also the fp32 master first) and `X`; ZeRO shards as for the generic engine.
 */
export function webgpuOptimizerCopies(plan: TrainPlan): number {
  return (plan.optimizer === 'sgd' ? 0 : 2) + (plan.precision === 'fp32' ? 0 : 1);
}

/** Elements of a gradient one workgroup of the sum-of-squares kernel reduces (runtime/kernels/optimizer.ts): sizes `grad.partials`. */
export const WEBGPU_SUM_SQUARES_CHUNK = 4096;

/** The buffers reused by every layer and microbatch: the workspace of a training stage. */
export function webgpuTrainRegions(plan: TrainPlan, stage: Stage): WebgpuRegion[] {
  const largestTensor = webgpuLargestTensor(plan, stage);
  const { T, h, aLoc, kvLoc, d, fLoc, gated } = webgpuTrainDims(plan);
  const e = WEBGPU_ELEMENT_BYTES;
  const ws = (name: string, elements: number, doc: string): WebgpuRegion => ({ name, category: 'workspace', bytes: elements * e, doc });
  const full = plan.recompute === 'full';
  const regions: WebgpuRegion[] = [
    ws('hidden', T * h, 'the residual stream of the microbatch in flight'),
    ws('y', T * h, 'output of the row-parallel projections (partial sums until the all-reduce)'),
    ws('grad.hidden', T * h, 'gradient of the residual stream'),
    ws('grad.x', T * h, 'gradient of a norm output (partial sums until the all-reduce)'),
    ws('grad.attn', T * aLoc * d, 'gradient of the attention output'),
    ws('grad.q', T * aLoc * d, 'gradient of the queries'),
    ws('grad.k', T * kvLoc * d, 'gradient of the keys'),
    ws('grad.v', T * kvLoc * d, 'gradient of the values'),
    ws('attn.delta', T * aLoc, "rowsum(dO∘O) of each query row: the flash backward's D (attentionBackwardPre)"),
    ws('grad.up', T * fLoc, 'gradient of the MLP up projection (and of its activation)'),
    ...(gated ? [ws('grad.gate', T * fLoc, 'gradient of the MLP gate projection')] : []),
  ];
  if (full)
    // recompute = full: the forward's intermediates live in one layer's buffers, not saved.
    regions.push(
      ws('x', T * h, 'normalised input (recompute = full forward)'),
      ws('q', T * aLoc * d, 'queries (recompute = full forward)'),
      ws('k', T * kvLoc * d, 'keys (recompute = full forward)'),
      ws('v', T * kvLoc * d, 'values (recompute = full forward)'),
      ws('attn', T * aLoc * d, 'attention output (recompute = full forward)'),
      ws('up', T * fLoc, 'MLP up projection, activated in place (recompute = full forward)'),
      ...(gated ? [ws('gate', T * fLoc, 'MLP gate projection (recompute = full forward)')] : []),
    );
  if (plan.model.positions === 'rope') regions.push(ws('rope', plan.model.maxSeq * d, 'cos and sin of every position (RoPE table)'));
  if (stage.hasOutput)
    regions.push(
      ws('loss.stats', 3 * T, "each row's max, sum of exps and target logit (all-reduced over tensor)"),
      ws('loss', 1, "the step's loss"),
    );
  // What the executor needs besides: token positions, the global norm (reported with or without grad_clip), its partial
  // sums, and the step's loss and norm mapped for the host (nothing is allocated outside the memory plan during a step).
  if (plan.model.positions === 'rope' || (stage.hasEmbedding && plan.model.positions === 'learned'))
    regions.push(ws('positions', T, "each token's position in its sequence (u32; learned positions and RoPE read it)"));
  regions.push(
    ws(
      'grad.norm',
      2,
      "sum of squares of this rank's gradients (all-reduced), then [clip scale, global norm]; the scale is 1 without grad_clip",
    ),
    ws(
      'grad.partials',
      Math.ceil(largestTensor / WEBGPU_SUM_SQUARES_CHUNK),
      `sum of squares of each ${WEBGPU_SUM_SQUARES_CHUNK}-element chunk of one gradient (the largest tensor's), summed into grad.norm`,
    ),
    { name: 'readback', category: 'workspace', bytes: 8, doc: "the step's loss and gradient norm, mapped for the host" },
  );
  const dz = zeroDegree(plan);
  // One buffer per weight of a layer, reused by every layer (each use gathers, or each backward reduce-scatters, first),
  // and one per stage tensor (embedding, positions, final norm, head): the executor binds whole buffers.
  const oneLayerAndStage = webgpuZeroBufferParams(plan, stage);
  if (plan.zero >= 3 && dz > 1)
    regions.push({
      name: 'gathered',
      category: 'workspace',
      bytes: (plan.reshardAfterForward ? oneLayerAndStage : deviceParams(plan, stage).total) * bytesPerElement(plan.precision),
      doc: plan.reshardAfterForward
        ? "ZeRO-3: one layer's weights (reused by every layer) and the stage's embedding, positions, final norm and head, gathered over data"
        : "ZeRO-3 with reshard_after_forward = false: every weight of the stage gathered over data (the forward's copies kept for the backward)",
    });
  if (plan.zero >= 2 && dz > 1)
    regions.push(
      ws(
        'gradbuf',
        oneLayerAndStage,
        "ZeRO-2/3: one layer's full gradients of a microbatch (reused by every layer) and the stage tensors', reduce-scattered into the shards",
      ),
    );
  const communicates = plan.mesh.tensor > 1 || plan.mesh.pipeline > 1 || plan.mesh.data > 1;
  if (communicates) {
    // Host-routed communication: the largest single exchange, activations or one tensor's gradients (or gathered weights).
    const bytes = Math.max(T * h * e, largestTensor * e);
    regions.push(
      {
        name: 'staging-read',
        category: 'workspace',
        bytes,
        doc: 'mapped buffer for reading activations, partial sums and gradients back to the host',
      },
      { name: 'staging-write', category: 'workspace', bytes, doc: 'mapped buffer for uploading reduced or received tensors' },
    );
  }
  regions.push({ name: 'uniforms', category: 'workspace', bytes: WEBGPU_UNIFORM_POOL_BYTES, doc: 'kernel parameters' });
  if (plan.spans['workspace'])
    regions.push({ name: 'extra', category: 'workspace', bytes: plan.workspaceBytes, doc: "the plan's workspace" });
  return regions;
}

/** ZeRO-2/3's full-size buffers on this rank: one layer's parameters (a buffer per weight, reused by every layer) and each stage tensor's. */
export function webgpuZeroBufferParams(plan: TrainPlan, stage: Stage): number {
  const p = deviceParams(plan, stage);
  return (stage.layers > 0 ? p.layer.total : 0) + p.embedding + p.positions + p.finalNorm + p.output;
}

/** Elements of the stage's largest single tensor on this rank (sizes the gradient norm's partial sums and the staging buffers). */
export function webgpuLargestTensor(plan: TrainPlan, stage: Stage): number {
  const { h, aLoc, d, fLoc, vLoc } = webgpuTrainDims(plan);
  const stageTensors = [
    ...(stage.hasEmbedding || stage.hasOutput ? [vLoc * h] : []),
    ...(stage.hasEmbedding && plan.model.positions === 'learned' ? [plan.model.maxSeq * h] : []),
  ];
  return Math.max(aLoc * d * h, fLoc * h, ...stageTensors);
}

export function webgpuTrainWorkspace(plan: TrainPlan, stage: Stage): Part {
  const regions = webgpuTrainRegions(plan, stage);
  const bytes = regions.reduce((a, r) => a + r.bytes, 0);
  return part(bytes, () => `workspace: webgpu engine ${regions.map((r) => `${r.name} ${num(r.bytes)}`).join(' + ')} = ${bytesText(bytes)}`);
}

/** Optimizer states: `webgpuOptimizerCopies` fp32 values per parameter, sharded over data from ZeRO-1 on. */
export function webgpuTrainOptimizer(plan: TrainPlan, params: number): Part {
  const copies = webgpuOptimizerCopies(plan);
  const dz = zeroDegree(plan);
  const shard = plan.zero >= 1 && dz > 1 ? zeroShard(params, dz) : params;
  const bytes = shard * copies * 4;
  const what = [...(plan.precision === 'fp32' ? [] : ['fp32 master 4']), ...(plan.optimizer === 'sgd' ? [] : ['m 4', 'v 4'])];
  return part(
    bytes,
    () =>
      `optimizer: ${num(shard)} params${shard !== params ? ` (⌈${num(params)} / ${dz} data (ZeRO-${plan.zero})⌉)` : ''} × ${copies * 4} B (${plan.optimizer}${what.length ? `: ${what.join(' + ')}` : ': no state'}) = ${bytesText(bytes)}`,
  );
}
