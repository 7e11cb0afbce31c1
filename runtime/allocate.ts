/**
 * Allocating one device's buffers: exactly what the memory plan sized for the
 * webgpu engine (src/memory/webgpu.ts) plus the weights and KV cache the graph
 * assigns to the device. Limits are checked first, and a tensor that does not fit a
 * buffer or a binding is refused with its name, size and the limit.
 */
import type { Graph, GraphDevice } from '../src/graph/types.js';
import type { RankDevice } from './device.js';

export class AllocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AllocationError';
  }
}

export const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Refuse to start before allocating anything when a buffer would break a device limit. */
export function checkLimits(rd: RankDevice, dev: GraphDevice, buffers: { name: string; bytes: number }[]): void {
  const { maxBufferSize, maxStorageBufferBindingSize } = rd.limits;
  for (const b of buffers) {
    if (b.bytes > maxBufferSize) {
      throw new AllocationError(`rank ${dev.rank}: ${b.name} needs ${b.bytes.toLocaleString('en-US')} B, more than this adapter's maxBufferSize of ${maxBufferSize.toLocaleString('en-US')} B (${rd.description}); split the model over more tensor ranks`);
    }
    if (b.bytes > maxStorageBufferBindingSize) {
      throw new AllocationError(
        `rank ${dev.rank}: ${b.name} needs ${b.bytes.toLocaleString('en-US')} B, more than this adapter's maxStorageBufferBindingSize of ${maxStorageBufferBindingSize.toLocaleString('en-US')} B (${rd.description}); splitting one tensor over several bindings is not implemented yet: use a larger tensor degree`,
      );
    }
  }
  const total = buffers.reduce((a, b) => a + b.bytes, 0);
  if (total > dev.memory.total * 1.01 + 1) {
    throw new AllocationError(`internal error: rank ${dev.rank} would allocate ${total} B, more than its memory plan of ${dev.memory.total} B (this is a bug in parplan)`);
  }
}

/** Bytes of one layer's KV cache on a device: K and V for every slot and position. */
export function kvLayerBytes(graph: Graph): number {
  const kv = graph.tensors.find((t) => t.name === 'kv.{l}');
  if (!kv) throw new Error('internal error: serving graph without a KV cache tensor (this is a bug in parplan)');
  return kv.bytes;
}


