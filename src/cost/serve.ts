/**
 * Serving latency and throughput. Each stage of a forward pass takes
 *   max(FLOPs / (peak × e_compute), bytes read / (memory bandwidth × e_memory))
 *   + its tensor collectives + its send to the next stage
 * (a roofline: whichever of arithmetic and memory traffic is slower), and a token passes the
 * stages one after another. Prefill is usually compute-bound, decode memory-bound: every
 * step reads all the weights, for however many sequences are batched. See docs/cost.md.
 */
import { dtypeBytes } from '../facts/dtypes.js';
import { serveActivationElementBytes } from '../memory/activations.js';
import { kvReadBytes } from '../memory/kv-cache.js';
import { stageRuns } from '../memory/params.js';
import { outputWeightBytes, rankLayerBytes } from '../memory/weights.js';
import type { ServePlan, Stage } from '../plan.js';
import {
  allReduceBytes,
  bytesByLink,
  expertTraffic,
  linkOf,
  pipelineHopCrossesNodes,
  tensorGroupCrossesNodes,
  TrafficSum,
} from './comm.js';
import { AVERAGE_CONTEXT_FRACTION } from './constants.js';
import { decodeFlops, prefillFlops } from './flops.js';
import { max, over, sum, type Rates, type Time } from './rates.js';
import type { Bound, ServeCost, ServeStageCost } from './types.js';

/**
 * Weight bytes one device of `stage` reads per forward pass of `tokens` tokens: its layers and
 * the output layer, as stored (quantized linears with their scales). The embedding table is only
 * looked up, not read whole. A MoE layer reads only the routed experts the pass touches: with each
 * token picking topK of E experts, an expert is untouched with probability (1 − k/E)^B over the B
 * tokens its expert group routes, so a rank holding E/expert experts reads
 *   E/expert × (1 − (1 − k/E)^B) of them,   B = tokens × max(1, expert × expert_tensor / tensor)
 * (the expert group gathers the tokens of expert × expert_tensor / tensor data replicas). Default:
 * every expert (a long prefill touches them all).
 */
export function weightReadBytes(plan: ServePlan, stage: Stage, tokens = Infinity): number {
  let bytes = outputWeightBytes(plan, stage);
  for (const r of stageRuns(plan, stage)) {
    const w = rankLayerBytes(plan, r.f.layer);
    const m = r.f.layer.mlp;
    const touched = m.kind === 'moe' ? w.experts * touchedFraction(plan, m.experts, m.topK, tokens) : 0;
    bytes += r.n * (w.experts > 0 ? w.bytes - w.routedBytes + (w.routedBytes / w.experts) * touched : w.bytes);
  }
  return Math.ceil(bytes);
}

/** Expected share of E experts that B routed tokens (topK each, uniform) touch: 1 − (1 − k/E)^B (model-families-anchors §1.6). */
export function touchedFraction(plan: ServePlan, experts: number, topK: number, tokens: number): number {
  if (!Number.isFinite(tokens)) return 1;
  const B = tokens * Math.max(1, (plan.experts.expert * plan.experts.tensor) / plan.mesh.tensor);
  return 1 - Math.pow(1 - topK / experts, B);
}

/**
 * Tensor and pipeline traffic of one forward pass of `tokens` tokens on one device of
 * `stage`, in `passes` pieces (prefill chunks): per layer 2 all-reduces (after attention and
 * after the MLP) of tokens·h·e bytes, 2(t − 1)/t each; then one send of tokens·h·e bytes to
 * the next stage. e = max(2, bytes(dtype)): activations are at least 16-bit.
 */
export function serveTraffic(plan: ServePlan, stage: Stage, tokens: number, passes = 1): TrafficSum {
  const out = new TrafficSum();
  const bytes = tokens * plan.model.hidden * serveActivationElementBytes(plan);
  const t = plan.mesh.tensor;
  if (t > 1) {
    const collectives = 2 * stage.layers;
    out.add(
      'tensor',
      linkOf(plan, tensorGroupCrossesNodes(plan, stage.index)),
      collectives * allReduceBytes(bytes, t),
      collectives * passes,
    );
  }
  if (stage.index < plan.mesh.pipeline - 1) {
    out.add('pipeline', linkOf(plan, pipelineHopCrossesNodes(plan, stage.index, stage.index + 1)), bytes, passes);
  }
  // MoE: each layer's dispatch and combine over the expert group.
  expertTraffic(plan, stage, tokens, serveActivationElementBytes(plan), 2, passes, out);
  return out;
}

