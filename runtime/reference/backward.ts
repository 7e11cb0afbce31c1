/**
 * Reference backward passes (f64 arithmetic and f64 results): the definitions the training
 * kernels (runtime/kernels/*-backward.ts, cross-entropy.ts) are tested against, themselves
 * checked against torch float64 autograd (test/kernels/backward_oracle.py).
 *
 * Conventions, the same as the kernels': activations row-major [T, …]; a weight W of a linear
 * layer is [N, K] ('nk', nn.Linear) or [K, N] ('kn', GPT-2's Conv1D); gradients of parameters
 * accumulate into `acc` when given (microbatches add up), else start from zero. Training
 * attention runs over T tokens made of sequences of `seq` tokens each (token t is position
 * t mod seq of sequence ⌊t / seq⌋), causal within its sequence.
 */

import { linearF64 } from './matmul.js';

export type WLayout = 'nk' | 'kn';

function zeros(n: number, acc?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(n);
  if (acc) {
    if (acc.length !== n) throw new Error(`accumulator has ${acc.length} elements, want ${n}`);
    for (let i = 0; i < n; i++) out[i] = acc[i]!;
  }
  return out;
}

// ---------------------------------------------------------------- linear layers

/** dX[T, K] = dY[T, N] · W (W as the forward's C = X·Wᵀ reads it). */
export function linearGradInput(
  dY: ArrayLike<number>,
  W: ArrayLike<number>,
  T: number,
  N: number,
  K: number,
  layout: WLayout = 'nk',
): Float64Array {
  // dX[t, k] = Σₙ dY[t, n]·W[n, k]: a forward matmul over n whose weight is W read the other way round.
  return linearF64(dY, W, T, K, N, layout === 'nk' ? 'kn' : 'nk');
}

/** dW (+)= dYᵀ · X, in W's layout: dW[n, k] = Σₜ dY[t, n]·X[t, k]. */
export function linearGradWeight(
  dY: ArrayLike<number>,
  X: ArrayLike<number>,
  T: number,
  N: number,
  K: number,
  layout: WLayout = 'nk',
  acc?: ArrayLike<number>,
): Float64Array {
  const dW = zeros(N * K, acc);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += dY[t * N + n]! * X[t * K + k]!;
      const i = layout === 'nk' ? n * K + k : k * N + n;
      dW[i] = dW[i]! + s;
    }
  return dW;
}

/** db[n] (+)= Σₜ dY[t, n]. */
export function biasGrad(dY: ArrayLike<number>, T: number, N: number, acc?: ArrayLike<number>): Float64Array {
  const db = zeros(N, acc);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) db[n] = db[n]! + dY[t * N + n]!;
  return db;
}

// ---------------------------------------------------------------- norms

/** The statistics a norm's forward saves: mean (LayerNorm only) and rstd = 1/√(var + eps) per row. */
export function normStats(
  kind: 'layernorm' | 'rmsnorm',
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  eps: number,
): { mean: Float64Array; rstd: Float64Array } {
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    if (kind === 'layernorm') {
      for (let c = 0; c < cols; c++) m += x[r * cols + c]!;
      m /= cols;
    }
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c]! - m) ** 2;
    mean[r] = m;
    rstd[r] = 1 / Math.sqrt(v / cols + eps);
  }
  return { mean, rstd };
}

/**
 * LayerNorm / RMSNorm backward from the saved x, rstd (and mean; RMSNorm: pass zeros or omit).
 * x̂ = (x − mean)·rstd, y = x̂·(offset + γ) (+ β). With g = dy·(offset + γ):
 *   LayerNorm: dx = rstd·(g − mean(g) − x̂·mean(g·x̂));  RMSNorm: dx = rstd·(g − x̂·mean(g·x̂));
 *   dγ (+)= Σ_rows dy·x̂;  dβ (+)= Σ_rows dy.
 */
