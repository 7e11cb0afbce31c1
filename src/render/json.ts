/**
 * The machine format (`--format json`): one JSON document, stable field order.
 *
 * ```
 * { "ok": bool,
 *   "plans": [ { "name", "file", "mode", "fits",
 *                "model": { "name", "params" },
 *                "mesh": { "tensor", "pipeline", "data", "gpus" },
 *                "devices": [ { "rank", "stage", "tensorRank", "dataRank", "gpu", "capacityBytes",
 *                               "usableBytes", "totalBytes",
 *                               "breakdown": { "weights", "gradients", "optimizer", "activations",
 *                                              "kvCache", "workspace" } } ],
 *                "hosts": [ { "node", "gpus", "capacityBytes", "totalBytes",
 *                             "breakdown": { "weights", "gradients", "optimizer", "buffers" } } ],
 *                "cost": { "known", "reason", "efficiency", "hardware", "train", "serve" },
 *                "latency": { "rate", "throughput", "utilization", "meanBatch", "queue": { "mean", "p99" },
 *                             "rejected", "ttft": { "p50", "p90", "p99" }, "tpot": {…}, "e2e": {…},
 *                             "requests", "maxRateMeetingSlo", "stepTimes": { "source", "file"?, "device"? },
 *                             "slo": [ { "metric", "target", "predicted", "ok" } ] } } ],
 *   "diagnostics": [ { "severity", "code", "message", "file", "line", "column", "endLine",
 *                      "endColumn", "help" } ] }
 * ```
 * Conventions: every field is always present; a value that does not exist is `null`
 * (`help` when the diagnostic has none; `line`, `column`, `endLine`, `endColumn` for a
 * diagnostic without a position, e.g. an unreadable file; `file` when it names none).
 * Lines and columns are 1-based, `endColumn` exclusive. Byte counts are integers;
 * `mesh.gpus` = tensor × pipeline × data (GPUs used, not the cluster's size); `devices` are
 * in rank order; `hosts` is the CPU memory per node of a plan that offloads (`offload`; empty
 * otherwise), `capacityBytes` the cluster's `host_memory` or null when it gives none; `ok` = no
 * error diagnostics and every plan fits (GPU and host). `cost` is the cost model's
 * estimate (docs/cost.md lists its fields): seconds are floats, bytes integers, FLOPs floats;
 * `train` is null for serve plans and `serve` for train plans; a time is null when the GPU
 * lacks a rate it needs (`known` false, `reason` says which). `latency` (docs/latency.md) is there
 * only for a serving plan with a `traffic` block that fits (so plans without one keep their
 * output): seconds and requests per second, `rejected` and `utilization` fractions, a
 * percentile null when no request completed; `stepTimes.source` is "cost model" or "profile" (then with
 * the profile's `file` as the plan names it and its `device`); `slo` lists each objective of the `slo` block.
 */
import { deviceCount } from '../mesh.js';
import type { Analysis, PlanResult } from '../analyze.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { Severity } from '../diagnostics/codes.js';
import { InternalError } from '../diagnostics/codes.js';
import type { DeviceMemory } from '../memory/types.js';
import type { LinkBytes, PlanCost, ServeCost, Traffic, TrainCost } from '../cost/types.js';
import { diagnosticFile, isOk } from './common.js';
import { jsonSafe } from '../format.js';
import type { LatencyResult } from '../latency/check.js';

export interface JsonReport {
  ok: boolean;
  plans: JsonPlan[];
  diagnostics: JsonDiagnostic[];
}

export interface JsonPlan {
  name: string;
  file: string;
  mode: 'serve' | 'train';
  fits: boolean;
  model: { name: string; params: number };
  mesh: { tensor: number; pipeline: number; data: number; gpus: number };
  devices: JsonDevice[];
  hosts: JsonHost[];
  cost: JsonCost;
  latency?: LatencyResult;
}

