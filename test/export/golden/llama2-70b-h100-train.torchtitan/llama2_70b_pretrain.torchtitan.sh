#!/bin/sh
# torchtitan job for plan 'llama2_70b_pretrain' (examples/llama2-70b-h100-train.plan), written by parplan export.
# tensor 8 × pipeline 4 × data 2 = 64 GPUs of cluster 'h100_8n' (8 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@000204a4a8bf
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

# node 0 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 1 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 1 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 2 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 2 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 3 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 3 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 4 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 4 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 5 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 5 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 6 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 6 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml

# node 7 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 7 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  -m torchtitan.train --job.config_file llama2_70b_pretrain.torchtitan.toml
