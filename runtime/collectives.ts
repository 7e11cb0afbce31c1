/**
 * Communication between devices through the host: WebGPU devices cannot address
 * each other's memory, so a collective reads each member's buffer back (copy into
 * a MAP_READ staging buffer, `mapAsync`), combines on the CPU, and writes the
 * result through a MAP_WRITE staging buffer (memcpy into the mapped range, then
 * `copyBufferToBuffer` on the device's queue). That path is about twice as fast
 * as `queue.writeBuffer` on an H200 (../shared/research/webgpu-anchors.md). The
 * staging buffers are the ones the memory plan sizes (src/memory/webgpu.ts).
 *
 * Overlap: every member's readback is submitted and mapped before any is awaited,
 * so the devices' queued compute and their copies proceed together; and the upload
 * buffer is mapped again as soon as its copy is submitted (`mapAhead`), so that wait
 * overlaps the device's next compute instead of delaying the next collective.
 */
import { beginSpan, type DeviceTrace } from './trace.js';

/** A device's two staging buffers. */
export class HostStaging {
  /** Resolves when the upload buffer is mapped for writing again (mapAhead only). */
  private writeMapped: Promise<void> = Promise.resolve();
  private reading = false;
  private writing = false;
  /** Where this device's spans go (RuntimeOptions.trace). */
  trace: DeviceTrace | undefined;

  constructor(
    readonly device: GPUDevice,
    readonly read: GPUBuffer,
    readonly write: GPUBuffer | undefined,
    /** The upload buffer is kept mapped between uses (created mapped, re-mapped after each copy). */
    readonly mapAhead = true,
  ) {}

