/**
 * The device mesh: every rank's coordinates and the groups of ranks it
 * communicates with along each axis (rank = (data × pipeline + stage) × tensor + tensorRank).
 */
import type { Axis, GraphDevice } from '../graph/types.js';
import { rankOf, type CheckedPlan } from '../plan.js';

export interface LoweredMesh {
  devices: Omit<GraphDevice, 'program' | 'memory'>[];
  groups: Record<Axis, number[][]>;
}

/** The first and last stage hold separate copies of tied embeddings when pipeline > 1. */
export function splitTiedEmbeddings(plan: CheckedPlan): boolean {
  return plan.model.tiedEmbeddings && plan.mesh.pipeline > 1;
}

export function lowerMesh(plan: CheckedPlan): LoweredMesh {
  const { tensor: t, pipeline: p, data: d } = plan.mesh;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const groups: Record<Axis, number[][]> = {
    // index d·p + s
    tensor: range(d).flatMap((dr) => range(p).map((s) => range(t).map((tr) => rankOf(plan.mesh, dr, s, tr)))),
    // index d·t + tr
    pipeline: range(d).flatMap((dr) => range(t).map((tr) => range(p).map((s) => rankOf(plan.mesh, dr, s, tr)))),
    // index s·t + tr
    data: range(p).flatMap((s) => range(t).map((tr) => range(d).map((dr) => rankOf(plan.mesh, dr, s, tr)))),
    // index d·t + tr
    embedding: splitTiedEmbeddings(plan) ? range(d).flatMap((dr) => range(t).map((tr) => [rankOf(plan.mesh, dr, 0, tr), rankOf(plan.mesh, dr, p - 1, tr)])) : [],
  };
  const devices: LoweredMesh['devices'] = [];
  for (let dr = 0; dr < d; dr++) {
    for (let s = 0; s < p; s++) {
      for (let tr = 0; tr < t; tr++) {
        const rank = rankOf(plan.mesh, dr, s, tr);
        const g: Partial<Record<Axis, number>> = {};
        if (t > 1) g.tensor = dr * p + s;
        if (p > 1) g.pipeline = dr * t + tr;
        if (d > 1) g.data = s * t + tr;
        if (splitTiedEmbeddings(plan) && (s === 0 || s === p - 1)) g.embedding = dr * t + tr;
        devices.push({ rank, stage: s, tensorRank: tr, dataRank: dr, node: Math.floor(rank / plan.cluster.gpusPerNode), groups: g });
      }
    }
  }
  return { devices, groups };
}
