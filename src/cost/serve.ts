/**
 * Serving latency and throughput. Each stage of a forward pass takes
 *   max(FLOPs / (peak × e_compute), bytes read / (memory bandwidth × e_memory))
 *   + its tensor collectives + its send to the next stage
 * (a roofline: whichever of arithmetic and memory traffic is slower), and a token passes the
 * stages one after another. Prefill is usually compute-bound, decode memory-bound: every
 * step reads all the weights, for however many sequences are batched. See docs/cost.md.
 */
import { serveActivationElementBytes } from '../memory/activations.js';
import { DTYPES } from '../facts/dtypes.js';
import { kvElementsPerToken, kvReadBytes, windowOf } from '../memory/kv-cache.js';
import { layerParams, stageRuns } from '../memory/params.js';
import { outputWeightBytes, rankLayerBytes } from '../memory/weights.js';
import { gatedMlp, shardLayer } from '../model.js';
import type { LayerRankFacts, ServePlan, Stage } from '../plan.js';
import {
  allReduceBytes,
  bytesByLink,
  expertTraffic,
  linkOf,
  moeLayersOf,
  reduceScatterBytes,
  pipelineHopCrossesNodes,
  tensorGroupCrossesNodes,
  TrafficSum,
} from './comm.js';
import { AVERAGE_CONTEXT_FRACTION } from './constants.js';
import { decodeDims, decodeFlops, layerFlops, outputMatmulParams, prefillDims, prefillFlops, type Dims } from './flops.js';
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

/**
 * The bytes of one layer's pass that each of its graph steps reads from device memory (the
 * roofline's memory term per step, src/lower/layer.ts puts them on the steps and the
 * simulation times each step as max(FLOPs / peak, bytes / bandwidth), as `stagePass` does per
 * stage). The layer's stored weight bytes as `weightReadBytes` counts them (MoE: only the
 * experts `tokens` touch), shared out over the steps that read them by parameter count: the
 * QKV step takes q, k, v, the attention extras and the norms, out-proj o, the MLP steps their
 * projections (a MoE layer: the shared experts, split as their flops are), the router its
 * weights, the expert steps the touched routed experts (up and gate : down). The attention
 * step reads the KV cache in decode: `kv.batch` sequences × min(context, window) tokens ×
 * the layer's KV elements per token in kv_dtype (memory/kv-cache.ts `kvReadBytes`, per layer).
 * The steps' bytes sum to the layer's share of `decodeBytes` / `weightReadBytes`.
 */
export function layerStepBytes(
  plan: ServePlan,
  f: LayerRankFacts,
  tokens: number,
  kv?: { batch: number; context: number },
): {
  qkv: number;
  attention: number;
  outProj: number;
  mlpUp: number;
  mlpDown: number;
  router: number;
  expertUp: number;
  expertDown: number;
} {
  const w = rankLayerBytes(plan, f.layer);
  const p = layerParams(plan.model, shardLayer(f.layer, plan.mesh.tensor));
  const m = f.layer.mlp;
  const dense = m.kind === 'dense' ? p.up + p.gate + p.down : 0;
  const fixedParams = p.q + p.k + p.v + p.attnExtra + p.o + p.norms + dense + p.shared + p.router;
  // Bytes per parameter of the layer's non-routed part (quantized linears with their scales).
  const per = fixedParams > 0 ? (w.bytes - w.routedBytes) / fixedParams : 0;
  const touched = m.kind === 'moe' && w.experts > 0 ? w.routedBytes * touchedFraction(plan, m.experts, m.topK, tokens) : 0;
  const expertShare = p.up + p.gate + p.down > 0 ? (p.up + p.gate) / (p.up + p.gate + p.down) : 0;
  const upShare = gatedMlp(m.activation) ? 2 / 3 : 1 / 2;
  let attention = 0;
  if (kv) {
    const window = windowOf(f.layer.attention);
    const ctx = window === undefined ? kv.context : Math.min(kv.context, window);
    attention = (kv.batch * kvElementsPerToken(f) * ctx * DTYPES[plan.kvDtype].bits) / 8;
  }
  return {
    qkv: per * (p.q + p.k + p.v + p.attnExtra + p.norms),
    attention,
    outProj: per * p.o,
    mlpUp: per * (m.kind === 'dense' ? p.up + p.gate : p.shared * upShare),
    mlpDown: per * (m.kind === 'dense' ? p.down : p.shared * (1 - upShare)),
    router: per * p.router,
    expertUp: touched * expertShare,
    expertDown: touched * (1 - expertShare),
  };
}

