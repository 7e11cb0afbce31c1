#!/usr/bin/env bash
# torchtitan job for plan 'fsdp2_8b' (examples/llama3-8b-fsdp2-train.plan), written by parplan export.
# For torchtitan v0.2.2 (pytorch/torchtitan@73a0e6979dd1), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 8 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@73a0e6979dd1
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"

# run from a torchtitan checkout; the job file is the one beside this script
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if grep -q '<fill in: ' "$HERE/fsdp2_8b.torchtitan.toml"; then
  echo "fill in model.flavor in fsdp2_8b.torchtitan.toml first (the values written <fill in: ...>)" >&2
  exit 1
fi

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id fsdp2_8b \
  -m torchtitan.train \
  --job.config_file "$HERE/fsdp2_8b.torchtitan.toml" \
  --model.hf_assets_path "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"