export function normBackward(
  kind: 'layernorm' | 'rmsnorm',
  x: ArrayLike<number>,
  rstd: ArrayLike<number>,
  mean: ArrayLike<number> | undefined,
  weight: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  cols: number,
  o: { offset?: number; dweight?: ArrayLike<number>; dbias?: ArrayLike<number> } = {},
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const ln = kind === 'layernorm';
  const off = o.offset ?? 0;
  const dx = new Float64Array(rows * cols);
  const dweight = zeros(cols, o.dweight);
  const dbias = zeros(cols, o.dbias);
  const xh = new Float64Array(cols);
  const g = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    const m = ln && mean ? mean[r]! : 0;
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < cols; c++) {
      xh[c] = (x[b + c]! - m) * rstd[r]!;
      g[c] = dy[b + c]! * (off + weight[c]!);
      sg += g[c]!;
      sgx += g[c]! * xh[c]!;
      dweight[c] = dweight[c]! + dy[b + c]! * xh[c]!;
      dbias[c] = dbias[c]! + dy[b + c]!;
    }
    const mg = ln ? sg / cols : 0;
    const mgx = sgx / cols;
    for (let c = 0; c < cols; c++) dx[b + c] = rstd[r]! * (g[c]! - mg - xh[c]! * mgx);
  }
  return { dx, dweight, dbias };
}

// ---------------------------------------------------------------- activations

const K0 = Math.sqrt(2 / Math.PI);
const K1 = 0.044715;

/** d/dx of GELU's tanh approximation (gelu_new). */
export function geluTanhGrad(x: number): number {
  const t = Math.tanh(K0 * (x + K1 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K0 * (1 + 3 * K1 * x * x);
}

function geluTanhF64(x: number): number {
  return 0.5 * x * (1 + Math.tanh(K0 * (x + K1 * x * x * x)));
}

/** dx = dy · gelu′(x), x the saved pre-activation. */
export function geluBackward(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => dy[i]! * geluTanhGrad(x[i]!));
}

/**
 * y = act(gate)·up (SwiGLU: act = silu; GeGLU: gelu_tanh): dgate = dy·up·act′(gate), dup = dy·act(gate).
 * silu′(g) = σ(g)·(1 + g·(1 − σ(g))).
 */
export function gluBackward(
  kind: 'swiglu' | 'geglu',
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dgate: Float64Array; dup: Float64Array } {
  const n = gate.length;
  const dgate = new Float64Array(n);
  const dup = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    let a: number;
    let da: number;
    if (kind === 'swiglu') {
      const s = 1 / (1 + Math.exp(-g));
      a = g * s;
      da = s * (1 + g * (1 - s));
    } else {
      a = geluTanhF64(g);
      da = geluTanhGrad(g);
    }
    dgate[i] = dy[i]! * up[i]! * da;
    dup[i] = dy[i]! * a;
  }
  return { dgate, dup };
}

// ---------------------------------------------------------------- rope

/**
 * RoPE backward: the forward is an orthogonal rotation by θ of each pair (x[i], x[i + R/2]),
 * so the gradient is dy rotated by −θ: dx[i] = dy[i]·cos θ + dy[i+R/2]·sin θ,
 * dx[i+R/2] = dy[i+R/2]·cos θ − dy[i]·sin θ. `invFreq` [R/2] as ropeInvFreq gives it.
 */
export function ropeBackward(
  dy: ArrayLike<number>,
  positions: ArrayLike<number>,
  o: { heads: number; headDim: number; rotaryDim?: number; rowStride?: number; invFreq: ArrayLike<number> },
): Float64Array {
  const D = o.headDim;
  const half = (o.rotaryDim ?? D) / 2;
  const stride = o.rowStride ?? o.heads * D;
  const dx = Float64Array.from(dy);
  for (let t = 0; t < positions.length; t++)
    for (let h = 0; h < o.heads; h++) {
      const b = t * stride + h * D;
      for (let i = 0; i < half; i++) {
        const a = positions[t]! * o.invFreq[i]!;
        const c = Math.cos(a);
        const s = Math.sin(a);
        const d1 = dy[b + i]!;
        const d2 = dy[b + i + half]!;
        dx[b + i] = d1 * c + d2 * s;
        dx[b + i + half] = d2 * c - d1 * s;
      }
    }
  return dx;
}

