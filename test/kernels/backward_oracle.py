#!/usr/bin/python3
"""Independent oracle for the backward/optimizer references (runtime/reference/backward.ts,
optimizer.ts): plain torch float64 autograd, written from the ops' definitions (HF gelu_new,
LlamaRMSNorm, rotate_half RoPE, torch.nn.functional.cross_entropy, torch.optim.AdamW/SGD,
clip_grad_norm_), no parplan code.

stdin: JSON list of cases {"op": ..., ...}; stdout: JSON list of results (dicts of flat lists).
With --lines: one such request per input line, one answer per output line ({"error": ...} on a
failure), so a test pays torch's import once.
Each op's gradient is d(sum(out * dy))/d(input) for the given upstream dy.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def t(x, shape=None, grad=False):
    v = torch.tensor(x, dtype=torch.float64)
    if shape is not None:
        v = v.reshape(shape)
    return v.requires_grad_(grad)


def flat(x):
    return x.detach().reshape(-1).tolist()


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def linear(c):
    T, N, K = c["T"], c["N"], c["K"]
    x = t(c["x"], (T, K), True)
    w = t(c["w"], (N, K) if c["layout"] == "nk" else (K, N), True)
    b = t(c["b"], (N,), True)
    wt = w if c["layout"] == "nk" else w.t()
    y = x @ wt.t() + b
    (y * t(c["dy"], (T, N))).sum().backward()
    gw = w.grad + t(c["accW"], w.shape)
    return {"dx": flat(x.grad), "dw": flat(gw), "db": flat(b.grad + t(c["accB"]))}


def norm(c):
    R, C = c["rows"], c["cols"]
    x = t(c["x"], (R, C), True)
    w = t(c["w"], (C,), True)
    if c["kind"] == "layernorm":
        b = t(c["b"], (C,), True)
        y = F.layer_norm(x, (C,), w, b, c["eps"])
    else:
        b = None
        # LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * (offset + weight)
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"]) * (c["offset"] + w)
    (y * t(c["dy"], (R, C))).sum().backward()
    out = {"dx": flat(x.grad), "dw": flat(w.grad)}
    if b is not None:
        out["db"] = flat(b.grad)
    return out


def act(c):
    dy = t(c["dy"])
    if c["kind"] == "gelu":
        x = t(c["x"], None, True)
        (gelu_new(x) * dy).sum().backward()
        return {"dx": flat(x.grad)}
    g = t(c["gate"], None, True)
    u = t(c["up"], None, True)
    a = F.silu(g) if c["kind"] == "swiglu" else F.gelu(g, approximate="tanh")
    (a * u * dy).sum().backward()
    return {"dgate": flat(g.grad), "dup": flat(u.grad)}


def rope(c):
    T, H, D, R, S = c["T"], c["heads"], c["headDim"], c["rotaryDim"], c["stride"]
    x = t(c["x"], (T, S), True)
    inv = t(c["invFreq"])
    pos = t(c["positions"])
    ang = pos[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    heads = x[:, : H * D].reshape(T, H, D)
    xr, rest = heads[..., :R], heads[..., R:]
    rot = torch.cat([-xr[..., R // 2 :], xr[..., : R // 2]], -1)
    y = torch.cat([xr * cos + rot * sin, rest], -1).reshape(T, H * D)
    y = torch.cat([y, x[:, H * D :]], -1)
    (y * t(c["dy"], (T, S))).sum().backward()
    return {"dx": flat(x.grad)}


def attention(c):
    T, H, KVH, D, seq = c["T"], c["heads"], c["kvHeads"], c["headDim"], c["seq"]
    q = t(c["q"], (T, H, D), True)
    k = t(c["k"], (T, KVH, D), True)
    v = t(c["v"], (T, KVH, D), True)
    scale = c.get("scale") or 1.0 / math.sqrt(D)
    idx = torch.arange(T)
    same = (idx[:, None] // seq) == (idx[None, :] // seq)
    allowed = same & (idx[None, :] <= idx[:, None])
    if c.get("window") is not None:
        allowed = allowed & (idx[None, :] > idx[:, None] - c["window"])
    g = H // KVH
    kk = k.repeat_interleave(g, dim=1)
    vv = v.repeat_interleave(g, dim=1)
    s = torch.einsum("thd,jhd->htj", q, kk) * scale
    s = s.masked_fill(~allowed[None], float("-inf"))
    lse = torch.logsumexp(s, -1)  # [H, T]
    o = torch.einsum("htj,jhd->thd", torch.softmax(s, -1), vv)
    (o * t(c["dO"], (T, H, D))).sum().backward()
    return {"out": flat(o), "lse": flat(lse.t()), "dq": flat(q.grad), "dk": flat(k.grad), "dv": flat(v.grad)}


def embedding(c):
    V, Hd = c["vocab"], c["hidden"]
    table = t([0.0] * (V * Hd), (V, Hd), True)
    ids = torch.tensor(c["ids"], dtype=torch.long)
    (F.embedding(ids, table) * t(c["dx"], (len(c["ids"]), Hd))).sum().backward()
    return {"grad": flat(table.grad)}


def cross_entropy(c):
    T, V = c["T"], c["vocab"]
    x = t(c["logits"], (T, V), True)
    labels = torch.tensor(c["labels"], dtype=torch.long)
    loss_rows = F.cross_entropy(x, labels, reduction="none")
    (loss_rows.sum() * c["scale"]).backward()
    return {"loss": flat(loss_rows), "dlogits": flat(x.grad)}


def optimizer(c):
    n = len(c["p"])
    p = torch.nn.Parameter(t(c["p"]))
    if c["kind"] == "adamw":
        opt = torch.optim.AdamW([p], lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"], weight_decay=c["weightDecay"])
    else:
        opt = torch.optim.SGD([p], lr=c["lr"], weight_decay=c["weightDecay"])
    norms = []
    for g in c["grads"]:
        p.grad = t(g)
        norms.append(float(torch.nn.utils.clip_grad_norm_([p], c["maxNorm"])))
        opt.step()
    out = {"p": flat(p), "norms": norms}
    if c["kind"] == "adamw":
        st = opt.state[p]
        out["m"] = flat(st["exp_avg"])
        out["v"] = flat(st["exp_avg_sq"])
    assert len(out["p"]) == n
    return out


OPS = {
    "linear": linear,
    "norm": norm,
    "act": act,
    "rope": rope,
    "attention": attention,
    "embedding": embedding,
    "cross_entropy": cross_entropy,
    "optimizer": optimizer,
}

if __name__ == "__main__":
    if "--lines" in sys.argv:
        import traceback

        for line in sys.stdin:
            try:
                out = [OPS[c["op"]](c) for c in json.loads(line)]
            except Exception:
                out = {"error": traceback.format_exc()}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
    else:
        json.dump([OPS[c["op"]](c) for c in json.load(sys.stdin)], sys.stdout)
