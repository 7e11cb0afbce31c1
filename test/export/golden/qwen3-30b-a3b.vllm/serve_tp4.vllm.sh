#!/usr/bin/env bash
# vLLM launch for plan 'serve_tp4' (test/export/fixtures/qwen3-30b-a3b.plan), written by parplan export.
# For vLLM main@99d7eb5d6a51 (vllm-project/vllm@99d7eb5d6a51), the only version parplan exports for (docs/export.md).
# tensor 4 × pipeline 1 × data 2 = 8 GPUs of cluster 'h100x8' (8 × NVIDIA H100 SXM5 80GB): one vllm serve per replica, each on its own port (a load balancer goes in front).
# vLLM reads the model's structure (128 experts, top 8) from the checkpoint's config.json.
# Option names as in:
#   vllm-project/vllm/vllm/engine/arg_utils.py@99d7eb5d6a51
#   vllm-project/vllm/vllm/entrypoints/openai/cli_args.py@789340fbad95
#   vllm-project/vllm/vllm/config/cache.py@002f10e0cfa1
#   vllm-project/vllm/vllm/engine/arg_utils.py@001999d2f360
#   vllm-project/vllm/vllm/envs.py (commit not reported)
set -euo pipefail

: "${MODEL:?set MODEL to the Hugging Face id or local path of qwen3_30b_a3b}"

pids=()
# replica 0: node 0, GPUs 0,1,2,3
CUDA_VISIBLE_DEVICES=0,1,2,3 vllm serve "${MODEL:?set MODEL to the Hugging Face id or local path of qwen3_30b_a3b}" \
  --port 8000 \
  --tensor-parallel-size 4 \
  --pipeline-parallel-size 1 \
  --max-model-len 8192 \
  --max-num-seqs 64 \
  --max-num-batched-tokens 8192 \
  --dtype bfloat16 \
  --kv-cache-dtype auto \
  --gpu-memory-utilization 0.9 &
pids+=("$!")
# replica 1: node 0, GPUs 4,5,6,7
CUDA_VISIBLE_DEVICES=4,5,6,7 vllm serve "${MODEL:?set MODEL to the Hugging Face id or local path of qwen3_30b_a3b}" \
  --port 8001 \
  --tensor-parallel-size 4 \
  --pipeline-parallel-size 1 \
  --max-model-len 8192 \
  --max-num-seqs 64 \
  --max-num-batched-tokens 8192 \
  --dtype bfloat16 \
  --kv-cache-dtype auto \
  --gpu-memory-utilization 0.9 &
pids+=("$!")
for pid in "${pids[@]}"; do
  wait "$pid"
done
