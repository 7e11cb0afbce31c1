/**
 * Reference Mixture-of-Experts MLP (f64 inside each op, f32 between ops), as transformers 4.56
 * computes MixtralSparseMoeBlock (models/mixtral/modeling_mixtral.py) and Qwen3MoeSparseMoeBlock
 * (models/qwen3_moe/modeling_qwen3_moe.py):
 *
 *   router_logits = gate(x)                          (nn.Linear hidden → experts, no bias)
 *   p = softmax(router_logits, dtype=float)          (over the experts)
 *   w, e = topk(p, k)                                (descending; on ties the lower expert index first)
 *   w /= sum(w)                                      (Mixtral always; Qwen3-MoE when norm_topk_prob)
 *   out = Σ_j w_j · down_e_j(silu(gate_e_j(x)) · up_e_j(x))
 *
 * Ties: torch.topk leaves the order of equal values unspecified (CPU torch 1.13 returns experts
 * 6, 5, 4 for eight equal probabilities), so no rule matches HF on every tie; exact ties need
 * equal router logits (e.g. a zero hidden state). The rule here and in the runtime's router
 * kernel is the lower expert index first, and test/kernels/moe.test.ts pins it.
 */
import { silu } from './activations.js';
import { matmul } from './matmul.js';

export interface Routing {
  /** [T, k]: each token's chosen experts, by descending probability. */
  experts: Uint32Array;
  /** [T, k]: their routing weights (f32, as HF casts them back to the hidden dtype). */
  weights: Float32Array;
}

/** Top-k routing of router logits [T, E]: softmax in f64, top-k (lower index first on ties), renormalised when `normTopK`. */
export function route(logits: ArrayLike<number>, T: number, E: number, k: number, normTopK: boolean): Routing {
  if (!(k >= 1 && k <= E)) throw new Error(`route: top-k ${k} is not in 1 … ${E}`);
  const experts = new Uint32Array(T * k);
  const weights = new Float32Array(T * k);
  const p = new Float64Array(E);
  for (let t = 0; t < T; t++) {
    let m = -Infinity;
    for (let e = 0; e < E; e++) m = Math.max(m, logits[t * E + e]!);
    let s = 0;
    for (let e = 0; e < E; e++) s += p[e] = Math.exp(logits[t * E + e]! - m);
    for (let e = 0; e < E; e++) p[e]! /= s;
    const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => p[b]! - p[a]! || a - b);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += p[order[j]!]!;
    for (let j = 0; j < k; j++) {
      experts[t * k + j] = order[j]!;
      weights[t * k + j] = normTopK ? p[order[j]!]! / sum : p[order[j]!]!;
    }
  }
  return { experts, weights };
}

export interface MoeWeights {
  /** Router [experts, hidden]. */
  router: Float32Array;
  /** Expert e's gate and up [ffn, hidden] and down [hidden, ffn]. */
  gate(e: number): Float32Array;
  up(e: number): Float32Array;
  down(e: number): Float32Array;
}

/** The MoE MLP's output [T, hidden] for its input x [T, hidden] (before the residual). */
export function moe(
  x: Float32Array,
  T: number,
  h: number,
  w: MoeWeights,
  o: { experts: number; topK: number; ffn: number; normTopK: boolean },
  trace?: (name: string, t: Float32Array) => void,
): Float32Array {
  const logits = matmul(x, w.router, T, o.experts, h);
  trace?.('router_logits', logits);
  const r = route(logits, T, o.experts, o.topK, o.normTopK);
  trace?.('routing_weights', r.weights);
  const out = new Float32Array(T * h);
  const acc = new Float64Array(h);
  for (let t = 0; t < T; t++) {
    const xt = x.subarray(t * h, (t + 1) * h);
    acc.fill(0);
    for (let j = 0; j < o.topK; j++) {
      const e = r.experts[t * o.topK + j]!;
      const g = matmul(xt, w.gate(e), 1, o.ffn, h);
      const u = matmul(xt, w.up(e), 1, o.ffn, h);
      const a = new Float32Array(o.ffn);
      for (let i = 0; i < o.ffn; i++) a[i] = silu(g[i]!) * u[i]!;
      const d = matmul(a, w.down(e), 1, h, o.ffn);
      const wt = r.weights[t * o.topK + j]!;
      for (let c = 0; c < h; c++) acc[c]! += wt * d[c]!;
    }
    for (let c = 0; c < h; c++) out[t * h + c] = acc[c]!;
  }
  return out;
}
