#!/usr/bin/env bash
# Megatron-LM launch for plan 'gpt_1t_megatron' (examples/megatron-1t-a100-train.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 8 × pipeline 64 × data 6 = 3072 GPUs of cluster 'a100_384n' (384 nodes × 8 NVIDIA A100 SXM4 80GB); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@5be9626709af
#   NVIDIA/Megatron-LM/pretrain_gpt.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/training/config/training_config.py@5be9626709af
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
: "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of gpt_1t}"
: "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
: "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}"

export CUDA_DEVICE_MAX_CONNECTIONS=1

ARGS=(
  --num-layers 128
  --hidden-size 25600
  --ffn-hidden-size 102400
  --num-attention-heads 160
  --max-position-embeddings 2048
  --position-embedding-type learned_absolute
  --normalization LayerNorm
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 8
  --pipeline-model-parallel-size 64
  --sequence-parallel
  --use-distributed-optimizer
  --micro-batch-size 1
  --global-batch-size 3072
  --seq-length 2048
  --recompute-granularity selective
  --bf16
  --accumulate-allreduce-grads-in-fp32
  --optimizer adam
  --train-iters "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
  --lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of gpt_1t}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# run this script on each of the 384 nodes, with NODE_RANK = 0 … 383 and MASTER_ADDR = the address of node 0
NODE_RANK="${NODE_RANK:?set NODE_RANK to the index of this node, 0 to 383}"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || (( NODE_RANK >= 384 )); then
  echo "NODE_RANK must be 0 to 383, not $NODE_RANK" >&2
  exit 1
fi
torchrun \
  --nnodes 384 \
  --nproc-per-node 8 \
  --node-rank "$NODE_RANK" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}":29500 \
  --rdzv-id gpt_1t_megatron \
  pretrain_gpt.py "${ARGS[@]}"
