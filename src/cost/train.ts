/**
 * Training step time. Per stage, one microbatch (forward + backward) takes
 *   T_mb = compute + tensor collectives + pipeline sends + exposed per-microbatch data traffic
 * The slowest stage paces the pipeline; a step is
 *   step = m · T_mb + (p − 1)/v · T_mb (bubble) + exposed per-step data traffic
 * (Narayanan et al. 2021, §2.2: the bubble is (p − 1) microbatch times, ÷ v interleaved).
 * Optimizer update time, kernel launch overheads and the embedding/output collectives are
 * not modelled. See docs/cost.md.
 */
import { shardOver } from '../memory/zero.js';
import { splitsBackward } from '../memory/activations.js';
import { layerRuns } from '../model.js';
import { bytesPerElement } from '../facts/dtypes.js';
import { gatheredBytesPerParam } from '../memory/fp8.js';
import { adapterParams } from '../memory/adapter.js';
import { deviceParams } from '../memory/params.js';
import { deviceWeightBytes } from '../memory/weights.js';
import { deviceCount, strides } from '../mesh.js';
import type { MemoryPlan } from '../memory/types.js';
import type { Stage, TrainPlan } from '../plan.js';
import {
  allReduceBytes,
  bytesByLink,
  contextGroupCrossesNodes,
  dataGroupCrossesNodes,
  expertDataTraffic,
  expertParamsOnDevice,
  expertTraffic,
  hsdpGroupsCrossNodes,
  linkOf,
  pipelineHopCrossesNodes,
  reduceScatterBytes,
  tensorGroupCrossesNodes,
  TrafficSum,
} from './comm.js';
import { contextTraffic } from './context.js';
import { modelFlopsPerStep, trainMicrobatchFlops, type MicrobatchFlops } from './flops.js';
import { simulateTable } from '../schedules/bubble.js';
import { scheduleFor } from '../schedules/index.js';
import { LIMITS } from '../facts/limits.js';
import { exposed, max, over, scale, sum, type Rates, type Time } from './rates.js';
import type { Traffic, TrainCost, TrainStageCost } from './types.js';

/** Model chunks per stage: `virtual` for the interleaved schedule, else 1. */
export function chunksPerStage(plan: TrainPlan): number {
  return plan.schedule === 'interleaved' ? plan.virtual : 1;
}

/**
 * Idle share of the pipelined part of a step (Narayanan et al. 2021, §2.2.1–2.2.2):
 *   gpipe, 1f1b: (p − 1)/(m + p − 1)      interleaved: (p − 1)/(v·m + p − 1)
 * i.e. a bubble of (p − 1)/v microbatch times out of m + (p − 1)/v. 0 for p = 1.
 */
export function bubbleFraction(schedule: TrainPlan['schedule'], p: number, m: number, v = 1): number {
  if (p <= 1) return 0;
  const chunks = schedule === 'interleaved' ? v : 1;
  return (p - 1) / (chunks * m + p - 1);
}

/** Bytes of one activation tensor of a microbatch on one rank: s/c · b · h · bytes(precision) (a context rank holds s/c tokens). */
function activationBytes(plan: TrainPlan): number {
  return (plan.batch.seq / plan.mesh.context) * plan.batch.micro * plan.model.hidden * bytesPerElement(plan.precision);
}

/**
 * Tensor-parallel traffic of one microbatch on one device of `stage` (Megatron: per layer,
 * an all-reduce after attention and after the MLP in the forward pass, and two in the
 * backward pass; full recomputation repeats the forward two):
 *   (4 L_stage + 2 L_recomputed) × 2(t − 1)/t × s·b·h·bytes   (L_recomputed: recomputedLayers)
 * Sequence parallelism replaces each all-reduce by a reduce-scatter and an all-gather of
 * (t − 1)/t each: the same bytes, twice the operations. Not overlapped with compute.
 */
export function tensorTraffic(plan: TrainPlan, stage: Stage, into = new TrafficSum()): TrafficSum {
  const t = plan.mesh.tensor;
  if (t === 1) return into;
  const collectives = 4 * stage.layers + 2 * recomputedLayers(plan, stage);
  const link = linkOf(plan, tensorGroupCrossesNodes(plan, stage.index));
  return into.add('tensor', link, collectives * allReduceBytes(activationBytes(plan), t), collectives * (plan.sequenceParallel ? 2 : 1));
}