/** CPU memory of one node under offload (src/memory/offload.ts). */
export interface JsonHost {
  node: number;
  gpus: number;
  capacityBytes: number | null;
  totalBytes: number;
  breakdown: { weights: number; gradients: number; optimizer: number; buffers: number };
}

/** The cost model's PlanCost, field for field (see docs/cost.md). */
export type JsonCost = PlanCost;

export interface JsonDevice {
  rank: number;
  stage: number;
  tensorRank: number;
  /** Only with context > 1. */
  contextRank?: number;
  dataRank: number;
  gpu: string;
  capacityBytes: number;
  usableBytes: number;
  totalBytes: number;
  breakdown: {
    weights: number;
    gradients: number;
    optimizer: number;
    activations: number;
    kvCache: number;
    workspace: number;
  };
}

export interface JsonDiagnostic {
  severity: Severity;
  code: string;
  message: string;
  file: string | null;
  line: number | null;
  column: number | null;
  endLine: number | null;
  endColumn: number | null;
  help: string | null;
}

export function toJson(a: Analysis): JsonReport {
  return {
    ok: isOk(a),
    plans: a.results.map(jsonPlan),
    diagnostics: a.diagnostics.map(jsonDiagnostic),
  };
}

/** The report as text: 2-space indented, with a final newline. */
export function renderJson(a: Analysis): string {
  return jsonSafe(JSON.stringify(toJson(a), null, 2)) + '\n';
}

function jsonPlan(r: PlanResult): JsonPlan {
  const { plan, memory } = r;
  const m = plan.mesh;
  return {
    name: plan.name,
    file: plan.file,
    mode: plan.mode,
    fits: r.fits,
    model: { name: plan.model.name, params: int(memory.params, 'params') },
    mesh: { tensor: m.tensor, pipeline: m.pipeline, data: m.data, gpus: deviceCount(m) },
    devices: [...memory.devices].sort((x, y) => x.rank - y.rank).map(jsonDevice),
    hosts: memory.hosts.map((h) => ({
      node: h.node,
      gpus: h.gpus,
      capacityBytes: h.capacityBytes === undefined ? null : int(h.capacityBytes, 'host capacityBytes'),
      totalBytes: int(h.totalBytes, 'host totalBytes'),
      breakdown: {
        weights: int(h.breakdown.weights, 'host weights'),
        gradients: int(h.breakdown.gradients, 'host gradients'),
        optimizer: int(h.breakdown.optimizer, 'host optimizer'),
        buffers: int(h.breakdown.buffers, 'host buffers'),
      },
    })),
    cost: jsonCost(r.cost),
    ...(r.latency ? { latency: r.latency } : {}),
  };
}

/** The cost in a fixed field order, byte counts checked to be integers. */
export function jsonCost(c: PlanCost): JsonCost {
  return {
    known: c.known,
    reason: c.reason,
    efficiency: { compute: c.efficiency.compute, memory: c.efficiency.memory, link: c.efficiency.link },
    hardware: {
      tflops: c.hardware.tflops,
      memoryBandwidthGBs: c.hardware.memoryBandwidthGBs,
      link: c.hardware.link,
      linkBandwidthGBs: c.hardware.linkBandwidthGBs,
      networkGBs: c.hardware.networkGBs,
    },
    train: c.train && jsonTrain(c.train),
    serve: c.serve && jsonServe(c.serve),
  };
}

function jsonTrain(t: TrainCost): TrainCost {
  return {
    microbatches: t.microbatches,
    tokensPerStep: t.tokensPerStep,
    bubbleFraction: t.bubbleFraction,
    modelFlopsPerStep: t.modelFlopsPerStep,
    slowestStage: t.slowestStage,
    stepSeconds: t.stepSeconds,
    computeSeconds: t.computeSeconds,
    commSeconds: t.commSeconds,
    bubbleSeconds: t.bubbleSeconds,
    tokensPerSecond: t.tokensPerSecond,
    tflopsPerGpu: t.tflopsPerGpu,
    mfu: t.mfu,
    stages: t.stages.map((s) => ({
      stage: s.stage,
      flops: s.flops,
      computeSeconds: s.computeSeconds,
      commSeconds: s.commSeconds,
      microbatchSeconds: s.microbatchSeconds,
      bytesByLink: jsonLinkBytes(s.bytesByLink),
      traffic: s.traffic.map(jsonTraffic),
    })),
  };
}

