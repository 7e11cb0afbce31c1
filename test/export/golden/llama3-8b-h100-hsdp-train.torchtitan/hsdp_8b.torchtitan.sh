#!/bin/sh
# torchtitan job for plan 'hsdp_8b' (examples/llama3-8b-h100-hsdp-train.plan), written by parplan export.
# tensor 1 × pipeline 1 × data 32 = 32 GPUs of cluster 'h100_4n' (4 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# node 0 of 4: run on that node
torchrun \
  --nnodes 4 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id hsdp_8b \
  -m torchtitan.train --job.config_file hsdp_8b.torchtitan.toml

# node 1 of 4: run on that node
torchrun \
  --nnodes 4 \
  --nproc-per-node 8 \
  --node-rank 1 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id hsdp_8b \
  -m torchtitan.train --job.config_file hsdp_8b.torchtitan.toml

# node 2 of 4: run on that node
torchrun \
  --nnodes 4 \
  --nproc-per-node 8 \
  --node-rank 2 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id hsdp_8b \
  -m torchtitan.train --job.config_file hsdp_8b.torchtitan.toml

# node 3 of 4: run on that node
torchrun \
  --nnodes 4 \
  --nproc-per-node 8 \
  --node-rank 3 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id hsdp_8b \
  -m torchtitan.train --job.config_file hsdp_8b.torchtitan.toml
