/** Host-staged collectives between two WebGPU devices (lavapipe on CI). */
import { describe, expect, it } from 'vitest';
import { HostStaging, allReduceSum, gatherColumns, sendRecv, type Member } from '../../runtime/collectives.js';
import { openDevices } from '../../runtime/device.js';

async function member(device: GPUDevice, data: number[]): Promise<Member> {
  const buffer = device.createBuffer({
    size: data.length * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, new Float32Array(data));
  return { buffer, staging: HostStaging.create(device, 64, 64, 'test') };
}

describe('host-staged collectives', () => {
  it('all-reduce sums every member and leaves the sum in each; gather and send/recv move exact bytes', async () => {
    const [a, b] = await openDevices(2);
    const ma = await member(a!.device, [1, 2, 3, 4]);
    const mb = await member(b!.device, [10, 20, 30, 40]);
    await allReduceSum([ma, mb], 4);
    expect([...(await ma.staging.readF32(ma.buffer, 16))]).toEqual([11, 22, 33, 44]);
    expect([...(await mb.staging.readF32(mb.buffer, 16))]).toEqual([11, 22, 33, 44]);

    const ga = await member(a!.device, [1, 2, 3, 4]); // [2 rows, 2 cols]
    const gb = await member(b!.device, [5, 6, 7, 8]);
    expect([...(await gatherColumns([ga, gb], 2, 2))]).toEqual([1, 2, 5, 6, 3, 4, 7, 8]);

    const dst = await member(b!.device, [0, 0, 0, 0]);
    await sendRecv(ga, dst, 4);
    expect([...(await dst.staging.readF32(dst.buffer, 16))]).toEqual([1, 2, 3, 4]);
  });
});
