/**
 * The memory model: CheckedPlan → MemoryPlan, the bytes each GPU needs, by category, with the
 * formula behind each number. Pure; see docs/memory.md for every formula and its source.
 */
import { deviceCount } from '../mesh.js';
import type { CheckedPlan, Stage, TrainPlan } from '../plan.js';
import { bytesPerElement } from '../facts/dtypes.js';
import { bytesText, num } from '../format.js';
import { DEEPSPEED_OFFLOAD, hostOptimizerBytesPerParam, hostParts, type HostParts } from './offload.js';
import { activations } from './activations.js';
import { adapterParams } from './adapter.js';
import { ceilBytes, floorBytes, type Part } from './format.js';
import { gradients } from './gradients.js';
import { kvCache } from './kv-cache.js';
import { optimizer } from './optimizer.js';
import { countParams, deviceParams } from './params.js';
import type { Breakdown, Category, DeviceMemory, HostMemory, MemoryPlan } from './types.js';
import { weights } from './weights.js';
import { workspace } from './workspace.js';
import { withFp8Weights } from './fp8.js';
import { webgpuTrainActivations, webgpuTrainOptimizer, webgpuTrainWorkspace } from './webgpu-train.js';

export * from './types.js';
export * from './params.js';
export * from './weights.js';
export * from './gradients.js';
export * from './optimizer.js';
export * from './activations.js';
export * from './kv-cache.js';
export * from './workspace.js';
export * from './webgpu.js';
export * from './webgpu-train.js';
export * from './offload.js';
export * from './recipes.js';
export * from './fp8.js';
export * from './adapter.js';
export { num, bytesText } from '../format.js';
export type { Part } from './format.js';

/** What every data replica of one (stage, tensor rank) device needs. */
export interface DeviceFootprint {
  params: number;
  /** What this GPU's offload keeps in CPU memory (zeros without offload). */
  host: HostParts;
  breakdown: Breakdown;
  why: Record<Category, string>;
  totalBytes: number;
}

/**
 * Each category's formula, formatted when first read (src/memory/format.ts part): only text
 * output prints them, and most footprints (fit suggestions, plan search) are never printed.
 * Getters on the prototype, not own properties: an object literal of six getters per footprint
 * cost more than the formatting it saved. Read it by category (CATEGORIES); a spread does not copy them.
 */
class Formulas implements Record<Category, string> {
  constructor(private readonly parts: Record<Category, Part>) {}
  get weights(): string {
    return this.parts.weights.why;
  }
  get gradients(): string {
    return this.parts.gradients.why;
  }
  get optimizer(): string {
    return this.parts.optimizer.why;
  }
  get activations(): string {
    return this.parts.activations.why;
  }
  get kvCache(): string {
    return this.parts.kvCache.why;
  }
  get workspace(): string {
    return this.parts.workspace.why;
  }
}

/** The memory of the device at (stage, tensorRank), the same on every data replica. */
export function deviceFootprint(plan: CheckedPlan, stage: Stage, tensorRank = 0): DeviceFootprint {
  const p = deviceParams(plan, stage, tensorRank);
  const trained = plan.mode === 'train' && plan.adapter ? { params: adapterParams(plan, stage) } : undefined;
  const parts: Record<Category, Part> = {
    weights: withFp8Weights(plan, weights(plan, p.total, stage, p), stage),
    // LoRA: gradients and optimizer states of the adapters only (the frozen base has neither).
    gradients: trained ? gradients(plan, trained.params, 0, 0, 'adapter ') : gradients(plan, p.total, p.routed, p.largestModule),
    optimizer: trained ? optimizer(plan, trained.params, 0, 'adapter ') : optimizer(plan, p.total, p.routed),
    activations: activations(plan, stage),
    kvCache: kvCache(plan, stage),
    workspace: workspace(plan, p.largestModule, stage),
  };
  if (plan.mode === 'train' && plan.engine === 'webgpu') {
    // parplan's WebGPU runtime: its own buffers (src/memory/webgpu-train.ts).
    parts.optimizer = webgpuTrainOptimizer(plan, p.total);
    parts.activations = webgpuTrainActivations(plan, stage);
    parts.workspace = webgpuTrainWorkspace(plan, stage);
  }
  const breakdown: Breakdown = {
    weights: parts.weights.bytes,
    gradients: parts.gradients.bytes,
    optimizer: parts.optimizer.bytes,
    activations: parts.activations.bytes,
    kvCache: parts.kvCache.bytes,
    workspace: parts.workspace.bytes,
  };
  const why = new Formulas(parts);
  const totalBytes =
    breakdown.weights + breakdown.gradients + breakdown.optimizer + breakdown.activations + breakdown.kvCache + breakdown.workspace;
  return { params: p.total, host: hostParts(plan, p.total, p.routed), breakdown, why, totalBytes };
}

/** floor(capacity × (1 − reserve)). */
export function usableBytes(capacityBytes: number, reserve: number): number {
  return floorBytes(capacityBytes * (1 - reserve));
}

/**
 * Whether every device fits, as fitsAll(memoryPlan(plan)) says: every device of a stage holds
 * its stage's footprint, so one per stage decides, without a device list (fit suggestions try
 * many variant plans, some of thousands of GPUs).
 */
