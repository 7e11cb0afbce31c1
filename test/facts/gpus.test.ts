/**
 * The GPU catalog against its sources: driver capacities, datasheet peaks (dense = half of a
 * "with sparsity" figure; per-GPU = a system figure over its GPU count), and the invariants
 * every entry keeps.
 */
import { describe, expect, it } from 'vitest';
import { GPUS, GPU_IDS, findGpu } from '../../src/facts/gpus.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const all = Object.values(GPUS);

describe('GPU catalog: memory as the driver reports it', () => {
  it('every entry names its source, and the bytes follow from it', () => {
    for (const g of all) {
      const smi = /^nvidia-smi memory\.total = (\d+) MiB$/.exec(g.memorySource);
      const rocm = /^rocm-smi VRAM Total Memory = (\d+) B$/.exec(g.memorySource);
      const sheet = /^datasheet .*, taken as (\d+) GiB; driver figure unverified$/.exec(g.memorySource);
      expect(smi ?? rocm ?? sheet, `${g.id}: ${g.memorySource}`).not.toBeNull();
      if (smi) expect(g.memoryBytes, g.id).toBe(Number(smi[1]) * MiB);
      if (rocm) expect(g.memoryBytes, g.id).toBe(Number(rocm[1]));
      if (sheet) expect(g.memoryBytes, g.id).toBe(Number(sheet[1]) * GiB);
    }
  });

  it('is at most the marketing figure (read as GiB) and within 7% of it', () => {
    for (const g of all) {
      const gb = Number(/(\d+)GB/.exec(g.name)![1]);
      expect(g.memoryBytes, g.id).toBeLessThanOrEqual(gb * GiB);
      expect(g.memoryBytes, g.id).toBeGreaterThan(0.93 * gb * GiB);
    }
  });

  it('the new entries carry the nvidia-smi figures of public logs', () => {
    // memory.total as printed by nvidia-smi on each part (driver 570-595 logs; the HGX B200
    // figure is also Vultr's "179 GB": docs.vultr.com/inference-cookbook/cuda/getting-started/hardware-overview).
    const reported: Record<string, number> = {
      B200_180GB: 183359,
      GB200_186GB: 189471,
      H20_96GB: 97871,
      H100_NVL_94GB: 95830,
      H200_NVL_141GB: 143771,
      H200_141GB: 143771,
    };
    for (const [id, mib] of Object.entries(reported)) expect(GPUS[id]!.memoryBytes, id).toBe(mib * MiB);
  });
});

describe('GPU catalog: datasheet peaks', () => {
  it('dense rates are half the datasheets’ sparse ones; per-GPU rates are system figures over GPUs', () => {
    const half = (sparse: number) => Math.floor(sparse / 2);
    // H100 and H200 datasheets, NVL columns: BF16 1,671, FP8 3,341 TFLOP/s with sparsity.
    for (const id of ['H100_NVL_94GB', 'H200_NVL_141GB']) {
      expect(GPUS[id]!.tflops16, id).toBe(half(1671));
      expect(GPUS[id]!.tflops8, id).toBe(half(3341));
    }
    // HGX B200 (8 GPUs): FP8 72 PFLOP/s and BF16 36 PFLOP/s with sparsity; DGX B200 64 TB/s HBM.
    expect(GPUS.B200_180GB!.tflops8).toBe(half(72_000 / 8));
    expect(GPUS.B200_180GB!.tflops16).toBe(half(36_000 / 8));
    expect(GPUS.B200_180GB!.memoryBandwidthGBs).toBe(64_000 / 8);
    // GB200 NVL72 (72 GPUs): FP8 720 PFLOP/s, BF16 360 PFLOP/s with sparsity, 576 TB/s HBM.
    expect(GPUS.GB200_186GB!.tflops8).toBe(half(720_000 / 72));
    expect(GPUS.GB200_186GB!.tflops16).toBe(half(360_000 / 72));
    expect(GPUS.GB200_186GB!.memoryBandwidthGBs).toBe(576_000 / 72);
    // NVLink 5: 1.8 TB/s per GPU, both directions together.
    for (const id of ['B200_180GB', 'GB200_186GB']) expect(GPUS[id]!.link).toEqual({ kind: 'nvlink', bandwidthGBs: 1800 / 2 });
    // AMD: CUs × FP8 FLOP per clock per CU × clock. MI325X (CDNA 3): 304 × 4,096 × 2.1 GHz;
    // MI355X (CDNA 4, ISSCC 2026: 8,192 per CU): 256 × 8,192 × 2.4 GHz. 16-bit is half.
    const mi325 = (304 * 4096 * 2.1e9) / 1e12;
    const mi355 = (256 * 8192 * 2.4e9) / 1e12;
    expect(GPUS.MI325X!.tflops8).toBe(Math.floor(mi325));
    expect(GPUS.MI325X!.tflops16).toBe(Math.floor(mi325 / 2));
    expect(GPUS.MI355X!.tflops8).toBe(Math.floor(mi355));
    expect(GPUS.MI355X!.tflops16).toBe(Math.floor(mi355 / 2));
    // Infinity Fabric links: 128 GB/s (CDNA 3) and 153.6 GB/s (CDNA 4), both directions together.
    expect(GPUS.MI325X!.link.bandwidthGBs).toBe(128 / 2);
    expect(GPUS.MI355X!.link.bandwidthGBs).toBe(153.6 / 2);
  });

  it('fp8 only where there are fp8 tensor cores, at twice the 16-bit rate (within datasheet rounding)', () => {
    for (const id of ['T4', 'V100_32GB', 'A10G', 'A100_40GB', 'A100_80GB']) expect(GPUS[id]!.tflops8, id).toBeUndefined();
    for (const g of all) {
      if (g.tflops8 === undefined) continue;
      expect(g.bf16, g.id).toBe(true);
      expect(Math.abs(g.tflops8 / (2 * g.tflops16) - 1), g.id).toBeLessThan(0.02);
    }
  });

  it('every rate is positive; the link is slower than memory; the NVL cards are costed over PCIe', () => {
    for (const g of all) {
      for (const x of [g.tflops16, g.tflops32, g.memoryBandwidthGBs, g.link.bandwidthGBs]) expect(x, g.id).toBeGreaterThan(0);
      expect(g.tflops32, g.id).toBeLessThan(g.tflops16);
      expect(g.link.bandwidthGBs, g.id).toBeLessThan(g.memoryBandwidthGBs);
    }
    // PCIe Gen5 x16: 128 GB/s both directions together (docs/language.md, the catalog).
    for (const id of ['H100_NVL_94GB', 'H200_NVL_141GB']) expect(GPUS[id]!.link).toEqual({ kind: 'pcie', bandwidthGBs: 64 });
  });
});

describe('GPU catalog: names', () => {
  it('ids are unique and each one finds itself, in any case and with - for _', () => {
    expect(new Set(GPU_IDS).size).toBe(GPU_IDS.length);
    for (const id of GPU_IDS) {
      expect(findGpu(id)!.id).toBe(id);
      expect(findGpu(id.toLowerCase().replace(/_/g, '-'))!.id).toBe(id);
    }
  });

  it('lists every part the issue asks for', () => {
    for (const id of ['B200_180GB', 'GB200_186GB', 'H20_96GB', 'H100_NVL_94GB', 'H200_NVL_141GB', 'MI325X', 'MI355X', 'L40S'])
      expect(GPU_IDS).toContain(id);
  });
});
