import { describe, expect, it } from 'vitest';
import { CATEGORIES, memoryPlan, usableBytes } from '../../src/memory/index.js';
import { GiB, llama2_7b, llama3_8b, servePlan, trainPlan } from './fixtures.js';

describe('memoryPlan: devices, ranks, nodes, capacity', () => {
  it('every device in rank order: rank = (dataRank × pipeline + stage) × tensor + tensorRank', () => {
    const plan = trainPlan(llama2_7b, { tensor: 2, pipeline: 2, data: 4, microbatches: 4, gpusPerNode: 4 });
    const m = memoryPlan(plan);
    expect(m.devices).toHaveLength(16);
    m.devices.forEach((d, i) => {
      expect(d.rank).toBe(i);
      expect(d.tensorRank).toBe(i % 2);
      expect(d.stage).toBe(Math.floor(i / 2) % 2);
      expect(d.dataRank).toBe(Math.floor(i / 4));
      expect(d.node).toBe(Math.floor(i / 4)); // 4 GPUs per node
    });
    const d13 = m.devices[13]!; // (3 × 2 + 0) × 2 + 1
    expect([d13.dataRank, d13.stage, d13.tensorRank, d13.node]).toEqual([3, 0, 1, 3]);
  });

  it('node = ⌊rank / gpus_per_node⌋ with 8 per node', () => {
    const plan = trainPlan(llama2_7b, { tensor: 4, pipeline: 2, data: 3, gpusPerNode: 8 });
    expect(memoryPlan(plan).devices.map((d) => d.node)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
  });

  it('totals are the sum of the breakdown; data replicas are identical; why for every category', () => {
    const plan = trainPlan(llama3_8b, { tensor: 2, pipeline: 4, data: 2, microbatches: 8, zero: 1 });
    const m = memoryPlan(plan);
    expect(m.params).toBe(8_030_261_248);
    for (const d of m.devices) {
      expect(d.totalBytes).toBe(CATEGORIES.reduce((s, c) => s + d.breakdown[c], 0));
      for (const c of CATEGORIES) {
        expect(Number.isInteger(d.breakdown[c])).toBe(true);
        expect(d.why[c].startsWith(`${c}:`)).toBe(true);
      }
      const twin = m.devices[d.rank % 8]!; // data replica 0
      expect(d.breakdown).toEqual(twin.breakdown);
      expect(d.params).toBe(twin.params);
    }
    // replicas share one frozen breakdown: no device can change another's numbers
    expect(m.devices[8]!.breakdown).toBe(m.devices[0]!.breakdown);
    expect(() => {
      m.devices[0]!.breakdown.weights = -1;
    }).toThrow(TypeError);
    expect(m.devices[8]!.breakdown.weights).not.toBe(-1);
  });

  it('usable = ⌊capacity × (1 − reserve)⌋, ignoring floating-point noise', () => {
    expect(usableBytes(85_520_809_984, 0.1)).toBe(76_968_728_985);
    expect(usableBytes(1000, 0)).toBe(1000);
    expect(usableBytes(100, 0.9)).toBe(10); // 100 × (1 − 0.9) = 9.999999999999998 in floating point
    expect(usableBytes(1001, 0.5)).toBe(500);
  });

  it('capacity and GPU name come from the cluster', () => {
    const custom = { ...trainPlan(llama2_7b).cluster.gpu, id: 'my-gpu', memoryBytes: 24 * GiB };
    const plan = servePlan(llama2_7b, { gpu: custom, reserve: 0.25 });
    const d = memoryPlan(plan).devices[0]!;
    expect(d.gpu).toBe('my-gpu');
    expect(d.capacityBytes).toBe(24 * GiB);
    expect(d.usableBytes).toBe(18 * GiB);
  });

  it('lists all 3072 devices of a large mesh in rank order; data replicas of a device are identical', () => {
    // (Speed is measured by bench/check.ts, not asserted here.)
    const big = trainPlan(llama3_8b, { tensor: 8, pipeline: 16, data: 24, microbatches: 64, schedule: 'interleaved', virtual: 2, zero: 1 });
    const devices = memoryPlan(big).devices;
    expect(devices).toHaveLength(3072);
    expect(devices.map((d) => d.rank)).toEqual(devices.map((_, i) => i));
    const perReplica = 8 * 16;
    for (const d of devices.slice(perReplica, 2 * perReplica)) expect(d.breakdown).toEqual(devices[d.rank - perReplica]!.breakdown);
  });
});
