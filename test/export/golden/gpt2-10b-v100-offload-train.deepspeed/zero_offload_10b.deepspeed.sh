#!/usr/bin/env bash
# DeepSpeed launch for plan 'zero_offload_10b' (examples/gpt2-10b-v100-offload-train.plan), written by parplan export.
# For DeepSpeed v0.19.5 (deepspeedai/DeepSpeed@cf44300453eb), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 1 = 1 GPUs of cluster 'dgx2_one_gpu' (1 × NVIDIA V100 SXM2 32GB); the training script builds the model and calls deepspeed.initialize.
# Option names as in:
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/zero/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/runtime/tensor_parallel/config.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/launcher/runner.py@cf44300453eb
#   deepspeedai/DeepSpeed/deepspeed/__init__.py@cf44300453eb
#   microsoft/DeepSpeed/deepspeed/runtime/zero/config.py@38327e07f6cd
set -euo pipefail

: "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# the only node
deepspeed \
  --num_gpus 1 \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config "$HERE/zero_offload_10b.deepspeed.json"
