#!/usr/bin/env bash
# DeepSpeed launch for plan 'train' (test/export/fixtures/gemma-2-9b.plan), written by parplan export.
# For DeepSpeed v0.19.5 (deepspeedai/DeepSpeed@cf44300453eb), the only version parplan exports for (docs/export.md).
# tensor 2 × pipeline 1 × data 4 = 8 GPUs of cluster 'h100x8' (8 × NVIDIA H100 SXM5 80GB); the training script builds the model and calls deepspeed.initialize.
# tensor 2 > 1: pass deepspeed.initialize(..., mpu=...) with get_data_parallel_world_size() = 4, else its train_batch_size check fails.
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
  --num_gpus 8 \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config "$HERE/train.deepspeed.json"
