#!/bin/sh
# torchtitan job for plan 'torchtitan_float8' (examples/llama3-8b-h100-fp8-train.plan), written by parplan export.
# tensor 1 × pipeline 1 × data 8 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB).
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
  --rdzv-id torchtitan_float8 \
  -m torchtitan.train --job.config_file torchtitan_float8.torchtitan.toml
