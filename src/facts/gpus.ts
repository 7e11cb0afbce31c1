/**
 * The GPU catalog: one source of truth for every GPU a plan can name.
 *
 * `memoryBytes` is the capacity the driver reports, not the marketing figure:
 * NVIDIA's `nvidia-smi --query-gpu=memory.total` (MiB), AMD's `rocm-smi --showmeminfo vram`
 * (bytes). Throughput and bandwidth figures are the vendors' datasheet peaks (dense, no
 * sparsity) and are used only by the cost model, with an efficiency factor.
 */
const MiB = 1024 * 1024;

export interface GpuSpec {
  /** Catalog key as written in plans, e.g. `H100_SXM_80GB`. */
  id: string;
  /** Human name. */
  name: string;
  memoryBytes: number;
  /** Where `memoryBytes` comes from. */
  memorySource: string;
  /** Peak dense 16-bit tensor throughput (bf16, or fp16 where bf16 is absent), TFLOP/s. */
  tflops16: number;
  /** Peak fp32 (non-tensor) throughput, TFLOP/s. */
  tflops32: number;
  /** Memory bandwidth, GB/s (10^9). */
  memoryBandwidthGBs: number;
  /** GPU-to-GPU bandwidth within a node per direction, GB/s, and over what. */
  link: { kind: 'nvlink' | 'pcie' | 'infinity-fabric'; bandwidthGBs: number };
  /** Whether the hardware computes in bf16 (Turing and Volta do not). */
  bf16: boolean;
}

const smi = (mib: number) => ({ memoryBytes: mib * MiB, memorySource: `nvidia-smi memory.total = ${mib} MiB` });

/** The catalog, in order; `as const` keeps each `id` a literal (GpuId). */
const CATALOG = [
  {
    id: 'T4',
    name: 'NVIDIA T4 16GB',
    ...smi(15360),
    tflops16: 65,
    tflops32: 8.1,
    memoryBandwidthGBs: 320,
    link: { kind: 'pcie', bandwidthGBs: 16 },
    bf16: false,
  },
  {
    id: 'L4',
    name: 'NVIDIA L4 24GB',
    ...smi(23034),
    tflops16: 121,
    tflops32: 30.3,
    memoryBandwidthGBs: 300,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
  },
  {
    id: 'A10G',
    name: 'NVIDIA A10G 24GB',
    ...smi(23028),
    tflops16: 70,
    tflops32: 31.2,
    memoryBandwidthGBs: 600,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
  },
  {
    id: 'L40S',
    name: 'NVIDIA L40S 48GB',
    ...smi(46068),
    tflops16: 362,
    tflops32: 91.6,
    memoryBandwidthGBs: 864,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
  },
  {
    id: 'V100_32GB',
    name: 'NVIDIA V100 SXM2 32GB',
    ...smi(32480),
    tflops16: 125,
    tflops32: 15.7,
    memoryBandwidthGBs: 900,
    link: { kind: 'nvlink', bandwidthGBs: 150 },
    bf16: false,
  },
  {
    id: 'A100_40GB',
    name: 'NVIDIA A100 SXM4 40GB',
    ...smi(40960),
    tflops16: 312,
    tflops32: 19.5,
    memoryBandwidthGBs: 1555,
    link: { kind: 'nvlink', bandwidthGBs: 300 },
    bf16: true,
  },
  {
    id: 'A100_80GB',
    name: 'NVIDIA A100 SXM4 80GB',
    ...smi(81920),
    tflops16: 312,
    tflops32: 19.5,
    memoryBandwidthGBs: 2039,
    link: { kind: 'nvlink', bandwidthGBs: 300 },
    bf16: true,
  },
  {
    id: 'H100_SXM_80GB',
    name: 'NVIDIA H100 SXM5 80GB',
    ...smi(81559),
    tflops16: 989,
    tflops32: 67,
    memoryBandwidthGBs: 3350,
    link: { kind: 'nvlink', bandwidthGBs: 450 },
    bf16: true,
  },
  {
    id: 'H100_PCIE_80GB',
    name: 'NVIDIA H100 PCIe 80GB',
    ...smi(81559),
    tflops16: 756,
    tflops32: 51,
    memoryBandwidthGBs: 2000,
    link: { kind: 'pcie', bandwidthGBs: 64 },
    bf16: true,
  },
  {
    id: 'H200_141GB',
    name: 'NVIDIA H200 SXM 141GB',
    ...smi(143771),
    tflops16: 989,
    tflops32: 67,
    memoryBandwidthGBs: 4800,
    link: { kind: 'nvlink', bandwidthGBs: 450 },
    bf16: true,
  },
  {
    id: 'MI300X',
    name: 'AMD Instinct MI300X 192GB',
    memoryBytes: 205822885888,
    memorySource: 'rocm-smi VRAM Total Memory = 205822885888 B',
    tflops16: 1307,
    tflops32: 163.4,
    memoryBandwidthGBs: 5300,
    link: { kind: 'infinity-fabric', bandwidthGBs: 64 },
    bf16: true,
  },
  {
    id: 'RTX_4090',
    name: 'NVIDIA GeForce RTX 4090 24GB',
    ...smi(24564),
    tflops16: 165,
    tflops32: 82.6,
    memoryBandwidthGBs: 1008,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
  },
] as const satisfies readonly GpuSpec[];

/** A catalog name, as a plan writes it (`H100_SXM_80GB`). */
export type GpuId = (typeof CATALOG)[number]['id'];

export const GPUS: Record<string, GpuSpec> = Object.fromEntries(CATALOG.map((g) => [g.id, g]));

export const GPU_IDS: string[] = CATALOG.map((g) => g.id);

/** Exact catalog lookup, ignoring case, `-`/`_`/space differences (`h100-sxm-80gb` → `H100_SXM_80GB`). */
export function findGpu(name: string): GpuSpec | undefined {
  const norm = (s: string) => s.toUpperCase().replace(/[\s\-_]+/g, '_');
  const n = norm(name);
  return Object.values(GPUS).find((g) => norm(g.id) === n);
}
