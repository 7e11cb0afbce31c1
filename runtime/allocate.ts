/**
 * Allocating one device's buffers: exactly what the memory plan sized for the
 * webgpu engine (src/memory/webgpu.ts) plus the weights and KV cache the graph
 * assigns to the device. Limits are checked first: a weight larger than one storage
 * binding is split into row blocks, a layer's KV cache into blocks of slots (split.ts);
 * anything else that does not fit a buffer or a binding is refused, before anything
 * is allocated, with its name, its size, the limit and what to change.
 */
import { bytesPerElement, tensorFormatOf } from '../src/facts/dtypes.js';
import { exactBytes } from '../src/format.js';
import type { Graph, GraphDevice } from '../src/graph/types.js';
import { uniformGqaLayer } from '../src/model.js';
import type { RankDevice } from './device.js';
import { bufferBytes, splitRows, splitSlots, type KvCacheTensor } from './split.js';
import { deviceWeights } from './weights/load.js';
import type { Range } from './weights/slice.js';

export class AllocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** A device's allocated bytes against its memory plan (`Runtime.memoryReport()`, `Trainer.memoryReport()`: the peak during steps). */
export interface MemoryReportRow {
  rank: number;
  allocatedBytes: number;
  /** The memory plan's total for this device. */
  planBytes: number;
  /** allocated / plan. */
  ratio: number;
}

export const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** The most bytes one storage binding may cover on a device, and where that limit comes from. */
export interface BindingLimit {
  bytes: number;
  /** e.g. "this adapter's maxStorageBufferBindingSize of 134,217,728 B (llvmpipe …)". */
  source: string;
}

/**
 * The binding limit of `rd`: the adapter's maxStorageBufferBindingSize, or
 * `maxBindingBytes` when that is lower (an emulated smaller adapter; never raised).
 */
export function bindingLimit(rd: RankDevice, maxBindingBytes?: number): BindingLimit {
  const adapter = rd.limits.maxStorageBufferBindingSize;
  if (maxBindingBytes !== undefined && (!Number.isSafeInteger(maxBindingBytes) || maxBindingBytes < 4)) {
    throw new RangeError(`maxBindingBytes must be an integer of at least 4 bytes, got ${String(maxBindingBytes)}`);
  }
  if (maxBindingBytes !== undefined && maxBindingBytes < adapter) {
    const bytes = maxBindingBytes - (maxBindingBytes % 4);
    return {
      bytes,
      source: `the emulated binding limit (maxBindingBytes) of ${exactBytes(bytes)}, below this adapter's ${exactBytes(adapter)}`,
    };
  }
  return { bytes: adapter, source: `this adapter's maxStorageBufferBindingSize of ${exactBytes(adapter)} (${rd.description})` };
}

/** How one device's weights are laid out over bindings: instance name → row blocks (one block: not split). */
export type WeightBlocks = Map<string, Range[]>;

/** How one device's tensors are laid out over bindings. */
export interface BindingPlan {
  weights: WeightBlocks;
  /** The slot blocks of every layer's KV cache (one block: not split). */
  kvSlots: Range[];
}

type Region = NonNullable<Graph['buffers']>[string][number];

/**
 * Check every buffer of one device against its limits before allocating anything, and
 * plan the row blocks of the weights and the slot blocks of the KV cache larger than
 * one binding. Throws one AllocationError listing every buffer that cannot be made to
 * fit (and, as an internal error, when the buffers would exceed the memory plan, which
 * sizes them).
 */
