#!/usr/bin/python3
"""
An independent training oracle: plain torch in float64, the loss, gradients, global grad
norm and optimizer step of a tiny GPT-2 or Llama, as Hugging Face and PyTorch define them,
written from transformers 4.56 (src/transformers/models/gpt2/modeling_gpt2.py,
models/llama/modeling_llama.py for the forward; loss/loss_utils.py `ForCausalLMLoss`: labels
shifted by one, `fixed_cross_entropy` with mean reduction) and torch's own
`torch.nn.utils.clip_grad_norm_` and `torch.optim.AdamW` / `torch.optim.SGD`, not from parplan's
code. The forward is test/reference/oracle.py's (one independent forward, imported), its
weights looked up as leaf tensors so that autograd reaches them.

argv[1]: a safetensors file, or a directory with model.safetensors (or the
  model.safetensors.index.json shards) and config.json. The safetensors format is read here
  (no python3-safetensors in Debian): u64 little-endian header length N, N bytes of JSON
  {name: {dtype, shape, data_offsets: [begin, end]}}, then the data, row-major little-endian;
  F32, F64, BF16 and F16 are read, everything becomes float64.
stdin: JSON {
  "config": Hugging Face config.json fields (default: the directory's config.json); gpt2:
     n_embd, n_head, n_layer, vocab_size, layer_norm_epsilon, tie_word_embeddings (default
     true); llama: hidden_size, num_attention_heads, num_key_value_heads, head_dim,
     num_hidden_layers, vocab_size, rms_norm_eps, rope_theta, rope_scaling,
     tie_word_embeddings (default false),
  "batch": [[seq + 1 token ids], ...] (the global batch, used at every step) or
  "batches": one such batch per step,
  "optimizer": {"kind": "adamw" | "sgd", "lr", "betas": [b1, b2], "eps", "weight_decay",
     "no_decay": [regular expressions searched in each HF name: those get weight decay 0],
     "clip": max global grad norm or null},
  "steps": N,
  "grads": true to print step 1's gradients (before clipping),
  "fd": {"eps": h, "at": [[name, flat index], ...]}: central differences of step 1's loss
     (the script checking itself),
  "mixed": "bf16" for 16-bit weights with an fp32 master (precision = bf16): the file's values
     are the master; every step's forward and backward use the master rounded to bfloat16 (to
     float32 first, then bfloat16, each round to nearest even: torch's casts), the gradient is
     that of the rounded weights, and the optimizer steps the master (in float64 here) — PyTorch
     AMP's fp32 parameters with a bf16 compute copy, Megatron's Float16OptimizerWithFloat16Params
     (NVIDIA/Megatron-LM megatron/core/optimizer/optimizer.py at 0011998: fp32 main params stepped,
     then copied into the bf16 model params)
}
stdout: JSON {"steps": [{"loss", "gradNorm"}, ...] (gradNorm before clipping),
  "weights": {name: [flat values after N steps]} (mixed: the bf16 weights), "masters"?: {name: [...]} (mixed: the
  fp32 masters, here float64), "grads"?: {name: [...]}, "fd"?: [[analytic, numeric], ...]}
"""
import json
import os
import re
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import oracle  # noqa: E402  (test/reference/oracle.py: the forward)

torch.set_default_dtype(torch.float64)

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in DTYPES:
            raise SystemExit(f"{path}: tensor {name} has dtype {entry['dtype']}, not one of {sorted(DTYPES)}")
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[entry["dtype"]]) if end > begin else torch.zeros(0)
        out[name] = t.to(torch.float64).reshape(entry["shape"])
    return out


def read_weights(path):
    if not os.path.isdir(path):
        return read_safetensors(path)
    single = os.path.join(path, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(path, "model.safetensors.index.json")) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for name in files:
        out.update(read_safetensors(os.path.join(path, name)))
    return out


def oracle_config(hf):
    """The forward's config from Hugging Face config.json fields (GPT2Config / LlamaConfig names and defaults)."""
    mt = hf["model_type"]
    if mt == "gpt2":
        return {
            "model_type": "gpt2",
            "hidden_size": hf["n_embd"],
            "num_attention_heads": hf["n_head"],
            "num_hidden_layers": hf["n_layer"],
            "vocab_size": hf["vocab_size"],
            "eps": hf.get("layer_norm_epsilon", 1e-5),
            "tie_word_embeddings": hf.get("tie_word_embeddings", True),
        }
    if mt == "llama":
        heads = hf["num_attention_heads"]
        return {
            "model_type": "llama",
            "hidden_size": hf["hidden_size"],
            "num_attention_heads": heads,
            "num_key_value_heads": hf.get("num_key_value_heads") or heads,
            "head_dim": hf.get("head_dim") or hf["hidden_size"] // heads,
            "num_hidden_layers": hf["num_hidden_layers"],
            "vocab_size": hf["vocab_size"],
            "eps": hf.get("rms_norm_eps", 1e-6),
            "rope_theta": hf.get("rope_theta", 10000.0),
            "rope_scaling": hf.get("rope_scaling"),
            "tie_word_embeddings": hf.get("tie_word_embeddings", False),
        }
    raise SystemExit(f"model_type {mt} is not in the training oracle (gpt2, llama)")


