#!/usr/bin/env bash
# Megatron-LM launch for plan 'gpt_1_5b_interleaved' (examples/gpt-1.5b-a100-interleaved-layout-train.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 8 × data 1 = 8 GPUs of cluster 'a100x8' (8 × NVIDIA A100 SXM4 80GB); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@5be9626709af
#   NVIDIA/Megatron-LM/pretrain_gpt.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/training/config/training_config.py@5be9626709af
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
: "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of gpt_1_5b}"
: "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"

ARGS=(
  --num-layers 22
  --hidden-size 2304
  --ffn-hidden-size 9216
  --num-attention-heads 24
  --max-position-embeddings 2048
  --position-embedding-type learned_absolute
  --normalization LayerNorm
  --make-vocab-size-divisible-by 1
  --attention-backend unfused
  --tensor-model-parallel-size 1
  --pipeline-model-parallel-size 8
  --pipeline-model-parallel-layout 'E|(t|)*22,L'
  --micro-batch-size 6
  --global-batch-size 144
  --seq-length 1024
  --fp16
  --optimizer adam
  --train-iters "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
  --lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of gpt_1_5b}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# the only node
torchrun \
  --nnodes 1 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint localhost:29500 \
  --rdzv-id gpt_1_5b_interleaved \
  pretrain_gpt.py "${ARGS[@]}"
