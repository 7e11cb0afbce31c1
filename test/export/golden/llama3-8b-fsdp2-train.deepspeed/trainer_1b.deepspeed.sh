#!/usr/bin/env bash
# DeepSpeed launch for plan 'trainer_1b' (examples/llama3-8b-fsdp2-train.plan), written by parplan export.
# For DeepSpeed v0.19.5 (deepspeedai/DeepSpeed@cf44300453eb), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 8 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB); the training script builds the model and calls deepspeed.initialize.
# Option names as in:
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@edaa72212672
#   deepspeedai/DeepSpeed/deepspeed/runtime/zero/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/tensor_parallel/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/launcher/runner.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/__init__.py@cf44300453eb
set -euo pipefail

: "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# the only node
deepspeed \
  --num_gpus 8 \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config "$HERE/trainer_1b.deepspeed.json"
