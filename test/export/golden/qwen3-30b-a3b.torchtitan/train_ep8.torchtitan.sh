#!/bin/sh
# torchtitan job for plan 'train_ep8' (test/export/fixtures/qwen3-30b-a3b.plan), written by parplan export.
# tensor 1 × pipeline 1 × data 16 = 16 GPUs of cluster 'h100x16' (2 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/torchtitan/torchtitan/config/job_config.py@e347b1e5e6b6
#   pytorch/torchtitan/torchtitan/models/__init__.py@e347b1e5e6b6
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# node 0 of 2: run on that node
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id train_ep8 \
  -m torchtitan.train --job.config_file train_ep8.torchtitan.toml

# node 1 of 2: run on that node
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank 1 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id train_ep8 \
  -m torchtitan.train --job.config_file train_ep8.torchtitan.toml
