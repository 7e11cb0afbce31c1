#!/usr/bin/env bash
# Megatron-LM launch for plan 'train_8b' (examples/llama3-8b-h100.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 2 × pipeline 2 × data 2 = 8 GPUs of cluster 'node' (8 × NVIDIA H100 SXM5 80GB); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@5be9626709af
#   NVIDIA/Megatron-LM/pretrain_gpt.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/training/config/training_config.py@5be9626709af
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
: "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of llama3_8b}"
: "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"

export CUDA_DEVICE_MAX_CONNECTIONS=1

ARGS=(
  --num-layers 32
  --hidden-size 4096
  --ffn-hidden-size 14336
  --num-attention-heads 32
  --group-query-attention
  --num-query-groups 8
  --max-position-embeddings 8192
  --position-embedding-type rope
  --normalization RMSNorm
  --rotary-base 500000
  --swiglu
  --disable-bias-linear
  --untie-embeddings-and-output-weights
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 2
  --pipeline-model-parallel-size 2
  --sequence-parallel
  --use-distributed-optimizer
  --micro-batch-size 1
  --global-batch-size 256
  --seq-length 4096
  --recompute-granularity selective
  --bf16
  --accumulate-allreduce-grads-in-fp32
  --optimizer adam
  --train-iters "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
  --lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of llama3_8b}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id train_8b \
  pretrain_gpt.py "${ARGS[@]}"
