#!/usr/bin/env bash
# Megatron-LM launch for plan 'tinyllama_finetune' (examples/tinyllama-4090-train.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 1 = 1 GPUs of cluster 'workstation' (1 × RTX 4090 (workstation)); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@5be9626709af
#   NVIDIA/Megatron-LM/pretrain_gpt.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/training/config/training_config.py@5be9626709af
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
: "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of tinyllama_1b}"
: "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"

ARGS=(
  --num-layers 22
  --hidden-size 2048
  --ffn-hidden-size 5632
  --num-attention-heads 32
  --group-query-attention
  --num-query-groups 4
  --max-position-embeddings 2048
  --position-embedding-type rope
  --normalization RMSNorm
  --rotary-base 10000
  --swiglu
  --disable-bias-linear
  --untie-embeddings-and-output-weights
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 1
  --pipeline-model-parallel-size 1
  --micro-batch-size 4
  --global-batch-size 32
  --seq-length 2048
  --recompute-granularity full
  --recompute-method uniform
  --recompute-num-layers 1
  --bf16
  --grad-reduce-in-bf16
  --optimizer adam
  --train-iters "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
  --lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of tinyllama_1b}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 1 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id tinyllama_finetune \
  pretrain_gpt.py "${ARGS[@]}"
