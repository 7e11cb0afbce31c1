#!/usr/bin/env bash
# The GPU benchmarks, on a machine with an NVIDIA GPU (e.g. the H200 of the `device` tool):
#   ../shared/gpu/prepare.sh          # here, after npm ci: packs Node, node_modules, the Vulkan loader
#   run: carry [".gpu"], command: source .gpu/enter.sh && bash bench/gpu/run.sh
# Writes $OUT/gpu-bench.json (or ./gpu-bench.json): WGSL matmul at 8192³ (f32, and f16 on tensor
# cores) next to torch.matmul; GPT-2-124M-shaped decode tokens/s at batch 1 and 32 on the runtime
# (the batching gain) next to Hugging Face transformers eager.
set -uo pipefail
out="${OUT:-.}/gpu-bench.json"
dawn='enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'
{
  echo '{'
  echo '"wgsl_matmul":' "$(timeout 300 node --import tsx bench/gpu/matmul.ts --size 8192 --dawn "$dawn" 2>/dev/null || echo null),"
  echo '"torch":' "$(timeout 300 python3 bench/gpu/torch_ref.py 8192 2>/dev/null || echo null),"
  echo '"runtime_gpt2_124m":' "$(timeout 300 node --import tsx bench/serve.ts --layers 12 --hidden 768 --vocab 50257 --batch 32 --tokens 64 --dawn "$dawn" --json 2>/dev/null || echo null)"
  echo '}'
} > "$out"
cat "$out"
