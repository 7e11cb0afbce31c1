/**
 * Communication between devices through the host: WebGPU devices cannot address
 * each other's memory, so a collective reads each member's buffer back (copy into
 * a MAP_READ staging buffer, `mapAsync`), combines on the CPU, and writes the
 * result through a MAP_WRITE staging buffer (memcpy into the mapped range, then
 * `copyBufferToBuffer` on the device's queue). That path is about twice as fast
 * as `queue.writeBuffer` on an H200 (../shared/research/webgpu-anchors.md). The
 * staging buffers are the ones the memory plan sizes (src/memory/webgpu.ts).
 */

/** A device's two staging buffers. */
export class HostStaging {
  constructor(
    readonly device: GPUDevice,
    readonly read: GPUBuffer,
    readonly write: GPUBuffer | undefined,
  ) {}

  /** `writeBytes` 0: a device that only reads back (its logits), with no upload buffer. */
  static create(device: GPUDevice, readBytes: number, writeBytes: number, label: string): HostStaging {
    return new HostStaging(
      device,
      device.createBuffer({ label: `${label} staging-read`, size: Math.max(4, readBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      writeBytes > 0 ? device.createBuffer({ label: `${label} staging-write`, size: writeBytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC }) : undefined,
    );
  }

  /** Bytes [offset, offset + bytes) of `src`, as f32 (a copy the caller owns). */
  async readF32(src: GPUBuffer, bytes: number, offset = 0): Promise<Float32Array> {
    if (bytes > this.read.size) throw new Error(`internal error: staging read of ${bytes} B exceeds its ${this.read.size} B (this is a bug in parplan)`);
    const enc = this.device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(src, offset, this.read, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await this.read.mapAsync(GPUMapMode.READ, 0, bytes);
    const out = new Float32Array(this.read.getMappedRange(0, bytes).slice(0));
    this.read.unmap();
    return out;
  }

  /** Write `data` into `dst` at `offset` through the mapped staging buffer. */
  async writeF32(dst: GPUBuffer, data: Float32Array, offset = 0): Promise<void> {
    const bytes = data.byteLength;
    if (!this.write || bytes > this.write.size) throw new Error(`internal error: staging write of ${bytes} B exceeds its ${this.write?.size ?? 0} B (this is a bug in parplan)`);
    await this.write.mapAsync(GPUMapMode.WRITE, 0, bytes);
    new Float32Array(this.write.getMappedRange(0, bytes)).set(data);
    this.write.unmap();
    const enc = this.device.createCommandEncoder({ label: 'upload' });
    enc.copyBufferToBuffer(this.write, 0, dst, offset, bytes);
    this.device.queue.submit([enc.finish()]);
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
  const parts = await Promise.all(members.map((m) => m.staging.readF32(m.buffer, bytes)));
  const sum = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    for (let j = 0; j < elements; j++) sum[j]! += p[j]!;
  }
  await Promise.all(members.map((m) => m.staging.writeF32(m.buffer, sum)));
}

/**
 * Gather each member's [rows, cols] block (row-major) into one [rows, cols × members]
 * matrix on the host (the vocabulary-parallel logits of the output layer).
 */
export async function gatherColumns(members: readonly Member[], rows: number, cols: number): Promise<Float32Array> {
  const parts = await Promise.all(members.map((m) => m.staging.readF32(m.buffer, rows * cols * 4)));
  const width = cols * members.length;
  const out = new Float32Array(rows * width);
  parts.forEach((p, r) => {
    for (let i = 0; i < rows; i++) out.set(p.subarray(i * cols, (i + 1) * cols), i * width + r * cols);
  });
  return out;
}

/** Pipeline send/recv: copy `elements` f32 from one device's buffer to another's. */
export async function sendRecv(from: Member, to: Member, elements: number): Promise<void> {
  const data = await from.staging.readF32(from.buffer, elements * 4);
  await to.staging.writeF32(to.buffer, data);
}
