/** How ZeRO partitions a tensor over the data ranks (shared by weights, gradients, optimizer and offload). */
import type { CheckedPlan } from '../plan.js';

/**
 * The data ranks ZeRO shards over: the plan's shard_group (HSDP: shard within the group,
 * replicate across the data / shard_group groups; torchtitan's data_parallel_shard_degree,
 * DeepSpeed MiCS's mics_shard_size), else every data rank. Serving plans shard nothing.
 */
export function shardOver(plan: CheckedPlan): number {
  const d = plan.mesh.data;
  // A variant of the plan (fit suggestions, search) may change data: a group that no longer
  // tiles it shards over every data rank, as the plan without shard_group would.
  return plan.mode === 'train' && plan.shardGroup !== undefined && plan.shardGroup < d && d % plan.shardGroup === 0 ? plan.shardGroup : d;
}

/** Elements each data replica keeps of a ZeRO-partitioned tensor of `params` elements (even split, padded). */
export function zeroShard(params: number, data: number): number {
  return Math.ceil(params / data);
}
