/**
 * Loading the weights one device holds: for a device's mesh coordinates (tensor,
 * pipeline, data) in a `Graph`, every weight it owns — each `layer`-scoped weight once per
 * layer of its stage(s), each `stage`-scoped one once — as the bytes of its shard in
 * the format the runtime uploads (f32, f16 or bf16), one weight at a time, so the
 * runtime can upload each to the GPU and drop it. A weight larger than one storage
 * binding comes in row blocks (`rowBlocks`), each read on its own, so no more than
 * one block of it is ever in memory.
 *
 * Sources: a Hugging Face safetensors checkpoint (Llama or GPT-2; one or more
 * files, a directory or an index; see names.ts for the mapping) or `random:SEED`
 * (random.ts). Everything is validated before the first weight is produced: each
 * needed tensor present, its shape what the graph's model dimensions say, its dtype
 * convertible; all problems are reported together in one `WeightsError`.
 */
import {
  bytesPerElement,
  isTensorFormat,
  TENSOR_FORMATS,
  tensorFormatOf,
  tensorFormatOfSafetensors,
  type TensorFormat,
} from '../../src/facts/dtypes.js';
import type { Graph, GraphTensor } from '../../src/graph/types.js';
import { expertCoordsOf, hsdpCoordsOf, MESH_AXIS_NAMES, meshOf, rankOf, type Coords } from '../../src/mesh.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';
import { convertBytes } from './convert.js';
import { detectNaming, isHfArch, mappedShape, sourceFor, sourceSlice, type SourceMapping } from './names.js';
import { ProgressBar, type BarStream, type LoadProgress } from './progress.js';
import { randomRegion } from './random.js';
import { LOADABLE_DTYPES, isLoadableDtype, type OpenOptions, type SafetensorsFile, type TensorEntry } from './safetensors.js';
import { elementCount, rangesShape, shardIndex, transpose2d, type Range, type ReadOptions } from './slice.js';

export type WeightsSource = { kind: 'safetensors'; paths: string[] } | { kind: 'random'; seed: number };

/** `random:SEED`, or checkpoint paths separated by commas (files, directories, index files). */
export function parseWeightsSource(spec: string): WeightsSource {
  const m = /^random(?::(.*))?$/.exec(spec.trim());
  if (m) {
    const s = m[1] ?? '0';
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s)))
      throw new WeightsError([`random:SEED needs a non-negative integer seed, not ${JSON.stringify(s)}`]);
    return { kind: 'random', seed: Number(s) };
  }
  const paths = spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (paths.length === 0) throw new WeightsError(['no weights given: use random:SEED or safetensors paths']);
  return { kind: 'safetensors', paths };
}

export class WeightsError extends Error {
  constructor(readonly problems: string[]) {
    const shown = problems.slice(0, 20);
    super(
      problems.length === 1
        ? `cannot load weights: ${problems[0]}`
        : `cannot load weights (${problems.length} problems):\n${shown.map((p) => `  - ${p}`).join('\n')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`,
    );
    this.name = 'WeightsError';
  }
}

/** A device's index along each mesh axis (`pipeline`: its stage); an axis left out is 0 (data: only ZeRO-3 shards weights over it). */
export type DeviceCoords = Partial<Coords>;

/** One weight instance a device holds, and which part of it. */
export interface WeightShard {
  /** Instance name (`layers.3.attn.q.weight`). */
  name: string;
  /** The graph tensor (name pattern, sharding). */
  tensor: GraphTensor;
  layer?: number;
  globalShape: number[];
  /** The part of the global tensor this device holds, one range per dimension. */
  region: Range[];
  /** ZeRO-3: the device holds elements [begin, end) of the region flattened, zero-padded to `size`. */
  flat?: { begin: number; end: number; size: number };
  /** Shape of the data produced: the region's, or [flat.size]. */
  shape: number[];
  elements: number;
}

