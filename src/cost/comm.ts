/**
 * Communication: which link each group uses, and how many bytes a ring collective makes each
 * member send. Ranks follow the mesh (src/mesh.ts `rankOf`, `strides`):
 *   rank = (dataRank × p + stage) × t + tensorRank,   node = ⌊rank / gpus_per_node⌋
 * A group whose members sit on more than one node uses the network (the slowest hop paces a
 * ring); otherwise the GPU's intra-node link (catalog `link.kind`).
 */
import { strides } from '../mesh.js';
import type { CheckedPlan } from '../plan.js';
import { transferSeconds, type Rates } from './rates.js';
import type { CommGroup, LinkBytes, LinkKind, Traffic } from './types.js';

/**
 * The node of the device at (tensor rank, stage, data replica) of the plan's mesh, from the
 * axis strides (rank = Σ coordinate × stride, src/mesh.ts): the checks below look at
 * thousands of devices on large meshes, without building a coordinate object for each.
 */
function nodeFinder(plan: CheckedPlan): (tensor: number, pipeline: number, data: number) => number {
  const s = strides(plan.mesh);
  const perNode = plan.cluster.gpusPerNode;
  return (tensor, pipeline, data) => Math.floor((tensor * s.tensor + pipeline * s.pipeline + data * s.data) / perNode);
}

/** The link of a group: `network` if `crosses`, else the GPU's intra-node link. */
export function linkOf(plan: CheckedPlan, crosses: boolean): LinkKind {
  return crosses ? 'network' : plan.cluster.gpu.link.kind;
}

/** Whether any tensor group of `stage` (ranks (d·p + stage)·t … + t − 1, one per data replica) spans nodes. */
export function tensorGroupCrossesNodes(plan: CheckedPlan, stage: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let d = 0; d < mesh.data; d++) {
    if (nodeOf(0, stage, d) !== nodeOf(mesh.tensor - 1, stage, d)) return true;
  }
  return false;
}

/** Whether any data-parallel group of `stage` (same stage and tensor rank, every replica) spans nodes. */
export function dataGroupCrossesNodes(plan: CheckedPlan, stage: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let r = 0; r < mesh.tensor; r++) {
    const first = nodeOf(r, stage, 0);
    for (let d = 1; d < mesh.data; d++) if (nodeOf(r, stage, d) !== first) return true;
  }
  return false;
}

/** Whether any send from stage `from` to stage `to` (same replica and tensor rank) leaves its node. */
export function pipelineHopCrossesNodes(plan: CheckedPlan, from: number, to: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let d = 0; d < mesh.data; d++) {
    for (let r = 0; r < mesh.tensor; r++) {
      if (nodeOf(r, from, d) !== nodeOf(r, to, d)) return true;
    }
  }
  return false;
}

/** Bytes each of n ranks sends in a ring all-reduce of `bytes`: 2(n − 1)/n × bytes (0 for n = 1). */
export function allReduceBytes(bytes: number, n: number): number {
  return (2 * (n - 1) * bytes) / n;
}

/** Bytes each of n ranks sends in a ring reduce-scatter or all-gather of `bytes` (the whole tensor): (n − 1)/n × bytes. */
export function reduceScatterBytes(bytes: number, n: number): number {
  return ((n - 1) * bytes) / n;
}

/** Traffic being summed: bytes and ops by (group, link). */
export class TrafficSum {
  private readonly rows = new Map<string, { group: CommGroup; link: LinkKind; bytes: number; ops: number }>();

  add(group: CommGroup, link: LinkKind, bytes: number, ops: number): this {
    if (bytes === 0 && ops === 0) return this;
    const key = `${group}|${link}`;
    const row = this.rows.get(key) ?? { group, link, bytes: 0, ops: 0 };
    row.bytes += bytes;
    row.ops += ops;
    this.rows.set(key, row);
    return this;
  }

  /** Every (group, link) with its α–β time, scaled by `times` (e.g. microbatches per step); bytes rounded up to whole bytes. */
  list(rates: Rates, times = 1): Traffic[] {
    return [...this.rows.values()].map((r) => {
      const bytes = Math.ceil(r.bytes * times - 1e-6);
      const ops = r.ops * times;
      return { group: r.group, link: r.link, bytes, ops, seconds: transferSeconds(r.bytes * times, ops, r.link, rates) };
    });
  }

  /** The α–β time of the summed rows of `group` (all of them when omitted). */
  seconds(rates: Rates, group?: CommGroup): number | null {
    let total = 0;
    for (const r of this.rows.values()) {
      if (group !== undefined && r.group !== group) continue;
      const t = transferSeconds(r.bytes, r.ops, r.link, rates);
      if (t === null) return null;
      total += t;
    }
    return total;
  }
}

/** Bytes by link kind. */
export function bytesByLink(traffic: readonly Traffic[]): LinkBytes {
  const out: LinkBytes = { nvlink: 0, pcie: 0, infinityFabric: 0, network: 0 };
  for (const t of traffic) out[t.link === 'infinity-fabric' ? 'infinityFabric' : t.link] += t.bytes;
  return out;
}
