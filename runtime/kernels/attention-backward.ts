/**
 * Causal attention for training: a forward that saves the log-sum-exp of each score row, and
 * the flash-attention backward that recomputes the probabilities from it (no [s, s] buffer).
 *
 * Layout: T tokens made of sequences of `seq` tokens (token t is position t mod seq of
 * sequence ⌊t / seq⌋; a last partial sequence is allowed); q [T, heads·d], k and v
 * [T, kvHeads·d] after RoPE (the saved `q`, `k`, `v`), out [T, heads·d], lse [T, heads].
 * Query t of head h sees the keys j of its own sequence with j ≤ t (and j > t − window with a
 * sliding `window`), of kv head h / (heads / kvHeads) (GQA). Scale default 1/√d. Gemma-2's
 * soft-capped scores are refused (not implemented for training).
 *
 * - `attentionTrainProgram`: out = softmax(q·kᵀ·scale)·v and lse = log Σⱼ exp(sⱼ) (scaled
 *   scores), one invocation per (t, h), online softmax over the keys.
 *   Bindings q, k, v, out, lse; uniform T.
 * - `attentionBackwardPreProgram`: delta[t, h] = Σ_d dO∘O (FlashAttention-2's D), a [T, heads]
 *   f32 workspace. Bindings dO, out, delta; uniform T.
 * - `attentionBackwardDqProgram`: one invocation per (t, h): for each visible key j,
 *   P = exp(q·kⱼ·scale − lse), dP = dO·vⱼ, dS = P·(dP − delta); dQ = scale·Σⱼ dS·kⱼ.
 *   Bindings q, k, v, lse, delta, dO, dq; uniform T.
 * - `attentionBackwardDkvProgram`: one invocation per (j, kv head): over the q heads of its group
 *   and the queries i that see key j: dV = Σ P·dOᵢ, dK = scale·Σ dS·qᵢ — the group's sum is
 *   inside the invocation, so no atomics and a fixed order (deterministic).
 *   Bindings q, k, v, lse, delta, dO, dk, dv; uniform T.
 *
 * Work is O(visible pairs · d) per kernel, like the forward's; q, dO and the accumulators are
 * held in registers (d is baked into the WGSL). Correct first: the invocations do not share K/V
 * tiles through workgroup memory yet (FlashAttention's blocking is the next step for speed).
 */
