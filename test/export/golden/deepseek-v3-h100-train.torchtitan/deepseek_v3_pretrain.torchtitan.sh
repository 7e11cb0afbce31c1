#!/bin/sh
# torchtitan job for plan 'deepseek_v3_pretrain' (examples/deepseek-v3-h100-train.plan), written by parplan export.
# tensor 1 × pipeline 16 × data 128 = 2048 GPUs of cluster 'h100_256n' (256 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/torchtitan/torchtitan/config/job_config.py@e347b1e5e6b6
#   pytorch/torchtitan/torchtitan/models/__init__.py@e347b1e5e6b6
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# run on each of the 256 nodes, with NODE_RANK = 0 … 255
torchrun \
  --nnodes 256 \
  --nproc-per-node 8 \
  --node-rank "${NODE_RANK:?set NODE_RANK to this node's index}" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id deepseek_v3_pretrain \
  -m torchtitan.train --job.config_file deepseek_v3_pretrain.torchtitan.toml