/** The weights `device` holds, in execution order (embedding, layers, final norm and head). */
export function deviceWeights(graph: Graph, device: DeviceCoords): WeightShard[] {
  const mesh = meshOf(graph.mesh.axes);
  const coords = {} as Coords;
  for (const axis of MESH_AXIS_NAMES) {
    const v = (coords[axis] = device[axis] ?? 0);
    if (!Number.isInteger(v) || v < 0 || v >= mesh[axis])
      throw new WeightsError([`device ${axis} coordinate ${v} is not in 0…${mesh[axis] - 1}`]);
  }
  const stage = coords.pipeline;
  // MoE: the device's place in the expert grid (src/mesh.ts), for tensors split over the expert axes.
  const grid = graph.mesh.experts;
  const ec = grid ? expertCoordsOf(mesh, grid, rankOf(mesh, coords)) : undefined;
  // HSDP: the device's place in its shard and replicate groups (src/mesh.ts hsdpCoordsOf), for ZeRO shards over data_shard.
  const hc = graph.mesh.hsdp ? hsdpCoordsOf(coords, graph.mesh.hsdp.shard) : undefined;
  const all: ShardCoords = {
    ...coords,
    ...(ec ? { expert: ec.expert, expert_tensor: ec.tensor, expert_data: ec.data } : {}),
    ...(hc ? { data_shard: hc.shard, data_replicate: hc.replicate } : {}),
  };
  const layers = graph.mesh.stages
    .filter((s) => s.rank === stage)
    .flatMap((s) => Array.from({ length: s.lastLayer - s.firstLayer + 1 }, (_, i) => s.firstLayer + i))
    .sort((a, b) => a - b);
  const weights = graph.tensors.filter((x) => x.role === 'weight' && x.owners.includes(stage));
  const stageW = weights.filter((x) => x.scope === 'stage');
  const before = stageW.filter((x) => x.name === 'embedding.weight' || x.name === 'positions.weight');
  const after = stageW.filter((x) => !before.includes(x));
  const out: WeightShard[] = [];
  for (const x of before) out.push(shardOf(x, x.name, undefined, all));
  for (const l of layers)
    for (const x of weights) if (x.scope === 'layer') out.push(shardOf(x, x.name.replaceAll('{l}', String(l)), l, all));
  for (const x of after) out.push(shardOf(x, x.name, undefined, all));
  return out;
}

/** A device's index along each axis a tensor may be split over: the mesh's, the expert grid's with MoE, HSDP's sub-groups of data. */
export type ShardCoords = Coords & Partial<Record<'expert' | 'expert_tensor' | 'expert_data' | 'data_shard' | 'data_replicate', number>>;

export function shardOf(tensor: GraphTensor, name: string, layer: number | undefined, coords: ShardCoords): WeightShard {
  const fail = (problem: string): never => {
    throw new WeightsError([`graph tensor ${name}: ${problem}`]);
  };
  if (!tensor.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0))
    fail(`weight shape [${tensor.shape.join(', ')}] is not concrete`);
  const globalShape = tensor.shape as number[];
  const region: Range[] = globalShape.map((n) => [0, n] as const);
  let flat: WeightShard['flat'];
  for (const s of tensor.shards) {
    if (!(s.over in coords)) fail(`split over '${s.over}', which the WebGPU runtime does not run`);
    const rank = coords[s.over as keyof typeof coords]!;
    const index = shardIndex(rank, s);
    if (index >= s.parts) fail(`shard index ${index} (rank ${rank}) is not below ${s.parts} parts`);
    if (flat !== undefined) fail('a shard after the flattened (ZeRO) shard');
    if (s.dim === -1) {
      const n = elementCount(rangesShape(region));
      const size = Math.ceil(n / s.parts);
      flat = { begin: Math.min(n, index * size), end: Math.min(n, (index + 1) * size), size };
      continue;
    }
    const [b, e] = region[s.dim] ?? fail(`shard dimension ${s.dim} is not a dimension of [${globalShape.join(', ')}]`);
    if ((e - b) % s.parts !== 0) fail(`dimension ${s.dim} (${e - b}) does not split into ${s.parts} equal parts`);
    const len = (e - b) / s.parts;
    region[s.dim] = [b + index * len, b + (index + 1) * len];
  }
  const shape = flat ? [flat.size] : rangesShape(region);
  return {
    name,
    tensor,
    ...(layer === undefined ? {} : { layer }),
    globalShape,
    region,
    ...(flat ? { flat } : {}),
    shape,
    elements: elementCount(shape),
  };
}