def forward_names(cfg, names):
    """The file's name → the forward's name: GPT-2's checkpoints may omit the `transformer.` prefix."""
    if cfg["model_type"] != "gpt2":
        return {n: n for n in names}
    return {n: n if n.startswith("transformer.") or n.startswith("lm_head.") else "transformer." + n for n in names}


def loss_of(cfg, params, batch):
    """Mean next-token cross-entropy over every token of the global batch (ForCausalLMLoss, mean)."""
    run = oracle.gpt2 if cfg["model_type"] == "gpt2" else oracle.llama_family
    logits, labels = [], []
    for seq in batch:
        logits.append(run(cfg, params, seq[:-1]))
        labels.append(torch.tensor(seq[1:], dtype=torch.int64))
    return torch.nn.functional.cross_entropy(torch.cat(logits), torch.cat(labels), reduction="mean")


def main():
    path = sys.argv[1]
    job = json.load(sys.stdin)
    hf = job.get("config")
    if hf is None:
        with open(os.path.join(path, "config.json")) as f:
            hf = json.load(f)
    cfg = oracle_config(hf)
    loaded = read_weights(path)
    rename = forward_names(cfg, loaded)
    params = {rename[n]: t.clone().requires_grad_(True) for n, t in loaded.items()}
    mixed = job.get("mixed")
    if mixed not in (None, "bf16"):
        raise SystemExit(f"mixed = {mixed}: only bf16")
    # mixed: the optimizer steps the masters; the forward's parameters are their bf16 roundings, refreshed every step
    stepped = {n: t.detach().clone() for n, t in params.items()} if mixed else params
    opt = job["optimizer"]
    steps = job["steps"]
    batches = job["batches"] if "batches" in job else [job["batch"]] * steps
    if len(batches) < steps:
        raise SystemExit(f"{len(batches)} batches for {steps} steps")

    no_decay = [re.compile(p) for p in opt.get("no_decay", [])]
    decay = [stepped[rename[n]] for n in loaded if not any(p.search(n) for p in no_decay)]
    keep = [stepped[rename[n]] for n in loaded if any(p.search(n) for p in no_decay)]
    groups = [{"params": decay}, {"params": keep, "weight_decay": 0.0}]
    wd = opt.get("weight_decay", 0.0)
    if opt.get("kind", "adamw") == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=opt["lr"], betas=tuple(opt.get("betas", (0.9, 0.999))), eps=opt.get("eps", 1e-8), weight_decay=wd)
    else:
        optimizer = torch.optim.SGD(groups, lr=opt["lr"], weight_decay=wd)

    out = {"steps": []}
    ordered = list(stepped.values())
    for step in range(steps):
        optimizer.zero_grad(set_to_none=False)
        if mixed:
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(to_bf16(stepped[n]))
                    p.grad = None
        loss = loss_of(cfg, params, batches[step])
        loss.backward()
        if mixed:
            for n, p in params.items():
                stepped[n].grad = p.grad.clone()
        if step == 0 and job.get("grads"):
            out["grads"] = {n: params[rename[n]].grad.reshape(-1).tolist() for n in loaded}
        if step == 0 and job.get("fd"):
            out["fd"] = finite_differences(cfg, params, rename, batches[0], job["fd"])
        clip = opt.get("clip")
        # clip_grad_norm_ returns the total norm before clipping; with no clip, the same norm, nothing scaled
        norm = torch.nn.utils.clip_grad_norm_(ordered, clip if clip is not None else float("inf"))
        out["steps"].append({"loss": loss.item(), "gradNorm": norm.item()})
        optimizer.step()
    if mixed:
        out["masters"] = {n: stepped[rename[n]].reshape(-1).tolist() for n in loaded}
        out["weights"] = {n: to_bf16(stepped[rename[n]]).reshape(-1).tolist() for n in loaded}
    else:
        out["weights"] = {n: params[rename[n]].detach().reshape(-1).tolist() for n in loaded}
    json.dump(out, sys.stdout)


def to_bf16(t):
    """float64 → float32 → bfloat16 (round to nearest even at each cast), back to float64 exactly."""
    return t.to(torch.float32).to(torch.bfloat16).to(torch.float64)


def finite_differences(cfg, params, rename, batch, fd):
    h = fd["eps"]
    pairs = []
    with torch.no_grad():
        for name, i in fd["at"]:
            p = params[rename[name]]
            flat = p.view(-1)
            x = flat[i].item()
            flat[i] = x + h
            up = loss_of(cfg, params, batch).item()
            flat[i] = x - h
            down = loss_of(cfg, params, batch).item()
            flat[i] = x
            pairs.append([p.grad.view(-1)[i].item(), (up - down) / (2 * h)])
    return pairs


if __name__ == "__main__":
    main()