/** One stage's pass: max(compute, memory) + traffic, and which of compute and memory is slower. */
export function stagePass(flops: number, bytes: number, traffic: TrafficSum, rates: Rates): { seconds: Time; bound: Bound | null } {
  const compute = over(flops, rates.flops);
  const memory = over(bytes, rates.memory);
  const bound = compute === null || memory === null ? null : compute >= memory ? 'compute' : 'memory';
  return { seconds: sum(max(compute, memory), traffic.seconds(rates)), bound };
}

/**
 * Bytes one device of `stage` reads in a decode step of `batch` sequences at `context`
 * tokens: the weights it touches + batch × min(context, window) × KV bytes per token and layer
 * (memory/kv-cache.ts `kvReadBytes`).
 */
export function decodeBytes(plan: ServePlan, stage: Stage, batch: number, context: number): number {
  return weightReadBytes(plan, stage, batch) + kvReadBytes(plan, stage, batch, context);
}

/** One decode step of `batch` sequences through every stage: the sum of the stages' passes. */
export function decodeStep(
  plan: ServePlan,
  batch: number,
  context: number,
  rates: Rates,
): { seconds: Time; stages: ReturnType<typeof decodeStage>[] } {
  const stages = plan.stages.map((s) => decodeStage(plan, s, batch, context, rates));
  return { seconds: sum(...stages.map((s) => s.seconds)), stages };
}

function decodeStage(plan: ServePlan, stage: Stage, batch: number, context: number, rates: Rates) {
  const flops = decodeFlops(plan, stage, batch, context);
  const bytes = decodeBytes(plan, stage, batch, context);
  const traffic = serveTraffic(plan, stage, batch);
  const computeSeconds = over(flops, rates.flops);
  const memorySeconds = over(bytes, rates.memory);
  const pass = stagePass(flops, bytes, traffic, rates);
  return { flops, bytes, traffic, computeSeconds, memorySeconds, seconds: pass.seconds, bound: pass.bound };
}

/**
 * The serving estimate, for prompts and sequences of P = seq tokens, B = max_batch:
 *   prefill = Σ stages [max(prefill FLOPs / peak, ⌈P / max_prefill_tokens⌉ · weights / bw) + traffic]
 *   TPOT    = Σ stages [max(decode FLOPs / peak, (weights + B · P/2 · KV per token) / bw) + traffic]
 *   decode tokens/s = data · B / TPOT;   batch 1: 1 / TPOT(B = 1);   gain = B · TPOT(1) / TPOT(B)
 */
export function serveCost(plan: ServePlan, rates: Rates): ServeCost {
  const P = plan.batch.seq;
  const B = plan.batch.maxBatch;
  const chunks = Math.ceil(P / plan.batch.maxPrefillTokens);
  const context = P * AVERAGE_CONTEXT_FRACTION;
  const decode = decodeStep(plan, B, context, rates);
  const single = decodeStep(plan, 1, context, rates);
  const stages: ServeStageCost[] = plan.stages.map((stage, i) => {
    const prefillF = prefillFlops(plan, stage, P);
    const prefillB = chunks * weightReadBytes(plan, stage);
    const prefill = stagePass(prefillF, prefillB, serveTraffic(plan, stage, P, chunks), rates);
    const d = decode.stages[i]!;
    const traffic = d.traffic.list(rates);
    return {
      stage: stage.index,
      prefillFlops: prefillF,
      prefillBytes: prefillB,
      prefillSeconds: prefill.seconds,
      decodeFlops: d.flops,
      decodeBytes: d.bytes,
      decodeSeconds: d.seconds,
      decodeBound: d.bound,
      bytesByLink: bytesByLink(traffic),
      traffic,
    };
  });
  const prefillSeconds = sum(...stages.map((s) => s.prefillSeconds));
  const computeTotal = sum(...decode.stages.map((s) => s.computeSeconds));
  const memoryTotal = sum(...decode.stages.map((s) => s.memorySeconds));
  const tpot = decode.seconds;
  const tpot1 = single.seconds;
  const known = tpot !== null && tpot1 !== null && tpot > 0 && tpot1 > 0;
  return {
    prefillTokens: P,
    prefillChunks: chunks,
    prefillSeconds,
    decodeBatch: B,
    averageContext: context,
    decodeBound: computeTotal === null || memoryTotal === null ? null : computeTotal >= memoryTotal ? 'compute' : 'memory',
    tpotSeconds: tpot,
    decodeTokensPerSecond: known ? (plan.mesh.data * B) / tpot : null,
    batch1TpotSeconds: tpot1,
    batch1TokensPerSecond: known ? 1 / tpot1 : null,
    batchingGain: known ? (B * tpot1) / tpot : null,
    stages,
  };
}