export interface LoadedWeight extends WeightShard {
  dtype: TensorFormat;
  /** The shard (or, with `block`, that block of its rows), row-major, little-endian, in `dtype`. */
  data: Uint8Array;
  /**
   * Present when the weight is produced in row blocks (`LoadOptions.rowBlocks`): this is
   * block `index` of `count`, rows [rows[0], rows[1]) of the shard (its first dimension,
   * counted from the shard's first row). `shape` and `elements` stay the whole shard's.
   */
  block?: { index: number; count: number; rows: Range };
  /** Where it came from (`h.0.attn.c_attn.weight[:, 0:768]ᵀ in model.safetensors`, `random:1`). */
  from: string;
}

export interface LoadOptions {
  /** Format of the data produced: f32, f16 or bf16; `source` keeps the checkpoint's. Default: the graph tensor's dtype. */
  dtype?: TensorFormat | 'source';
  /** Called after each weight. */
  onProgress?: (p: LoadProgress) => void;
  /** A bar on stderr once a load takes over a second: `auto` (default) when stderr is a terminal. */
  progress?: boolean | 'auto';
  /** Where the bar goes (default process.stderr). */
  progressStream?: BarStream;
  /** Strided-read tuning (slice.ts). */
  read?: ReadOptions;
  /** Safetensors opening options (e.g. an instrumented file). */
  open?: OpenOptions;
  /** Open the checkpoint this way instead (tests). */
  checkpoint?: Checkpoint;
  /**
   * Produce a weight as row blocks, each read (or generated) on its own: consecutive
   * ranges of its first dimension covering every row, in order. Undefined or one block:
   * the whole shard at once. (The runtime splits weights larger than one storage binding.)
   */
  rowBlocks?: (shard: WeightShard) => readonly Range[] | undefined;
  /**
   * Load checkpoint weights that hold NaN or ±Infinity (default false: refused with the
   * tensor's name and the first such element, since every logit would be NaN and every
   * generated token 0).
   */
  allowNonfinite?: boolean;
}

interface Planned {
  shard: WeightShard;
  target: TensorFormat;
  /** Bytes read (or generated) for it, for progress. */
  cost: number;
  /** The shard, or the rows [rows[0], rows[1]) of it. */
  produce: (rows?: Range) => Promise<{ data: Uint8Array; from: string }>;
}

/** One item the loader yields: a planned weight, whole or one of its row blocks. */
interface Piece {
  item: Planned;
  block?: { index: number; count: number; rows: Range };
  cost: number;
}

/**
 * The weights `device` holds, one at a time (the next is read while the caller
 * handles the current one). Throws `WeightsError` before the first weight when
 * the source does not fit the graph.
 */
