/**
 * torchtitan's published Llama-3.1-8B runs (FSDP2 with MixedPrecisionPolicy bf16/fp32, per-op
 * selective activation checkpointing) and torchao's pretraining tutorial, which runs torchtitan.
 */
import type { PublishedRow } from '../types.js';

/** Llama-3.1-8B (meta-llama/Llama-3.1-8B config.json): the shapes memory depends on. */
const llama31_8b = `
model llama31_8b {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  head_dim = 128
  ffn = 14336  vocab = 128256  max_seq = 131072  rope_theta = 500000  tied_embeddings = false  dtype = bf16
}
`;

/** Grand Teton's H100: "Each H100 GPU is equipped with 96GB HBM2e" (the benchmark file's Hardware section). */
const grandTeton = (gpus: number) => `
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
  {
    id: 'torchao-pretraining-bf16',
    recipe: 'Llama-3-8B (torchtitan llama3_8b.toml), 8 × H100, FSDP2 bf16, batch 1 × seq 8192, per-op selective AC, torch.compile',
    source:
      'pytorch/ao docs/source/eager_tutorials/pretraining.rst @6cdd8045, the bfloat16 baseline log: "memory: 30.89GiB(32.51%)" (torchtitan max_reserved_gib of rank 0; 32.51% of a 95 GiB device); config torchtitan/models/llama3/train_configs/llama3_8b.toml @775a486e (batch_size 1, seq_len 8192, activation_checkpoint selective / "op") with --training.compile',
    plan: fsdpRun(8, 1, 'selective_op'),
    publishedGiB: 30.89,
    beforeGiB: 62.1,
    tolerance: 0.6,
    note: "torch.compile is not modelled: parplan counts what eager PyTorch saves. This run compiles each block and the loss (components/loss.py compiles cross_entropy when training.compile), which fuses the norms, RoPE and SiLU·mul and keeps no fp32 logits; the estimate (≈48.7 GiB) is the eager run's. torchtitan's own eager → compile difference at local batch 2 is 82.4 → 77.0 GiB (Table 1, with the loss not yet compiled in Dec 2024). The band only records the gap until compile is modelled.",
  },
];
