"""Saved-tensor bytes per token of one eager Llama block, as autograd keeps them for backward.

The independent reference for src/memory/recipes.ts eagerLayerBytesPerToken: a Hugging Face
LlamaDecoderLayer written out from transformers' modeling_llama.py (LlamaRMSNorm upcasting to
fp32, q/k/v/o projections, rotate-half RoPE with cos/sin cast to the hidden dtype, SwiGLU MLP),
counted with torch.autograd.graph.saved_tensors_hooks. The attention core is left out (a leaf
tensor stands for its output; torch 1.13 has no scaled_dot_product_attention): its saved q, k,
v, output and log-sum-exp are the formula's SDPA terms, not checked here.

Usage: saved_tensors.py MODE h a g d f s   (MODE: autocast = fp32 parameters under CPU bf16
autocast; bf16 = bf16 parameters and input, no autocast, as FSDP2's MixedPrecisionPolicy runs).
Prints JSON {per_token, mean_inputs_per_token}: mean_inputs is what torch 1.13's mean() saves of
its input (later releases save only its sizes: derivatives.yaml mean.dim, self.sym_sizes()).
"""
import json
import sys

import torch

mode = sys.argv[1]
h, a, g, d, f, s = (int(x) for x in sys.argv[2:8])
torch.manual_seed(0)


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(h))

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        variance = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + 1e-6)
        return self.weight * x.to(dtype)


def linear(i, o):
    return torch.nn.Linear(i, o, bias=False)


n1, n2 = RMSNorm(), RMSNorm()
q, k, v, o = linear(h, a * d), linear(h, g * d), linear(h, g * d), linear(a * d, h)
gate, up, down = linear(h, f), linear(h, f), linear(f, h)
modules = (n1, n2, q, k, v, o, gate, up, down)
cos, sin = torch.randn(1, s, 1, d), torch.randn(1, s, 1, d)


def rotate_half(x):
    return torch.cat((-x[..., d // 2 :], x[..., : d // 2]), -1)


saved = {}
means = {}


def pack(t):
    key = (t.data_ptr(), t.dtype, tuple(t.shape))
    saved[key] = t.numel() * t.element_size()
    if t.grad_fn is not None and type(t.grad_fn).__name__ == "PowBackward0":
        means[key] = saved[key]
    return t


def block(x, core_dtype):
    hs = n1(x)
    qq = q(hs).view(1, s, a, d)
    kk = k(hs).view(1, s, g, d)
    vv = v(hs).view(1, s, g, d)
    c, sn = cos.to(hs.dtype), sin.to(hs.dtype)
    qq * c + rotate_half(qq) * sn
    kk * c + rotate_half(kk) * sn
    core_out = torch.zeros(1, s, a * d, dtype=core_dtype, requires_grad=True)
    x = x + o(core_out)
    hs = n2(x)
    return x + down(torch.nn.functional.silu(gate(hs)) * up(hs))


with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    if mode == "autocast":
        x = torch.randn(1, s, h, requires_grad=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            block(x, torch.bfloat16)
    else:
        for m in modules:
            m.to(torch.bfloat16)
        x = torch.randn(1, s, h, dtype=torch.bfloat16, requires_grad=True)
        block(x, torch.bfloat16)


def activation(shape):
    """Per-token activations: [s, width] or [1, s, width]; not weights, casts of weights, cos/sin or the rsqrt column."""
    widths = (h, f, a * d, g * d)
    if len(shape) == 2:
        return shape[0] == s and shape[1] in widths
    return len(shape) == 3 and shape[1] == s and shape[2] in widths


total = sum(b for (_, _, shape), b in saved.items() if activation(shape))
mean_inputs = sum(b for (_, _, shape), b in means.items() if activation(shape))
print(json.dumps({"per_token": total / s, "mean_inputs_per_token": mean_inputs / s}))
