/**
 * Communication: which link each group uses, and how many bytes a ring collective makes each
 * member send. Ranks follow the mesh (src/mesh.ts `rankOf`, `strides`):
 *   rank = ((dataRank × p + stage) × c + contextRank) × t + tensorRank,   node = ⌊rank / gpus_per_node⌋
 * A group whose members sit on more than one node uses the network (the slowest hop paces a
 * ring); otherwise the GPU's intra-node link (catalog `link.kind`).
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { layerParams } from '../memory/params.js';
import { routedPerToken } from './flops.js';
import { expertGroupsAlong, strides, type ExpertGrid } from '../mesh.js';
import { layerRuns, type MoeMlp } from '../model.js';
import type { CheckedPlan, Stage, TrainPlan } from '../plan.js';
import { transferSeconds, type Rates } from './rates.js';
import type { CommGroup, LinkBytes, LinkKind, Traffic } from './types.js';

/**
 * The node of the device at (tensor rank, stage, data replica) of the plan's mesh, from the
 * axis strides (rank = Σ coordinate × stride, src/mesh.ts): the checks below look at
 * thousands of devices on large meshes, without building a coordinate object for each.
 */
function nodeFinder(plan: CheckedPlan): (tensor: number, pipeline: number, data: number, context?: number) => number {
  const s = strides(plan.mesh);
  const perNode = plan.cluster.gpusPerNode;
  return (tensor, pipeline, data, context = 0) =>
    Math.floor((tensor * s.tensor + context * s.context + pipeline * s.pipeline + data * s.data) / perNode);
}

function nodeOf(plan: CheckedPlan, rank: number): number {
  return Math.floor(rank / plan.cluster.gpusPerNode);
}

/** The link of a group: `network` if `crosses`, else the GPU's intra-node link. */
export function linkOf(plan: CheckedPlan, crosses: boolean): LinkKind {
  return crosses ? 'network' : plan.cluster.gpu.link.kind;
}

/** Whether any tensor group of `stage` (ranks (d·p + stage)·t … + t − 1, one per data replica) spans nodes. */
export function tensorGroupCrossesNodes(plan: CheckedPlan, stage: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let d = 0; d < mesh.data; d++)
    for (let c = 0; c < mesh.context; c++) if (nodeOf(0, stage, d, c) !== nodeOf(mesh.tensor - 1, stage, d, c)) return true;
  return false;
}

/** Whether any context group of `stage` (same stage, tensor rank and replica, every context rank) spans nodes. */
export function contextGroupCrossesNodes(plan: CheckedPlan, stage: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let d = 0; d < mesh.data; d++)
    for (let r = 0; r < mesh.tensor; r++) if (nodeOf(r, stage, d, 0) !== nodeOf(r, stage, d, mesh.context - 1)) return true;
  return false;
}

/** Whether any data-parallel group of `stage` (same stage and tensor rank, every replica) spans nodes. */
export function dataGroupCrossesNodes(plan: CheckedPlan, stage: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let r = 0; r < mesh.tensor; r++)
    for (let c = 0; c < mesh.context; c++) {
      const first = nodeOf(r, stage, 0, c);
      for (let d = 1; d < mesh.data; d++) if (nodeOf(r, stage, d, c) !== first) return true;
    }
  return false;
}

/**
 * HSDP: whether any shard group (data ranks g·S … g·S + S − 1) or any replicate group (data ranks
 * j, j + S, j + 2S, …) of `stage` spans nodes, S = shard_group.
 */
export function hsdpGroupsCrossNodes(plan: CheckedPlan, stage: number, shardGroup: number): { shard: boolean; replicate: boolean } {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  let shard = false;
  let replicate = false;
  for (let r = 0; r < mesh.tensor; r++)
    for (let d = 0; d < mesh.data; d++) {
      const node = nodeOf(r, stage, d);
      if (d % shardGroup !== 0 && node !== nodeOf(r, stage, d - (d % shardGroup))) shard = true;
      if (d >= shardGroup && node !== nodeOf(r, stage, d % shardGroup)) replicate = true;
    }
  return { shard, replicate };
}

