/**
 * torchtitan's published Llama-3.1-8B runs (FSDP2 with MixedPrecisionPolicy bf16/fp32, per-op
 * selective activation checkpointing), eager. torchao's pretraining tutorial (8B, batch 1, op-SAC,
 * bf16: 30.89 GiB) is not a row: it runs torch.compile, which parplan does not model (eager
 * estimate 48.7 GiB); see the closing note of issue 14.
 */
import type { PublishedRow } from '../types.js';

/** Llama-3.1-8B (meta-llama/Llama-3.1-8B config.json): the shapes memory depends on. */
export const llama31_8b = `
model llama31_8b {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  head_dim = 128
  ffn = 14336  vocab = 128256  max_seq = 131072  rope_theta = 500000  tied_embeddings = false  dtype = bf16
}
`;

/** Grand Teton's H100: "Each H100 GPU is equipped with 96GB HBM2e" (the benchmark file's Hardware section). */
export const grandTeton = (gpus: number) => `
cluster grand_teton {
  gpu {
    name = "H100 96GB HBM2e (Grand Teton, 500 W)"
    memory = 96 GB
  }
  gpus = ${gpus}
  gpus_per_node = 8
}
`;

const fsdpRun = (gpus: number, micro: number, recompute: string) => `${llama31_8b}${grandTeton(gpus)}
plan fsdp {
  model = llama31_8b  cluster = grand_teton  mode = train
  data = ${gpus}  zero = 3  precision = amp_bf16  recompute = ${recompute}
  batch { global = ${gpus * micro}  micro = ${micro}  seq = 8192 }
}
`;

const BENCH =
  'pytorch/torchtitan benchmarks/llama3_h100_202412_torchtitan.md @31a17bfd (runs of Dec 2024: torch 1963fc8, torchao eab345c, torchtitan 9dec370), "Memory(GiB)": the maximum over ranks of the caching allocator\'s peak reserved memory (torchtitan components/metrics.py DeviceMemoryMonitor, max_reserved_gib). The code of those runs, read at torchtitan 9dec370: train.py loss_fn = cross_entropy(pred.flatten(0, 1).float(), …) and `del pred` before backward; torchtitan/parallelisms/parallelize_llama.py op-SAC `_save_list` (mm but every second, SDPA, reduce_scatter) and fully_shard per block + root (MixedPrecisionPolicy bf16 / fp32)';

export const rows: PublishedRow[] = [
  {
    id: 'torchtitan-t1-fsdp',
    recipe: 'Llama-3.1-8B, 8 × H100 96 GB, FSDP2 (bf16 params, fp32 reduce), local batch 2 × seq 8192, per-op selective AC, eager',
    source: `${BENCH}, Table 1 row "FSDP": 82.4 GiB`,
    plan: fsdpRun(8, 2, 'selective_op'),
    publishedGiB: 82.4,
    // main before issue 14: precision = bf16, recompute = selective (Megatron's recipe), the closest it could write.
    beforeGiB: 105.17,
  },
  {
    id: 'torchtitan-t3-fsdp',
    recipe: 'Llama-3.1-8B, 128 × H100 96 GB, FSDP2 (bf16 params, fp32 reduce), local batch 2 × seq 8192, per-op selective AC, eager',
    source: `${BENCH}, Table 3 row "FSDP": 67.0 GiB`,
    plan: fsdpRun(128, 2, 'selective_op'),
    publishedGiB: 67.0,
    beforeGiB: 89.4,
  },
];
