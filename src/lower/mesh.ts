/**
 * The device mesh: every rank's coordinates and the groups of ranks it
 * communicates with along each axis (src/mesh.ts numbers both).
 */
import { EXPERT_AXES, type Axis, type ExpertAxis, type Graph, type GraphDevice } from '../graph/types.js';
import { expertGroupsAlong, groupIndex, groupsAlong, MESH_AXIS_NAMES, ranks, type ExpertGrid } from '../mesh.js';
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
  // MoE: the expert grid's groups, and each rank's index in them (groups of one rank: none, as along a mesh axis).
  const expertIndex = new Map<ExpertAxis, Map<number, number>>();
  if (hasExperts(plan)) {
    for (const axis of EXPERT_AXES) {
      const list = expertGroupsAlong(mesh, plan.experts, GRID_AXIS[axis]);
      groups[axis] = list;
      if (list[0]!.length > 1) expertIndex.set(axis, new Map(list.flatMap((g, i) => g.map((r) => [r, i] as const))));
    }
  }
  const devices = ranks(mesh).map((coords, rank) => {
    const g: Partial<Record<Axis, number>> = {};
    for (const [axis, index] of expertIndex) g[axis] = index.get(rank)!;
    // A device of an axis of size 1 has no group along it.
    for (const axis of MESH_AXIS_NAMES) if (mesh[axis] > 1) g[axis] = groupIndex(mesh, axis, coords);
    if (tied && (coords.pipeline === 0 || coords.pipeline === p - 1)) g.embedding = groupIndex(mesh, 'pipeline', coords);
    return { rank, coords, node: Math.floor(rank / plan.cluster.gpusPerNode), groups: g };
  });
  return { devices, groups };
}