/**
 * One prefill step of `tokens` prompt tokens (the scheduler's budget, max_prefill_tokens) of
 * prompts of `prompt` tokens, through every stage: each stage's FLOPs for the step (causal,
 * average context prompt/2: flops.ts `prefillDims`), its weights read once, its traffic in one
 * pass. The graph's prefill phase is this step (src/lower/index.ts), and the simulation
 * times it so.
 */
export function prefillStep(plan: ServePlan, tokens: number, prompt: number, rates: Rates): Time {
  return sum(
    ...plan.stages.map(
      (stage) =>
        stagePass(
          stageOps(plan, stage, prefillDims(tokens, prompt), { tokens: Infinity, rows: 1 }),
          serveTraffic(plan, stage, tokens),
          rates,
        ).seconds,
    ),
  );
}

/** Expected share of E experts that B routed tokens (topK each, uniform) touch: 1 − (1 − k/E)^B (model-families-anchors §1.6). */
export function touchedFraction(plan: ServePlan, experts: number, topK: number, tokens: number): number {
  if (!Number.isFinite(tokens)) return 1;
  const B = tokens * Math.max(1, (plan.experts.expert * plan.experts.tensor) / plan.mesh.tensor);
  return 1 - Math.pow(1 - topK / experts, B);
}

/**
 * Tensor and pipeline traffic of one forward pass of `tokens` tokens on one device of
 * `stage`, in `passes` pieces (prefill chunks), as the graph's steps are (src/lower/index.ts,
 * layer.ts), with e = max(2, bytes(dtype)) (activations are at least 16-bit):
 *   tensor: a dense layer 2 all-reduces of tokens·h·e (after attention and after the MLP),
 *     2(t − 1)/t each; a MoE layer 1 all-reduce (attention), a reduce-scatter of the shared
 *     experts' output (when it has them) and an all-gather of the combined hidden state,
 *     (t − 1)/t each; the first stage's vocabulary-parallel embedding 1 all-reduce, the last
 *     stage's logits 1 all-gather of rows × V' × 4 bytes (fp32), (t − 1)/t;
 *   pipeline: a send of tokens·h·e to the next stage; the last stage sends the sampled tokens
 *     (max_batch × 8 bytes) back to the first.
 * MoE: each layer's dispatch and combine over the expert group.
 */
export function serveTraffic(plan: ServePlan, stage: Stage, tokens: number, passes = 1, rows = 1): TrafficSum {
  const out = new TrafficSum();
  const bytes = tokens * plan.model.hidden * serveActivationElementBytes(plan);
  const t = plan.mesh.tensor;
  const p = plan.mesh.pipeline;
  if (t > 1) {
    const link = linkOf(plan, tensorGroupCrossesNodes(plan, stage.index));
    const moe = moeLayersOf(plan, stage);
    const moeLayers = moe?.count ?? 0;
    const dense = stage.layers - moeLayers;
    const shared = moe && moe.mlp.sharedExperts > 0 ? 1 : 0;
    let sent = (2 * dense + moeLayers) * allReduceBytes(bytes, t) + moeLayers * (1 + shared) * reduceScatterBytes(bytes, t);
    let ops = 2 * dense + moeLayers * (2 + shared);
    if (stage.hasEmbedding) {
      sent += allReduceBytes(bytes, t);
      ops += 1;
    }
    if (stage.hasOutput) {
      sent += reduceScatterBytes(rows * plan.derived.vocabPadded * 4, t);
      ops += 1;
    }
    out.add('tensor', link, sent, ops * passes);
  }
  if (stage.index < p - 1) {
    out.add('pipeline', linkOf(plan, pipelineHopCrossesNodes(plan, stage.index, stage.index + 1)), bytes, passes);
  } else if (p > 1) {
    out.add('pipeline', linkOf(plan, pipelineHopCrossesNodes(plan, stage.index, 0)), plan.batch.maxBatch * 8, passes);
  }
  expertTraffic(plan, stage, tokens, serveActivationElementBytes(plan), 2, passes, out);
  return out;
}

/** FLOPs and bytes of one op of a pass (a graph step, or the same op over several passes). */
export interface OpWork {
  flops: number;
  bytes: number;
}

