/**
 * The device mesh: named axes, fastest-varying first. A device's coordinates are its
 * index along each axis, and its rank numbers them in that order:
 * rank = ((data × pipeline + stage) × context + context rank) × tensor + tensor rank.
 * Context sits next to tensor, as both engines order it: Megatron-Core's RankGenerator order
 * 'tp-cp-ep-dp-pp' (megatron/core/parallel_state.py) and torchtitan's mesh
 * [pp, dp_replicate, dp_shard, cp, tp] (torchtitan/distributed/parallel_dims.py, slowest first):
 * a context group's ring exchange stays on the fast links after the tensor group's.
 *
 * A new axis (e.g. context) is a new entry in MESH_AXES: the Mesh and Coords types,
 * ranks, coordinates and groups follow from the table. Everything later may import this
 * module; it imports nothing.
 */

/** The mesh axes, fastest-varying first (the rank order): name (the plan key), what its size counts, what it splits. */
export const MESH_AXES = [
  { name: 'tensor', size: 'tensor-parallel degree', role: "splits every layer's weights and heads (Megatron tensor parallelism)" },
  {
    name: 'context',
    size: 'context-parallel degree',
    role: 'splits every sequence into chunks; attention exchanges K and V around the group (ring or all-gather)',
    // Texts that list the mesh leave it out at size 1 (most plans have none).
    quietAtOne: true,
  },
  { name: 'pipeline', size: 'pipeline stages', role: 'splits the layers into stages, run one after another' },
  {
    name: 'data',
    size: 'data-parallel replicas',
    role: 'replicates the model and splits the batch (ZeRO also splits optimizer state, gradients, weights)',
  },
] as const;

export type MeshAxis = (typeof MESH_AXES)[number]['name'];

export const MESH_AXIS_NAMES: readonly MeshAxis[] = MESH_AXES.map((a) => a.name);

/** The size of every mesh axis (1: not split along it). */
export type Mesh = Record<MeshAxis, number>;

/** A device's index along every mesh axis. */
export type Coords = Record<MeshAxis, number>;

/** One axis of a mesh, as an ordered list names it (the graph's `mesh.axes`). */
export interface AxisSize<A extends string = MeshAxis> {
  name: A;
  size: number;
}

/**
 * The mesh functions for an axis order (fastest-varying first). The plan's mesh uses
 * MESH_AXIS_NAMES (the functions exported below); tests build other orders with it.
 */