import { declareBindings } from '../wgsl/common.js';
import type { TrainAttentionShape } from '../reference/backward.js';
import { ceilDiv, dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

/** The reference's shape (tokens per sequence, heads, KV heads, head size, scale, window) and soft-capping. */
export interface TrainAttentionOptions extends TrainAttentionShape {
  /** Gemma-2's score soft-capping: refused (its backward is not implemented). */
  softcap?: number;
}

const WG = 64;
const UNIFORMS: UniformField[] = [...u32Fields('T', 'seq', 'heads', 'kvHeads', 'window'), { name: 'scale', type: 'f32' }];

function resolve(o: TrainAttentionOptions, what: string): { D: number; fixed: Dims } {
  const seq = positiveInt(o.seq, `${what} seq`);
  const heads = positiveInt(o.heads, `${what} heads`);
  const kvHeads = positiveInt(o.kvHeads, `${what} kvHeads`);
  const D = positiveInt(o.headDim, `${what} headDim`);
  if (heads % kvHeads !== 0) throw new Error(`${what}: heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
  if (D > 512) throw new Error(`${what}: headDim ${D} > 512 is not supported (registers per invocation)`);
  if (o.softcap !== undefined)
    throw new Error(`${what}: soft-capped attention scores (Gemma-2's attn_logit_softcapping) have no training kernels yet`);
  const window = o.window ?? 0;
  if (!Number.isInteger(window) || window < 0) throw new Error(`${what}: window must be a positive integer, got ${window}`);
  const scale = o.scale ?? 1 / Math.sqrt(D);
  if (!(scale > 0 && Number.isFinite(scale))) throw new Error(`${what}: scale must be > 0, got ${scale}`);
  return { D, fixed: { seq, heads, kvHeads, window, scale } };
}

const f32 = (name: string, access: 'read' | 'read_write' = 'read') => ({ name, access, type: 'f32' }) as const;

/** The first key query t sees (in its sequence, within the window). */
const FIRST_KEY = /* wgsl */ `
fn first_key(t: u32) -> u32 {
  var j0 = t - t % u.seq;
  if (u.window > 0u && t + 1u > u.window) { j0 = max(j0, t + 1u - u.window); }
  return j0;
}
`;

/** The invocation's query row: head h of token t (KV head kh), its q/out/dO offset qb; threads past the last row return. */
const QUERY_ROW = `  let h = g % H;
  let t = g / H;
  if (t >= T) { return; }
  let kh = h / GROUP;
  let qb = (t * H + h) * D;
`;

function program(
  name: string,
  D: number,
  fixed: Dims,
  specs: ReturnType<typeof f32>[],
  body: string,
  perToken: 'heads' | 'kvHeads',
): KernelProgram {
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  const s = `${decls}const D = ${D}u;
${FIRST_KEY}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = gid.y * nwg.x * ${WG}u + gid.x;
  let H = u.heads;
  let KVH = u.kvHeads;
  let GROUP = H / KVH;
  let T = u.T;
  let SC = u.scale;
${body}
}
`;
  return kernelProgram(name, s, {
    cacheKey: `${name}:d${D}`,
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed,
    dispatch: (d: Dims) => {
      const n = ceilDiv(dimU32(d, 'T', name) * (fixed[perToken] as number), WG);
      if (n <= 65535) return [n, 1, 1];
      const y = ceilDiv(n, 65535);
      return [ceilDiv(n, y), y, 1];
    },
  });
}

/** Causal GQA attention that also writes lse. Bindings q, k, v, out, lse; uniform T. */
export function attentionTrainProgram(o: TrainAttentionOptions): KernelProgram {
  const { D, fixed } = resolve(o, 'attentionTrain');
  const body = `${QUERY_ROW}  var qv: array<f32, ${D}>;
  var acc: array<f32, ${D}>;
  for (var e = 0u; e < D; e++) { qv[e] = q[qb + e] * SC; acc[e] = 0.0; }
  var m = -3.0e38;
  var l = 0.0;
  for (var j = first_key(t); j <= t; j++) {
    let kb = (j * KVH + kh) * D;
    var s = 0.0;
    for (var e = 0u; e < D; e++) { s += qv[e] * k[kb + e]; }
    let mn = max(m, s);
    let c = exp(m - mn);
    let p = exp(s - mn);
    l = l * c + p;
    for (var e = 0u; e < D; e++) { acc[e] = acc[e] * c + p * v[kb + e]; }
    m = mn;
  }
  for (var e = 0u; e < D; e++) { out[qb + e] = acc[e] / l; }
  lse[t * H + h] = m + log(l);`;
  return program(
    'attention_train',
    D,
    fixed,
    [f32('q'), f32('k'), f32('v'), f32('out', 'read_write'), f32('lse', 'read_write')],
    body,
    'heads',
  );
}

/** delta[t, h] = Σ dO∘O. Bindings dO, out, delta; uniform T. */
export function attentionBackwardPreProgram(o: TrainAttentionOptions): KernelProgram {
  const { D, fixed } = resolve(o, 'attentionBackwardPre');
  const body = `  if (g >= T * H) { return; }
  var s = 0.0;
  for (var e = 0u; e < D; e++) { s += dO[g * D + e] * out[g * D + e]; }
  delta[g] = s;`;
  return program('attention_backward_pre', D, fixed, [f32('dO'), f32('out'), f32('delta', 'read_write')], body, 'heads');
}

/** dQ. Bindings q, k, v, lse, delta, dO, dq; uniform T. */
export function attentionBackwardDqProgram(o: TrainAttentionOptions): KernelProgram {
  const { D, fixed } = resolve(o, 'attentionBackwardDq');
  const body = `${QUERY_ROW}  var qv: array<f32, ${D}>;
  var dov: array<f32, ${D}>;
  var acc: array<f32, ${D}>;
  for (var e = 0u; e < D; e++) { qv[e] = q[qb + e] * SC; dov[e] = dO[qb + e]; acc[e] = 0.0; }
  let L = lse[t * H + h];
  let Dt = delta[t * H + h];
  for (var j = first_key(t); j <= t; j++) {
    let kb = (j * KVH + kh) * D;
    var s = 0.0;
    var dp = 0.0;
    for (var e = 0u; e < D; e++) { s += qv[e] * k[kb + e]; dp += dov[e] * v[kb + e]; }
    let ds = exp(s - L) * (dp - Dt);
    for (var e = 0u; e < D; e++) { acc[e] += ds * k[kb + e]; }
  }
  for (var e = 0u; e < D; e++) { dq[qb + e] = acc[e] * SC; }`;
  return program(
    'attention_backward_dq',
    D,
    fixed,
    [f32('q'), f32('k'), f32('v'), f32('lse'), f32('delta'), f32('dO'), f32('dq', 'read_write')],
    body,
    'heads',
  );
}

/** dK, dV (summed over the group's q heads). Bindings q, k, v, lse, delta, dO, dk, dv; uniform T. */
export function attentionBackwardDkvProgram(o: TrainAttentionOptions): KernelProgram {
  const { D, fixed } = resolve(o, 'attentionBackwardDkv');
  const body = `  let kh = g % KVH;
  let j = g / KVH;
  if (j >= T) { return; }
  let kb = (j * KVH + kh) * D;
  var kv: array<f32, ${D}>;
  var vv: array<f32, ${D}>;
  var dk_acc: array<f32, ${D}>;
  var dv_acc: array<f32, ${D}>;
  for (var e = 0u; e < D; e++) { kv[e] = k[kb + e] * SC; vv[e] = v[kb + e]; dk_acc[e] = 0.0; dv_acc[e] = 0.0; }
  // the queries that see key j: from j to the end of its sequence (or of the window)
  var i1 = min(j - j % u.seq + u.seq, T);
  if (u.window > 0u) { i1 = min(i1, j + u.window); }
  for (var hg = 0u; hg < GROUP; hg++) {
    let h = kh * GROUP + hg;
    for (var i = j; i < i1; i++) {
      let qb = (i * H + h) * D;
      var s = 0.0;
      var dp = 0.0;
      for (var e = 0u; e < D; e++) { s += q[qb + e] * kv[e]; dp += dO[qb + e] * vv[e]; }
      let p = exp(s - lse[i * H + h]);
      let ds = p * (dp - delta[i * H + h]);
      for (var e = 0u; e < D; e++) { dv_acc[e] += p * dO[qb + e]; dk_acc[e] += ds * q[qb + e]; }
    }
  }
  for (var e = 0u; e < D; e++) { dk[kb + e] = dk_acc[e] * SC; dv[kb + e] = dv_acc[e]; }`;
  return program(
    'attention_backward_dkv',
    D,
    fixed,
    [f32('q'), f32('k'), f32('v'), f32('lse'), f32('delta'), f32('dO'), f32('dk', 'read_write'), f32('dv', 'read_write')],
    body,
    'kvHeads',
  );
}
