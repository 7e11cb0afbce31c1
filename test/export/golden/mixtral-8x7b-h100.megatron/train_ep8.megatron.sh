#!/usr/bin/env bash
# Megatron-LM launch for plan 'train_ep8' (test/export/fixtures/mixtral-8x7b-h100.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 2 × pipeline 1 × data 8 = 16 GPUs of cluster 'h100x16' (2 nodes × 8 NVIDIA H100 SXM5 80GB); run from a Megatron-LM checkout.
# Experts: expert tensor 1 × expert 8 × expert data 2 over each stage's tensor × data ranks.
# Routing details a plan does not describe (group-limited routing, top-k scaling, load-balancing loss) keep Megatron's defaults: set them from the model's config.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@5be9626709af
#   NVIDIA/Megatron-LM/pretrain_gpt.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/training/config/training_config.py@5be9626709af
#   NVIDIA/Megatron-LM/megatron/core/transformer/transformer_config.py@5be9626709af
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40
set -euo pipefail

: "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
: "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of mixtral_8x7b}"
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
  --max-position-embeddings 32768
  --position-embedding-type rope
  --normalization RMSNorm
  --rotary-base 1000000
  --swiglu
  --disable-bias-linear
  --untie-embeddings-and-output-weights
  --num-experts 8
  --moe-router-topk 2
  --moe-ffn-hidden-size 14336
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 2
  --pipeline-model-parallel-size 1
  --expert-model-parallel-size 8
  --expert-tensor-parallel-size 1
  --moe-token-dispatcher-type alltoall
  --sequence-parallel
  --use-distributed-optimizer
  --micro-batch-size 1
  --global-batch-size 256
  --seq-length 4096
  --recompute-granularity full
  --recompute-method uniform
  --recompute-num-layers 1
  --bf16
  --accumulate-allreduce-grads-in-fp32
  --optimizer adam
  --train-iters "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"
  --lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of mixtral_8x7b}"
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
  --rdzv-id train_ep8 \
  pretrain_gpt.py "${ARGS[@]}"
