#!/usr/bin/env bash
# torchtitan job for plan 'llama3_8b_zb_h1' (examples/llama3-8b-h100-zb-h1-train.plan), written by parplan export.
# For torchtitan v0.2.2 (pytorch/torchtitan@73a0e6979dd1), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 4 × data 2 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB).
# Option names as in:
#   pytorch/torchtitan/torchtitan/config/job_config.py@73a0e6979dd1
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}"

# run from a torchtitan checkout; the job file is the one beside this script
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if grep -q '<fill in: ' "$HERE/llama3_8b_zb_h1.torchtitan.toml"; then
  echo "fill in model.flavor in llama3_8b_zb_h1.torchtitan.toml first (the values written <fill in: ...>)" >&2
  exit 1
fi

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id llama3_8b_zb_h1 \
  -m torchtitan.train \
  --job.config_file "$HERE/llama3_8b_zb_h1.torchtitan.toml" \
  --model.hf_assets_path "${HF_ASSETS_PATH:?set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model}" \
  --parallelism.pipeline_parallel_schedule_csv "$HERE/llama3_8b_zb_h1.schedule.csv"
