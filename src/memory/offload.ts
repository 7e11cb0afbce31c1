/**
 * ZeRO-Offload / ZeRO-Infinity to CPU memory (`offload`), as DeepSpeed runs it. Read at
 * microsoft/DeepSpeed 38327e07 (2025-02):
 *   - deepspeed/runtime/zero/stage_1_and_2.py: with offload_optimizer the fp32 master partition
 *     (`single_partition_of_fp32_groups`), its fp32 gradient (`.grad`, pinned with pin_memory) and
 *     the optimizer states (DeepSpeedCPUAdam) live in CPU memory; on the GPU stay the 16-bit
 *     parameters, the contiguous-gradient buckets (`ipg_buffer`: reduce_bucket_size elements,
 *     two with overlap_comm) and `temp_grad_buffer_for_gpu_offload` (the largest parameter);
 *   - deepspeed/runtime/zero/stage3.py: one `__ipg_bucket_flat_buffer` on the GPU,
 *     `grad_partitions_flat_buffer` (fp32 gradient partition) in CPU memory; with offload_param
 *     the 16-bit parameter partition is in CPU memory too, and parameters below
 *     `stage3_param_persistence_threshold` (1e5 elements: norms, biases) stay on the GPU;
 *   - the estimators `estimate_zero2_model_states_mem_needs` / `estimate_zero3_model_states_mem_needs`
 *     multiply the CPU bytes by `additional_buffer_factor = 1.5`: we do the same, as a named term.
 * Bucket sizes are DeepSpeed's defaults (runtime/zero/config.py), which the DeepSpeed export writes.
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { bytesText, num } from '../format.js';
import { layerLinears, shardLayer } from '../model.js';
import type { CheckedPlan, Stage, TrainPlan } from '../plan.js';
import { part, type Part } from './format.js';
import type { DeviceParams } from './params.js';
import { shardOver, zeroShard } from './zero.js';

/** DeepSpeed's defaults (runtime/zero/config.py, offload_config.py, the estimators) that the offload model uses. */
export const DEEPSPEED_OFFLOAD = {
  /** reduce_bucket_size, elements. */
  reduceBucket: 500_000_000,
  /** stage3_param_persistence_threshold, elements: smaller parameters are never partitioned. */
  persistenceThreshold: 100_000,
  /** stage3_prefetch_bucket_size, elements gathered ahead of use. */
  prefetchBucket: 50_000_000,
  /** additional_buffer_factor of the estimators. */
  additionalBufferFactor: 1.5,
} as const;

/** Host bytes of one GPU's ZeRO partition (before the buffer factor), by category. */
export interface HostParts {
  weights: number;
  gradients: number;
  optimizer: number;
  /** Elements of this GPU's partition. */
  shard: number;
}

/** Elements of the ZeRO partition one GPU keeps: dense over the shard group, routed experts over the expert data ranks. */
function partitionElements(plan: TrainPlan, params: number, routed: number): number {
  return zeroShard(params - routed, shardOver(plan)) + (routed > 0 ? zeroShard(routed, plan.experts.data) : 0);
}

/** Optimizer bytes per parameter in CPU memory: the fp32 master copy always (DeepSpeed clones the partition to fp32 on the host) + the moments. */
export function hostOptimizerBytesPerParam(plan: TrainPlan): { bytes: number; parts: string } {
  if (plan.optimizer === 'sgd') return { bytes: 8, parts: 'fp32 master 4 + momentum 4' };
  return { bytes: 12, parts: 'fp32 master 4 + m 4 + v 4' };
}

