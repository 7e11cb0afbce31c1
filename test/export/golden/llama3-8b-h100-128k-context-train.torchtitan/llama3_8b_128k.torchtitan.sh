#!/bin/sh
# torchtitan job for plan 'llama3_8b_128k' (examples/llama3-8b-h100-128k-context-train.plan), written by parplan export.
# tensor 2 × context 4 × pipeline 1 × data 2 = 16 GPUs of cluster 'h100_2n' (2 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# node 0 of 2: run on that node
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama3_8b_128k \
  -m torchtitan.train --job.config_file llama3_8b_128k.torchtitan.toml

# node 1 of 2: run on that node
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank 1 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama3_8b_128k \
  -m torchtitan.train --job.config_file llama3_8b_128k.torchtitan.toml
