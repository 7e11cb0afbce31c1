#!/usr/bin/env bash
# vLLM launch for plan 'llama3_8b_chat' (examples/llama3-8b-h100-traffic-serve.plan), written by parplan export.
# For vLLM main@99d7eb5d6a51 (vllm-project/vllm@99d7eb5d6a51), the only version parplan exports for (docs/export.md).
# tensor 1 × pipeline 1 × data 1 = 1 GPUs of cluster 'one_h100' (1 × NVIDIA H100 SXM5 80GB): one vllm serve per replica.
# Option names as in:
#   vllm-project/vllm/vllm/engine/arg_utils.py@99d7eb5d6a51
#   vllm-project/vllm/vllm/entrypoints/openai/cli_args.py@789340fbad95
#   vllm-project/vllm/vllm/config/cache.py@002f10e0cfa1
#   vllm-project/vllm/vllm/engine/arg_utils.py@001999d2f360
#   vllm-project/vllm/vllm/envs.py (commit not reported)
set -euo pipefail

: "${MODEL:?set MODEL to the Hugging Face id or local path of llama3_8b}"

# replica 0: node 0, GPUs 0
CUDA_VISIBLE_DEVICES=0 vllm serve "${MODEL:?set MODEL to the Hugging Face id or local path of llama3_8b}" \
  --port 8000 \
  --tensor-parallel-size 1 \
  --pipeline-parallel-size 1 \
  --max-model-len 4096 \
  --max-num-seqs 32 \
  --max-num-batched-tokens 8192 \
  --dtype bfloat16 \
  --kv-cache-dtype auto \
  --gpu-memory-utilization 0.9
