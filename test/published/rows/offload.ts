/**
 * ZeRO-Offload (DeepSpeed), measured. The one run with published memory figures is the
 * ZeRO-Offload tutorial's: a 10B GPT-2 (Megatron-LM GPT-2 with DeepSpeed, 50 layers, hidden
 * 4096, 32 heads, batch 10, activation checkpointing) on one V100-32GB of a DGX-2, ZeRO-2 with
 * offload_optimizer cpu, contiguous_gradients and overlap_comm. Its screenshots show the GPU
 * (nvidia-smi) and the host (htop) while it trains.
 */
import type { PublishedRow } from '../types.js';

/** The tutorial's run; Megatron-LM's GPT-2 of 2020: seq 1024, vocabulary 50257, fp16 (V100), no flash attention. */
const tutorial = `
model gpt2_10b {
  arch    = gpt2
  layers  = 50
  hidden  = 4096
  heads   = 32
  vocab   = 50257
  max_seq = 1024
  dtype   = fp16
}

cluster dgx2_one_gpu {
  gpu         = V100_32GB
  gpus        = 1
  host_memory = 1505 GiB
}

plan zero_offload_10b {
  model     = gpt2_10b
  cluster   = dgx2_one_gpu
  mode      = train
  zero      = 2
  offload   = optimizer
  precision = fp16
  recompute = full
  attention = standard
  reserve   = 2%  // the tutorial's run fills 32290 of 32480 MiB (nvidia-smi)
  batch {
    global = 10
    micro  = 10
    seq    = 1024
  }
}
`;

const source =
  'microsoft/DeepSpeed fd405169 (read at 38327e07): docs/_tutorials/zero-offload.md (the run: --num-layers 50 --hidden-size 4096 ' +
  '--num-attention-heads 32 --batch-size 10 --checkpoint-activations, one GPU, "stage": 2, offload_optimizer cpu, contiguous_gradients, overlap_comm)';

export const rows: PublishedRow[] = [
  {
    id: 'deepspeed-zero-offload-10b-gpu',
    recipe: '10B GPT-2, 1 × V100-32GB, ZeRO-2 + offload_optimizer cpu, batch 10, seq 1024, full checkpointing, fp16',
    source: `${source}; docs/assets/images/zero_offload_dp1_10B_smi.png: nvidia-smi 32290MiB / 32480MiB on GPU 0 (= 31.53 GiB)`,
    plan: tutorial,
    publishedGiB: 32290 / 1024,
    note:
      'nvidia-smi shows what the process holds: the CUDA context (about 0.3–0.5 GiB on a V100 with CUDA 10.1) and the caching ' +
      "allocator's reserved but free blocks are not in the plan (about 3 GiB here, 10%: the recompute workspace, 2 GiB, fits under the freed logits in the allocated peak, while the allocator keeps the logits' block reserved); the plan sets reserve = 2% because the run " +
      'itself fills the GPU (32290 of 32480 MiB)',
    beforeGiB: 178.58,
  },
  {
    id: 'deepspeed-zero-offload-10b-host',
    recipe: '10B GPT-2 as above: CPU memory of the node (fp32 master weights, Adam states, fp32 gradients)',
    source: `${source}; docs/assets/images/zero_offload_dp1_10B_cpu.png: htop Mem 296G / 1.47T (htop G = GiB)`,
    plan: tutorial,
    measure: 'host',
    publishedGiB: 296,
    tolerance: 0.25,
    note:
      "htop's Mem bar is the whole node's used memory, not DeepSpeed's buffers alone: the training process's own CPU-side " +
      'state (Python, CUDA pinned staging, the dataset), page-locked allocator rounding and anything else running on the DGX-2; ' +
      "the plan counts DeepSpeed's partitions (16 B/param: fp32 master, m, v, fp32 gradient) times its estimators' additional_buffer_factor 1.5, " +
      'which is exactly estimate_zero2_model_states_mem_needs for one GPU (Ψ × max(4, 16) × 1.5)',
    beforeGiB: null,
  },
];