/** What one GPU's offload puts in CPU memory (0 without offload). */
export function hostParts(plan: CheckedPlan, params: number, routed = 0): HostParts {
  if (plan.mode !== 'train' || plan.offload === 'none') return { weights: 0, gradients: 0, optimizer: 0, shard: 0 };
  const shard = partitionElements(plan, params, routed);
  return {
    weights: plan.offload === 'optimizer_params' ? shard * bytesPerElement(plan.precision) : 0,
    // fp32 gradient partition: stage 1/2 `single_partition_of_fp32_groups[i].grad`, stage 3 `grad_partitions_flat_buffer`.
    gradients: shard * 4,
    optimizer: shard * hostOptimizerBytesPerParam(plan).bytes,
    shard,
  };
}

/** GPU optimizer bytes with offload: none, the states and the step are on the CPU. */
export function offloadedOptimizer(plan: TrainPlan): Part {
  const { parts } = hostOptimizerBytesPerParam(plan);
  return part(
    0,
    () => `optimizer: 0 on the GPU (offload = ${plan.offload}: ${parts} per parameter of the partition in CPU memory, see host)`,
  );
}

/**
 * GPU gradient bytes with offload: the buckets gradients pass through on their way to the CPU.
 * ZeRO-1/2: `ipg_buffer` 2 × min(reduce_bucket_size, params) (overlap_comm, as the export writes
 * it) + `temp_grad_buffer_for_gpu_offload` for the largest parameter; ZeRO-3: one bucket.
 */
export function offloadedGradients(plan: TrainPlan, params: number, largestModule: number): Part {
  const per = bytesPerElement(plan.precision);
  const bucket = Math.min(DEEPSPEED_OFFLOAD.reduceBucket, params);
  if (plan.zero === 3) {
    const bytes = bucket * per;
    return part(
      bytes,
      () =>
        `gradients: min(reduce_bucket_size ${num(DEEPSPEED_OFFLOAD.reduceBucket)}, ${num(params)} params) × ${per} B (${plan.precision} bucket; the fp32 partition is in CPU memory) = ${bytesText(bytes)}`,
    );
  }
  const bytes = (2 * bucket + largestModule) * per;
  return part(
    bytes,
    () =>
      `gradients: (2 × min(reduce_bucket_size ${num(DEEPSPEED_OFFLOAD.reduceBucket)}, ${num(params)} params) buckets + ${num(largestModule)} (largest parameter, copy buffer)) × ${per} B (${plan.precision}; the fp32 partition is in CPU memory) = ${bytesText(bytes)}`,
  );
}

/**
 * Parameters that ZeRO-3 never partitions: vectors (norms, biases) below
 * stage3_param_persistence_threshold, every layer's and the final norm. They stay whole on the GPU.
 */
export function persistentParams(plan: CheckedPlan, stage: Stage | undefined, p: DeviceParams | undefined): number {
  if (!stage || !p || plan.model.hidden > DEEPSPEED_OFFLOAD.persistenceThreshold) return 0;
  const layer = shardLayer(plan.model.layer, plan.mesh.tensor);
  const matrices = layerLinears(plan.model, layer).reduce((s, l) => s + l.count * l.in * l.out, 0);
  const vectors = Math.max(0, p.layer.total - p.layer.routed - matrices);
  return stage.layers * vectors + p.finalNorm;
}

/** GPU weight bytes with offload = optimizer_params: the persistent parameters and the prefetch bucket; the rest is gathered into the ZeRO-3 workspace as needed. */
export function offloadedWeights(plan: TrainPlan, p: DeviceParams | undefined, stage?: Stage): Part {
  const per = bytesPerElement(plan.precision);
  const persistent = persistentParams(plan, stage, p);
  const prefetch = Math.min(DEEPSPEED_OFFLOAD.prefetchBucket, p?.total ?? 0);
  const bytes = (persistent + prefetch) * per;
  return part(
    bytes,
    () =>
      `weights: (${num(persistent)} persistent params (norms, biases < ${num(DEEPSPEED_OFFLOAD.persistenceThreshold)} elements) + ${num(prefetch)} prefetched (stage3_prefetch_bucket_size)) × ${per} B (${plan.precision}; the partition is in CPU memory) = ${bytesText(bytes)}`,
  );
}