export function stagesFit(plan: CheckedPlan): boolean {
  const usable = usableBytes(plan.cluster.gpu.memoryBytes, plan.reserve);
  return plan.stages.every((stage) => deviceFootprint(plan, stage, 0).totalBytes <= usable);
}

/** Every device of the plan, in rank order (rank = ((dataRank × pipeline + stage) × context + contextRank) × tensor + tensorRank). */
export function memoryPlan(plan: CheckedPlan): MemoryPlan {
  const { mesh, cluster } = plan;
  const capacityBytes = cluster.gpu.memoryBytes;
  const usable = usableBytes(capacityBytes, plan.reserve);
  const gpu = cluster.gpu.id;
  const perNode = cluster.gpusPerNode;
  // Every tensor rank of a stage holds the same (all splits are even once checked), and
  // every replica the same again: one footprint per stage, shared (frozen) by its devices.
  const footprints: DeviceFootprint[] = plan.stages.map((stage) => {
    const f = deviceFootprint(plan, stage, 0);
    Object.freeze(f.breakdown);
    Object.freeze(f.why);
    return f;
  });
  const devices = new Array<DeviceMemory>(deviceCount(mesh));
  // Ranks in order, tensor fastest, then context, then pipeline, then data (src/mesh.ts): plain
  // counting, as a plan can have thousands of devices.
  let rank = 0;
  for (let dataRank = 0; dataRank < mesh.data; dataRank++) {
    for (let stage = 0; stage < mesh.pipeline; stage++) {
      const f = footprints[stage]!;
      for (let contextRank = 0; contextRank < mesh.context; contextRank++)
        for (let tensorRank = 0; tensorRank < mesh.tensor; tensorRank++, rank++) {
          const node = Math.floor(rank / perNode);
          const { totalBytes, breakdown, params, why } = f;
          // Two literals, not a conditional spread in one: a spread builds each object property by
          // property, and thousands of devices made it the memory model's largest cost. Same keys, same order.
          devices[rank] =
            mesh.context > 1
              ? {
                  rank,
                  stage,
                  tensorRank,
                  contextRank,
                  dataRank,
                  node,
                  gpu,
                  capacityBytes,
                  usableBytes: usable,
                  totalBytes,
                  breakdown,
                  params,
                  why,
                }
              : { rank, stage, tensorRank, dataRank, node, gpu, capacityBytes, usableBytes: usable, totalBytes, breakdown, params, why };
        }
    }
  }
  const hosts = plan.mode === 'train' && plan.offload !== 'none' ? hostMemory(plan, devices, footprints) : [];
  return { plan: plan.name, params: countParams(plan.model), devices, hosts };
}

/**
 * CPU memory per node under offload: the sum of its GPUs' partitions (fp32 master weights,
 * optimizer states and fp32 gradients; the 16-bit weights with optimizer_params), times
 * DeepSpeed's additional_buffer_factor (estimate_zero2/3_model_states_mem_needs) for the pinned
 * staging buffers and the host's copies at load that the partitions do not count.
 */
export function hostMemory(plan: TrainPlan, devices: readonly DeviceMemory[], footprints: readonly DeviceFootprint[]): HostMemory[] {
  const perNode = new Map<number, { gpus: number; weights: number; gradients: number; optimizer: number; shard: number }>();
  for (const d of devices) {
    const h = footprints[d.stage]!.host;
    const n = perNode.get(d.node) ?? { gpus: 0, weights: 0, gradients: 0, optimizer: 0, shard: 0 };
    n.gpus++;
    n.weights += h.weights;
    n.gradients += h.gradients;
    n.optimizer += h.optimizer;
    n.shard += h.shard;
    perNode.set(d.node, n);
  }
  const factor = DEEPSPEED_OFFLOAD.additionalBufferFactor;
  const opt = hostOptimizerBytesPerParam(plan);
  const wPer = bytesPerElement(plan.precision);
  return [...perNode.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([node, n]) => {
      const sum = n.weights + n.gradients + n.optimizer;
      const buffers = ceilBytes(sum * (factor - 1));
      const breakdown = { weights: n.weights, gradients: n.gradients, optimizer: n.optimizer, buffers };
      const parts = `${num(n.shard)} params (the ZeRO partitions of ${n.gpus} ${n.gpus === 1 ? 'GPU' : 'GPUs'})`;
      const why = {
        weights:
          n.weights > 0
            ? `weights: ${parts} × ${wPer} B (${plan.precision}, offload = optimizer_params) = ${bytesText(n.weights)}`
            : 'weights: 0 (offload = optimizer keeps the 16-bit weights on the GPU)',
        gradients: `gradients: ${parts} × 4 B (fp32) = ${bytesText(n.gradients)}`,
        optimizer: `optimizer: ${parts} × ${opt.bytes} B (${opt.parts}) = ${bytesText(n.optimizer)}`,
        buffers: `buffers: ${bytesText(sum)} × ${factor - 1} (DeepSpeed additional_buffer_factor ${factor}: pinned staging, load-time copies) = ${bytesText(buffers)}`,
      };
      return { node, gpus: n.gpus, capacityBytes: plan.cluster.hostMemoryBytes, totalBytes: sum + buffers, breakdown, why };
    });
}
