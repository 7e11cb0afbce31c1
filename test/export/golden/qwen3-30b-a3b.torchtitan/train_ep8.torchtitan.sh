#!/bin/sh
# torchtitan job for plan 'train_ep8' (test/export/fixtures/qwen3-30b-a3b.plan), written by parplan export.
# tensor 1 × pipeline 1 × data 8 = 8 GPUs of cluster 'h100x8' (8 × NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/torchtitan/torchtitan/config/job_config.py@e347b1e5e6b6
#   pytorch/torchtitan/torchtitan/models/__init__.py@e347b1e5e6b6
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id train_ep8 \
  -m torchtitan.train --job.config_file train_ep8.torchtitan.toml