/**
 * Layers of the stage whose forward a full recompute runs again: all of them, or with
 * recompute_method = block the first recompute_layers of each chunk (Megatron's block method;
 * the graph's `layer.backward.kept` blocks recompute nothing, src/lower/layer.ts).
 */
export function recomputedLayers(plan: TrainPlan, stage: Stage): number {
  if (plan.recompute !== 'full') return 0;
  if (plan.recomputeMethod !== 'block') return stage.layers;
  const chunks = stage.chunks ? stage.chunks.map((c) => c.layers) : Array<number>(plan.virtual).fill(stage.layers / plan.virtual);
  return chunks.reduce((n, layers) => n + Math.min(plan.recomputeLayers, layers), 0);
}

/**
 * Pipeline traffic of one microbatch on one device of `stage`: the stage sends its output
 * activations forward and its input gradients backward, s·b·h·bytes each (÷ t with sequence
 * parallelism: Megatron sends the sequence-sharded tensor). Interleaved, each of the v chunks
 * sends, except that the last chunk of the last stage sends nothing forward and the first
 * chunk of the first stage nothing backward. On the critical path, not overlapped.
 */
export function pipelineTraffic(plan: TrainPlan, stage: Stage, into = new TrafficSum()): TrafficSum {
  const p = plan.mesh.pipeline;
  if (p === 1) return into;
  const v = chunksPerStage(plan);
  const i = stage.index;
  const bytes = activationBytes(plan) / (plan.sequenceParallel ? plan.mesh.tensor : 1);
  const next = (i + 1) % p;
  const prev = (i - 1 + p) % p;
  const forward = i < p - 1 ? v : v - 1;
  const backward = i > 0 ? v : v - 1;
  into.add('pipeline', linkOf(plan, pipelineHopCrossesNodes(plan, i, next)), forward * bytes, forward);
  into.add('pipeline', linkOf(plan, pipelineHopCrossesNodes(plan, i, prev)), backward * bytes, backward);
  return into;
}

/**
 * Whether the gradients of each layer are reduced as the last microbatch's backward makes them, overlapped with
 * the backward of the layers before it: PyTorch DDP's gradient buckets (torch/nn/parallel/distributed.py, reducer
 * hooks; no_sync for the microbatches before the last) and Megatron's --overlap-grad-reduce (its distributed
 * optimizer's bucketed reduce-scatter), which the cost model's per-step data traffic assumes (src/cost/train.ts:
 * overlapped with the last microbatch's backward). Layer by layer here (a bucket per layer); the embedding, final
 * norm and output layer's gradients after the backward. Not for ZeRO-3 (its reduce-scatters are per layer already),
 * LoRA, MoE models (expert gradients sync over expert data) or split-backward tables (W makes the weight gradients).
 */
export function overlapsGradSync(plan: TrainPlan): boolean {
  // engine = webgpu: the runtime syncs each gradient tensor after the schedule (src/lower/webgpu-train.ts).
  if (plan.engine === 'webgpu') return false;
  return (
    plan.zero <= 2 &&
    plan.mesh.data * plan.mesh.context > 1 &&
    !plan.adapter &&
    !layerRuns(plan.model).some((r) => r.layer.mlp.kind === 'moe') &&
    !splitsBackward(plan)
  );
}

/**
 * Data-parallel traffic of one device holding Ψ_dev parameters, with d replicas, G = Ψ_dev ×
 * bytes(grad_dtype) and W = Ψ_dev × bytes(precision):
 *   ZeRO-0: per step, all-reduce of gradients               2(d − 1)/d · G
 *   ZeRO-1: per step, reduce-scatter G + all-gather W       (d − 1)/d · (G + W)
 *   ZeRO-2: per microbatch, reduce-scatter G (only a shard of the gradients is kept, so each
 *           microbatch's are reduced at once); per step, all-gather W
 *   ZeRO-3: per microbatch, all-gather W in the forward and again in the backward pass, and
 *           reduce-scatter G (per layer: 3 × L_stage operations; 2 × with reshard_after_forward =
 *           false, the weights gathered once); nothing per step. HSDP (shard_group < data): hsdpTraffic; W is gathered
 *           at 1 B/param with fp8 = torchao_tensorwise (FSDP2 fp8 all-gather)
 * With context parallelism the group is data × context (n = d·c ranks, the bytes (n − 1)/n of each).
 */
