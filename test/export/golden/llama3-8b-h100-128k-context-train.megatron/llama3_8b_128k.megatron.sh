#!/usr/bin/env bash
# Megatron-LM launch for plan 'llama3_8b_128k' (examples/llama3-8b-h100-128k-context-train.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 2 × context 4 × pipeline 1 × data 2 = 16 GPUs of cluster 'h100_2n' (2 nodes × 8 NVIDIA H100 SXM5 80GB); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@5be9626709af
#   NVIDIA/Megatron-LM/pretrain_gpt.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/training/config/training_config.py@5be9626709af
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
: "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of llama3_1_8b}"
: "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
: "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}"

export CUDA_DEVICE_MAX_CONNECTIONS=1

ARGS=(
  --num-layers 32
  --hidden-size 4096
  --ffn-hidden-size 14336
  --num-attention-heads 32
  --group-query-attention
  --num-query-groups 8
  --max-position-embeddings 131072
  --position-embedding-type rope
  --normalization RMSNorm
  --rotary-base 500000
  --swiglu
  --disable-bias-linear
  --untie-embeddings-and-output-weights
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 2
  --pipeline-model-parallel-size 1
  --sequence-parallel
  --context-parallel-size 4
  --cp-comm-type p2p
  --use-distributed-optimizer
  --micro-batch-size 1
  --global-batch-size 16
  --seq-length 131072
  --recompute-granularity full
  --recompute-method uniform
  --recompute-num-layers 1
  --bf16
  --accumulate-allreduce-grads-in-fp32
  --optimizer adam
  --train-iters "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
  --lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of llama3_1_8b}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# run this script on each of the 2 nodes, with NODE_RANK = 0 … 1 and MASTER_ADDR = the address of node 0
NODE_RANK="${NODE_RANK:?set NODE_RANK to the index of this node, 0 to 1}"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || (( NODE_RANK >= 2 )); then
  echo "NODE_RANK must be 0 to 1, not $NODE_RANK" >&2
  exit 1
fi
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank "$NODE_RANK" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}":29500 \
  --rdzv-id llama3_8b_128k \
  pretrain_gpt.py "${ARGS[@]}"