// ---------------------------------------------------------------- attention

export interface TrainAttentionShape {
  /** Tokens per sequence: token t is position t mod seq of its sequence. */
  seq: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Default 1/√headDim. */
  scale?: number;
  /** Sliding window: position p sees p − window + 1 … p. */
  window?: number;
}

/** The keys query t sees: [j0, t], within t's sequence. */
function keyRange(t: number, s: TrainAttentionShape): [number, number] {
  const start = t - (t % s.seq);
  const j0 = s.window !== undefined ? Math.max(start, t - s.window + 1) : start;
  return [j0, t];
}

/** Causal GQA attention over q [T, heads·d], k, v [T, kvHeads·d]: out [T, heads·d] and lse [T, heads] (of the scaled scores). */
export function attentionTrain(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  T: number,
  s: TrainAttentionShape,
): { out: Float64Array; lse: Float64Array } {
  const { heads: H, kvHeads: KVH, headDim: D } = s;
  const sc = s.scale ?? 1 / Math.sqrt(D);
  const group = H / KVH;
  const out = new Float64Array(T * H * D);
  const lse = new Float64Array(T * H);
  const sco = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const [j0, j1] = keyRange(t, s);
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      let m = -Infinity;
      for (let j = j0; j <= j1; j++) {
        let d = 0;
        for (let e = 0; e < D; e++) d += q[(t * H + h) * D + e]! * k[(j * KVH + kh) * D + e]!;
        sco[j] = d * sc;
        m = Math.max(m, sco[j]!);
      }
      let sum = 0;
      for (let j = j0; j <= j1; j++) sum += Math.exp(sco[j]! - m);
      const l = m + Math.log(sum);
      lse[t * H + h] = l;
      for (let j = j0; j <= j1; j++) {
        const p = Math.exp(sco[j]! - l);
        for (let e = 0; e < D; e++) out[(t * H + h) * D + e] = out[(t * H + h) * D + e]! + p * v[(j * KVH + kh) * D + e]!;
      }
    }
  }
  return { out, lse };
}

/**
 * Flash-attention backward from q, k, v, O, lse, dO: D = rowsum(dO∘O), P = exp(S·scale − lse),
 * dV = Pᵀ dO, dS = P∘(dO·Vᵀ − D), dQ = dS K · scale, dK = dSᵀ Q · scale (dK, dV summed over the
 * q heads sharing a kv head).
 */
export function attentionBackward(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  out: ArrayLike<number>,
  lse: ArrayLike<number>,
  dO: ArrayLike<number>,
  T: number,
  s: TrainAttentionShape,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { heads: H, kvHeads: KVH, headDim: D } = s;
  const sc = s.scale ?? 1 / Math.sqrt(D);
  const group = H / KVH;
  const dq = new Float64Array(T * H * D);
  const dk = new Float64Array(T * KVH * D);
  const dv = new Float64Array(T * KVH * D);
  for (let t = 0; t < T; t++) {
    const [j0, j1] = keyRange(t, s);
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      const qb = (t * H + h) * D;
      let Dt = 0;
      for (let e = 0; e < D; e++) Dt += dO[qb + e]! * out[qb + e]!;
      for (let j = j0; j <= j1; j++) {
        const kb = (j * KVH + kh) * D;
        let sij = 0;
        let dp = 0;
        for (let e = 0; e < D; e++) {
          sij += q[qb + e]! * k[kb + e]!;
          dp += dO[qb + e]! * v[kb + e]!;
        }
        const p = Math.exp(sij * sc - lse[t * H + h]!);
        const ds = p * (dp - Dt);
        for (let e = 0; e < D; e++) {
          dv[kb + e] = dv[kb + e]! + p * dO[qb + e]!;
          dq[qb + e] = dq[qb + e]! + ds * k[kb + e]! * sc;
          dk[kb + e] = dk[kb + e]! + ds * q[qb + e]! * sc;
        }
      }
    }
  }
  return { dq, dk, dv };
}

