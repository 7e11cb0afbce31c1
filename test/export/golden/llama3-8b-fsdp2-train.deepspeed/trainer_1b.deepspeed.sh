#!/bin/sh
# DeepSpeed launch for plan 'trainer_1b' (examples/llama3-8b-fsdp2-train.plan), written by parplan export.
# tensor 1 × pipeline 1 × data 8 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB); the training script builds the model and calls deepspeed.initialize.
# Option names as in:
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@088be892c749
#   deepspeedai/DeepSpeed/deepspeed/runtime/constants.py@edaa72212672
#   deepspeedai/DeepSpeed/deepspeed/runtime/zero/config.py@1b88ac366fc9
#   deepspeedai/DeepSpeed/deepspeed/runtime/tensor_parallel/config.py@1b267b6bd6d7
#   deepspeedai/DeepSpeed/deepspeed/launcher/runner.py@2d991ba352b7
#   deepspeedai/DeepSpeed/deepspeed/__init__.py (commit not reported)

deepspeed \
  --num_gpus 8 \
  "${TRAIN_SCRIPT:?set TRAIN_SCRIPT to your DeepSpeed training script}" \
  --deepspeed --deepspeed_config trainer_1b.deepspeed.json