export function dataTraffic(plan: TrainPlan, stage: Stage, params: number): { perMicrobatch: TrafficSum; perStep: TrafficSum } {
  const perMicrobatch = new TrafficSum();
  const perStep = new TrafficSum();
  const d = plan.mesh.data;
  const c = plan.mesh.context;
  if (d * c === 1) return { perMicrobatch, perStep };
  const dataLink = linkOf(plan, dataGroupCrossesNodes(plan, stage.index));
  const contextLink = c > 1 ? linkOf(plan, contextGroupCrossesNodes(plan, stage.index)) : dataLink;
  // LoRA: only the adapters' gradients sync and their weights step; ZeRO-3 still gathers the frozen base as stored.
  const synced = plan.adapter ? adapterParams(plan, stage) : params;
  const G = synced * bytesPerElement(plan.gradDtype);
  const W = synced * bytesPerElement(plan.precision);
  // ZeRO-3 gathers: torchao tensorwise fp8 gathers 1-byte weights (src/memory/fp8.ts gatheredBytesPerParam).
  const gathered = plan.adapter
    ? W + deviceWeightBytes(plan, stage, deviceParams(plan, stage)).bytes
    : params * gatheredBytesPerParam(plan, bytesPerElement(plan.precision));
  // zero = 3: all-gathers per layer and microbatch, 2 (forward, backward) or 1 when the gathered
  // weights stay from forward to backward (reshard_after_forward = false).
  const gathers = plan.reshardAfterForward ? 2 : 1;
  // Gradient reductions per step: one per layer in the last backward and one for the rest (overlapsGradSync, as the graph issues them), or one.
  const buckets = overlapsGradSync(plan) ? stage.layers + 1 : 1;
  // HSDP (the checker refuses it with context > 1, PP3051).
  if (plan.zero > 0 && shardOver(plan) < d) return hsdpTraffic(plan, stage, G, plan.zero === 3 ? gathered : W, gathers, buckets);
  // A collective over data × context (the ZeRO group, src/memory/zero.ts zeroDegree) runs as the
  // graph writes it (src/lower/data.ts): over context on the whole tensor, over data on its 1/c; the
  // bytes are a flat ring's over d·c ranks, (1 − 1/(dc)) × B, split by the link each part uses.
  const add = (into: TrafficSum, op: 'all-reduce' | 'half', B: number, ops: number) => {
    const k = op === 'all-reduce' ? 2 : 1;
    if (c > 1) into.add('context', contextLink, k * reduceScatterBytes(B, c), k * ops);
    if (d > 1) into.add('data', dataLink, k * reduceScatterBytes(B / c, d), ops);
  };
  switch (plan.zero) {
    case 0:
      add(perStep, 'all-reduce', G, buckets);
      break;
    case 1:
      add(perStep, 'half', G + W, buckets + 1);
      break;
    case 2:
      add(perMicrobatch, 'half', G, buckets);
      add(perStep, 'half', W, 1);
      break;
    case 3:
      add(perMicrobatch, 'half', gathers * gathered + G, (gathers + 1) * stage.layers);
      break;
  }
  return { perMicrobatch, perStep };
}

/**
 * HSDP (shard_group S < data d, R = d / S replicas of each shard group): the ZeRO collectives
 * above run within the shard group, then each rank all-reduces its gradient shard G/S with the
 * R ranks that hold the same shard (FSDP2's HSDP: reduce-scatter, then all-reduce over the
 * replicate dimension, _fsdp_collectives.py foreach_reduce; Megatron's partial distributed
 * optimizer), at the cadence of the reduce-scatter.
 */
