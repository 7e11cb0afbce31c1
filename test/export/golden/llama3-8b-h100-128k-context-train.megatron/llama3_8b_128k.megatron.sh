#!/usr/bin/env bash
# Megatron-LM launch for plan 'llama3_8b_128k' (examples/llama3-8b-h100-128k-context-train.plan), written by parplan export.
# tensor 2 × context 4 × pipeline 1 × data 2 = 16 GPUs of cluster 'h100_2n' (2 nodes × 8 NVIDIA H100 SXM5 80GB); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@000c4ac24f61
#   NVIDIA/Megatron-LM/pretrain_gpt.py@aa5bf2ca1342
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@d98e8a64ddf3
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

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
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of llama3_1_8b's tokenizer}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# node 0 of 2: run on that node
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama3_8b_128k \
  pretrain_gpt.py "${ARGS[@]}"

# node 1 of 2: run on that node
torchrun \
  --nnodes 2 \
  --nproc-per-node 8 \
  --node-rank 1 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama3_8b_128k \
  pretrain_gpt.py "${ARGS[@]}"
