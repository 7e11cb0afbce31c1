/**
 * The device mesh: every rank's coordinates and the groups of ranks it
 * communicates with along each axis (src/mesh.ts numbers both).
 */
import { EXPERT_AXES, HSDP_AXES, type Axis, type ExpertAxis, type Graph, type GraphDevice, type HsdpAxis } from '../graph/types.js';
import { shardOver } from '../memory/zero.js';
import { expertGroupsAlong, groupIndex, groupsAlong, hsdpGroupsAlong, MESH_AXIS_NAMES, ranks, type ExpertGrid } from '../mesh.js';
import { layerRuns } from '../model.js';
import type { CheckedPlan } from '../plan.js';

export interface LoweredMesh {
  devices: Omit<GraphDevice, 'program' | 'memory'>[];
  groups: Graph['groups'];
}

/** The expert grid's axis (src/mesh.ts) behind each graph axis. */
const GRID_AXIS: Record<ExpertAxis, keyof ExpertGrid> = { expert: 'expert', expert_data: 'data', expert_tensor: 'tensor' };

/** Whether the model has MoE layers (then the graph has expert groups). */
export function hasExperts(plan: CheckedPlan): boolean {
  return layerRuns(plan.model).some((r) => r.layer.mlp.kind === 'moe');
}

/** HSDP (a training plan's shard_group < data): the shard group's size; undefined: ZeRO shards over every data rank. */
export function hsdpShardGroup(plan: CheckedPlan): number | undefined {
  const s = shardOver(plan);
  return plan.mode === 'train' && plan.zero > 0 && s < plan.mesh.data ? s : undefined;
}

/** The HSDP grid's axis (src/mesh.ts) behind each graph axis. */
const HSDP_GRID_AXIS: Record<HsdpAxis, 'shard' | 'replicate'> = { data_shard: 'shard', data_replicate: 'replicate' };

/** The first and last stage hold separate copies of tied embeddings when pipeline > 1. */
export function splitTiedEmbeddings(plan: CheckedPlan): boolean {
  return plan.model.tiedEmbeddings && plan.mesh.pipeline > 1;
}

export function lowerMesh(plan: CheckedPlan): LoweredMesh {
  const { mesh } = plan;
  const p = mesh.pipeline;
  const tied = splitTiedEmbeddings(plan);
  const groups = {} as Graph['groups'];
  for (const axis of MESH_AXIS_NAMES) groups[axis] = groupsAlong(mesh, axis);
  // The ends of each pipeline group, numbered as the pipeline groups.
  groups.embedding = tied ? groups.pipeline.map((g) => [g[0]!, g[p - 1]!]) : [];
  // MoE: the expert grid's groups, and each rank's index in them (groups of one rank: none, as along a mesh axis); HSDP's below.
  const subIndex = new Map<ExpertAxis | HsdpAxis, Map<number, number>>();
  if (hasExperts(plan)) {
    for (const axis of EXPERT_AXES) {
      const list = expertGroupsAlong(mesh, plan.experts, GRID_AXIS[axis]);
      groups[axis] = list;
      if (list[0]!.length > 1) subIndex.set(axis, new Map(list.flatMap((g, i) => g.map((r) => [r, i] as const))));
    }
  }
  // HSDP: the data axis' shard and replicate groups, and each rank's index in them (none for a group of one rank).
  const hsdp = hsdpShardGroup(plan);
  if (hsdp !== undefined) {
    for (const axis of HSDP_AXES) {
      const list = hsdpGroupsAlong(mesh, hsdp, HSDP_GRID_AXIS[axis]);
      groups[axis] = list;
      if (list[0]!.length > 1) subIndex.set(axis, new Map(list.flatMap((g, i) => g.map((r) => [r, i] as const))));
    }
  }
  const devices = ranks(mesh).map((coords, rank) => {
    const g: Partial<Record<Axis, number>> = {};
    for (const [axis, index] of subIndex) g[axis] = index.get(rank)!;
    // A device of an axis of size 1 has no group along it.
    for (const axis of MESH_AXIS_NAMES) if (mesh[axis] > 1) g[axis] = groupIndex(mesh, axis, coords);
    if (tied && (coords.pipeline === 0 || coords.pipeline === p - 1)) g.embedding = groupIndex(mesh, 'pipeline', coords);
    return { rank, coords, node: Math.floor(rank / plan.cluster.gpusPerNode), groups: g };
  });
  return { devices, groups };
}
