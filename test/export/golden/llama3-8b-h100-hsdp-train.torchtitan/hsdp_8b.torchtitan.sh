#!/usr/bin/env bash
# torchtitan job for plan 'hsdp_8b' (examples/llama3-8b-h100-hsdp-train.plan), written by parplan export.
# For torchtitan v0.2.2 (pytorch/torchtitan@73a0e6979dd1), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 32 = 32 GPUs of cluster 'h100_4n' (4 nodes × 8 NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@73a0e6979dd1
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}"
: "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"

# run from a torchtitan checkout; the job file is the one beside this script
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if grep -q '<fill in: ' "$HERE/hsdp_8b.torchtitan.toml"; then
  echo "fill in model.flavor in hsdp_8b.torchtitan.toml first (the values written <fill in: ...>)" >&2
  exit 1
fi

# run this script on each of the 4 nodes, with NODE_RANK = 0 … 3 and MASTER_ADDR = the address of node 0
NODE_RANK="${NODE_RANK:?set NODE_RANK to the index of this node, 0 to 3}"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || (( NODE_RANK >= 4 )); then
  echo "NODE_RANK must be 0 to 3, not $NODE_RANK" >&2
  exit 1
fi
torchrun \
  --nnodes 4 \
  --nproc-per-node 8 \
  --node-rank "$NODE_RANK" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}":29500 \
  --rdzv-id hsdp_8b \
  -m torchtitan.train \
  --job.config_file "$HERE/hsdp_8b.torchtitan.toml" \
  --model.hf_assets_path "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"