export function planBindings(rd: RankDevice, dev: GraphDevice, graph: Graph, regions: readonly Region[], limit: BindingLimit): BindingPlan {
  const { maxBufferSize } = rd.limits;
  const problems: string[] = [];
  const blocks: WeightBlocks = new Map();
  let total = 0;
  for (const w of deviceWeights(graph, dev.coords)) {
    const dtype = tensorFormatOf(w.tensor.dtype);
    if (dtype === undefined) continue; // the loader refuses it, with the tensor's name
    const split = splitRows({ name: w.name, shape: w.shape, elementBytes: bytesPerElement(dtype) }, limit.bytes);
    if (split.ok) blocks.set(w.name, split.blocks);
    else
      problems.push(
        `weight ${split.problem}: ${limit.source}; use a larger tensor degree (row-parallel weights get shorter rows) or a device with a larger binding limit`,
      );
    total += split.ok ? bufferBytes(w.elements * bytesPerElement(dtype)) : 0;
  }
  const kvHalf = kvLayerBytes(graph) / 2;
  const kv = splitSlots(kvCacheTensor(graph), limit.bytes);
  if (!kv.ok) problems.push(`${kv.problem}: ${limit.source}; ${kvAdvice(graph, kvHalf, limit.bytes)}`);
  const layers = graph.mesh.stages.filter((s) => s.rank === dev.coords.pipeline).reduce((n, s) => n + s.lastLayer - s.firstLayer + 1, 0);
  total += kvHalf * 2 * layers;
  for (const r of regions) {
    total += r.bytes;
    if (r.name === 'uniforms') continue; // the kernel runner's pool of small uniform buffers
    if (r.name === 'staging-read' || r.name === 'staging-write' || r.name === 'extra') {
      // Mapped or unbound buffers: only the buffer size limit applies.
      if (r.bytes > maxBufferSize)
        problems.push(
          `the ${r.name} buffer needs ${exactBytes(r.bytes)}, more than this adapter's maxBufferSize of ${exactBytes(maxBufferSize)} (${rd.description}); ${activationAdvice(graph, r, maxBufferSize)}`,
        );
      continue;
    }
    if (bufferBytes(r.bytes) > limit.bytes)
      problems.push(
        `the ${r.name} buffer needs ${exactBytes(r.bytes)}, more than one binding: ${limit.source}; activation buffers are bound whole: ${activationAdvice(graph, r, limit.bytes)}`,
      );
  }
  if (problems.length > 0) {
    throw new AllocationError(
      problems.length === 1
        ? `rank ${dev.rank}: ${problems[0]}`
        : `rank ${dev.rank}: ${problems.length} buffers do not fit:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  if (total > dev.memory.total * 1.01 + 1) {
    throw new AllocationError(
      `internal error: rank ${dev.rank} would allocate ${total} B, more than its memory plan of ${dev.memory.total} B (this is a bug in parplan)`,
    );
  }
  return { weights: blocks, kvSlots: kv.ok ? kv.blocks : [] };
}

/** What to change so that an activation or workspace buffer fits `limit` bytes. */
function activationAdvice(graph: Graph, r: Region, limit: number): string {
  const b = graph.batch!;
  if (r.name === 'logits' || r.name === 'next') {
    const fit = Math.floor((limit * b.maxBatch) / r.bytes);
    return `it holds max_batch = ${b.maxBatch} rows${fit >= 1 ? `; max_batch = ${fit} fits` : ''}, and a larger tensor degree shards its vocabulary`;
  }
  if (r.name === 'rope' || r.name === 'extra') return `lower ${r.name === 'rope' ? "the model's max_seq" : "the plan's workspace"}`;
  const T = Math.max(b.maxPrefillTokens, b.maxBatch);
  const fit = Math.floor((limit * T) / r.bytes);
  const sharded = ['q', 'k', 'v', 'attn', 'up', 'gate'].includes(r.name) ? ', or use a larger tensor degree' : '';
  return `it holds max(max_prefill_tokens, max_batch) = ${T} tokens; ${fit >= 1 ? `lower both to at most ${fit}` : 'lower max_prefill_tokens and max_batch'}${sharded}`;
}

/** What to change so that one slot's K (or V) of a layer fits a binding (more slots are split into blocks). */
function kvAdvice(graph: Graph, half: number, limit: number): string {
  const b = graph.batch!;
  const perSlot = half / b.maxBatch;
  const seq = Math.floor((limit / perSlot) * b.seq);
  return `${seq >= 1 ? `lower seq (now ${b.seq}) to at most ${seq}` : 'lower seq'}, or use a larger tensor degree (which shards the KV heads)`;
}

function kvTensor(graph: Graph) {
  const kv = graph.tensors.find((t) => t.name === 'kv.{l}');
  if (!kv) throw new Error('internal error: serving graph without a KV cache tensor (this is a bug in parplan)');
  return kv;
}

/** Bytes of one layer's KV cache on a device: K and V for every slot and position. */
export function kvLayerBytes(graph: Graph): number {
  return kvTensor(graph).bytes;
}

/** One layer's K (or V) cache on a device: [slots, seq, kvHeads per rank, headDim]. */
export function kvCacheTensor(graph: Graph): KvCacheTensor {
  const kv = kvTensor(graph);
  const slots = graph.batch!.maxBatch;
  const seq = graph.batch!.seq;
  const kvHeads = Number(kv.shape[3]) / (kv.shards[0]?.parts ?? 1);
  // `kv.{l}` has one shape for every layer.
  const headDim = uniformGqaLayer(graph.model, 'the KV cache').attention.headDim;
  return { name: kv.name, slots, seq, kvHeads, headDim, elementBytes: kv.bytes / (2 * slots * seq * kvHeads * headDim) };
}