function jsonServe(v: ServeCost): ServeCost {
  return {
    prefillTokens: v.prefillTokens,
    prefillChunks: v.prefillChunks,
    prefillSeconds: v.prefillSeconds,
    prefillStepTokens: v.prefillStepTokens,
    prefillStepSeconds: v.prefillStepSeconds,
    decodeBatch: v.decodeBatch,
    averageContext: v.averageContext,
    decodeBound: v.decodeBound,
    tpotSeconds: v.tpotSeconds,
    decodeTokensPerSecond: v.decodeTokensPerSecond,
    batch1TpotSeconds: v.batch1TpotSeconds,
    batch1TokensPerSecond: v.batch1TokensPerSecond,
    batchingGain: v.batchingGain,
    stages: v.stages.map((s) => ({
      stage: s.stage,
      prefillFlops: s.prefillFlops,
      prefillBytes: int(s.prefillBytes, 'prefillBytes'),
      prefillSeconds: s.prefillSeconds,
      decodeFlops: s.decodeFlops,
      decodeBytes: int(s.decodeBytes, 'decodeBytes'),
      decodeSeconds: s.decodeSeconds,
      decodeBound: s.decodeBound,
      bytesByLink: jsonLinkBytes(s.bytesByLink),
      traffic: s.traffic.map(jsonTraffic),
    })),
  };
}

function jsonLinkBytes(b: LinkBytes): LinkBytes {
  return {
    nvlink: int(b.nvlink, 'nvlink'),
    pcie: int(b.pcie, 'pcie'),
    infinityFabric: int(b.infinityFabric, 'infinityFabric'),
    network: int(b.network, 'network'),
  };
}

function jsonTraffic(t: Traffic): Traffic {
  return { group: t.group, link: t.link, bytes: int(t.bytes, 'traffic bytes'), ops: t.ops, seconds: t.seconds };
}

function jsonDevice(d: DeviceMemory): JsonDevice {
  const b = d.breakdown;
  return {
    rank: d.rank,
    stage: d.stage,
    tensorRank: d.tensorRank,
    ...(d.contextRank !== undefined ? { contextRank: d.contextRank } : {}),
    dataRank: d.dataRank,
    gpu: d.gpu,
    capacityBytes: int(d.capacityBytes, 'capacityBytes'),
    usableBytes: int(d.usableBytes, 'usableBytes'),
    totalBytes: int(d.totalBytes, 'totalBytes'),
    breakdown: {
      weights: int(b.weights, 'weights'),
      gradients: int(b.gradients, 'gradients'),
      optimizer: int(b.optimizer, 'optimizer'),
      activations: int(b.activations, 'activations'),
      kvCache: int(b.kvCache, 'kvCache'),
      workspace: int(b.workspace, 'workspace'),
    },
  };
}

function jsonDiagnostic(d: Diagnostic): JsonDiagnostic {
  const s = d.span;
  return {
    severity: d.severity,
    code: d.code,
    message: d.message,
    file: diagnosticFile(d) ?? null,
    line: s ? s.line : null,
    column: s ? s.column : null,
    endLine: s ? s.endLine : null,
    endColumn: s ? s.endColumn : null,
    help: d.help ?? null,
  };
}

/** Byte counts are integers by contract of the memory model; anything else is a bug there. */
function int(n: number, what: string): number {
  if (!Number.isSafeInteger(n)) throw new InternalError(`${what} = ${n} is not an integer byte count`);
  return n;
}