export async function* loadWeights(
  graph: Graph,
  device: DeviceCoords,
  source: WeightsSource,
  options: LoadOptions = {},
): AsyncGenerator<LoadedWeight, void, undefined> {
  const shards = deviceWeights(graph, device);
  const ownCheckpoint = source.kind === 'safetensors' && options.checkpoint === undefined;
  const checkpoint =
    source.kind === 'safetensors'
      ? (options.checkpoint ?? (await openCheckpoint(source.paths, { ...options.open, ...(options.read ? { read: options.read } : {}) })))
      : undefined;
  let pending: Promise<unknown> | undefined;
  try {
    const planned = checkpoint
      ? await planCheckpoint(graph, shards, checkpoint, options)
      : planRandom(graph, shards, (source as { seed: number }).seed, options);
    const pieces = planned.flatMap((p) => piecesOf(p, options.rowBlocks?.(p.shard)));
    const tracker = progressTracker(planned, options);
    const produce = (p: Piece | undefined) => p?.item.produce(p.block?.rows);
    let next = produce(pieces[0]);
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      const { data, from } = await next!;
      next = produce(pieces[i + 1]);
      pending = next;
      next?.catch(() => undefined);
      tracker.done(piece);
      yield { ...piece.item.shard, dtype: piece.item.target, data, from, ...(piece.block ? { block: piece.block } : {}) };
    }
    pending = undefined;
    tracker.finish();
  } finally {
    if (pending) await pending.catch(() => undefined);
    if (ownCheckpoint) await checkpoint?.close();
  }
}

/** A planned weight as the pieces yielded: itself, or its row blocks (checked to cover its rows in order). */
function piecesOf(item: Planned, blocks: readonly Range[] | undefined): Piece[] {
  if (blocks === undefined || blocks.length <= 1) return [{ item, cost: item.cost }];
  const { shard } = item;
  const rows = shard.shape[0]!;
  const fail = (problem: string): never => {
    throw new WeightsError([`${shard.name}: cannot produce row blocks ${blocks.map(([b, e]) => `[${b}, ${e})`).join(' ')}: ${problem}`]);
  };
  if (shard.flat !== undefined || shard.shape.length < 2)
    fail(`only a tensor of two or more dimensions, not flattened, is split by rows (shape [${shard.shape.join(', ')}])`);
  blocks.forEach(([b, e], i) => {
    if (!Number.isInteger(b) || !Number.isInteger(e) || b !== (i === 0 ? 0 : blocks[i - 1]![1]) || e <= b)
      fail('the blocks must be consecutive, non-empty ranges of rows');
  });
  if (blocks[blocks.length - 1]![1] !== rows) fail(`the blocks must end at its last row (${rows})`);
  // whole bytes per block, adding up to the weight's exactly
  const upTo = (row: number) => Math.round((item.cost * row) / rows);
  return blocks.map((r, index) => ({ item, block: { index, count: blocks.length, rows: r }, cost: upTo(r[1]) - upTo(r[0]) }));
}

/** The shard's region narrowed to `rows` of its first dimension (relative to the region). */
function rowsOf(region: readonly Range[], rows: Range | undefined): Range[] {
  if (rows === undefined) return [...region];
  const [b] = region[0]!;
  return [[b + rows[0], b + rows[1]], ...region.slice(1)];
}

/** loadWeights with a callback: `fn` is awaited for each weight before the one after next is read. */
export async function forEachWeight(
  graph: Graph,
  device: DeviceCoords,
  source: WeightsSource,
  fn: (w: LoadedWeight) => void | Promise<void>,
  options: LoadOptions = {},
): Promise<void> {
  for await (const w of loadWeights(graph, device, source, options)) await fn(w);
}

function targetFor(shard: WeightShard, sourceDtype: TensorFormat | undefined, options: LoadOptions): TensorFormat | string {
  if (options.dtype === 'source') return sourceDtype ?? tensorFormatOf(shard.tensor.dtype) ?? 'f32';
  if (options.dtype !== undefined) return options.dtype;
  return (
    tensorFormatOf(shard.tensor.dtype) ??
    `${shard.name}: the graph's dtype ${shard.tensor.dtype} is not one the loader produces (${TENSOR_FORMATS.join(', ')}); pass a dtype`
  );
}

function planRandom(graph: Graph, shards: WeightShard[], seed: number, options: LoadOptions): Planned[] {
  const problems: string[] = [];
  const planned: Planned[] = [];
  for (const shard of shards) {
    const target = targetFor(shard, undefined, options);
    if (!isTensorFormat(target)) {
      problems.push(target);
      continue;
    }
    planned.push({
      shard,
      target,
      cost: shard.elements * bytesPerElement(target),
      produce: async (rows) => {
        const { region, cut } = readRegionOf(shard);
        const values = randomRegion(seed, shard.name, shard.globalShape, rowsOf(region, rows), graph.model);
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        return { data: convertBytes(cutFlat(bytes, cut, 4), 'f32', target), from: `random:${seed}` };
      },
    });
  }
  if (problems.length > 0) throw new WeightsError(problems);
  return planned;
}

