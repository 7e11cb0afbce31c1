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

/** Pipeline send/recv: copy `elements` f32 from one device's buffer to another's. */
export async function sendRecv(from: Member, to: Member, elements: number): Promise<void> {
  const data = await from.staging.readF32(from.buffer, elements * 4, 0, 'send');
  await to.staging.writeF32(to.buffer, data, 0, 'recv');
}
