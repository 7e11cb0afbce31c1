#!/usr/bin/python3
"""
An independent oracle for parplan's CPU reference model (runtime/reference/model.ts):
plain torch in float64, written from Hugging Face transformers' modeling code
(transformers 4.56: models/gpt2/modeling_gpt2.py, models/llama/modeling_llama.py,
models/mistral/modeling_mistral.py, models/qwen2/modeling_qwen2.py,
models/qwen3/modeling_qwen3.py, models/mixtral/modeling_mixtral.py,
models/qwen3_moe/modeling_qwen3_moe.py, modeling_rope_utils.py, masking_utils.py;
models/gemma2/modeling_gemma2.py at commit 006e86931247; later releases' layer_types), not from
parplan's code. It runs one causal forward pass over a whole prompt (no KV cache) and
prints the logits of every position.

stdin: JSON {"config": {...}, "weights": {hf_name: [shape, flat values]}, "tokens": [...]}
  config: model_type (gpt2 | llama | mistral | qwen2 | qwen3 | gemma2 | mixtral | qwen3_moe), hidden_size,
  num_attention_heads, num_key_value_heads, head_dim, num_hidden_layers, vocab_size,
  eps (layer_norm_epsilon / rms_norm_eps), rope_theta, rope_scaling (HF's dict or null),
  sliding_window (or null), tie_word_embeddings; gemma2 also query_pre_attn_scalar,
  attn_logit_softcapping, final_logit_softcapping (each or null) and torch_dtype (the
  dtype the embedding normalizer is rounded to); MoE: num_experts, num_experts_per_tok,
  moe_intermediate_size, norm_topk_prob (Mixtral: always true)
stdout: JSON [[logit, ...], ...] (one row per prompt position)
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)


def tensor(weights, name):
    t = weights[name]
    if isinstance(t, torch.Tensor):
        # test/oracle/train.py passes its parameters themselves, so that autograd reaches them
        return t
    shape, values = t
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


# --- modeling_rope_utils.py -------------------------------------------------------------
def inv_freq_of(cfg):
    dim = cfg["head_dim"]
    base = cfg["rope_theta"]
    # _compute_default_rope_parameters
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float64) / dim))
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = scaling["factor"]
    if kind == "linear":
        # _compute_linear_scaling_rope_parameters: inv_freq /= factor
        return inv_freq / factor
    if kind == "llama3":
        # _compute_llama3_parameters
        low_freq_factor = scaling["low_freq_factor"]
        high_freq_factor = scaling["high_freq_factor"]
        old_context_len = scaling["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    raise SystemExit(f"rope_scaling {kind} is not in this oracle")


# --- modeling_llama.py --------------------------------------------------------------------
def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def rms_norm(x, weight, eps):
    # LlamaRMSNorm / Qwen3RMSNorm: x * rsqrt(mean(x^2) + eps) * weight
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def attention_mask(n, sliding_window):
    q = torch.arange(n).view(n, 1)
    kv = torch.arange(n).view(1, n)
    allowed = kv <= q  # causal_mask_function
    if sliding_window is not None:
        allowed = allowed & (kv > q - sliding_window)  # sliding_window_overlay
    return torch.where(allowed, 0.0, float("-inf"))


def eager_attention(q, k, v, mask, groups):
    # repeat_kv, then softmax(q k^T * scaling + mask) v
    k = k.repeat_interleave(groups, dim=0)
    v = v.repeat_interleave(groups, dim=0)
    scores = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5) + mask
    return torch.softmax(scores, dim=-1) @ v


# --- modeling_mixtral.py (MixtralSparseMoeBlock), modeling_qwen3_moe.py (Qwen3MoeSparseMoeBlock) ----
def sparse_moe(cfg, w, p, h):
    mixtral = cfg["model_type"] == "mixtral"
    base = p + ("block_sparse_moe." if mixtral else "mlp.")
    names = ("w1", "w3", "w2") if mixtral else ("gate_proj", "up_proj", "down_proj")
    E, k = cfg["num_experts"], cfg["num_experts_per_tok"]
    router_logits = h @ tensor(w, base + "gate.weight").T
    routing_weights = torch.softmax(router_logits, dim=1)
    routing_weights, selected_experts = torch.topk(routing_weights, k, dim=-1)
    if mixtral or cfg["norm_topk_prob"]:
        routing_weights = routing_weights / routing_weights.sum(dim=-1, keepdim=True)
    final = torch.zeros_like(h)
    expert_mask = torch.nn.functional.one_hot(selected_experts, num_classes=E).permute(2, 1, 0)
    for e in range(E):
        idx, top_x = torch.where(expert_mask[e])
        if top_x.numel() == 0:
            continue
        x = h[top_x]
        gate_w, up_w, down_w = (tensor(w, base + f"experts.{e}.{n}.weight") for n in names)
        y = (torch.nn.functional.silu(x @ gate_w.T) * (x @ up_w.T)) @ down_w.T
        final.index_add_(0, top_x, y * routing_weights[top_x, idx, None])
    return final


def llama_family(cfg, w, tokens):
    mt = cfg["model_type"]
    H, KVH, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["eps"]
    n = len(tokens)
    x = tensor(w, "model.embed_tokens.weight")[torch.tensor(tokens)]
    freqs = torch.outer(torch.arange(n, dtype=torch.float64), inv_freq_of(cfg))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    window = cfg.get("sliding_window") if mt in ("mistral", "qwen2", "qwen3", "mixtral") else None
    mask = attention_mask(n, window)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, tensor(w, p + "input_layernorm.weight"), eps)

        def proj(name, heads):
            y = h @ tensor(w, p + f"self_attn.{name}_proj.weight").T
            if mt == "qwen2":
                y = y + tensor(w, p + f"self_attn.{name}_proj.bias")
            return y.view(n, heads, D)

        q, k, v = proj("q", H), proj("k", KVH), proj("v", KVH)
        if mt in ("qwen3", "qwen3_moe"):
            # Qwen3Attention: q_norm / k_norm over head_dim, on each head, before RoPE
            q = rms_norm(q, tensor(w, p + "self_attn.q_norm.weight"), eps)
            k = rms_norm(k, tensor(w, p + "self_attn.k_norm.weight"), eps)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = eager_attention(q, k, v, mask, H // KVH).transpose(0, 1).reshape(n, H * D)
        x = x + o @ tensor(w, p + "self_attn.o_proj.weight").T
        h = rms_norm(x, tensor(w, p + "post_attention_layernorm.weight"), eps)
        if "num_experts" in cfg:
            x = x + sparse_moe(cfg, w, p, h)
            continue
        gate = h @ tensor(w, p + "mlp.gate_proj.weight").T
        up = h @ tensor(w, p + "mlp.up_proj.weight").T
        x = x + (torch.nn.functional.silu(gate) * up) @ tensor(w, p + "mlp.down_proj.weight").T
    x = rms_norm(x, tensor(w, "model.norm.weight"), eps)
    head = tensor(w, "model.embed_tokens.weight" if cfg["tie_word_embeddings"] else "lm_head.weight")
    return x @ head.T


# --- gemma2/modeling_gemma2.py -----------------------------------------------------------
def gemma_rms_norm(x, weight, eps):
    # Gemma2RMSNorm: x * rsqrt(mean(x^2) + eps) * (1.0 + weight), in float32 there (float64 here)
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)) * (1.0 + weight)


def gelu_pytorch_tanh(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def softcapped(x, cap):
    return x if cap is None else torch.tanh(x / cap) * cap


def gemma2(cfg, w, tokens):
    H, KVH, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["eps"]
    n = len(tokens)
    x = tensor(w, "model.embed_tokens.weight")[torch.tensor(tokens)]
    # Gemma2Model: normalizer = torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[cfg["torch_dtype"]]
    x = x * torch.tensor(cfg["hidden_size"] ** 0.5, dtype=dtype).to(torch.float64)
    freqs = torch.outer(torch.arange(n, dtype=torch.float64), inv_freq_of(cfg))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    scaling = cfg["query_pre_attn_scalar"] ** -0.5
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        # layer_types: "sliding_attention" if (i + 1) % 2 else "full_attention" (even layers slide)
        mask = attention_mask(n, cfg["sliding_window"] if (i + 1) % 2 else None)
        h = gemma_rms_norm(x, tensor(w, p + "input_layernorm.weight"), eps)
        q, k, v = (
            (h @ tensor(w, p + f"self_attn.{name}_proj.weight").T).view(n, heads, D).transpose(0, 1)
            for name, heads in (("q", H), ("k", KVH), ("v", KVH))
        )
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # eager_attention_forward: q k^T * scaling, soft-capped, + mask, softmax, @ v
        k = k.repeat_interleave(H // KVH, dim=0)
        v = v.repeat_interleave(H // KVH, dim=0)
        scores = softcapped(q @ k.transpose(-1, -2) * scaling, cfg["attn_logit_softcapping"]) + mask
        o = (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(n, H * D)
        o = o @ tensor(w, p + "self_attn.o_proj.weight").T
        x = x + gemma_rms_norm(o, tensor(w, p + "post_attention_layernorm.weight"), eps)
        h = gemma_rms_norm(x, tensor(w, p + "pre_feedforward_layernorm.weight"), eps)
        gate = h @ tensor(w, p + "mlp.gate_proj.weight").T
        up = h @ tensor(w, p + "mlp.up_proj.weight").T
        m = (gelu_pytorch_tanh(gate) * up) @ tensor(w, p + "mlp.down_proj.weight").T
        x = x + gemma_rms_norm(m, tensor(w, p + "post_feedforward_layernorm.weight"), eps)
    x = gemma_rms_norm(x, tensor(w, "model.norm.weight"), eps)
    # Gemma2ForCausalLM: lm_head tied to embed_tokens; final_logit_softcapping
    head = tensor(w, "model.embed_tokens.weight" if cfg["tie_word_embeddings"] else "lm_head.weight")
    return softcapped(x @ head.T, cfg["final_logit_softcapping"])


# --- modeling_gpt2.py ---------------------------------------------------------------------
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2(cfg, w, tokens):
    H, C = cfg["num_attention_heads"], cfg["hidden_size"]
    D = C // H
    eps = cfg["eps"]
    n = len(tokens)

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (C,), tensor(w, name + ".weight"), tensor(w, name + ".bias"), eps)

    def conv1d(x, name):  # Conv1D: x @ W + b, W is [in, out]
        return x @ tensor(w, name + ".weight") + tensor(w, name + ".bias")

    x = tensor(w, "transformer.wte.weight")[torch.tensor(tokens)] + tensor(w, "transformer.wpe.weight")[:n]
    mask = attention_mask(n, None)
    for i in range(cfg["num_hidden_layers"]):
        p = f"transformer.h.{i}."
        q, k, v = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn").split(C, dim=-1)
        q, k, v = (t.view(n, H, D).transpose(0, 1) for t in (q, k, v))
        o = eager_attention(q, k, v, mask, 1).transpose(0, 1).reshape(n, C)
        x = x + conv1d(o, p + "attn.c_proj")
        x = x + conv1d(gelu_new(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    x = ln(x, "transformer.ln_f")
    head = tensor(w, "transformer.wte.weight" if cfg["tie_word_embeddings"] else "lm_head.weight")
    return x @ head.T


def main():
    job = json.load(sys.stdin)
    cfg = job["config"]
    run = {"gpt2": gpt2, "gemma2": gemma2}.get(cfg["model_type"], llama_family)
    with torch.no_grad():
        logits = run(cfg, job["weights"], job["tokens"])
    json.dump(logits.tolist(), sys.stdout)


if __name__ == "__main__":
    main()