/** The region to read for a shard, and (ZeRO) which elements of it to keep. */
function readRegionOf(shard: WeightShard): { region: Range[]; cut?: { offset: number; count: number; size: number } } {
  const { region, flat } = shard;
  if (flat === undefined) return { region };
  const count = flat.end - flat.begin;
  if (count === 0) return { region: region.map(([b]) => [b, b] as const), cut: { offset: 0, count: 0, size: flat.size } };
  if (region.length <= 1)
    return {
      region: region.length === 1 ? [[region[0]![0] + flat.begin, region[0]![0] + flat.end]] : region,
      cut: { offset: 0, count, size: flat.size },
    };
  // The rows of the region that cover the flat range.
  const inner = elementCount(rangesShape(region.slice(1)));
  const r0 = Math.floor(flat.begin / inner);
  const r1 = Math.ceil(flat.end / inner);
  const sub: Range[] = [[region[0]![0] + r0, region[0]![0] + r1], ...region.slice(1)];
  return { region: sub, cut: { offset: flat.begin - r0 * inner, count, size: flat.size } };
}

function cutFlat(bytes: Uint8Array, cut: { offset: number; count: number; size: number } | undefined, eb: number): Uint8Array {
  if (cut === undefined) return bytes;
  const out = new Uint8Array(cut.size * eb);
  out.set(bytes.subarray(cut.offset * eb, (cut.offset + cut.count) * eb));
  return out;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

async function planCheckpoint(graph: Graph, shards: WeightShard[], ck: Checkpoint, options: LoadOptions): Promise<Planned[]> {
  const model = graph.model;
  if (!isHfArch(model.arch))
    throw new WeightsError([`no Hugging Face name mapping for arch ${JSON.stringify(model.arch)} (known: llama, gpt2)`]);
  const naming = detectNaming(model.arch, ck.names);
  const scratch = new Scratch();
  const problems: string[] = [];
  const planned: Planned[] = [];
  for (const shard of shards) {
    const m = sourceFor(model, shard.name, naming);
    if (m === undefined) {
      problems.push(`graph tensor ${shard.name} has no counterpart in a ${model.arch} checkpoint`);
      continue;
    }
    // The graph and the mapping must agree (both come from the model's dimensions).
    const want = mappedShape(m);
    const g = shard.globalShape;
    const rowsOk = m.rows === undefined ? g[0] === want[0] : g[0]! >= want[0]!;
    if (g.length !== want.length || !rowsOk || g.slice(1).some((d, i) => d !== want[i + 1])) {
      problems.push(`graph tensor ${shard.name} has shape ${fmt(g)}, but the model's dimensions give ${fmt(want)} for ${m.source}`);
      continue;
    }
    if (m.experts) {
      const p = await planExperts(shard, m, ck, scratch, options, problems);
      if (p) planned.push(p);
      continue;
    }
    let located: { file: SafetensorsFile; entry: TensorEntry } | undefined;
    try {
      located = await ck.locate(m.source);
    } catch (e) {
      problems.push((e as Error).message);
      continue;
    }
    if (located === undefined) {
      const hint =
        shard.name === 'output.weight' &&
        !model.tiedEmbeddings &&
        ck.names.has(`${naming.prefix}${model.arch === 'llama' ? 'embed_tokens' : 'wte'}.weight`)
          ? ' (if the model ties its output layer to the embedding, say tied_embeddings = true in the plan)'
          : '';
      problems.push(`${m.source} (for graph tensor ${shard.name}) is not in the checkpoint ${ck.describe}${hint}`);
      continue;
    }
    const { file, entry } = located;
    const where = `${m.source} in ${file.path}`;
    if (!isLoadableDtype(entry.dtype)) {
      problems.push(
        `${where} (for graph tensor ${shard.name}) has dtype ${entry.dtype}; the loader converts ${LOADABLE_DTYPES.join(', ')}`,
      );
      continue;
    }
    const s = entry.shape;
    const rowsFit =
      s.length > 0 && m.maxSourceRows !== undefined ? s[0]! >= m.sourceShape[0]! && s[0]! <= m.maxSourceRows : s[0] === m.sourceShape[0];
    if (s.length !== m.sourceShape.length || !rowsFit || s.slice(1).some((d, i) => d !== m.sourceShape[i + 1])) {
      const range =
        m.maxSourceRows !== undefined && m.maxSourceRows > m.sourceShape[0]!
          ? ` (the first dimension may be up to ${m.maxSourceRows === Number.MAX_SAFE_INTEGER ? 'any larger size' : m.maxSourceRows})`
          : '';
      problems.push(
        `${where} (for graph tensor ${shard.name}): expected shape ${fmt(m.sourceShape)}${range}, found ${fmt(s)}${m.note ? ` — ${m.note}` : ''}`,
      );
      continue;
    }
    const sourceDtype = tensorFormatOfSafetensors(entry.dtype)!;
    const target = targetFor(shard, sourceDtype, options);
    if (!isTensorFormat(target)) {
      problems.push(target);
      continue;
    }
    const { region, cut } = readRegionOf(shard);
    const ss = sourceSlice(m, region);
    planned.push({
      shard,
      target,
      cost: elementCount(ss.readShape) * bytesPerElement(sourceDtype),
      produce: async (rows) => {
        const part = rowsOf(region, rows);
        const data = await readShard(file, m, part, cut, sourceDtype, target, scratch, options.read);
        const from = describeRead(m, sourceSlice(m, part).slice, file.path);
        if (!options.allowNonfinite) {
          const bad = firstNonfinite(data, target);
          if (bad >= 0) {
            // The element's index in the shard (rows counted from the block's first).
            const shape = rows === undefined ? shard.shape : [rows[1] - rows[0], ...shard.shape.slice(1)];
            const at = indexIn(shape, bad);
            if (rows !== undefined) at[0]! += rows[0];
            throw new WeightsError([
              `graph tensor ${shard.name} (${from}): element [${at.join(', ')}] of its shard ${fmt(shard.shape)} is ${valueAt(data, target, bad)}; the checkpoint is corrupt (allowNonfinite, or serve --allow-nonfinite, loads it anyway)`,
            ]);
          }
        }
        return { data, from };
      },
    });
  }
  if (problems.length > 0) throw new WeightsError(problems);
  return planned;
}

/**
 * A MoE expert tensor [experts, N, K]: the experts of the shard's region (its first dimension,
 * the device's expert shard) each read from its own checkpoint tensor — only the device's own
 * experts, and only their part of the other dimensions — and stacked in expert order.
 */
async function planExperts(
  shard: WeightShard,
  m: SourceMapping,
  ck: Checkpoint,
  scratch: Scratch,
  options: LoadOptions,
  problems: string[],
): Promise<Planned | undefined> {
  if (shard.flat !== undefined) {
    problems.push(`graph tensor ${shard.name}: a flattened (ZeRO) shard of stacked experts is not loaded`);
    return undefined;
  }
  const [e0, e1] = shard.region[0]!;
  const inner = shard.region.slice(1);
  const sources: { file: SafetensorsFile; source: TensorFormat; m: SourceMapping }[] = [];
  let target: TensorFormat | undefined;
  for (let e = e0; e < e1; e++) {
    const name = m.experts![e]!;
    let located: { file: SafetensorsFile; entry: TensorEntry } | undefined;
    try {
      located = await ck.locate(name);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    if (located === undefined) {
      problems.push(`${name} (expert ${e} of graph tensor ${shard.name}) is not in the checkpoint ${ck.describe}`);
      continue;
    }
    const { file, entry } = located;
    const where = `${name} in ${file.path}`;
    if (!isLoadableDtype(entry.dtype)) {
      problems.push(
        `${where} (for graph tensor ${shard.name}) has dtype ${entry.dtype}; the loader converts ${LOADABLE_DTYPES.join(', ')}`,
      );
      continue;
    }
    if (entry.shape.length !== m.sourceShape.length || entry.shape.some((d, i) => d !== m.sourceShape[i])) {
      problems.push(`${where} (for graph tensor ${shard.name}): expected shape ${fmt(m.sourceShape)}, found ${fmt(entry.shape)}`);
      continue;
    }
    const source = tensorFormatOfSafetensors(entry.dtype)!;
    const t = targetFor(shard, source, options);
    if (!isTensorFormat(t)) {
      problems.push(t);
      continue;
    }
    target = t;
    sources.push({ file, source, m: { graph: shard.name, source: name, sourceShape: m.sourceShape } });
  }
  if (target === undefined || sources.length !== e1 - e0) return undefined;
  const out = target;
  const per = elementCount(rangesShape(inner));
  return {
    shard,
    target: out,
    cost: sources.reduce((a, x) => a + per * bytesPerElement(x.source), 0),
    produce: async (rows) => {
      const [b, e] = rows ?? [0, e1 - e0];
      const eb = bytesPerElement(out);
      const data = new Uint8Array((e - b) * per * eb);
      for (let i = b; i < e; i++) {
        const x = sources[i]!;
        data.set(await readShard(x.file, x.m, inner, undefined, x.source, out, scratch, options.read), (i - b) * per * eb);
      }
      if (!options.allowNonfinite) {
        const bad = firstNonfinite(data, out);
        if (bad >= 0)
          throw new WeightsError([
            `graph tensor ${shard.name}: expert ${e0 + b + Math.floor(bad / per)} (${sources[b + Math.floor(bad / per)]!.m.source}) holds ${valueAt(data, out, bad)}; the checkpoint is corrupt (allowNonfinite, or serve --allow-nonfinite, loads it anyway)`,
          ]);
      }
      const from = `${m.experts![e0 + b]} … ${m.experts![e0 + e - 1]} stacked (${sources[0]!.file.path})`;
      return { data, from };
    },
  };
}

/**
 * Read a region of a graph tensor (graph layout, one range per dimension) from its
 * checkpoint tensor: only the source bytes it needs, transposed if the mapping says
 * so, with zero rows for the vocabulary padding. Bytes in the source dtype.
 */
export async function readMapped(
  file: SafetensorsFile,
  m: SourceMapping,
  region: readonly Range[],
  sourceDtype: TensorFormat,
  read?: ReadOptions,
): Promise<Uint8Array> {
  return readShard(file, m, region, undefined, sourceDtype, sourceDtype, new Scratch(), read);
}

/**
 * Reusable buffers for the intermediate steps of producing a shard (the bytes as
 * read before a transpose or conversion, the transposed bytes before a
 * conversion): one shard is produced at a time, and fresh memory is costly (page
 * faults), so only the final bytes handed to the caller are newly allocated.
 */
class Scratch {
  private readonly slots: (ArrayBuffer | undefined)[] = [];
  get(slot: number, bytes: number): Uint8Array {
    let b = this.slots[slot];
    if (b === undefined || b.byteLength < bytes) this.slots[slot] = b = new ArrayBuffer(bytes);
    return new Uint8Array(b, 0, bytes);
  }
}

/** A shard in the target format: read, transpose, pad, cut, convert — intermediates in `scratch`. */
async function readShard(
  file: SafetensorsFile,
  m: SourceMapping,
  region: readonly Range[],
  cut: { offset: number; count: number; size: number } | undefined,
  source: TensorFormat,
  target: TensorFormat,
  scratch: Scratch,
  read?: ReadOptions,
): Promise<Uint8Array> {
  const eb = bytesPerElement(source);
  const ss = sourceSlice(m, region);
  const n = elementCount(ss.readShape) * eb;
  const full = elementCount(rangesShape(region)) * eb;
  const pad = n < full;
  const convert = source !== target;
  // Each step writes a fresh buffer only if it is the last one.
  const raw = ss.transpose || pad || cut || convert ? scratch.get(0, n) : new Uint8Array(n);
  await file.readSliceInto(m.source, ss.slice, raw, read);
  let bytes = raw;
  if (ss.transpose)
    bytes = transpose2d(raw, ss.readShape[0]!, ss.readShape[1]!, eb, pad || cut || convert ? scratch.get(1, n) : new Uint8Array(n));
  if (pad) {
    const padded = new Uint8Array(full);
    padded.set(bytes);
    bytes = padded;
  }
  if (cut) bytes = cutFlat(bytes, cut, eb);
  return convert ? convertBytes(bytes, source, target) : bytes;
}

/** Index of the first NaN or ±Infinity in `bytes` of `format`, or -1. */
export function firstNonfinite(bytes: Uint8Array, format: TensorFormat): number {
  if (format === 'f32') {
    const src = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
    const v = new Float32Array(src.buffer, src.byteOffset, src.byteLength >> 2);
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return i;
    return -1;
  }
  // Half formats: the exponent bits all set is Infinity or NaN.
  const mask = format === 'f16' ? 0x7c00 : 0x7f80;
  for (let i = 0; i + 1 < bytes.length; i += 2) if (((bytes[i]! | (bytes[i + 1]! << 8)) & mask) === mask) return i / 2;
  return -1;
}

/** The row-major multi-index of flat element `i` of `shape`. */
function indexIn(shape: readonly number[], i: number): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return out;
}

function valueAt(bytes: Uint8Array, format: TensorFormat, i: number): string {
  if (format === 'f32') return String(new DataView(bytes.buffer, bytes.byteOffset).getFloat32(i * 4, true));
  const h = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
  const mantissa = format === 'f16' ? h & 0x3ff : h & 0x7f;
  return mantissa !== 0 ? 'NaN' : h & 0x8000 ? '-Infinity' : 'Infinity';
}

function describeRead(m: SourceMapping, slice: Range[], path: string): string {
  const whole = slice.every(([b, e], i) => b === 0 && e === m.sourceShape[i]);
  const s = whole ? '' : `[${slice.map(([b, e], i) => (b === 0 && e === m.sourceShape[i] ? ':' : `${b}:${e}`)).join(', ')}]`;
  return `${m.source}${s}${m.transpose ? 'ᵀ' : ''} in ${path}`;
}

function progressTracker(planned: Planned[], options: LoadOptions) {
  const start = Date.now();
  const total = planned.reduce((a, p) => a + p.cost, 0);
  let done = 0;
  let count = 0;
  const stream = options.progressStream ?? process.stderr;
  const show = options.progress === true || ((options.progress ?? 'auto') === 'auto' && stream.isTTY === true);
  const bar = show ? new ProgressBar({ stream }) : undefined;
  const snapshot = (current?: string): LoadProgress => {
    const elapsedMs = Date.now() - start;
    return {
      bytesDone: done,
      bytesTotal: total,
      tensorsDone: count,
      tensorsTotal: planned.length,
      elapsedMs,
      bytesPerSecond: elapsedMs > 0 ? (done * 1000) / elapsedMs : 0,
      ...(current ? { current } : {}),
    };
  };
  return {
    done(p: Piece) {
      // A weight in row blocks counts as one tensor, done with its last block.
      done += p.cost;
      if (p.block === undefined || p.block.index === p.block.count - 1) count++;
      const s = snapshot(p.item.shard.name);
      options.onProgress?.(s);
      bar?.update(s);
    },
    finish() {
      bar?.finish(snapshot());
    },
  };
}
