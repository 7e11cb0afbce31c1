"""
Independent oracle for parplan's LoRA accounting (test/memory/lora.test.ts), written from the LoRA
paper and PEFT's behaviour, not from parplan: builds the Hugging Face module tree of a small
decoder in plain torch (llama: self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, lm_head;
gpt2: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj as Linear of Conv1D's shapes), freezes it,
wraps each module PEFT's target matching reaches (name == target or endswith "." + target;
"all-linear": every Linear but lm_head) with lora_A (in → r) and lora_B (r → out), no bias, and
reports the trainable parameter count. Then it runs one adapted Linear (frozen base + branch,
with and without dropout) under torch.autograd.graph.saved_tensors_hooks and reports the bytes
the branch saves beyond the frozen base alone (distinct storages).
Input: a JSON list of cases on stdin. Output: a JSON list of answers on stdout.
"""
import json
import sys

import torch
import torch.nn as nn


class LoraLinear(nn.Module):
    def __init__(self, base, r, dropout):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(self.drop(x)))


def build(c):
    h, L = c["hidden"], c["layers"]
    hd = h // c["heads"]
    q, kv = c["heads"] * hd, c["kv_heads"] * hd
    f = c["ffn"]
    mods = {}
    for i in range(L):
        p = f"model.layers.{i}."
        if c["arch"] == "gpt2":
            mods[p + "attn.c_attn"] = (h, q + 2 * kv)
            mods[p + "attn.c_proj"] = (q, h)
            mods[p + "mlp.c_fc"] = (h, f)
            mods[p + "mlp.c_proj"] = (f, h)
        else:
            for n, s in [("q_proj", (h, q)), ("k_proj", (h, kv)), ("v_proj", (h, kv)), ("o_proj", (q, h))]:
                mods[p + "self_attn." + n] = s
            for n, s in [("gate_proj", (h, f)), ("up_proj", (h, f)), ("down_proj", (f, h))]:
                mods[p + "mlp." + n] = s
    mods["lm_head"] = (h, c["vocab"])
    model = nn.ModuleDict({k.replace(".", "_"): nn.Linear(i, o, bias=False, device="meta") for k, (i, o) in mods.items()})
    names = {k.replace(".", "_"): k for k in mods}
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = 0
    for key, m in list(model.items()):
        name = names[key]
        hit = any(
            (t == "all-linear" and name != "lm_head") or name == t or name.endswith("." + t) for t in c["targets"]
        )
        if hit:
            wrapped = LoraLinear(m, c["rank"], 0.0)
            model[key] = wrapped
            trainable += sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    return trainable


def saved_bytes(din, dout, r, tokens, dropout):
    torch.manual_seed(0)
    base = nn.Linear(din, dout, bias=False)
    base.weight.requires_grad_(False)
    # The layer input needs a gradient (it flows to earlier layers), as in a transformer.
    x = torch.randn(tokens, din, requires_grad=True)

    def run(module):
        seen = {}

        def pack(t):
            seen[t.data_ptr()] = t.numel()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = module(x)
        return seen, y

    base_seen, _ = run(base)
    lora = LoraLinear(base, r, dropout)
    lora.train()
    all_seen, _ = run(lora)
    params = {p.data_ptr() for p in lora.parameters()}
    # Element counts of what the branch keeps beyond the frozen base: not the input x (the layer's,
    # counted by the base recipe), not parameters (weights, not activations). Counts, not bytes: CPU
    # dropout keeps a float mask where CUDA's native_dropout keeps a bool one.
    return sorted(n for k, n in all_seen.items() if k not in base_seen and k != x.data_ptr() and k not in params)


def one(c):
    out = {"trainable": build(c)}
    if "saved" in c:
        s = c["saved"]
        out["saved"] = saved_bytes(s["din"], s["dout"], c["rank"], s["tokens"], s["dropout"])
    return out


# A list of cases in, a list of answers out (one process: importing torch takes seconds).
print(json.dumps([one(c) for c in json.load(sys.stdin)]))
