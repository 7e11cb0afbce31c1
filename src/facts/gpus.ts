/**
 * The GPU catalog: one source of truth for every GPU a plan can name.
 *
 * `memoryBytes` is the capacity the driver reports, not the marketing figure:
 * NVIDIA's `nvidia-smi --query-gpu=memory.total` (MiB), AMD's `rocm-smi --showmeminfo vram`
 * (bytes). Where no driver output could be found, the datasheet capacity is used and
 * `memorySource` says so ("driver figure unverified"). Throughput and bandwidth figures are
 * the vendors' datasheet peaks (dense, no sparsity: half of a "with sparsity" figure, rounded
 * down) and are used only by the cost model, with an efficiency factor.
 *
 * `link` is what the cost model uses for every GPU-to-GPU transfer inside a node (one figure:
 * a ring is paced by its slowest hop). Bidirectional datasheet figures are halved. PCIe cards
 * sold with NVLink bridges (H100 NVL pairs, H200 NVL 2- or 4-way) are modelled as `pcie`: an
 * 8-card node reaches most peers only over PCIe, so a ring over the node runs at PCIe speed
 * (a tensor group of 2 inside one bridged pair is then estimated pessimistically).
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
  /**
   * Peak dense fp8 tensor throughput, TFLOP/s, where the hardware has fp8 tensor cores (Ada,
   * Hopper, Blackwell, CDNA 3/4); undefined otherwise. The cost model times a plan's fp8 GEMMs
   * (the `fp8` key) at this rate.
   */
  tflops8?: number;
  /**
   * fp8 training support: present where the hardware has fp8 tensor cores (every entry with
   * tflops8). `blackwell`: NVIDIA compute capability 10.x, where fp8 GEMMs take any operand
   * layout, so TransformerEngine keeps one fp8 copy of a tensor instead of a copy and its
   * transpose (TE transformer_engine/pytorch/utils.py `is_non_tn_fp8_gemm_supported`:
   * (10, 0) <= capability < (12, 0), @e7ecaeec), and MXFP8 block scaling runs (TE's
   * MXFP8BlockScaling recipe, Megatron --fp8-recipe mxfp8 "for Blackwell only").
   */
  fp8?: { blackwell: boolean };
  /** Memory bandwidth, GB/s (10^9). */
  memoryBandwidthGBs: number;
  /** GPU-to-GPU bandwidth within a node per direction, GB/s, and over what. */
  link: { kind: 'nvlink' | 'pcie' | 'infinity-fabric'; bandwidthGBs: number };
  /** Whether the hardware computes in bf16 (Turing and Volta do not). */
  bf16: boolean;
}

const smi = (mib: number) => ({ memoryBytes: mib * MiB, memorySource: `nvidia-smi memory.total = ${mib} MiB` });

/** A datasheet capacity in GiB where no driver output was found: HBM stacks are binary (MI300X's "192 GB" is 192 GiB less 320 MiB in rocm-smi). */
const datasheetGiB = (gib: number, what: string) => ({
  memoryBytes: gib * 1024 * MiB,
  memorySource: `datasheet ${what}, taken as ${gib} GiB; driver figure unverified`,
});