function hsdpTraffic(
  plan: TrainPlan,
  stage: Stage,
  G: number,
  W: number,
  gathers: number,
  buckets: number,
): { perMicrobatch: TrafficSum; perStep: TrafficSum } {
  const perMicrobatch = new TrafficSum();
  const perStep = new TrafficSum();
  const S = shardOver(plan);
  const R = plan.mesh.data / S;
  const cross = hsdpGroupsCrossNodes(plan, stage.index, S);
  const inner = linkOf(plan, cross.shard);
  const outer = linkOf(plan, cross.replicate);
  const ar = allReduceBytes(G / S, R);
  switch (plan.zero) {
    case 1:
      perStep.add('data', inner, reduceScatterBytes(G, S) + reduceScatterBytes(W, S), buckets + 1);
      perStep.add('data', outer, ar, buckets);
      break;
    case 2:
      perMicrobatch.add('data', inner, reduceScatterBytes(G, S), buckets);
      perMicrobatch.add('data', outer, ar, buckets);
      perStep.add('data', inner, reduceScatterBytes(W, S), 1);
      break;
    case 3:
      perMicrobatch.add('data', inner, gathers * reduceScatterBytes(W, S) + reduceScatterBytes(G, S), (gathers + 1) * stage.layers);
      perMicrobatch.add('data', outer, ar, stage.layers);
      break;
  }
  return { perMicrobatch, perStep };
}

/** One stage, with the parts the step needs. */
interface StageTimes {
  cost: TrainStageCost;
  /** One microbatch's FLOPs on the stage (what its times were worked out from). */
  flops: MicrobatchFlops;
  computeMb: Time;
  microbatch: Time;
  /** Per-step data traffic not hidden behind the last microbatch's backward pass. */
  stepExposed: Time;
}

/** Parameters of one device of the stage: from the memory plan, or counted if it lacks the stage. */
function stageParams(plan: TrainPlan, memory: MemoryPlan, stage: Stage): number {
  // The stage's first device (tensor rank 0, replica 0) is at rank stage × stride(pipeline).
  const dev = memory.devices[stage.index * strides(plan.mesh).pipeline];
  return dev?.stage === stage.index ? dev.params : deviceParams(plan, stage).total;
}

/**
 * One stage. compute_mb = FLOPs / (peak × e_compute); per-microbatch data traffic overlaps
 * that microbatch's compute (ZeRO-3 prefetching), exposed = max(0, T_data,mb − compute_mb);
 * per-step data traffic overlaps the last microbatch's backward pass (Megatron's
 * overlap-grad-reduce), exposed = max(0, T_data,step − backward_mb).
 */
export function trainStage(plan: TrainPlan, memory: MemoryPlan, stage: Stage, rates: Rates): StageTimes {
  const m = plan.microbatches;
  const f = trainMicrobatchFlops(plan, stage);
  // fp8 GEMMs at the fp8 rate, the rest at the 16-bit rate.
  const fp8Rate = rates.fp8 === undefined ? rates.flops : rates.fp8;
  const computeMb = sum(over(f.forward + f.backward + f.recompute - f.fp8, rates.flops), over(f.fp8, fp8Rate));
  const backwardMb = sum(over(f.backward + f.recompute - f.fp8Backward, rates.flops), over(f.fp8Backward, fp8Rate));
  const mb = new TrafficSum();
  tensorTraffic(plan, stage, mb);
  pipelineTraffic(plan, stage, mb);
  contextTraffic(plan, stage, mb);
  // MoE: dispatch and combine forward and backward (and again when recomputed); expert gradients sync over expert data.
  expertTraffic(plan, stage, plan.batch.seq * plan.batch.micro, bytesPerElement(plan.precision), plan.recompute === 'full' ? 6 : 4, 1, mb);
  const experts = plan.adapter ? 0 : expertParamsOnDevice(plan, stage);
  const data = dataTraffic(plan, stage, stageParams(plan, memory, stage) - experts);
  expertDataTraffic(plan, stage, experts, data.perStep);
  const critical = sum(mb.seconds(rates), exposed(data.perMicrobatch.seconds(rates), computeMb));
  const microbatch = sum(computeMb, critical);
  const stepExposed = exposed(data.perStep.seconds(rates), backwardMb);
  const traffic: Traffic[] = merge([...mb.list(rates, m), ...data.perMicrobatch.list(rates, m), ...data.perStep.list(rates)]);
  return {
    flops: f,
    computeMb,
    microbatch,
    stepExposed,
    cost: {
      stage: stage.index,
      flops: m * (f.forward + f.backward + f.recompute),
      computeSeconds: scale(m, computeMb),
      commSeconds: sum(scale(m, critical), stepExposed),
      microbatchSeconds: microbatch,
      bytesByLink: bytesByLink(traffic),
      traffic,
    },
  };
}

