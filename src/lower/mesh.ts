/**
 * The device mesh: every rank's coordinates and the groups of ranks it
 * communicates with along each axis (src/mesh.ts numbers both).
 */
import type { Axis, GraphDevice } from '../graph/types.js';
import { groupIndex, groupsAlong, MESH_AXIS_NAMES, ranks } from '../mesh.js';
import type { CheckedPlan } from '../plan.js';

export interface LoweredMesh {
  devices: Omit<GraphDevice, 'program' | 'memory'>[];
  groups: Record<Axis, number[][]>;
}

/** The first and last stage hold separate copies of tied embeddings when pipeline > 1. */
export function splitTiedEmbeddings(plan: CheckedPlan): boolean {
  return plan.model.tiedEmbeddings && plan.mesh.pipeline > 1;
}

export function lowerMesh(plan: CheckedPlan): LoweredMesh {
  const { mesh } = plan;
  const p = mesh.pipeline;
  const tied = splitTiedEmbeddings(plan);
  const groups = {} as Record<Axis, number[][]>;
  for (const axis of MESH_AXIS_NAMES) groups[axis] = groupsAlong(mesh, axis);
  // The ends of each pipeline group, numbered as the pipeline groups.
  groups.embedding = tied ? groups.pipeline.map((g) => [g[0]!, g[p - 1]!]) : [];
  const devices = ranks(mesh).map((coords, rank) => {
    const g: Partial<Record<Axis, number>> = {};
    // A device of an axis of size 1 has no group along it.
    for (const axis of MESH_AXIS_NAMES) if (mesh[axis] > 1) g[axis] = groupIndex(mesh, axis, coords);
    if (tied && (coords.pipeline === 0 || coords.pipeline === p - 1)) g.embedding = groupIndex(mesh, 'pipeline', coords);
    return { rank, coords, node: Math.floor(rank / plan.cluster.gpusPerNode), groups: g };
  });
  return { devices, groups };
}