export function meshFunctions<A extends string>(order: readonly A[]) {
  const strideCache = new WeakMap<object, Readonly<Record<A, number>>>();

  /** The number of devices: the product of the axis sizes. */
  function deviceCount(mesh: Readonly<Record<A, number>>): number {
    let n = 1;
    for (const a of order) n *= mesh[a];
    return n;
  }

  /** The rank of the device at `coords`. */
  function rankOf(mesh: Readonly<Record<A, number>>, coords: Readonly<Record<A, number>>): number {
    let rank = 0;
    for (let i = order.length - 1; i >= 0; i--) rank = rank * mesh[order[i]!] + coords[order[i]!];
    return rank;
  }

  /**
   * How far apart in rank two devices are that differ by one along each axis: 1 for the
   * fastest axis, then the product of the sizes before it. rank = Σ coords[a] × strides[a],
   * and coords[a] = ⌊rank / strides[a]⌋ mod mesh[a]: for loops over many ranks, which then
   * need no coordinate objects.
   */
  function strides(mesh: Readonly<Record<A, number>>): Readonly<Record<A, number>> {
    // A mesh is a value, never changed once built: its strides are worked out once per mesh
    // object (filling a record by axis name is slow, and the cost model asks per stage).
    let out = strideCache.get(mesh);
    if (out) return out;
    const record = {} as Record<A, number>;
    let stride = 1;
    for (const a of order) {
      record[a] = stride;
      stride *= mesh[a];
    }
    out = Object.freeze(record);
    strideCache.set(mesh, out);
    return out;
  }

  /** The coordinates of the device at `rank` (the inverse of rankOf). */
  function coordsOf(mesh: Readonly<Record<A, number>>, rank: number): Record<A, number> {
    const coords = {} as Record<A, number>;
    for (const a of order) {
      coords[a] = rank % mesh[a];
      rank = Math.floor(rank / mesh[a]);
    }
    return coords;
  }

  /** Every device's coordinates, indexed by rank. */
  function ranks(mesh: Readonly<Record<A, number>>): Record<A, number>[] {
    const out = new Array<Record<A, number>>(deviceCount(mesh));
    forEachRank(mesh, (c, rank) => (out[rank] = { ...c }));
    return out;
  }

  /** Call `f` for every device in rank order with its coordinates (one object, reused: copy it to keep it). */
  function forEachRank(mesh: Readonly<Record<A, number>>, f: (coords: Readonly<Record<A, number>>, rank: number) => void): void {
    // An odometer over the axes, fastest first, on plain arrays: the memory plan calls this for every device.
    const sizes = order.map((a) => mesh[a]);
    const digits = new Array<number>(order.length).fill(0);
    const c = {} as Record<A, number>;
    for (const a of order) c[a] = 0;
    const n = deviceCount(mesh);
    for (let rank = 0; rank < n; rank++) {
      f(c, rank);
      for (let i = 0; i < sizes.length; i++) {
        const next = digits[i]! + 1;
        const wrapped = next === sizes[i];
        digits[i] = wrapped ? 0 : next;
        c[order[i]!] = digits[i]!;
        if (!wrapped) break;
      }
    }
  }

  /**
   * The index of the group along `axis` holding `coords`: the rank of the device in the
   * mesh with that axis removed (groups are numbered in rank order of their first member).
   */
  function groupIndex(mesh: Readonly<Record<A, number>>, axis: A, coords: Readonly<Record<A, number>>): number {
    // rankOf with `axis` of size 1 at coordinate 0, without building those two records (once per device and axis).
    let rank = 0;
    for (let i = order.length - 1; i >= 0; i--) if (order[i] !== axis) rank = rank * mesh[order[i]!] + coords[order[i]!];
    return rank;
  }

  /** The groups along `axis`: the ranks that differ only in that axis' coordinate, each in axis order; indexed by groupIndex. */
  function groupsAlong(mesh: Readonly<Record<A, number>>, axis: A): number[][] {
    // Member i of a group is i strides along `axis` from its first (coordinate 0): no coordinate record per member.
    const stride = strides(mesh)[axis];
    return ranks({ ...mesh, [axis]: 1 }).map((c) => {
      const first = rankOf(mesh, c);
      return Array.from({ length: mesh[axis] }, (_, i) => first + i * stride);
    });
  }

  /** The axes in order with their sizes. */
  function axesOf(mesh: Readonly<Record<A, number>>): AxisSize<A>[] {
    return order.map((name) => ({ name, size: mesh[name] }));
  }

  /** The mesh of an ordered axis list (the inverse of axesOf); throws when an axis is missing or unknown. */
  function meshOf(axes: readonly { name: string; size: number }[]): Record<A, number> {
    const mesh = {} as Record<A, number>;
    for (const a of axes) {
      if (!(order as readonly string[]).includes(a.name)) throw new Error(`unknown mesh axis '${a.name}' (axes: ${order.join(', ')})`);
      mesh[a.name as A] = a.size;
    }
    for (const a of order) if (mesh[a] === undefined) throw new Error(`mesh axis '${a}' is missing`);
    return mesh;
  }

  return { deviceCount, rankOf, strides, coordsOf, ranks, forEachRank, groupIndex, groupsAlong, axesOf, meshOf };
}

/** `tensor 2 × pipeline 4 × data 8` (context only when > 1: `tensor 2 × context 2 × pipeline 4 × data 8`). */
export function meshText(mesh: Mesh): string {
  return shownAxes(mesh)
    .map((a) => `${a} ${mesh[a]}`)
    .join(' × ');
}

/** The axes a text lists for `mesh`: every axis but a quiet one at size 1. */
export function shownAxes(mesh: Mesh): MeshAxis[] {
  return MESH_AXES.filter((a) => !('quietAtOne' in a && a.quietAtOne) || mesh[a.name] > 1).map((a) => a.name);
}

export const { deviceCount, rankOf, strides, coordsOf, ranks, forEachRank, groupIndex, groupsAlong, axesOf, meshOf } =
  meshFunctions(MESH_AXIS_NAMES);

/**
 * The expert grid of the MoE layers: how each pipeline stage's tensor × data ranks are regrouped
 * (Megatron-Core's "MoE parallel folding", megatron/core/parallel_state.py: a second
 * RankGenerator over the same ranks with tp = expert tensor, ep = expert, dp = expert data, in
 * the order tp-ep-dp-pp). tensor × expert × data = mesh.tensor × mesh.data.
 */
export interface ExpertGrid {
  /** Ranks that split each expert's width (expert tensor parallelism). */
  tensor: number;
  /** Ranks that hold different experts and exchange tokens (an all-to-all group). */
  expert: number;
  /** Replicas of each expert shard (their gradients are all-reduced). */
  data: number;
}

/** A device's place in the expert grid (each coordinate counts from 0). */
export type ExpertCoords = Record<keyof ExpertGrid, number>;

