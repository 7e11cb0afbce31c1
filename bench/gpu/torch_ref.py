"""PyTorch references on the same GPU, for bench/gpu/run.sh: torch.matmul f32 (TF32 off)
and f16 at SIZE³, and GPT-2-124M-shaped decode tokens/s at batch 1 and 32 with
Hugging Face transformers in eager mode (random weights: no network there) when
transformers is installed, else a note. Prints one JSON line."""
import json, sys, time

import torch

size = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
out = {"device": torch.cuda.get_device_name(0), "size": size}
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def tflops(dtype, iters=10):
    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    torch.matmul(a, b)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    return 2 * size**3 / ((time.perf_counter() - t) / iters) / 1e12


out["torch_f32_tflops"] = tflops(torch.float32)
out["torch_f16_tflops"] = tflops(torch.float16)

try:
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config()).cuda().eval()

    def decode_tps(batch, new_tokens=64, prompt=8):
        ids = torch.randint(0, 50257, (batch, prompt), device="cuda")
        with torch.no_grad():
            model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize()
            t = time.perf_counter()
            model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize()
        return batch * new_tokens / (time.perf_counter() - t)

    out["hf_gpt2_tokens_per_s_batch1"] = decode_tps(1)
    out["hf_gpt2_tokens_per_s_batch32"] = decode_tps(32)
except ImportError as e:
    out["hf_gpt2"] = f"transformers not installed: {e}"

print(json.dumps(out))
