#!/usr/bin/env bash
# Megatron-LM launch for plan 'llama2_70b_pretrain' (examples/llama2-70b-h100-train.plan), written by parplan export.
# tensor 8 × pipeline 4 × data 2 = 64 GPUs of cluster 'h100_8n' (8 nodes × 8 NVIDIA H100 SXM5 80GB); run from a Megatron-LM checkout.
# Option names as in:
#   NVIDIA/Megatron-LM/megatron/training/arguments.py@000c4ac24f61
#   NVIDIA/Megatron-LM/pretrain_gpt.py@aa5bf2ca1342
#   pytorch/pytorch/torch/distributed/run.py@010929fd3f40

export CUDA_DEVICE_MAX_CONNECTIONS=1

ARGS=(
  --num-layers 80
  --hidden-size 8192
  --ffn-hidden-size 28672
  --num-attention-heads 64
  --group-query-attention
  --num-query-groups 8
  --max-position-embeddings 4096
  --position-embedding-type rope
  --normalization RMSNorm
  --swiglu
  --disable-bias-linear
  --untie-embeddings-and-output-weights
  --make-vocab-size-divisible-by 1
  --attention-backend flash
  --tensor-model-parallel-size 8
  --pipeline-model-parallel-size 4
  --sequence-parallel
  --use-distributed-optimizer
  --micro-batch-size 1
  --global-batch-size 64
  --seq-length 4096
  --recompute-granularity selective
  --bf16
  --accumulate-allreduce-grads-in-fp32
  --optimizer adam
  --tokenizer-type HuggingFaceTokenizer
  --tokenizer-model "${TOKENIZER:?set TOKENIZER to the Hugging Face id or local path of llama2_70b's tokenizer}"
  --data-path "${DATA_PATH:?set DATA_PATH to the prefix of the preprocessed training data}"
)

# node 0 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 0 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 1 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 1 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 2 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 2 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 3 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 3 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 4 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 4 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 5 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 5 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 6 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 6 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"

# node 7 of 8: run on that node
torchrun \
  --nnodes 8 \
  --nproc-per-node 8 \
  --node-rank 7 \
  --rdzv-backend c10d \
  --rdzv-endpoint "${MASTER_ADDR:?set MASTER_ADDR to node 0's address}":29500 \
  --rdzv-id llama2_70b_pretrain \
  pretrain_gpt.py "${ARGS[@]}"
