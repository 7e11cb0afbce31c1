#!/usr/bin/env bash
# Megatron-LM launch for plan 'train_ep32' (test/export/fixtures/deepseek-v3.plan), written by parplan export.
# For Megatron-LM core_v0.19.0 (NVIDIA/Megatron-LM@5be9626709af), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 8 × data 32 = 256 GPUs of cluster 'h100x256' (32 nodes × 8 NVIDIA H100 SXM5 80GB); run from a Megatron-LM checkout.
# Experts: expert tensor 1 × expert 32 × expert data 1 over each stage's tensor × data ranks.
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
: "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of deepseek_v3}"
: "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
: "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}"

ARGS=(
  --num-layers 61
  --hidden-size 7168
  --ffn-hidden-size 18432
  --num-attention-heads 128
  --multi-latent-attention
  --q-lora-rank 1536
  --kv-lora-rank 512
  --qk-head-dim 128
  --qk-pos-emb-head-dim 64
  --v-head-dim 128
  --qk-layernorm
  --max-position-embeddings 163840
  --position-embedding-type rope
  --normalization RMSNorm
  --norm-epsilon 0.000001
  --rotary-base 10000
  --rope-type yarn
  --rotary-scaling-factor 40
  --swiglu
  --disable-bias-linear
  --untie-embeddings-and-output-weights
  --num-experts 256
  --moe-router-topk 8
  --moe-ffn-hidden-size 2048
  --moe-shared-expert-intermediate-size 2048
  --moe-layer-freq '([0]*3+[1]*58)'
  --moe-router-score-function sigmoid
  --moe-router-enable-expert-bias
  --moe-router-bias-update-rate 1e-3
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 1
  --pipeline-model-parallel-size 8
  --expert-model-parallel-size 32
  --moe-token-dispatcher-type alltoall
  --pipeline-model-parallel-layout 'Et*7|t*8|t*8|t*8|t*8|t*8|t*7|t*7L'
  --use-distributed-optimizer
  --micro-batch-size 1
  --global-batch-size 4096
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
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of the tokenizer of deepseek_v3}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# run this script on each of the 32 nodes, with NODE_RANK = 0 … 31 and MASTER_ADDR = the address of node 0
NODE_RANK="${NODE_RANK:?set NODE_RANK to the index of this node, 0 to 31}"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || (( NODE_RANK >= 32 )); then
  echo "NODE_RANK must be 0 to 31, not $NODE_RANK" >&2
  exit 1
fi
torchrun \
  --nnodes 32 \
  --nproc-per-node 8 \
  --node-rank "$NODE_RANK" \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}":29500 \
  --rdzv-id train_ep32 \
  pretrain_gpt.py "${ARGS[@]}"
