#!/usr/bin/env bash
# vLLM launch for plan 'serve_ep8' (test/export/fixtures/deepseek-v3.plan), written by parplan export.
# For vLLM main@99d7eb5d6a51 (vllm-project/vllm@99d7eb5d6a51), the only version parplan exports for (docs/export.md).
# tensor 8 × pipeline 1 × data 1 = 8 GPUs of cluster 'h200x8' (8 × NVIDIA H200 SXM 141GB): one engine.
# Experts: expert tensor 1 × expert 8 × expert data 1 over each stage's tensor × data ranks.
# vLLM reads the model's structure (256 experts, top 8, MLA, yarn rope scaling) from the checkpoint's config.json.
# Weights: fp8, group 128; vLLM reads the method from the checkpoint's quantization_config (no --quantization flag).
# Option names as in:
#   vllm-project/vllm/vllm/engine/arg_utils.py@99d7eb5d6a51
#   vllm-project/vllm/vllm/entrypoints/openai/cli_args.py@789340fbad95
#   vllm-project/vllm/vllm/config/cache.py@002f10e0cfa1
#   vllm-project/vllm/vllm/engine/arg_utils.py@001999d2f360
#   vllm-project/vllm/vllm/envs.py (commit not reported)
set -euo pipefail

: "${MODEL:?set MODEL to the Hugging Face id or local path of deepseek_v3_fp8}"

# one engine: node 0, GPUs 0,1,2,3,4,5,6,7
CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 vllm serve "${MODEL:?set MODEL to the Hugging Face id or local path of deepseek_v3_fp8}" \
  --port 8000 \
  --tensor-parallel-size 8 \
  --pipeline-parallel-size 1 \
  --max-model-len 8192 \
  --max-num-seqs 32 \
  --max-num-batched-tokens 8192 \
  --dtype bfloat16 \
  --kv-cache-dtype auto \
  --gpu-memory-utilization 0.9 \
  --enable-expert-parallel