/** Rows of the same (group, link) summed, in first-seen order. */
function merge(rows: Traffic[]): Traffic[] {
  const out: Traffic[] = [];
  for (const r of rows) {
    const same = out.find((o) => o.group === r.group && o.link === r.link);
    if (!same) out.push({ ...r });
    else {
      same.bytes += r.bytes;
      same.ops += r.ops;
      same.seconds = sum(same.seconds, r.seconds);
    }
  }
  return out;
}

/**
 * Seconds of the slowest virtual stage per microbatch, what each of the p − 1 bubble slots
 * costs: T / v for equal chunks; with a `layout`, each rank's time shared out over its chunks
 * by their layers, and the largest chunk of any rank (an uneven layout's bubble is set by its
 * biggest stage, as its step is by its slowest rank).
 */
function chunkSeconds(plan: TrainPlan, stages: StageTimes[], v: number, T: number): number {
  if (!plan.stages.some((s) => s.chunks)) return T / v;
  let worst = 0;
  plan.stages.forEach((s, i) => {
    const t = stages[i]!.microbatch ?? 0;
    const biggest = Math.max(...(s.chunks ?? []).map((c) => c.layers));
    worst = Math.max(worst, (t * biggest) / s.layers);
  });
  return worst;
}

/** Whether a `layout` gives virtual stages different layer counts. */
function unevenChunks(plan: TrainPlan): boolean {
  const sizes = new Set(plan.stages.flatMap((s) => (s.chunks ?? []).map((c) => c.layers)));
  return sizes.size > 1;
}

/**
 * The pipelined part of a step, timed action by action on the plan's schedule table
 * (schedules/bubble.ts `simulateTable`; the named schedules' generated tables, or the plan's
 * own): each rank's actions take its stage's times, one microbatch's compute split by FLOPs
 * and its communication half and half: F = compute · forward / total + comm / 2, B = T_mb − F,
 * a zero-bubble W = compute · weightGrad / total (T_W: the matmuls' weight gradients, no
 * communication; Qi et al. 2024 Table 1) and I = B − W; each chunk of an
 * interleaved or virtual table 1/v of them, or with a `layout` its own share: the compute by its
 * FLOPs (its layers, the output layer on L's chunk), 1/v of the communication. The bubble is the makespan less the slowest stage's
 * busy time m · T_mb: with equal stages it is the closed form's (p − 1)/v · T_mb; unequal stages
 * (the last one's output layer) wait less than the slowest one's pace would say, and a
 * zero-bubble table's W actions fill part of it.
 */
function scheduleBubble(
  plan: TrainPlan,
  stages: readonly StageTimes[],
  T: number,
): { bubbleSeconds: number; fraction: number } | undefined {
  const v = plan.virtual;
  /** One chunk's times: `share` of the rank's compute (its FLOPs' share), `f` its FLOPs, 1/v of the rank's communication. */
  const times = (st: StageTimes, f: MicrobatchFlops, share: number) => {
    const total = f.forward + f.backward + f.recompute;
    const Tr = st.microbatch ?? 0;
    const compute = (st.computeMb ?? 0) * share;
    const comm = (Tr - (st.computeMb ?? 0)) / v;
    // Compute by FLOPs; the microbatch's communication half with F, half with B (sends go both ways); W has none.
    const F = (total > 0 ? (compute * f.forward) / total : 0) + comm / 2;
    const W = total > 0 ? (compute * f.weightGrad) / total : 0;
    return { F, B: compute + comm - F, W, I: compute + comm - F - W };
  };
  const per = stages.map((st) => times(st, st.flops, 1 / v));
  // A layout: each virtual stage its own share of the rank's compute, by its FLOPs (its layers, the
  // output layer on the loss's chunk), as the graph runs each chunk's own steps.
  const byChunk = new Map<number, ReturnType<typeof times>>();
  plan.stages.forEach((s, i) => {
    const st = stages[i]!;
    const whole = st.flops.forward + st.flops.backward + st.flops.recompute;
    for (const c of s.chunks ?? []) {
      const f = trainMicrobatchFlops(plan, {
        ...s,
        firstLayer: c.firstLayer,
        layers: c.layers,
        hasEmbedding: c.hasEmbedding,
        hasOutput: c.hasOutput,
      });
      byChunk.set(c.index, times(st, f, whole > 0 ? (f.forward + f.backward + f.recompute) / whole : 1 / v));
    }
  });
  const timing = simulateTable(scheduleFor(plan), {
    durations: (a, rank) => (byChunk.get(a.stage) ?? per[rank]!)[a.kind],
    stages: plan.mesh.pipeline * v,
  });
  if (!timing.ok) return undefined;
  const bubble = Math.max(0, timing.makespan - plan.microbatches * T);
  return { bubbleSeconds: bubble, fraction: timing.makespan > 0 ? bubble / timing.makespan : 0 };
}

