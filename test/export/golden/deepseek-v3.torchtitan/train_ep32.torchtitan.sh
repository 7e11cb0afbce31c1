#!/usr/bin/env bash
# torchtitan job for plan 'train_ep32' (test/export/fixtures/deepseek-v3.plan), written by parplan export.
# For torchtitan v0.2.2 (pytorch/torchtitan@73a0e6979dd1), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 8 × data 32 = 256 GPUs of cluster 'h100x256' (32 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@73a0e6979dd1
#   pytorch/torchtitan/torchtitan/models/__init__.py@73a0e6979dd1
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}"
: "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"

# run from a torchtitan checkout; the job file is the one beside this script
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if grep -q '<fill in: ' "$HERE/train_ep32.torchtitan.toml"; then
  echo "fill in model.flavor in train_ep32.torchtitan.toml first (the values written <fill in: ...>)" >&2
  exit 1
fi

# run this script on each of the 32 nodes, with NODE_RANK = 0 … 31 and MASTER_ADDR = the address of node 0
NODE_RANK="${NODE_RANK:?set NODE_RANK to the index of this node, 0 to 31}"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || (( NODE_RANK >= 32 )); then
  echo "NODE_RANK must be 0 to 31, not $NODE_RANK" >&2
  exit 1
fi
torchrun \
  --nnodes 32 \
  --nproc-per-node 8 \
  --node-rank "$NODE_RANK" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}":29500 \
  --rdzv-id train_ep32 \
  -m torchtitan.train \
  --job.config_file "$HERE/train_ep32.torchtitan.toml" \
  --model.hf_assets_path "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"
