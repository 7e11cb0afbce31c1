#!/bin/sh
# DeepSpeed launch for plan 'zero_offload_10b' (examples/gpt2-10b-v100-offload-train.plan), written by parplan export.
# tensor 1 × pipeline 1 × data 1 = 1 GPUs of cluster 'dgx2_one_gpu' (1 × NVIDIA V100 SXM2 32GB); the training script builds the model and calls deepspeed.initialize.
# Option names as in:
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@088be892c749
#   deepspeedai/DeepSpeed/deepspeed/runtime/zero/config.py@1b88ac366fc9
#   deepspeedai/DeepSpeed/deepspeed/runtime/tensor_parallel/config.py@1b267b6bd6d7
#   deepspeedai/DeepSpeed/deepspeed/launcher/runner.py@2d991ba352b7
#   deepspeedai/DeepSpeed/deepspeed/__init__.py (commit not reported)
#   microsoft/DeepSpeed/deepspeed/runtime/zero/config.py@38327e07f6cd

deepspeed \
  --num_gpus 1 \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config zero_offload_10b.deepspeed.json
