#!/usr/bin/env bash
# vLLM launch for plan 'mixtral_tp2' (examples/mixtral-8x7b-h100-serve.plan), written by parplan export.
# For vLLM main@99d7eb5d6a51 (vllm-project/vllm@99d7eb5d6a51), the only version parplan exports for (docs/export.md).
# tensor 2 × pipeline 1 × data 1 = 2 GPUs of cluster 'h100x2' (2 × NVIDIA H100 SXM5 80GB): one vllm serve per replica.
# vLLM reads the model's structure (8 experts, top 2) from the checkpoint's config.json.
# Option names as in:
#   vllm-project/vllm/vllm/engine/arg_utils.py@99d7eb5d6a51
#   vllm-project/vllm/vllm/entrypoints/openai/cli_args.py@789340fbad95
#   vllm-project/vllm/vllm/config/cache.py@002f10e0cfa1
#   vllm-project/vllm/vllm/engine/arg_utils.py@001999d2f360
#   vllm-project/vllm/vllm/envs.py (commit not reported)
set -euo pipefail

: "${MODEL:?set MODEL to the Hugging Face id or local path of mixtral_8x7b}"

# replica 0: node 0, GPUs 0,1
CUDA_VISIBLE_DEVICES=0,1 vllm serve "${MODEL:?set MODEL to the Hugging Face id or local path of mixtral_8x7b}" \
  --port 8000 \
  --tensor-parallel-size 2 \
  --pipeline-parallel-size 1 \
  --max-model-len 8192 \
  --max-num-seqs 32 \
  --max-num-batched-tokens 8192 \
  --dtype bfloat16 \
  --kv-cache-dtype auto \
  --gpu-memory-utilization 0.9
