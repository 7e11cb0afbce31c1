/** How ZeRO partitions a tensor over the data (and context) ranks (shared by weights, gradients, optimizer and offload). */
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

/**
 * The ranks a dense parameter's ZeRO / FSDP shards are spread over: the shard group × context.
 * Context ranks hold the same weights (they split the sequence), so both engines shard over them
 * too: Megatron-Core's distributed optimizer over the data-parallel group with context parallelism
 * (parallel_state.get_data_parallel_group(with_context_parallel=True), used by
 * distributed/distributed_data_parallel.py), torchtitan's FSDP over the 'dp_shard_cp' mesh
 * (parallelisms/parallel_dims.py). Routed experts keep their expert-data replicas.
 */
export function zeroDegree(plan: CheckedPlan): number {
  return shardOver(plan) * plan.mesh.context;
}

/** Elements each data replica keeps of a ZeRO-partitioned tensor of `params` elements (even split, padded). */
export function zeroShard(params: number, data: number): number {
  return Math.ceil(params / data);
}