/** Whether any send from stage `from` to stage `to` (same replica and tensor rank) leaves its node. */
export function pipelineHopCrossesNodes(plan: CheckedPlan, from: number, to: number): boolean {
  const { mesh } = plan;
  const nodeOf = nodeFinder(plan);
  for (let d = 0; d < mesh.data; d++)
    for (let c = 0; c < mesh.context; c++)
      for (let r = 0; r < mesh.tensor; r++) if (nodeOf(r, from, d, c) !== nodeOf(r, to, d, c)) return true;
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

/** The MoE layers of `stage`: how many, and their MLP (buildModel gives every MoE layer one shape). */
export function moeLayersOf(plan: CheckedPlan, stage: Stage): { count: number; mlp: MoeMlp } | undefined {
  let count = 0;
  let mlp: MoeMlp | undefined;
  for (const r of layerRuns(plan.model, stage.firstLayer, stage.firstLayer + stage.layers - 1)) {
    if (r.layer.mlp.kind !== 'moe') continue;
    count += r.last - r.first + 1;
    mlp = r.layer.mlp;
  }
  return mlp ? { count, mlp } : undefined;
}

/** Whether any group of `stage` along an axis of the expert grid (src/mesh.ts) spans nodes. */
export function expertGroupCrossesNodes(plan: CheckedPlan, stage: number, axis: keyof ExpertGrid): boolean {
  if (plan.experts[axis] === 1) return false;
  for (const g of expertGroupsAlong(plan.mesh, plan.experts, axis)) {
    // Every group lies in one stage; the first member says which.
    if (Math.floor(g[0]! / plan.mesh.tensor) % plan.mesh.pipeline !== stage) continue;
    const node = nodeOf(plan, g[0]!);
    if (g.some((r) => nodeOf(plan, r) !== node)) return true;
  }
  return false;
}

/**
 * Expert-parallel traffic of `tokens` tokens through the MoE layers of `stage`, on one device,
 * in `passes` pieces, with `allToAlls` all-to-alls per layer (2 forward: dispatch and combine;
 * 4 with backward, 6 with full recomputation). Each rank routes Tr = ⌈tokens / t⌉ tokens to k
 * experts, so one all-to-all sends
 *   Tr · k · h · bytes · (E − 1)/E        (E = expert; anchors §1.5, derived for uniform routing)
 * and with expert_tensor = et > 1 the received tokens are all-gathered over the expert-tensor
 * group and the outputs reduce-scattered: (et − 1)/et · et · Tr · k · h · bytes each.
 */
export function expertTraffic(
  plan: CheckedPlan,
  stage: Stage,
  tokens: number,
  elemBytes: number,
  allToAlls: number,
  passes = 1,
  into = new TrafficSum(),
): TrafficSum {
  const moe = moeLayersOf(plan, stage);
  if (!moe) return into;
  const { expert: ep, tensor: etp } = plan.experts;
  // k copies of each token, × capacity_factor when training pads to capacity (as the graph's steps: src/lower/layer.ts moeBytes).
  const dispatch = Math.ceil(Math.ceil(tokens / plan.mesh.tensor) * routedPerToken(plan, moe.mlp.topK)) * plan.model.hidden * elemBytes;
  const n = moe.count * allToAlls;
  if (ep > 1)
    into.add(
      'expert',
      linkOf(plan, expertGroupCrossesNodes(plan, stage.index, 'expert')),
      n * reduceScatterBytes(dispatch, ep),
      n * passes,
    );
  if (etp > 1)
    into.add(
      'expert',
      linkOf(plan, expertGroupCrossesNodes(plan, stage.index, 'tensor')),
      n * reduceScatterBytes(etp * dispatch, etp),
      n * passes,
    );
  return into;
}

/** Routed-expert parameters on one device of `stage`: each MoE layer's experts / (expert × expert_tensor). */
export function expertParamsOnDevice(plan: CheckedPlan, stage: Stage): number {
  let n = 0;
  for (const r of layerRuns(plan.model, stage.firstLayer, stage.firstLayer + stage.layers - 1))
    if (r.layer.mlp.kind === 'moe')
      n += ((r.last - r.first + 1) * layerParams(plan.model, r.layer).routed) / (plan.experts.expert * plan.experts.tensor);
  return n;
}

/**
 * The expert gradients' sync per step over the expert-data group (ed replicas of each expert
 * shard), as dataTraffic does for the rest over data: ZeRO-0 all-reduce 2(ed − 1)/ed · G; ZeRO ≥ 1
 * reduce-scatter G and all-gather W, (ed − 1)/ed each (Megatron-Core's expert data parallelism).
 */
export function expertDataTraffic(plan: TrainPlan, stage: Stage, params: number, into = new TrafficSum()): TrafficSum {
  const ed = plan.experts.data;
  if (ed === 1 || params === 0) return into;
  const link = linkOf(plan, expertGroupCrossesNodes(plan, stage.index, 'data'));
  const G = params * bytesPerElement(plan.gradDtype);
  const W = params * bytesPerElement(plan.precision);
  return plan.zero === 0
    ? into.add('expert_data', link, allReduceBytes(G, ed), 1)
    : into.add('expert_data', link, reduceScatterBytes(G, ed) + reduceScatterBytes(W, ed), 2);
}
