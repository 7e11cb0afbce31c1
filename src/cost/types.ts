/**
 * PlanCost: the cost model's output. Seconds are floats; bytes are integers; FLOPs are
 * floats (a step of a large model exceeds 2^53). A time is `null` when the hardware rate it
 * needs is unknown (a custom GPU without `tflops`, `bandwidth` or link bandwidth); then
 * `known` is false and `reason` says which rate is missing. FLOPs and bytes never depend on
 * rates, so they are always given.
 */
import type { Efficiency } from './constants.js';

/** The link a transfer uses: the GPU's intra-node link (catalog `link.kind`), or the network between nodes. */
export type LinkKind = 'nvlink' | 'pcie' | 'infinity-fabric' | 'network';

/**
 * What moves the bytes: tensor-parallel collectives, pipeline sends, data-parallel gradient and
 * parameter sync; MoE: the expert group's all-to-alls (and expert-tensor gathers), the expert
 * gradients' sync over expert-data replicas.
 */
export type CommGroup = 'tensor' | 'context' | 'pipeline' | 'data' | 'expert' | 'expert_data';

/** Bytes one device sends for one purpose over one kind of link. */
export interface Traffic {
  group: CommGroup;
  link: LinkKind;
  /** Bytes this device sends (a ring collective's share; each byte counted once, at its sender). */
  bytes: number;
  /** Collectives or sends, each costing one latency α. */
  ops: number;
  /** bytes / (bandwidth × link efficiency) + ops × α, before any overlap; null when the bandwidth is unknown. */
  seconds: number | null;
}

/** Bytes sent per kind of link (`infinity-fabric` as `infinityFabric`). */
export interface LinkBytes {
  nvlink: number;
  pcie: number;
  infinityFabric: number;
  network: number;
}

/** The peak rates the model used (before efficiency). */
export interface Hardware {
  /** Peak TFLOP/s for the plan's arithmetic: tflops16, or tflops32 for fp32 (0 = unknown). */
  tflops: number;
  /** Peak fp8 TFLOP/s for the fp8 GEMMs of a training plan with `fp8` (the catalog's tflops8); absent otherwise. */
  tflops8?: number;
  memoryBandwidthGBs: number;
  /** The intra-node link. */
  link: 'nvlink' | 'pcie' | 'infinity-fabric';
  linkBandwidthGBs: number;
  networkGBs: number;
}

/** One device of a pipeline stage (every tensor rank and data replica of a stage costs the same). */
export interface TrainStageCost {
  stage: number;
  /** Hardware FLOPs per step: forward + backward + recomputation, for all microbatches. */
  flops: number;
  /** m × one microbatch's compute time. */
  computeSeconds: number | null;
  /** Communication not hidden behind compute, per step. */
  commSeconds: number | null;
  /** One microbatch through the stage, forward and backward: compute + exposed communication. */
  microbatchSeconds: number | null;
  /** Bytes sent per step, by link. */
  bytesByLink: LinkBytes;
  /** Bytes sent per step, by purpose and link. */
  traffic: Traffic[];
}

export interface TrainCost {
  microbatches: number;
  /** global × seq. */
  tokensPerStep: number;
  /** Idle share of the pipelined part of the step: (p − 1)/(m + p − 1), or (p − 1)/(v·m + p − 1) interleaved. */
  bubbleFraction: number;
  /** Model FLOPs of one step over the whole model: 3 × forward, no recomputation (the MFU numerator). */
  modelFlopsPerStep: number;
  /** The stage with the longest microbatch time, which paces the pipeline (null when unknown). */
  slowestStage: number | null;
  stepSeconds: number | null;
  computeSeconds: number | null;
  commSeconds: number | null;
  bubbleSeconds: number | null;
  tokensPerSecond: number | null;
  /** Model TFLOP/s achieved per GPU. */
  tflopsPerGpu: number | null;
  /** Model FLOPs utilization: modelFlopsPerStep / (step × GPUs × peak). */
  mfu: number | null;
  stages: TrainStageCost[];
}

export type Bound = 'compute' | 'memory';

export interface ServeStageCost {
  stage: number;
  /** FLOPs of prefilling one `seq`-token prompt on one device of the stage. */
  prefillFlops: number;
  /** Weight bytes read for that prefill (once per chunk of max_prefill_tokens). */
  prefillBytes: number;
  /** max(compute, memory) + tensor collectives + the send to the next stage. */
  prefillSeconds: number | null;
  /** FLOPs of one decode step at max_batch. */
  decodeFlops: number;
  /** Bytes read in one decode step at max_batch: weights + KV cache at the average context. */
  decodeBytes: number;
  /** max(compute, memory) + tensor collectives + the send to the next stage. */
  decodeSeconds: number | null;
  decodeBound: Bound | null;
  /** Bytes sent per decode step at max_batch, by link. */
  bytesByLink: LinkBytes;
  /** Bytes sent per decode step at max_batch, by purpose and link. */
  traffic: Traffic[];
}

export interface ServeCost {
  /** Prompt length of the prefill estimate: batch.seq. */
  prefillTokens: number;
  /** ⌈seq / max_prefill_tokens⌉. */
  prefillChunks: number;
  /** Time to first token for one prompt of prefillTokens, on an idle replica. */
  prefillSeconds: number | null;
  /** max_batch. */
  decodeBatch: number;
  /** Context of an average decoding sequence, tokens: seq × AVERAGE_CONTEXT_FRACTION. */
  averageContext: number;
  decodeBound: Bound | null;
  /** Time per output token at max_batch: one decode step through every stage. */
  tpotSeconds: number | null;
  /** data × max_batch / TPOT. */
  decodeTokensPerSecond: number | null;
  batch1TpotSeconds: number | null;
  /** One sequence alone on one replica: 1 / TPOT at batch 1. */
  batch1TokensPerSecond: number | null;
  /** Tokens/s per replica at max_batch ÷ at batch 1; in [1, max_batch]. */
  batchingGain: number | null;
  stages: ServeStageCost[];
}

export interface PlanCost {
  /** Every time could be estimated. */
  known: boolean;
  /** Why some times are unknown (null when known). */
  reason: string | null;
  efficiency: Efficiency;
  hardware: Hardware;
  train: TrainCost | null;
  serve: ServeCost | null;
}
