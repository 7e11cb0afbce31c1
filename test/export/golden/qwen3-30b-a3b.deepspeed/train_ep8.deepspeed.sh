#!/usr/bin/env bash
# DeepSpeed launch for plan 'train_ep8' (test/export/fixtures/qwen3-30b-a3b.plan), written by parplan export.
# For DeepSpeed v0.19.5 (deepspeedai/DeepSpeed@cf44300453eb), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 16 = 16 GPUs of cluster 'h100x16' (2 nodes × 8 NVIDIA H100 SXM5 80GB); the training script builds the model and calls deepspeed.initialize.
# Experts: expert tensor 1 × expert 8 × expert data 2; the script builds the MoE layers (deepspeed.moe.layer.MoE).
# Option names as in:
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/zero/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/tensor_parallel/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/launcher/runner.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/__init__.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/moe/layer.py@639460ab3299
set -euo pipefail

: "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}"
: "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# run on node 0 only: the launcher starts all 2 nodes of the hostfile
deepspeed \
  --hostfile "$HERE/train_ep8.hostfile" \
  --num_nodes 2 \
  --num_gpus 8 \
  --master_addr "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}" \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config "$HERE/train_ep8.deepspeed.json"