/**
 * The ops of one pass of `stage` at `dims` (flops.ts `layerFlops`) paired with the bytes each
 * reads (`layerStepBytes`, × `passes` for a prompt prefilled in chunks: the weights are read once
 * per chunk), one entry per op and run of alike layers (× its layer count), and the output layer
 * (`rows` positions need logits). These are the graph's steps (src/lower/layer.ts): the norms and
 * the attention core read no weights; a MoE layer's shared experts split between up and down as
 * their projections are.
 */
export function stageOps(
  plan: ServePlan,
  stage: Stage,
  dims: Dims,
  opts: { tokens: number; rows: number; passes?: number; kv?: { batch: number; context: number } },
): OpWork[] {
  const passes = opts.passes ?? 1;
  const out: OpWork[] = [];
  const op = (n: number, flops: number, bytes: number) => {
    if (flops > 0 || bytes > 0) out.push({ flops: n * flops, bytes: n * passes * bytes });
  };
  for (const r of stageRuns(plan, stage)) {
    const f = layerFlops(plan, dims, r.f);
    const b = layerStepBytes(plan, r.f, opts.tokens, opts.kv);
    const m = r.f.layer.mlp;
    const upShare = gatedMlp(m.activation) ? 2 / 3 : 1 / 2;
    op(r.n, (plan.model.normsPerLayer ?? 2) * f.norm, 0);
    op(r.n, f.qkv, b.qkv);
    op(r.n, f.attention, b.attention);
    op(r.n, f.outProj, b.outProj);
    if (m.kind === 'dense') {
      op(r.n, f.mlpUp, b.mlpUp);
      op(r.n, f.mlpDown, b.mlpDown);
    } else {
      op(r.n, f.shared * upShare, b.mlpUp);
      op(r.n, f.shared * (1 - upShare), b.mlpDown);
      op(r.n, f.router, b.router);
      op(r.n, f.mlpUp, b.expertUp);
      op(r.n, f.mlpDown, b.expertDown);
    }
  }
  op(1, 2 * opts.rows * outputMatmulParams(plan, stage), outputWeightBytes(plan, stage));
  return out;
}

/**
 * One stage's pass, op by op: Σ ops max(FLOPs / peak, bytes / bandwidth) + traffic (a roofline
 * per op: a GEMM is either compute- or memory-bound, whatever the rest of the pass is; the
 * simulation times each graph step so). `bound`: which of the summed compute and memory times
 * is larger.
 */
export function stagePass(ops: readonly OpWork[], traffic: TrafficSum, rates: Rates): { seconds: Time; bound: Bound | null } {
  let flops = 0;
  let bytes = 0;
  const each: Time[] = [];
  for (const o of ops) {
    flops += o.flops;
    bytes += o.bytes;
    each.push(max(over(o.flops, rates.flops), over(o.bytes, rates.memory)));
  }
  const compute = over(flops, rates.flops);
  const memory = over(bytes, rates.memory);
  const bound = compute === null || memory === null ? null : compute >= memory ? 'compute' : 'memory';
  return { seconds: sum(sum(...each), traffic.seconds(rates)), bound };
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
  const traffic = serveTraffic(plan, stage, batch, 1, batch);
  const computeSeconds = over(flops, rates.flops);
  const memorySeconds = over(bytes, rates.memory);
  const ops = stageOps(plan, stage, decodeDims(batch, context), { tokens: batch, rows: batch, kv: { batch, context } });
  const pass = stagePass(ops, traffic, rates);
  return { flops, bytes, traffic, computeSeconds, memorySeconds, seconds: pass.seconds, bound: pass.bound };
}

/**
 * The serving estimate, for prompts and sequences of P = seq tokens, B = max_batch:
 *   prefill = Σ stages [Σ ops max(op FLOPs / peak, ⌈P / max_prefill_tokens⌉ · op weights / bw) + traffic]
 *   TPOT    = Σ stages [Σ ops max(op FLOPs / peak, (op weights + B · P/2 · op KV per token) / bw) + traffic]
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
    const ops = stageOps(plan, stage, prefillDims(P, P), { tokens: Infinity, rows: 1, passes: chunks });
    const prefill = stagePass(ops, serveTraffic(plan, stage, P, chunks), rates);
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
  const stepTokens = plan.batch.maxPrefillTokens;
  const tpot1 = single.seconds;
  const known = tpot !== null && tpot1 !== null && tpot > 0 && tpot1 > 0;
  return {
    prefillTokens: P,
    prefillChunks: chunks,
    prefillSeconds,
    prefillStepTokens: stepTokens,
    prefillStepSeconds: prefillStep(plan, stepTokens, P, rates),
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
