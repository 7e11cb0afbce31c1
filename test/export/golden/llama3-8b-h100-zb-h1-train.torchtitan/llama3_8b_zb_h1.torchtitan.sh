#!/bin/sh
# torchtitan job for plan 'llama3_8b_zb_h1' (examples/llama3-8b-h100-zb-h1-train.plan), written by parplan export.
# tensor 1 × pipeline 4 × data 2 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id llama3_8b_zb_h1 \
  -m torchtitan.train --job.config_file llama3_8b_zb_h1.torchtitan.toml