/**
 * The training estimate:
 *   T = max over stages of T_mb (the slowest stage s*), m microbatches, v chunks
 *   compute = m · compute_mb(s*)
 *   comm    = m · (T − compute_mb(s*)) + max over stages of the exposed per-step data traffic
 *   bubble  = (p − 1)/v · T  (a layout of equal chunks: (p − 1) × the slowest virtual stage, chunkSeconds; a
 *             table or a layout of uneven chunks: timed action by action, scheduleBubble)
 *   step    = compute + comm + bubble;  tokens/s = global · seq / step
 *   MFU     = model FLOPs per step / (step · GPUs · peak)
 */
export function trainCost(plan: TrainPlan, memory: MemoryPlan, rates: Rates, peakFlops: number): TrainCost {
  const m = plan.microbatches;
  const p = plan.mesh.pipeline;
  const v = chunksPerStage(plan);
  const stages = plan.stages.map((s) => trainStage(plan, memory, s, rates));
  const modelFlops = modelFlopsPerStep(plan);
  const tokensPerStep = plan.batch.global * plan.batch.seq;
  const base: TrainCost = {
    microbatches: m,
    tokensPerStep,
    bubbleFraction: bubbleFraction(plan.schedule, p, m, v),
    modelFlopsPerStep: modelFlops,
    slowestStage: null,
    stepSeconds: null,
    computeSeconds: null,
    commSeconds: null,
    bubbleSeconds: null,
    tokensPerSecond: null,
    tflopsPerGpu: null,
    mfu: null,
    stages: stages.map((s) => s.cost),
  };
  const T = max(...stages.map((s) => s.microbatch));
  const tail = max(...stages.map((s) => s.stepExposed));
  if (T === null || tail === null) return base;
  const slowest = stages.find((s) => s.microbatch === T)!;
  const computeMb = slowest.computeMb!;
  const compute = m * computeMb;
  const comm = m * (T - computeMb) + tail;
  // A schedule too large to compile (PP5005) keeps the closed form: timing millions of actions would make `check` slow.
  const actions = plan.actions ? plan.actions.reduce((n, row) => n + row.length, 0) : 2 * p * v * m;
  // Only a hand-written table is timed action by action; a named schedule keeps Narayanan's closed form (suggest prices
  // thousands of them), each bubble slot at the slowest virtual stage's pace (chunkSeconds: a layout's biggest chunk).
  // A layout's uneven chunks are timed too: the closed form's slots at the biggest chunk's pace overcharge the smaller ones.
  // Equal chunks keep the closed form, as the same plan written with `virtual` does.
  const timed =
    p > 1 && (plan.schedule === 'table' || unevenChunks(plan)) && actions <= LIMITS.graphActions
      ? scheduleBubble(plan, stages, T)
      : undefined;
  const bubble = timed ? timed.bubbleSeconds : (p - 1) * chunkSeconds(plan, stages, v, T);
  if (timed) base.bubbleFraction = timed.fraction;
  const step = compute + comm + bubble;
  const gpus = deviceCount(plan.mesh);
  return {
    ...base,
    slowestStage: slowest.cost.stage,
    stepSeconds: step,
    computeSeconds: compute,
    commSeconds: comm,
    bubbleSeconds: bubble,
    tokensPerSecond: step > 0 ? tokensPerStep / step : null,
    tflopsPerGpu: step > 0 ? modelFlops / step / gpus / 1e12 : null,
    mfu: step > 0 && peakFlops > 0 ? modelFlops / (step * gpus * peakFlops) : null,
  };
}
