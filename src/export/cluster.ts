/** Where the plan's ranks run: nodes and GPUs of the cluster, in parplan's rank order. */
import { meshText as axesText } from '../mesh.js';
import type { CheckedPlan } from '../plan.js';

export interface Placement {
  /** Nodes the plan uses (ranks fill nodes in order). */
  nodes: number;
  /** GPUs used per node. */
  perNode: number;
}

/** Undefined when the used GPUs do not fill whole nodes (launchers start the same number of processes on every node). */
export function placement(plan: CheckedPlan): Placement | undefined {
  const used = plan.derived.gpusUsed;
  const per = plan.cluster.gpusPerNode;
  if (used <= per) return { nodes: 1, perNode: used };
  return used % per === 0 ? { nodes: used / per, perNode: per } : undefined;
}

/** Node and local GPU index of a global rank. */
export function locate(plan: CheckedPlan, rank: number): { node: number; gpu: number } {
  const per = plan.cluster.gpusPerNode;
  return { node: Math.floor(rank / per), gpu: rank % per };
}

/** The layers per pipeline stage, and whether they are all equal. */
export function stageSizes(plan: CheckedPlan): { sizes: number[]; even: boolean } {
  const sizes = plan.stages.map((s) => s.layers);
  return { sizes, even: sizes.every((n) => n === sizes[0]) };
}

/** A launcher-independent description of the mesh for file headers. */
export function meshText(plan: CheckedPlan): string {
  const c = plan.cluster;
  const where = c.nodes > 1 ? `${c.nodes} nodes × ${c.gpusPerNode} ${c.gpu.name}` : `${c.gpus} × ${c.gpu.name}`;
  return `${axesText(plan.mesh)} = ${plan.derived.gpusUsed} GPUs of cluster '${c.name}' (${where})`;
}

/** The error text when the GPUs used do not fill whole nodes. */
export function partialNodeWhy(plan: CheckedPlan): string {
  return `${plan.derived.gpusUsed} GPUs do not fill whole nodes of gpus_per_node = ${plan.cluster.gpusPerNode}, and the launcher starts the same number of processes on every node`;
}
