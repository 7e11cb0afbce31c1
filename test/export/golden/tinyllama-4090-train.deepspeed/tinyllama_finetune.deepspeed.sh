#!/usr/bin/env bash
# DeepSpeed launch for plan 'tinyllama_finetune' (examples/tinyllama-4090-train.plan), written by parplan export.
# For DeepSpeed v0.19.5 (deepspeedai/DeepSpeed@cf44300453eb), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 1 = 1 GPUs of cluster 'workstation' (1 × RTX 4090 (workstation)); the training script builds the model and calls deepspeed.initialize.
# Option names as in:
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/zero/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/tensor_parallel/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/launcher/runner.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/__init__.py@cf44300453eb
set -euo pipefail

: "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# the only node
deepspeed \
  --num_gpus 1 \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config "$HERE/tinyllama_finetune.deepspeed.json"