// ---------------------------------------------------------------- embedding

/**
 * Embedding backward for a table shard of `rows` rows starting at `rowBase`: grad[id − rowBase] (+)= dX[t]
 * for every token whose id is in the shard; other ids contribute nothing. Learned positions: ids = positions.
 */
export function embeddingBackward(
  ids: ArrayLike<number>,
  dX: ArrayLike<number>,
  hidden: number,
  rows: number,
  rowBase = 0,
  acc?: ArrayLike<number>,
): Float64Array {
  const grad = zeros(rows * hidden, acc);
  for (let t = 0; t < ids.length; t++) {
    const r = ids[t]! - rowBase;
    if (r < 0 || r >= rows) continue;
    for (let c = 0; c < hidden; c++) grad[r * hidden + c] = grad[r * hidden + c]! + dX[t * hidden + c]!;
  }
  return grad;
}

// ---------------------------------------------------------------- cross-entropy

/**
 * Vocab-parallel cross-entropy, pass 1 on one shard: logits [T, cols] hold the global columns
 * vocabBase … vocabBase + cols − 1; columns ≥ vocab (padding) are masked. Per row: the local max
 * and Σ exp(x − max) (−∞ and 0 for a row with no valid column).
 */
export function crossEntropyStats(
  logits: ArrayLike<number>,
  T: number,
  cols: number,
  vocabBase: number,
  vocab: number,
): { max: Float64Array; sumexp: Float64Array } {
  const max = new Float64Array(T).fill(-Infinity);
  const sumexp = new Float64Array(T);
  const valid = Math.max(0, Math.min(cols, vocab - vocabBase));
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < valid; c++) max[t] = Math.max(max[t]!, logits[t * cols + c]!);
    for (let c = 0; c < valid; c++) sumexp[t] = sumexp[t]! + Math.exp(logits[t * cols + c]! - max[t]!);
  }
  return { max, sumexp };
}

/** Combines per-shard (max, sumexp) pairs: M = maxᵣ mᵣ, S = Σᵣ sᵣ·exp(mᵣ − M). */
export function combineStats(parts: { max: ArrayLike<number>; sumexp: ArrayLike<number> }[]): { max: Float64Array; sumexp: Float64Array } {
  const T = parts[0]!.max.length;
  const max = new Float64Array(T).fill(-Infinity);
  const sumexp = new Float64Array(T);
  for (const p of parts) for (let t = 0; t < T; t++) max[t] = Math.max(max[t]!, p.max[t]!);
  for (const p of parts)
    for (let t = 0; t < T; t++) if (p.sumexp[t]! > 0) sumexp[t] = sumexp[t]! + p.sumexp[t]! * Math.exp(p.max[t]! - max[t]!);
  return { max, sumexp };
}

/**
 * Pass 2 on one shard, from the combined (M, S): loss[t] = M + log S − x[label] when the label is
 * in this shard, else 0 (summing over shards gives each row's loss); dlogits = (softmax − onehot)·scale,
 * 0 on padded columns.
 */
export function crossEntropyGrad(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  max: ArrayLike<number>,
  sumexp: ArrayLike<number>,
  cols: number,
  vocabBase: number,
  vocab: number,
  scale: number,
): { dlogits: Float64Array; loss: Float64Array } {
  const T = labels.length;
  const dlogits = new Float64Array(T * cols);
  const loss = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const lse = max[t]! + Math.log(sumexp[t]!);
    const lc = labels[t]! - vocabBase;
    for (let c = 0; c < cols; c++) {
      if (vocabBase + c >= vocab) continue;
      const p = Math.exp(logits[t * cols + c]! - lse);
      dlogits[t * cols + c] = (p - (c === lc ? 1 : 0)) * scale;
    }
    if (lc >= 0 && lc < cols) loss[t] = lse - logits[t * cols + lc]!;
  }
  return { dlogits, loss };
}