/**
 * The catalog, in order; `as const` keeps each `id` a literal (GpuId). Sources: NVIDIA's
 * datasheets (nvidia.com/en-us/data-center/<product>/: L4, L40S, H100 (SXM, PCIe, NVL
 * columns), H200 (SXM, NVL columns)); the Blackwell architecture technical brief's per-GPU
 * tables (HGX B200 at 1,000 W, GB200 at 1,200 W); the Ada Lovelace whitepaper (RTX 4090);
 * AMD's product pages and CDNA 3/4 whitepapers (MI300X, MI325X, MI355X). Driver capacities:
 * nvidia-smi and rocm-smi output in public logs, each seen in more than one.
 */
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
    tflops8: 242, // datasheet: 485 with sparsity
    memoryBandwidthGBs: 300,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
    fp8: { blackwell: false },
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
    // Datasheet: BF16 362.05 dense (733 sparse), FP8 733 dense (1,466 sparse), FP32 91.6,
    // 48 GB GDDR6 864 GB/s, PCIe Gen4 x16 64 GB/s both ways, no NVLink.
    id: 'L40S',
    name: 'NVIDIA L40S 48GB',
    ...smi(46068),
    tflops16: 362,
    tflops32: 91.6,
    tflops8: 733,
    memoryBandwidthGBs: 864,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
    fp8: { blackwell: false },
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
    tflops8: 1979,
    memoryBandwidthGBs: 3350,
    link: { kind: 'nvlink', bandwidthGBs: 450 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    id: 'H100_PCIE_80GB',
    name: 'NVIDIA H100 PCIe 80GB',
    ...smi(81559),
    tflops16: 756,
    tflops32: 51,
    tflops8: 1513,
    memoryBandwidthGBs: 2000,
    link: { kind: 'pcie', bandwidthGBs: 64 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // H100 datasheet, NVL column (per GPU): BF16 1,671 and FP8 3,341 with sparsity, FP32 60,
    // 94 GB at 3.9 TB/s; NVLink bridge 600 GB/s (pairs), PCIe Gen5 128 GB/s. Link: see the
    // header (pcie, the path a ring over the node takes).
    id: 'H100_NVL_94GB',
    name: 'NVIDIA H100 NVL 94GB',
    ...smi(95830),
    tflops16: 835,
    tflops32: 60,
    tflops8: 1670,
    memoryBandwidthGBs: 3900,
    link: { kind: 'pcie', bandwidthGBs: 64 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // NVIDIA publishes no H20 datasheet; the figures are its partner spec sheet's as widely
    // reported (BF16 148, FP8 296, FP32 44 TFLOP/s, 96 GB HBM3 at 4.0 TB/s, NVLink 900 GB/s
    // both ways). The driver capacity is from nvidia-smi output.
    id: 'H20_96GB',
    name: 'NVIDIA H20 96GB',
    ...smi(97871),
    tflops16: 148,
    tflops32: 44,
    tflops8: 296,
    memoryBandwidthGBs: 4000,
    link: { kind: 'nvlink', bandwidthGBs: 450 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    id: 'H200_141GB',
    name: 'NVIDIA H200 SXM 141GB',
    ...smi(143771),
    tflops16: 989,
    tflops32: 67,
    tflops8: 1979,
    memoryBandwidthGBs: 4800,
    link: { kind: 'nvlink', bandwidthGBs: 450 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // H200 datasheet, NVL column: BF16 1,671 and FP8 3,341 with sparsity, FP32 60, 141 GB at
    // 4.8 TB/s; 2- or 4-way NVLink bridge 900 GB/s, PCIe Gen5 128 GB/s. Link: pcie (header).
    id: 'H200_NVL_141GB',
    name: 'NVIDIA H200 NVL 141GB',
    ...smi(143771),
    tflops16: 835,
    tflops32: 60,
    tflops8: 1670,
    memoryBandwidthGBs: 4800,
    link: { kind: 'pcie', bandwidthGBs: 64 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // HGX B200 (1,000 W), per GPU: BF16 2,250, FP8 4,500, FP32 80 TFLOP/s dense; 180 GB
    // HBM3e at 8 TB/s (DGX B200: 1,440 GB, 64 TB/s for 8); NVLink 5 1.8 TB/s both ways.
    id: 'B200_180GB',
    name: 'NVIDIA B200 180GB (HGX)',
    ...smi(183359),
    tflops16: 2250,
    tflops32: 80,
    tflops8: 4500,
    memoryBandwidthGBs: 8000,
    link: { kind: 'nvlink', bandwidthGBs: 900 },
    bf16: true,
    fp8: { blackwell: true },
  },
  {
    // One GPU of a GB200 superchip (1,200 W): BF16 2,500, FP8 5,000, FP32 90 TFLOP/s dense;
    // 186 GB HBM3e at 8 TB/s (NVL72: 13.4 TB, 576 TB/s for 72); NVLink 5 1.8 TB/s both ways.
    // An NVL72 rack is one NVLink domain: write gpus_per_node = 72 to cost it as one.
    id: 'GB200_186GB',
    name: 'NVIDIA GB200 186GB (per GPU)',
    ...smi(189471),
    tflops16: 2500,
    tflops32: 90,
    tflops8: 5000,
    memoryBandwidthGBs: 8000,
    link: { kind: 'nvlink', bandwidthGBs: 900 },
    bf16: true,
    fp8: { blackwell: true },
  },
  {
    // Infinity Fabric: 7 links of 128 GB/s (both ways) to the 7 peers of an 8-GPU platform;
    // a ring uses one link per hop: 64 GB/s each way.
    id: 'MI300X',
    name: 'AMD Instinct MI300X 192GB',
    memoryBytes: 205822885888,
    memorySource: 'rocm-smi VRAM Total Memory = 205822885888 B',
    tflops16: 1307,
    tflops32: 163.4,
    tflops8: 2614,
    memoryBandwidthGBs: 5300,
    link: { kind: 'infinity-fabric', bandwidthGBs: 64 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // MI300X's compute (304 CUs at 2.1 GHz: BF16 1,307.4, FP8 2,614.9, FP32 163.4) with
    // 256 GB HBM3E at 6 TB/s; the same Infinity Fabric links.
    id: 'MI325X',
    name: 'AMD Instinct MI325X 256GB',
    ...datasheetGiB(256, '256 GB HBM3E'),
    tflops16: 1307,
    tflops32: 163.4,
    tflops8: 2614,
    memoryBandwidthGBs: 6000,
    link: { kind: 'infinity-fabric', bandwidthGBs: 64 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // CDNA 4, 256 CUs at 2.4 GHz: FP8 5,033.2 (8,192 FLOP/clock/CU), BF16 2,516.6, FP32
    // 157.3 TFLOP/s dense; 288 GB HBM3E at 8 TB/s; 7 Infinity Fabric links of 153.6 GB/s
    // (both ways): 76.8 each way.
    id: 'MI355X',
    name: 'AMD Instinct MI355X 288GB',
    ...datasheetGiB(288, '288 GB HBM3E'),
    tflops16: 2516,
    tflops32: 157.3,
    tflops8: 5033,
    memoryBandwidthGBs: 8000,
    link: { kind: 'infinity-fabric', bandwidthGBs: 76.8 },
    bf16: true,
    fp8: { blackwell: false },
  },
  {
    // Ada whitepaper: FP16 tensor with FP32 accumulate 165.2, FP8 with FP32 accumulate 330.3
    // (twice that with FP16 accumulate).
    id: 'RTX_4090',
    name: 'NVIDIA GeForce RTX 4090 24GB',
    ...smi(24564),
    tflops16: 165,
    tflops32: 82.6,
    tflops8: 330,
    memoryBandwidthGBs: 1008,
    link: { kind: 'pcie', bandwidthGBs: 32 },
    bf16: true,
    fp8: { blackwell: false },
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