  /** `writeBytes` 0: a device that only reads back (its logits), with no upload buffer. */
  static create(device: GPUDevice, readBytes: number, writeBytes: number, label: string, mapAhead = true): HostStaging {
    return new HostStaging(
      device,
      device.createBuffer({
        label: `${label} staging-read`,
        size: Math.max(4, readBytes),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
      writeBytes > 0
        ? device.createBuffer({
            label: `${label} staging-write`,
            size: writeBytes,
            usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
            mappedAtCreation: mapAhead,
          })
        : undefined,
      mapAhead,
    );
  }

  /** Bytes [offset, offset + bytes) of `src`, as f32 (a copy the caller owns). */
  async readF32(src: GPUBuffer, bytes: number, offset = 0, label = 'readback'): Promise<Float32Array> {
    if (bytes > this.read.size)
      throw new Error(`internal error: staging read of ${bytes} B exceeds its ${this.read.size} B (this is a bug in parplan)`);
    if (this.reading) throw new Error('internal error: two readbacks through one staging buffer at once (this is a bug in parplan)');
    this.reading = true;
    const end = beginSpan(this.trace, 'readback', label);
    try {
      const enc = this.device.createCommandEncoder({ label: 'readback' });
      enc.copyBufferToBuffer(src, offset, this.read, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await this.read.mapAsync(GPUMapMode.READ, 0, bytes);
      const out = new Float32Array(this.read.getMappedRange(0, bytes).slice(0));
      this.read.unmap();
      return out;
    } finally {
      this.reading = false;
      end();
    }
  }

  /** Write `data` into `dst` at `offset` through the mapped staging buffer. */
  async writeF32(dst: GPUBuffer, data: Float32Array, offset = 0, label = 'upload'): Promise<void> {
    const bytes = data.byteLength;
    const write = this.write;
    if (!write || bytes > write.size)
      throw new Error(`internal error: staging write of ${bytes} B exceeds its ${write?.size ?? 0} B (this is a bug in parplan)`);
    if (this.writing) throw new Error('internal error: two uploads through one staging buffer at once (this is a bug in parplan)');
    this.writing = true;
    try {
      const wait = beginSpan(this.trace, 'map-write', label);
      try {
        if (this.mapAhead) await this.writeMapped;
        else await write.mapAsync(GPUMapMode.WRITE, 0, bytes);
      } finally {
        wait();
      }
      const end = beginSpan(this.trace, 'upload', label);
      new Float32Array(write.getMappedRange(0, bytes)).set(data);
      write.unmap();
      const enc = this.device.createCommandEncoder({ label: 'upload' });
      enc.copyBufferToBuffer(write, 0, dst, offset, bytes);
      this.device.queue.submit([enc.finish()]);
      if (this.mapAhead) this.mapWriteAhead(write);
      end();
    } finally {
      this.writing = false;
    }
  }

  /** Map the upload buffer again now: it resolves once the copy just submitted has run. */
  private mapWriteAhead(write: GPUBuffer): void {
    const mapped = write.mapAsync(GPUMapMode.WRITE);
    // A device destroyed with the map pending rejects it; the next write (if any) reports that.
    mapped.catch(() => {});
    this.writeMapped = mapped;
  }
}

export interface Member {
  staging: HostStaging;
  buffer: GPUBuffer;
}

/** Sum `elements` f32 of every member's buffer and leave the sum in each (all-reduce). */
export async function allReduceSum(members: readonly Member[], elements: number): Promise<void> {
  if (members.length < 2) return;
  const bytes = elements * 4;
  const parts = await Promise.all(members.map((m) => m.staging.readF32(m.buffer, bytes, 0, 'all-reduce')));
  const end = beginSpan(members[0]!.staging.trace, 'reduce', 'all-reduce');
  const sum = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    for (let j = 0; j < elements; j++) sum[j]! += p[j]!;
  }
  end();
  await Promise.all(members.map((m) => m.staging.writeF32(m.buffer, sum, 0, 'all-reduce')));
}

/**
 * Gather each member's [rows, cols] block (row-major) into one [rows, cols × members]
 * matrix on the host (the vocabulary-parallel logits of the output layer).
 */
export async function gatherColumns(members: readonly Member[], rows: number, cols: number): Promise<Float32Array> {
  const parts = await Promise.all(members.map((m) => m.staging.readF32(m.buffer, rows * cols * 4, 0, 'logits')));
  const end = beginSpan(members[0]!.staging.trace, 'reduce', 'logits');
  const width = cols * members.length;
  const out = new Float32Array(rows * width);
  parts.forEach((p, r) => {
    for (let i = 0; i < rows; i++) out.set(p.subarray(i * cols, (i + 1) * cols), i * width + r * cols);
  });
  end();
  return out;
}

/** What a MoE exchange needs of a device: its buffers, its tensor rank's token slice and the experts it holds. */
export interface MoeMember {
  member(name: string): Member;
  readonly ops: { tokenSlice(n: number): [number, number]; heldExperts(): [number, number] };
}

/**
 * A MoE layer's token exchange among the tensor ranks of one stage (the runtime runs MoE where
 * expert × expert_tensor = tensor: the expert grid of a replica is its tensor group), through
 * the host. Rows are (token, choice) pairs, row t·k + j, numbered over the whole pass.
 *
 * - `dispatch` (the all-to-all over expert and the all-gather over expert_tensor): each rank's
 *   router wrote the rows of its token slice (routes and dispatch); every rank receives every
 *   row, and its expert kernels compute the rows routed to the experts it holds. This moves
 *   the rows to all ranks rather than to their experts' alone: simpler, and the same result.
 * - `y` (the reduce-scatter over expert_tensor and the all-to-all back over expert): row r's
 *   output is the sum of the partial outputs of the ranks holding its expert (one rank, or its
 *   expert-tensor group with each a slice of the expert's width); every rank receives every row.
 * - `hidden` (the all-gather over tensor after the combine): each rank's token slice of the
 *   residual stream to every rank.
 */
export async function moeExchange(
  devices: readonly MoeMember[],
  tensor: 'dispatch' | 'y' | 'hidden',
  n: number,
  graph: { model: { hidden: number; layer: { mlp: { kind: string; topK?: number } } } },
): Promise<void> {
  if (devices.length < 2) return;
  const h = graph.model.hidden;
  const k = graph.model.layer.mlp.topK ?? 1;
  const slices = devices.map((d) => d.ops.tokenSlice(n));
  const readRows = (d: MoeMember, name: string, [lo, hi]: [number, number], width: number) =>
    d.member(name).staging.readF32(d.member(name).buffer, (hi - lo) * width * 4, lo * width * 4, `moe ${name}`);
  const writeAll = (name: string, data: Float32Array) =>
    Promise.all(devices.map((d) => d.member(name).staging.writeF32(d.member(name).buffer, data, 0, `moe ${name}`)));
  if (tensor === 'hidden') {
    const full = new Float32Array(n * h);
    for (const [i, d] of devices.entries())
      if (slices[i]![1] > slices[i]![0]) full.set(await readRows(d, 'hidden', slices[i]!, h), slices[i]![0] * h);
    await writeAll('hidden', full);
    return;
  }
  if (tensor === 'dispatch') {
    const routes = new Float32Array(n * k * 2);
    const rows = new Float32Array(n * k * h);
    for (const [i, d] of devices.entries()) {
      const [lo, hi] = slices[i]!;
      if (hi === lo) continue;
      routes.set(await readRows(d, 'routes', [lo * k, hi * k], 2), lo * k * 2);
      rows.set(await readRows(d, 'dispatch', [lo * k, hi * k], h), lo * k * h);
    }
    await writeAll('routes', routes);
    await writeAll('dispatch', rows);
    return;
  }
  // y: every rank holds the routes of every row (the dispatch exchange wrote them).
  const d0 = devices[0]!;
  const experts = new Uint32Array((await readRows(d0, 'routes', [0, n * k], 2)).buffer);
  const out = new Float32Array(n * k * h);
  for (const d of devices) {
    const [e0, e1] = d.ops.heldExperts();
    const y = await readRows(d, 'y', [0, n * k], h);
    for (let r = 0; r < n * k; r++) {
      const e = experts[2 * r]!;
      if (e < e0 || e >= e1) continue;
      for (let c = 0; c < h; c++) out[r * h + c]! += y[r * h + c]!;
    }
  }
  await writeAll('y', out);
}

/** Pipeline send/recv: copy `elements` f32 from one device's buffer to another's. */
export async function sendRecv(from: Member, to: Member, elements: number): Promise<void> {
  const data = await from.staging.readF32(from.buffer, elements * 4, 0, 'send');
  await to.staging.writeF32(to.buffer, data, 0, 'recv');
}
