#!/bin/sh
# torchtitan job for plan 'train_ep32' (test/export/fixtures/deepseek-v3.plan), written by parplan export.
# tensor 1 × pipeline 8 × data 32 = 256 GPUs of cluster 'h100x256' (32 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/torchtitan/torchtitan/config/job_config.py@e347b1e5e6b6
#   pytorch/torchtitan/torchtitan/models/__init__.py@e347b1e5e6b6
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# run on each of the 32 nodes, with NODE_RANK = 0 … 31
torchrun \
  --nnodes 32 \
  --nproc-per-node 8 \
  --node-rank "${NODE_RANK:?set NODE_RANK to this node's index}" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id train_ep32 \
  -m torchtitan.train --job.config_file train_ep32.torchtitan.toml
