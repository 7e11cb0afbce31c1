#!/usr/bin/env python3
"""Independent parameter and KV-cache oracle for the Hugging Face configs in examples/configs/.

Written from the Hugging Face modeling code and vLLM's KV-cache code, not from parplan: for each
config it lists every parameter tensor (name and shape) as transformers' modeling_<type>.py creates
it, sums the sizes, and computes vLLM v1's KV-cache page sizes with the formulas of
vllm/v1/kv_cache_interface.py and kv_cache_utils.py (VLLM_KV_SOURCE). It imports nothing from this repository and needs only the Python
standard library.

Regenerate the reference file with:
    /usr/bin/python3 test/models/reference_params.py > test/models/reference-counts.json
and check every exact published figure in published-counts.json against the oracle with --check.

Sources (huggingface/transformers, src/transformers/models/<type>/, at the commit of the copy read):
  gpt2         modeling_gpt2.py         GPT2Model: wte, wpe, h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2,
                                         mlp.c_fc, mlp.c_proj} (Conv1D: weight [in, out] + bias), ln_f;
                                         lm_head tied to wte. attn.bias/masked_bias are buffers, not
                                         parameters.
  llama        modeling_llama.py        q/k/v/o_proj (bias = attention_bias), gate/up/down_proj (bias =
                                         mlp_bias), input_layernorm, post_attention_layernorm, norm.
  mistral      modeling_mistral.py      as llama, no biases; head_dim = config.head_dim or h/a.
  mixtral      modeling_mixtral.py      block_sparse_moe.gate [E, h]; experts.N.{w1, w2, w3}.
  qwen2        modular_qwen2.py         q/k/v_proj bias=True, o_proj bias=False.
  qwen3        modular_qwen3.py         no qkv bias; q_norm, k_norm = RMSNorm(head_dim).
  qwen2_moe    modular_qwen2_moe.py     qkv bias; mlp.gate [E, h], experts, shared_expert (width
                                         shared_expert_intermediate_size), shared_expert_gate [1, h];
                                         a layer is sparse iff i not in mlp_only_layers and
                                         num_experts > 0 and (i + 1) % decoder_sparse_step == 0.
  qwen3_moe    modular_qwen3_moe.py     q/k norms, no qkv bias, no shared expert; same sparse rule.
  gemma2       modular_gemma2.py        four RMSNorms per layer (input, post_attention, pre_feedforward,
                                         post_feedforward); tied lm_head.
  gemma3_text  modular_gemma3.py        gemma2's four norms + q_norm/k_norm(head_dim); tied lm_head.
  deepseek_v2  modular_deepseek_v2.py   MLA: q_proj (q_lora_rank null) or q_a_proj + q_a_layernorm +
                                         q_b_proj; kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj.
                                         MoE iff i >= first_k_dense_replace; gate [E, h]; shared_experts
                                         width moe_intermediate_size * n_shared_experts.
  deepseek_v3  modeling_deepseek_v3.py  as v2, MoE iff i >= first_k_dense_replace, plus
                                         gate.e_score_correction_bias [E] (a persistent buffer: in the
                                         checkpoint, not in num_parameters()). The MTP layer
                                         (model.layers.61) is in _keys_to_ignore_on_load_unexpected,
                                         so transformers does not load it; it is reported separately
                                         (structure from deepseek-ai/DeepSeek-V3 README_WEIGHTS.md).
  gpt_oss      modeling_gpt_oss.py      q/k/v/o_proj with bias, self_attn.sinks [a]; mlp.router
                                         weight [E, h] + bias [E]; experts.gate_up_proj [E, h, 2f],
                                         gate_up_proj_bias [E, 2f], down_proj [E, f, h],
                                         down_proj_bias [E, h].
The commits of the copies read are listed in MODELING_SOURCES below. Names follow the Hub checkpoints (newer
transformers fuse experts into 3-D tensors on load; the element counts are the same).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.normpath(os.path.join(HERE, '..', '..', 'examples', 'configs'))

# The copy of each file that was read (huggingface/transformers; "stored" = the commit the search index holds).
TF = 'huggingface/transformers src/transformers/models/'
MODELING_SOURCES = {
    'gpt2': TF + 'gpt2/modeling_gpt2.py @0010f60284ab4b9d14b7df9c6525b1a2ad44e640',
    'llama': TF + 'llama/modeling_llama.py @5dd4a63548857797727ae73eeb6a6e886ea02a3e (stored)',
    'mistral': TF + 'mistral/modeling_mistral.py (as llama, no biases)',
    'mixtral': TF + 'mixtral/modeling_mixtral.py @af3efdd71ee5b568dfdb71bb41d316df830147af (stored)',
    'qwen2': TF + 'qwen2/modular_qwen2.py @ecbf7a09 (q/k/v bias=True, o_proj bias=False)',
    'qwen3': TF + 'qwen3/modular_qwen3.py @02e8340b967815b4a5417c6273a7774aae298a03',
    'qwen2_moe': TF + 'qwen2_moe/modular_qwen2_moe.py @001f85b38fb432858ace93f18622f07cec46d874',
    'qwen3_moe': TF + 'qwen3_moe/modular_qwen3_moe.py @00eb1166685205e8b2c75ab33eee83dc77b18fca',
    'gemma2': TF + 'gemma2/modular_gemma2.py @213da5a04374bcc99f879631d23687b4fa3bfce7 (stored)',
    'gemma3_text': TF + 'gemma3/modular_gemma3.py @d903f323453edf4511f3eb8a5fe21e992a75d774 (stored)',
    'deepseek_v2': TF + 'deepseek_v2/modular_deepseek_v2.py @000c33fdfde12e1ffafbfcdb3c926df5727a00b6',
    'deepseek_v3': TF + 'deepseek_v3/modeling_deepseek_v3.py @00b676f8f0489b88652a31d70751cc540dd06305',
    'gpt_oss': TF + 'gpt_oss/modeling_gpt_oss.py @00d4b3d2142cb4ced2f51b90614b5d26bc045015',
}

# Checkpoint tensors that transformers registers as buffers, not nn.Parameters: they are in the safetensors files
# (so in the Hub's tensor sum) but not in model.num_parameters().
BUFFER_SUFFIXES = ('e_score_correction_bias',)

VLLM_KV_SOURCE = (
    'vllm-project/vllm vllm/v1/kv_cache_interface.py @001cabc1be16a59a70d720ed61a13b678c060a18: '
    'AttentionSpec/FullAttentionSpec.real_page_size_bytes = block_size * num_kv_heads * (head_size + head_size_v) * '
    'dtype_size (= 2 * block_size * num_kv_heads * head_size * dtype_size when head_size_v == head_size); '
    'MLAAttentionSpec.real_page_size_bytes = block_size * num_kv_heads * head_size * dtype_size with num_kv_heads 1 and '
    'head_size kv_lora_rank + qk_rope_head_dim; FullAttentionSpec.max_memory_usage_bytes = cdiv(max_model_len, '
    'block_size) * page_size_bytes; SlidingWindowSpec.max_memory_usage_bytes = (cdiv(min(sliding_window - 1 + '
    'max_num_batched_tokens, max_model_len), block_size) + 1) * page_size_bytes. '
    'vllm/v1/core/kv_cache_utils.py @001cabc1be16a59a70d720ed61a13b678c060a18: _get_kv_cache_groups_uniform_page_size '
    '(group_size = smallest bucket, or largest if largest < 1.5 x smallest; cdiv(n, group_size) groups per bucket) and '
    'get_kv_cache_config_from_groups (group_size tensors of page_size * num_blocks). '
    'vllm/v1/core/single_type_kv_cache_manager.py @002f34915134cfd1a7d6ed777edd67dcc2289466 (stored version '
    '@129ab7c60cbb8eb11e875373e67f7e521b74aa30): SlidingWindowManager frees blocks before token '
    'num_computed_tokens - sliding_window + 1. vllm/attention/layer.py (stored @5d4420da433893084e40e5ec8ead7ea37a9dfcc9): '
    'a layer without a per-layer window takes cache_config.sliding_window, the model-level window, so '
    'Mistral-7B-v0.1 (sliding_window 4096, no layer_types) slides on every layer.'
)


def cdiv(a, b):
    return -(-a // b)


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class Tensors:
    """Ordered list of (name, shape, module) with the module a breakdown category."""

    def __init__(self):
        self.items = []

    def add(self, name, shape, module):
        self.items.append((name, tuple(shape), module))

    def linear(self, name, out_f, in_f, bias, module):
        # nn.Linear(in, out) holds weight [out, in] and bias [out].
        self.add(name + '.weight', (out_f, in_f), module)
        if bias:
            self.add(name + '.bias', (out_f,), module)

    def total(self):
        return sum(numel(s) for _, s, _ in self.items)


def head_dim_of(c):
    hd = c.get('head_dim')
    return hd if hd else c['hidden_size'] // c['num_attention_heads']


def gated_mlp(t, prefix, h, f, module, bias=False):
    t.linear(prefix + '.gate_proj', f, h, bias, module)
    t.linear(prefix + '.up_proj', f, h, bias, module)
    t.linear(prefix + '.down_proj', h, f, bias, module)


def gqa_attention(t, p, c, qkv_bias, o_bias, qk_norm):
    h, a, g, d = c['hidden_size'], c['num_attention_heads'], c.get('num_key_value_heads') or c['num_attention_heads'], head_dim_of(c)
    t.linear(p + '.self_attn.q_proj', a * d, h, qkv_bias, 'attention')
    t.linear(p + '.self_attn.k_proj', g * d, h, qkv_bias, 'attention')
    t.linear(p + '.self_attn.v_proj', g * d, h, qkv_bias, 'attention')
    t.linear(p + '.self_attn.o_proj', h, a * d, o_bias, 'attention')
    if qk_norm:
        t.add(p + '.self_attn.q_norm.weight', (d,), 'norms')
        t.add(p + '.self_attn.k_norm.weight', (d,), 'norms')


def embeddings_and_head(t, c, tied):
    V, h = c['vocab_size'], c['hidden_size']
    t.add('model.embed_tokens.weight', (V, h), 'embedding')
    t.add('model.norm.weight', (h,), 'norms')
    if not tied:
        t.add('lm_head.weight', (V, h), 'lm_head')


def tied_of(c, default):
    v = c.get('tie_word_embeddings')
    return default if v is None else bool(v)


# ---- families ----


def build_gpt2(c):
    t = Tensors()
    h, L, V, P = c['n_embd'], c['n_layer'], c['vocab_size'], c['n_positions']
    inner = c.get('n_inner') or 4 * h
    t.add('transformer.wte.weight', (V, h), 'embedding')
    t.add('transformer.wpe.weight', (P, h), 'embedding')
    for i in range(L):
        p = 'transformer.h.%d' % i
        t.add(p + '.ln_1.weight', (h,), 'norms')
        t.add(p + '.ln_1.bias', (h,), 'norms')
        # Conv1D(nf, nx): weight [nx, nf], bias [nf].
        t.add(p + '.attn.c_attn.weight', (h, 3 * h), 'attention')
        t.add(p + '.attn.c_attn.bias', (3 * h,), 'attention')
        t.add(p + '.attn.c_proj.weight', (h, h), 'attention')
        t.add(p + '.attn.c_proj.bias', (h,), 'attention')
        t.add(p + '.ln_2.weight', (h,), 'norms')
        t.add(p + '.ln_2.bias', (h,), 'norms')
        t.add(p + '.mlp.c_fc.weight', (h, inner), 'mlp')
        t.add(p + '.mlp.c_fc.bias', (inner,), 'mlp')
        t.add(p + '.mlp.c_proj.weight', (inner, h), 'mlp')
        t.add(p + '.mlp.c_proj.bias', (h,), 'mlp')
    t.add('transformer.ln_f.weight', (h,), 'norms')
    t.add('transformer.ln_f.bias', (h,), 'norms')
    if not tied_of(c, True):
        t.add('lm_head.weight', (V, h), 'lm_head')
    return t


def build_dense(c, qkv_bias, o_bias, qk_norm, tied_default=False, four_norms=False, mlp_bias=False):
    t = Tensors()
    h = c['hidden_size']
    for i in range(c['num_hidden_layers']):
        p = 'model.layers.%d' % i
        gqa_attention(t, p, c, qkv_bias, o_bias, qk_norm)
        gated_mlp(t, p + '.mlp', h, c['intermediate_size'], 'mlp', mlp_bias)
        t.add(p + '.input_layernorm.weight', (h,), 'norms')
        t.add(p + '.post_attention_layernorm.weight', (h,), 'norms')
        if four_norms:
            t.add(p + '.pre_feedforward_layernorm.weight', (h,), 'norms')
            t.add(p + '.post_feedforward_layernorm.weight', (h,), 'norms')
    embeddings_and_head(t, c, tied_of(c, tied_default))
    return t


def build_llama(c):
    return build_dense(c, bool(c.get('attention_bias')), bool(c.get('attention_bias')), False, mlp_bias=bool(c.get('mlp_bias')))


def build_mistral(c):
    return build_dense(c, False, False, False)


def build_qwen2(c):
    return build_dense(c, True, False, False)


def build_qwen3(c):
    return build_dense(c, bool(c.get('attention_bias')), bool(c.get('attention_bias')), True)


def build_gemma2(c):
    return build_dense(c, bool(c.get('attention_bias')), bool(c.get('attention_bias')), False, tied_default=True, four_norms=True)


def build_gemma3_text(c):
    return build_dense(c, bool(c.get('attention_bias')), bool(c.get('attention_bias')), True, tied_default=True, four_norms=True)


def build_mixtral(c):
    t = Tensors()
    h, f, E = c['hidden_size'], c['intermediate_size'], c['num_local_experts']
    for i in range(c['num_hidden_layers']):
        p = 'model.layers.%d' % i
        gqa_attention(t, p, c, False, False, False)
        t.linear(p + '.block_sparse_moe.gate', E, h, False, 'router')
        for e in range(E):
            q = p + '.block_sparse_moe.experts.%d' % e
            t.linear(q + '.w1', f, h, False, 'experts')
            t.linear(q + '.w2', h, f, False, 'experts')
            t.linear(q + '.w3', f, h, False, 'experts')
        t.add(p + '.input_layernorm.weight', (h,), 'norms')
        t.add(p + '.post_attention_layernorm.weight', (h,), 'norms')
    embeddings_and_head(t, c, tied_of(c, False))
    return t


def qwen_sparse(c, i):
    return (i not in (c.get('mlp_only_layers') or [])) and c.get('num_experts', 0) > 0 and (i + 1) % c.get('decoder_sparse_step', 1) == 0


def build_qwen_moe(c, qkv_bias, qk_norm, shared):
    t = Tensors()
    h, E, fe = c['hidden_size'], c['num_experts'], c['moe_intermediate_size']
    for i in range(c['num_hidden_layers']):
        p = 'model.layers.%d' % i
        gqa_attention(t, p, c, qkv_bias, False, qk_norm)
        if qwen_sparse(c, i):
            t.linear(p + '.mlp.gate', E, h, False, 'router')
            for e in range(E):
                gated_mlp(t, p + '.mlp.experts.%d' % e, h, fe, 'experts')
            if shared:
                gated_mlp(t, p + '.mlp.shared_expert', h, c['shared_expert_intermediate_size'], 'shared_experts')
                t.linear(p + '.mlp.shared_expert_gate', 1, h, False, 'router')
        else:
            gated_mlp(t, p + '.mlp', h, c['intermediate_size'], 'mlp')
        t.add(p + '.input_layernorm.weight', (h,), 'norms')
        t.add(p + '.post_attention_layernorm.weight', (h,), 'norms')
    embeddings_and_head(t, c, tied_of(c, False))
    return t


def build_qwen2_moe(c):
    return build_qwen_moe(c, True, False, True)


def build_qwen3_moe(c):
    return build_qwen_moe(c, bool(c.get('attention_bias')), True, False)


def mla_attention(t, p, c):
    h, a = c['hidden_size'], c['num_attention_heads']
    rq, rkv = c.get('q_lora_rank'), c['kv_lora_rank']
    dn, dr, dv = c['qk_nope_head_dim'], c['qk_rope_head_dim'], c['v_head_dim']
    bias = bool(c.get('attention_bias'))
    if rq is None:
        t.linear(p + '.self_attn.q_proj', a * (dn + dr), h, False, 'attention')
    else:
        t.linear(p + '.self_attn.q_a_proj', rq, h, bias, 'attention')
        t.add(p + '.self_attn.q_a_layernorm.weight', (rq,), 'attention')
        t.linear(p + '.self_attn.q_b_proj', a * (dn + dr), rq, False, 'attention')
    t.linear(p + '.self_attn.kv_a_proj_with_mqa', rkv + dr, h, bias, 'attention')
    t.add(p + '.self_attn.kv_a_layernorm.weight', (rkv,), 'attention')
    t.linear(p + '.self_attn.kv_b_proj', a * (dn + dv), rkv, False, 'attention')
    t.linear(p + '.self_attn.o_proj', h, a * dv, bias, 'attention')


def deepseek_sparse(c, i, v3):
    # transformers' DeepseekV2DecoderLayer and DeepseekV3DecoderLayer both test only layer_idx >= first_k_dense_replace
    # (DeepSeek's own remote code also tests i % moe_layer_freq == 0; moe_layer_freq is 1 in both configs here).
    return c.get('n_routed_experts') is not None and i >= c['first_k_dense_replace']


def deepseek_layer(t, p, c, i, v3):
    h, fe, E = c['hidden_size'], c['moe_intermediate_size'], c['n_routed_experts']
    mla_attention(t, p, c)
    if deepseek_sparse(c, i, v3):
        t.add(p + '.mlp.gate.weight', (E, h), 'router')
        if v3:
            t.add(p + '.mlp.gate.e_score_correction_bias', (E,), 'router')
        for e in range(E):
            gated_mlp(t, p + '.mlp.experts.%d' % e, h, fe, 'experts')
        gated_mlp(t, p + '.mlp.shared_experts', h, fe * c['n_shared_experts'], 'shared_experts')
    else:
        gated_mlp(t, p + '.mlp', h, c['intermediate_size'], 'mlp')
    t.add(p + '.input_layernorm.weight', (h,), 'norms')
    t.add(p + '.post_attention_layernorm.weight', (h,), 'norms')


def build_deepseek(c, v3):
    t = Tensors()
    for i in range(c['num_hidden_layers']):
        deepseek_layer(t, 'model.layers.%d' % i, c, i, v3)
    embeddings_and_head(t, c, tied_of(c, False))
    return t


def deepseek_mtp(c):
    """The checkpoint's MTP modules (README_WEIGHTS.md): a full decoder layer + enorm, hnorm, eh_proj [h, 2h],
    shared_head.norm, and stored copies of embed_tokens and shared_head.head."""
    t = Tensors()
    h, V, L = c['hidden_size'], c['vocab_size'], c['num_hidden_layers']
    for k in range(c.get('num_nextn_predict_layers') or 0):
        i = L + k
        p = 'model.layers.%d' % i
        deepseek_layer(t, p, c, i, True)
        t.add(p + '.enorm.weight', (h,), 'mtp')
        t.add(p + '.hnorm.weight', (h,), 'mtp')
        t.add(p + '.eh_proj.weight', (h, 2 * h), 'mtp')
        t.add(p + '.shared_head.norm.weight', (h,), 'mtp')
        t.add(p + '.embed_tokens.weight', (V, h), 'mtp_shared_copies')
        t.add(p + '.shared_head.head.weight', (V, h), 'mtp_shared_copies')
    return t


def build_deepseek_v2(c):
    return build_deepseek(c, False)


def build_deepseek_v3(c):
    return build_deepseek(c, True)


def build_gpt_oss(c):
    t = Tensors()
    h, a, E, f = c['hidden_size'], c['num_attention_heads'], c['num_local_experts'], c['intermediate_size']
    for i in range(c['num_hidden_layers']):
        p = 'model.layers.%d' % i
        gqa_attention(t, p, c, True, True, False)
        t.add(p + '.self_attn.sinks', (a,), 'attention')
        t.add(p + '.mlp.router.weight', (E, h), 'router')
        t.add(p + '.mlp.router.bias', (E,), 'router')
        t.add(p + '.mlp.experts.gate_up_proj', (E, h, 2 * f), 'experts')
        t.add(p + '.mlp.experts.gate_up_proj_bias', (E, 2 * f), 'experts')
        t.add(p + '.mlp.experts.down_proj', (E, f, h), 'experts')
        t.add(p + '.mlp.experts.down_proj_bias', (E, h), 'experts')
        t.add(p + '.input_layernorm.weight', (h,), 'norms')
        t.add(p + '.post_attention_layernorm.weight', (h,), 'norms')
    embeddings_and_head(t, c, tied_of(c, False))
    return t


BUILDERS = {
    'gpt2': build_gpt2,
    'llama': build_llama,
    'mistral': build_mistral,
    'mixtral': build_mixtral,
    'qwen2': build_qwen2,
    'qwen3': build_qwen3,
    'qwen2_moe': build_qwen2_moe,
    'qwen3_moe': build_qwen3_moe,
    'gemma2': build_gemma2,
    'gemma3_text': build_gemma3_text,
    'deepseek_v2': build_deepseek_v2,
    'deepseek_v3': build_deepseek_v3,
    'gpt_oss': build_gpt_oss,
}


def breakdown(t, num_layers):
    """Sums per module; per-layer figures for layer 0 and the last layer (dense and MoE layers differ)."""
    out = {}
    for name, shape, module in t.items:
        out[module] = out.get(module, 0) + numel(shape)
    per_layer = {}
    for idx in sorted({0, num_layers - 1}):
        prefix = ('transformer.h.%d.' % idx) if t.items[0][0].startswith('transformer.') else ('model.layers.%d.' % idx)
        d = {}
        for name, shape, module in t.items:
            if name.startswith(prefix):
                d[module] = d.get(module, 0) + numel(shape)
        d['total'] = sum(d.values())
        per_layer['layer_%d' % idx] = d
    return out, per_layer


def active_params(c, t):
    """Parameters one token touches: all non-expert tensors plus k of E routed experts per MoE layer."""
    k = c.get('num_experts_per_tok') or c.get('experts_per_token')
    E = c.get('num_local_experts') or c.get('num_experts') or c.get('n_routed_experts')
    if not k or not E:
        return None
    experts = sum(numel(s) for _, s, m in t.items if m == 'experts')
    return t.total() - experts + experts * k // E


# ---- quantized weight bytes ----


def linear_shapes(t):
    """(name, out, in) of every 2-D projection weight inside the decoder layers (what AWQ/GPTQ quantize)."""
    out = []
    for name, shape, module in t.items:
        if name.startswith('model.layers.') and name.endswith('.weight') and len(shape) == 2 and 'norm' not in name:
            out.append((name, shape[0], shape[1]))
    return out


def awq_bytes(c, t):
    """AWQ GEMM int4 (vLLM awq.py / AutoAWQ layout): per linear in->out, qweight [in, out/8] int32,
    qzeros [in/G, out/8] int32, scales [in/G, out] fp16; every other tensor in torch_dtype (fp16)."""
    q = c['quantization_config']
    bits, G = q['bits'], q['group_size']
    pack = 32 // bits
    total = 0
    quantized = 0
    for name, out_f, in_f in linear_shapes(t):
        if name.endswith('gate.weight') or name.endswith('shared_expert_gate.weight'):
            continue  # routers are nn.Linear but AutoAWQ leaves them unquantized; none in the dense configs here.
        total += in_f * (out_f // pack) * 4 + (in_f // G) * (out_f // pack) * 4 + (in_f // G) * out_f * 2
        quantized += out_f * in_f
    rest = t.total() - quantized
    # Biases of quantized linears stay 16-bit; they are in `rest` already (only weights were subtracted).
    return total + rest * 2, quantized


def mxfp4_bytes(c, t):
    """gpt-oss MXFP4: expert gate_up_proj/down_proj stored as *_blocks (2 values/byte) + *_scales (1 byte per 32
    values) = 17/32 byte per parameter; everything else bf16 (modules_to_not_convert)."""
    mx = sum(numel(s) for n, s, _ in t.items if n.endswith('.experts.gate_up_proj') or n.endswith('.experts.down_proj'))
    return mx * 17 // 32 + (t.total() - mx) * 2, mx


def fp8_quantized(name, shape, module):
    return (name.startswith('model.layers.') and len(shape) == 2 and 'norm' not in name and not name.endswith('mlp.gate.weight')
            and module not in ('mtp', 'mtp_shared_copies'))


def scale_tensors(t_main, t_mtp):
    """One weight_scale_inv tensor per fp8 linear."""
    return sum(1 for t in (t_main, t_mtp) for n, s, m in t.items if fp8_quantized(n, s, m))


def fp8_block_bytes(c, t_main, t_mtp):
    """DeepSeek-V3 FP8 checkpoint: every 2-D linear in the decoder layers is e4m3 (1 B/param) with a float32
    weight_scale_inv [cdiv(out,128), cdiv(in,128)]; routers (mlp.gate.weight) stay bf16, e_score_correction_bias
    fp32; embeddings, lm_head, norms, eh_proj and MTP shared copies bf16."""
    bo, bi = c['quantization_config']['weight_block_size']
    total = 0
    scales = 0
    for t in (t_main, t_mtp):
        for name, shape, module in t.items:
            n = numel(shape)
            if name.endswith('e_score_correction_bias'):
                total += 4 * n
            elif fp8_quantized(name, shape, module):
                s = cdiv(shape[0], bo) * cdiv(shape[1], bi)
                scales += s
                total += n + 4 * s
            else:
                total += 2 * n
    return total, scales


# ---- vLLM KV cache ----

DTYPE_BYTES = {'bfloat16': 2, 'float16': 2, 'auto': 2}


def layer_types(c):
    """Which layers vLLM gives a sliding-window spec. Explicit layer_types wins (gpt-oss); Gemma-2 alternates
    (even layers sliding); Gemma-3 uses sliding_window_pattern (full iff (i + 1) % pattern == 0); Mistral with
    sliding_window set slides on every layer; Qwen2/3 configs here have use_sliding_window false."""
    L, mt = c.get('num_hidden_layers') or c['n_layer'], c['model_type']
    if c.get('layer_types'):
        return list(c['layer_types'])
    if mt == 'gemma2':
        return ['sliding_attention' if i % 2 == 0 else 'full_attention' for i in range(L)]
    if mt == 'gemma3_text':
        pat = c.get('sliding_window_pattern') or 6
        return ['full_attention' if (i + 1) % pat == 0 else 'sliding_attention' for i in range(L)]
    if mt in ('mistral', 'mixtral') and c.get('sliding_window'):
        return ['sliding_attention'] * L
    if mt in ('qwen2', 'qwen3', 'qwen2_moe', 'qwen3_moe') and c.get('use_sliding_window'):
        mwl = c.get('max_window_layers', L)
        return ['sliding_attention' if i >= mwl else 'full_attention' for i in range(L)]
    return ['full_attention'] * L


def vllm_groups(types):
    """vLLM's _get_kv_cache_groups_uniform_page_size (kv_cache_utils.py): bucket layers by spec; group_size is the
    smallest bucket, or the largest when largest < 1.5 x smallest; each bucket splits into cdiv(n, group_size) groups
    (the last padded). A model with one spec is one group holding every layer (_get_kv_cache_groups_uniform_spec).
    Returns (group_size, [(type, layers_in_group)])."""
    buckets = {}
    for x in types:
        buckets[x] = buckets.get(x, 0) + 1
    if len(buckets) == 1:
        (t, n), = buckets.items()
        return n, [(t, n)]
    mn, mx = min(buckets.values()), max(buckets.values())
    gs = mx if mx < mn * 1.5 else mn
    groups = []
    for t in sorted(buckets):
        n = buckets[t]
        for g in range(cdiv(n, gs)):
            groups.append((t, len(range(g, n, cdiv(n, gs)))))
    return gs, groups


def kv_reference(c, block_size=16, seq=32768, max_num_batched_tokens=8192, dtype_bytes=2):
    """bf16 KV cache as vLLM v1 sizes it (kv_cache_interface.py, kv_cache_utils.py, single_type_kv_cache_manager.py)."""
    mt = c['model_type']
    L = c.get('num_hidden_layers') or c.get('n_layer')
    at = {'max_model_len': seq, 'block_size': block_size, 'max_num_batched_tokens': max_num_batched_tokens, 'dtype_bytes': dtype_bytes}
    if mt in ('deepseek_v2', 'deepseek_v3'):
        # MLA layers register one KV head of size kv_lora_rank + qk_rope_head_dim; the page has no K/V factor of 2.
        head = c['kv_lora_rank'] + c['qk_rope_head_dim']
        page = block_size * 1 * head * dtype_bytes
        return {
            'spec': 'MLAAttentionSpec',
            'num_kv_heads': 1,
            'head_size': head,
            'bytes_per_token_per_layer': page // block_size,
            'page_size_bytes': page,
            'layers': L,
            'bytes_per_token': page // block_size * L,
            'at': at,
            'blocks_per_request': cdiv(seq, block_size),
            'request_bytes_all_layers': cdiv(seq, block_size) * page * L,
        }
    if mt == 'gpt2':
        g, d = c['n_head'], c['n_embd'] // c['n_head']
    else:
        g, d = c.get('num_key_value_heads') or c['num_attention_heads'], head_dim_of(c)
    page = 2 * block_size * g * d * dtype_bytes
    types = layer_types(c)
    n_sliding = sum(1 for x in types if x == 'sliding_attention')
    n_full = L - n_sliding
    full_blocks = cdiv(seq, block_size)
    ref = {
        'spec': 'FullAttentionSpec' if n_sliding == 0 else ('SlidingWindowSpec' if n_full == 0 else 'FullAttentionSpec+SlidingWindowSpec'),
        'num_kv_heads': g,
        'head_size': d,
        'bytes_per_token_per_layer': page // block_size,
        'page_size_bytes': page,
        'layers': L,
        'full_attention_layers': n_full,
        'sliding_window_layers': n_sliding,
        'bytes_per_token_full_layers': page // block_size * n_full,
        'at': at,
        'full_layer_blocks_per_request': full_blocks,
    }
    if n_sliding:
        W = c['sliding_window']
        # SlidingWindowSpec.max_memory_usage_bytes: the admission / max-concurrency worst case per request.
        sw_worst = cdiv(min(W - 1 + max_num_batched_tokens, seq), block_size) + 1
        # SlidingWindowManager frees whole blocks before token n - W + 1; decoding the last token of a seq-token
        # request (n = seq - 1 computed) holds the allocated blocks minus the freed ones.
        n = seq - 1
        sw_live = cdiv(n + 1, block_size) - max(0, n - W + 1) // block_size
        gs, groups = vllm_groups(types)
        need = {'full_attention': full_blocks, 'sliding_attention': sw_worst}
        worst_blocks = sum(need[t] for t, _ in groups)
        live = {'full_attention': full_blocks, 'sliding_attention': sw_live}
        live_blocks = sum(live[t] for t, _ in groups)
        ref.update({
            'sliding_window': W,
            'sliding_layer_blocks_per_request_worst_case': sw_worst,
            'sliding_layer_max_memory_usage_bytes': sw_worst * page,
            'sliding_layer_blocks_live_at_last_decode_step': sw_live,
            'kv_cache_groups': {
                'group_size': gs,
                'groups': [{'type': t, 'layers': n_layers} for t, n_layers in groups],
                'padding_layers': gs * len(groups) - L,
                'block_bytes': page * gs,
                'request_worst_case_blocks': worst_blocks,
                'request_worst_case_bytes': worst_blocks * page * gs,
                'request_live_blocks_at_last_decode_step': live_blocks,
                'request_live_bytes_at_last_decode_step': live_blocks * page * gs,
            },
        })
    else:
        ref['request_bytes_all_layers'] = full_blocks * page * L
    return ref


# ---- report ----


def report(path):
    with open(path) as f:
        c = json.load(f)
    mt = c['model_type']
    t = BUILDERS[mt](c)
    L = c.get('num_hidden_layers') or c.get('n_layer')
    modules, per_layer = breakdown(t, L)
    buffers = sum(numel(sh) for n, sh, _ in t.items if n.endswith(BUFFER_SUFFIXES))
    r = {
        'config': os.path.relpath(path, os.path.join(HERE, '..', '..')),
        'model_type': mt,
        'modeling_source': MODELING_SOURCES[mt],
        'tensors': len(t.items),
        'total_params': t.total(),
        'transformers_num_parameters': t.total() - buffers,
        'modules': modules,
        'per_layer': per_layer,
        'tied_embeddings': not any(n == 'lm_head.weight' for n, _, _ in t.items),
    }
    act = active_params(c, t)
    if act is not None:
        r['active_params'] = act
        emb = sum(numel(s) for n, s, _ in t.items if n == 'model.embed_tokens.weight')
        r['active_params_without_input_embedding'] = act - emb
    q = c.get('quantization_config') or {}
    if mt == 'deepseek_v3' and (c.get('num_nextn_predict_layers') or 0) > 0:
        mtp = deepseek_mtp(c)
        unique = sum(numel(s) for _, s, m in mtp.items if m != 'mtp_shared_copies')
        r['mtp'] = {
            'note': 'transformers ignores model.layers.61.* on load; the checkpoint stores it with its own copies of '
            'embed_tokens and shared_head.head',
            'mtp_params_unique': unique,
            'mtp_params_stored': mtp.total(),
            'total_params_with_mtp_unique': t.total() + unique,
            'total_params_with_mtp_stored': t.total() + mtp.total(),
        }
        if q.get('quant_method') == 'fp8':
            b, scales = fp8_block_bytes(c, t, mtp)
            r['checkpoint_tensor_count'] = len(t.items) + len(mtp.items) + scale_tensors(t, mtp)
            r['quantized'] = {
                'method': 'fp8 block %s' % q['weight_block_size'],
                'weight_scale_inv_params': scales,
                'weight_bytes_with_mtp': b,
            }
    if q.get('quant_method') == 'mxfp4':
        b, mx = mxfp4_bytes(c, t)
        r['quantized'] = {'method': 'mxfp4', 'mxfp4_params': mx, 'weight_bytes': b}
    if q.get('quant_method') == 'awq':
        b, qn = awq_bytes(c, t)
        r['quantized'] = {'method': 'awq int%d g%d' % (q['bits'], q['group_size']), 'quantized_params': qn, 'weight_bytes': b}
    r['kv_cache_bf16'] = kv_reference(c)
    return r


def checks(r, pubs):
    """Each exact published figure against the oracle's: a mismatch must be explained, not averaged away."""
    out = []
    for p in pubs:
        if p.get('kind') != 'exact':
            continue
        if 'total_params' in p:
            out.append({'figure': 'total_params', 'published': p['total_params'], 'oracle': r['total_params'],
                        'equal': p['total_params'] == r['total_params']})
        if 'weight_bytes' in p:
            ours = (r.get('quantized') or {}).get('weight_bytes')
            out.append({'figure': 'weight_bytes', 'published': p['weight_bytes'], 'oracle': ours, 'equal': p['weight_bytes'] == ours})
        if 'tensor_count_with_mtp_and_scales' in p:
            ours = r.get('checkpoint_tensor_count')
            out.append({'figure': 'checkpoint_tensor_count', 'published': p['tensor_count_with_mtp_and_scales'], 'oracle': ours,
                        'equal': p['tensor_count_with_mtp_and_scales'] == ours})
    return out


def main():
    files = sorted(f for f in os.listdir(CONFIG_DIR) if f.endswith('.json'))
    published = {}
    pub_path = os.path.join(HERE, 'published-counts.json')
    if os.path.exists(pub_path):
        with open(pub_path) as f:
            published = json.load(f)
    models = {}
    for f in files:
        r = report(os.path.join(CONFIG_DIR, f))
        if f in published:
            r['published'] = published[f]
            r['checks'] = checks(r, published[f])
        models[f] = r
    out = {
        'generated_by': 'test/models/reference_params.py (independent of parplan; see its docstring for sources)',
        'kv_cache_source': VLLM_KV_SOURCE,
        'models': models,
    }
    if '--check' in sys.argv[1:]:
        # Exit non-zero when any exact published figure disagrees with the oracle (a self-test of the oracle).
        bad = [(f, c) for f, r in models.items() for c in r.get('checks', []) if not c['equal']]
        for f, c in bad:
            sys.stderr.write('%s: %s published %s, oracle %s\n' % (f, c['figure'], c['published'], c['oracle']))
        n = sum(len(r.get('checks', [])) for r in models.values())
        sys.stderr.write('%d of %d published exact figures agree\n' % (n - len(bad), n))
        sys.exit(1 if bad else 0)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