/**
 * A device's expert-grid coordinates. Its stage-local index i = data rank × tensor + tensor rank
 * (the stage's ranks in rank order) is renumbered expert tensor fastest, then expert, then
 * expert data: i = (expertData × expert + expertRank) × expertTensor + expertTensorRank.
 */
export function expertCoordsOf(mesh: Mesh, grid: ExpertGrid, rank: number): ExpertCoords {
  const c = coordsOf(mesh, rank);
  const i = c.data * mesh.tensor + c.tensor; // context = 1 with MoE (the checker refuses both, PP3059)
  return { tensor: i % grid.tensor, expert: Math.floor(i / grid.tensor) % grid.expert, data: Math.floor(i / (grid.tensor * grid.expert)) };
}

/** The rank of the device of pipeline `stage` at expert-grid coordinates `e` (the inverse of expertCoordsOf). */
export function rankOfExpert(mesh: Mesh, grid: ExpertGrid, stage: number, e: ExpertCoords): number {
  const i = (e.data * grid.expert + e.expert) * grid.tensor + e.tensor;
  return rankOf(mesh, { tensor: i % mesh.tensor, context: 0, pipeline: stage, data: Math.floor(i / mesh.tensor) });
}

/**
 * The groups of the expert grid along one of its axes, over every pipeline stage: `expert`
 * groups hold different experts and exchange tokens (the all-to-all of dispatch and combine);
 * `data` groups hold the same expert shard (the all-reduce of expert gradients); `tensor`
 * groups split one expert's width. Each group lists its ranks in that axis' order; groups are
 * numbered in rank order of their first member.
 */
export function expertGroupsAlong(mesh: Mesh, grid: ExpertGrid, axis: keyof ExpertGrid): number[][] {
  if (grid.tensor * grid.expert * grid.data !== mesh.tensor * mesh.data)
    throw new Error(
      `expert grid ${grid.tensor} × ${grid.expert} × ${grid.data} does not regroup tensor × data = ${mesh.tensor * mesh.data} ranks`,
    );
  const others = (['tensor', 'expert', 'data'] as const).filter((a) => a !== axis);
  const groups: number[][] = [];
  for (let stage = 0; stage < mesh.pipeline; stage++)
    for (let x = 0; x < grid[others[0]!]; x++)
      for (let y = 0; y < grid[others[1]!]; y++)
        groups.push(
          Array.from({ length: grid[axis] }, (_, k) =>
            rankOfExpert(mesh, grid, stage, { [others[0]!]: x, [others[1]!]: y, [axis]: k } as ExpertCoords),
          ),
        );
  return groups.sort((a, b) => a[0]! - b[0]!);
}

/** The index (into expertGroupsAlong(mesh, grid, axis)) of the group holding `rank`. */
export function expertGroupIndex(groups: readonly (readonly number[])[], rank: number): number {
  return groups.findIndex((g) => g.includes(rank));
}

/**
 * HSDP (FSDP2 hybrid sharding, torch `fully_shard` on a 2-D DeviceMesh (replicate, shard);
 * torchtitan's mesh [pp, dp_replicate, dp_shard, cp, tp], dp_shard the faster): each data group's
 * d ranks, in data order, split into d / shardGroup consecutive shard groups (data coordinate =
 * replicate index × shardGroup + shard index). `shard` groups hold one copy of the model states
 * between them (the reduce-scatters and all-gathers); `replicate` groups hold the same shard (the
 * gradient shards' all-reduce). Each group lists its ranks in that axis' order; groups are numbered
 * in rank order of their first member.
 */
export function hsdpGroupsAlong(mesh: Mesh, shardGroup: number, axis: 'shard' | 'replicate'): number[][] {
  if (shardGroup < 1 || mesh.data % shardGroup !== 0) throw new Error(`shard group ${shardGroup} does not tile data = ${mesh.data}`);
  const replicas = mesh.data / shardGroup;
  const groups: number[][] = [];
  for (const members of groupsAlong(mesh, 'data'))
    if (axis === 'shard') for (let r = 0; r < replicas; r++) groups.push(members.slice(r * shardGroup, (r + 1) * shardGroup));
    else for (let s = 0; s < shardGroup; s++) groups.push(Array.from({ length: replicas }, (_, r) => members[r * shardGroup + s]!));
  return groups.sort((a, b) => a[0]! - b[0]!);
}

/** A device's HSDP coordinates: its index in its shard group and in its replicate group. */
export function hsdpCoordsOf(coords: Coords, shardGroup: number): { shard: number; replicate: number } {
  return { shard: coords.data % shardGroup, replicate: Math.floor(coords.data / shardGroup) };
}
