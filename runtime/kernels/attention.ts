/**
 * Attention over a KV cache, in two kernels recorded back to back (WebGPU orders
 * storage writes between dispatches):
 *
 * 1. `kvWriteProgram`: write the K and V rows of T new tokens into the cache at
 *    (slots[t], positions[t]).
 * 2. `attentionProgram`: for each new token t and query head h, causal attention of
 *    q[t, h] over cache[slots[t], 0 … positions[t], h / (heads / kvHeads)] — grouped-query
 *    attention — with scale 1/√headDim (default):
 *      out[t, h] = Σⱼ softmax_j(cap(q·kⱼ · scale)) · vⱼ,   j = 0 … positions[t]
 *    (j = positions[t] − window + 1 … positions[t] with a sliding `window`; cap(s) = s, or
 *    softcap · tanh(s / softcap) with Gemma-2's `softcap`).
 *
 * The same pair serves prefill (T tokens of one sequence at positions p0 … p0+T−1, which
 * may follow an earlier chunk already in the cache) and decode (one token per sequence,
 * each sequence in its own slot with its own length). Positions and slots are u32
 * buffers [T] (the runtime's `positions` and `slots`).
 *
 * Cache layout: [slots, maxSeq, kvHeads, headDim] per layer, stored as f32, f16 or bf16
 * (16-bit values packed two per u32, or f16 native with shader-f16); writes round bf16
 * to nearest even and f16 as the platform converts. headDim must be even.
 *
 * The attention kernel runs one workgroup of 64 invocations per (head, token): q·scale is
 * staged in shared memory, keys are visited in chunks of 128 with an online softmax
 * (running max and sum, flash-attention style): each invocation scores some keys of the
 * chunk, the workgroup reduces max and Σexp, then each invocation accumulates its own
 * output dimensions over the chunk's values. Work is O(positions · headDim) per (t, h).
 * Only headDim and the cache's storage type are baked into the WGSL; heads, kvHeads, the
 * cache shape, the scale, the window and the soft-cap are fixed uniforms.
 *
 * Slot blocks: a cache larger than one storage binding is held as blocks of whole slots
 * (runtime/split.ts), each its own pair of buffers. Both kernels take the uniform
 * `slot0`, the first slot of the bound block (0 for a whole cache): a token's slot is
 * rebased to `slots[t] − slot0`, and tokens whose slot is outside [slot0, slot0 + slots)
 * belong to another block. kvWrite skips them; attention built with `slotBlock: true`
 * leaves their output rows untouched (another block's dispatch writes them), while the
 * whole-cache attention writes zeros for them. Per sequence the arithmetic is the same.
 */
import { DTYPE_HELPERS, enables, featuresFor, typeTag, type TensorType } from '../wgsl/dtype.js';
import { declareBindings, grid1d, main1d, reductions, WG_LINEAR } from '../wgsl/common.js';
import { ceilDiv, dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface KvCacheShape {
  /** Sequences the cache holds (the plan's max_batch). */
  slots: number;
  maxSeq: number;
  kvHeads: number;
  headDim: number;
  /** Storage of the cache (default f32). */
  cache?: TensorType;
  /**
   * The cache is one slot block of a larger one (dims `slot0`, and `slots` for a ragged
   * last block): attention leaves the rows of tokens in other blocks untouched.
   */
  slotBlock?: boolean;
}

export interface AttentionOptions extends KvCacheShape {
  heads: number;
  /**
   * Sliding window: a query at position p sees positions p − window + 1 … p (`window` of them,
   * itself included; Hugging Face's `kv_idx > q_idx − sliding_window`). Absent: every earlier position.
   */
  window?: number;
  /** Softmax scale (default 1/√headDim; Gemma: query_pre_attn_scalar^−½). */
  scale?: number;
  /** Scores soft-capped, cap · tanh(s / cap), after the scale and before the mask and softmax (Gemma-2); absent: none. */
  softcap?: number;
}

const WRITE_UNIFORMS: UniformField[] = u32Fields('T', 'words', 'slots', 'maxSeq', 'slot0');
const ATTN_UNIFORMS: UniformField[] = [
  ...u32Fields('T', 'heads', 'kvHeads', 'slots', 'maxSeq'),
  { name: 'scale', type: 'f32' },
  ...u32Fields('slot0', 'window'),
  { name: 'softcap', type: 'f32' },
];

function checkShape(o: KvCacheShape, what: string): { D: number; KVH: number; cache: TensorType } {
  positiveInt(o.slots, `${what} slots`);
  positiveInt(o.maxSeq, `${what} maxSeq`);
  const KVH = positiveInt(o.kvHeads, `${what} kvHeads`);
  const D = positiveInt(o.headDim, `${what} headDim`);
  if (D % 2 !== 0) throw new Error(`${what}: headDim ${D} must be even`);
  if (o.slots * o.maxSeq * KVH * D >= 2 ** 32) throw new Error(`${what}: the cache has more than 2³² elements; split it`);
  return { D, KVH, cache: o.cache ?? { format: 'f32' } };
}

/** Elements of one layer's K (or V) cache. */
export function kvCacheElements(o: KvCacheShape): number {
  return o.slots * o.maxSeq * o.kvHeads * o.headDim;
}

/**
 * Bindings: k, v (f32 [T, kvHeads·headDim], read), slots, positions (u32 [T]), kCache,
 * vCache (read_write). Uniforms: T; slot0 (default 0) and slots for a slot block. Tokens
 * whose slot or position is outside the cache (block) are not written.
 */
export function kvWriteProgram(o: KvCacheShape): KernelProgram {
  const { D, KVH, cache } = checkShape(o, 'kvWrite');
  const WG = 64;
  const words = (KVH * D) / 2; // pairs per token
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'k', access: 'read', type: 'vec2<f32>' },
      { name: 'v', access: 'read', type: 'vec2<f32>' },
      { name: 'slots', access: 'read', type: 'u32' },
      { name: 'positions', access: 'read', type: 'u32' },
      { name: 'kCache', access: 'read_write', tensor: cache },
      { name: 'vCache', access: 'read_write', tensor: cache },
    ],
    WRITE_UNIFORMS,
  );
  let s = enables([cache]) + decls;
  s += DTYPE_HELPERS + WG_LINEAR;
  s += `${main1d(WG)}
  let WORDS = u.words;
  let g = wg_linear(wid, nwg) * ${WG}u + lid;
  let t = g / WORDS;
  let w = g % WORDS;
  if (t >= u.T) { return; }
  // Slots below slot0 wrap around to large values: one comparison rejects both sides.
  let slot = slots[t] - u.slot0;
  let pos = positions[t];
  if (slot >= u.slots || pos >= u.maxSeq) { return; }
  let dst = (slot * u.maxSeq + pos) * WORDS + w;
  kCache_set2(dst, k[t * WORDS + w]);
  vCache_set2(dst, v[t * WORDS + w]);
}
`;
  const name = `kv_write_${typeTag(cache)}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: WRITE_UNIFORMS,
    fixed: { words, slots: o.slots, maxSeq: o.maxSeq, slot0: 0 },
    features: featuresFor([cache]),
    dispatch: (d: Dims) => grid1d(ceilDiv(dimU32(d, 'T', name) * words, WG)),
  });
}

/**
 * Bindings: q (f32 [T, heads·headDim]), kCache, vCache (read), slots, positions (u32 [T]),
 * out (f32 [T, heads·headDim]). Uniforms: T (≤ 65 535: one grid row per token); slot0
 * (default 0) and slots for a slot block. A token whose slot is outside the cache gets
 * zeros, or with `slotBlock` keeps its row as it was; positions beyond maxSeq − 1 are clamped.
 */
export function attentionProgram(o: AttentionOptions): KernelProgram {
  const { D, KVH, cache } = checkShape(o, 'attention');
  const H = positiveInt(o.heads, 'attention heads');
  if (H % KVH !== 0) throw new Error(`attention: heads ${H} is not a multiple of kvHeads ${KVH}`);
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const window = o.window === undefined ? 0 : positiveInt(o.window, 'attention window');
  if (o.softcap !== undefined && !(o.softcap > 0 && Number.isFinite(o.softcap)))
    throw new Error(`attention: softcap must be > 0, got ${o.softcap}`);
  const softcap = o.softcap ?? 0;
  const WG = 64;
  const CH = 128;
  const DPT = ceilDiv(D, WG);
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'q', access: 'read', type: 'f32' },
      { name: 'kCache', access: 'read', tensor: cache },
      { name: 'vCache', access: 'read', tensor: cache },
      { name: 'slots', access: 'read', type: 'u32' },
      { name: 'positions', access: 'read', type: 'u32' },
      { name: 'out', access: 'read_write', type: 'f32' },
    ],
    ATTN_UNIFORMS,
  );
  let s = enables([cache]) + decls;
  s += DTYPE_HELPERS + reductions(WG);
  s += `const D = ${D}u;\nconst CH = ${CH}u;\nconst DPT = ${DPT}u;
var<workgroup> qs: array<f32, ${D}>;
var<workgroup> ps: array<f32, ${CH}>;
var<workgroup> len_s: u32;
var<workgroup> slot_s: u32;
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let H = u.heads;
  let KVH = u.kvHeads;
  let MAXSEQ = u.maxSeq;
  let h = wid.x;
  let t = wid.y;
  if (t >= u.T) { return; }
  if (lid == 0u) {
    let sl = slots[t] - u.slot0;
    slot_s = sl;
    len_s = select(min(positions[t], MAXSEQ - 1u) + 1u, 0u, sl >= u.slots);
  }
  let L = workgroupUniformLoad(&len_s);
  let slot = workgroupUniformLoad(&slot_s);
${o.slotBlock ? "  if (slot >= u.slots) { return; } // another block's token\n" : ''}  let kvh = h / (H / KVH);
  for (var d = lid; d < D; d += ${WG}u) { qs[d] = q[(t * H + h) * D + d] * u.scale; }
  workgroupBarrier();
  var m = -3.4028234663852886e38;
  var l = 0.0;
  var acc: array<f32, ${DPT}>;
  // The first key in the window (0 without one: window = 0).
  let J0 = select(0u, L - u.window, u.window > 0u && L > u.window);
  for (var c0 = J0; c0 < L; c0 += CH) {
    let n = min(CH, L - c0);
    var lmax = -3.4028234663852886e38;
    for (var j = lid; j < n; j += ${WG}u) {
      let kb = ((slot * MAXSEQ + c0 + j) * KVH + kvh) * D;
      var sc = 0.0;
      for (var d = 0u; d < D; d++) { sc += qs[d] * kCache_at(kb + d); }
      // Gemma-2: cap · tanh(s / cap) (softcap = 0: none); tanh clamped as gelu_tanh's, for drivers whose tanh overflows.
      if (u.softcap > 0.0) { sc = u.softcap * tanh(clamp(sc / u.softcap, -15.0, 15.0)); }
      ps[j] = sc;
      lmax = max(lmax, sc);
    }
    let mNew = max(m, red_max(lmax, lid));
    let alpha = exp(m - mNew);
    var lsum = 0.0;
    for (var j = lid; j < n; j += ${WG}u) {
      let p = exp(ps[j] - mNew);
      ps[j] = p;
      lsum += p;
    }
    l = l * alpha + red_sum(lsum, lid);
    for (var i = 0u; i < DPT; i++) {
      let d = lid + i * ${WG}u;
      if (d < D) {
        var a = acc[i] * alpha;
        let vb = (slot * MAXSEQ + c0) * KVH * D + kvh * D + d;
        for (var j = 0u; j < n; j++) { a += ps[j] * vCache_at(vb + j * KVH * D); }
        acc[i] = a;
      }
    }
    m = mNew;
    workgroupBarrier();
  }
  let inv = select(0.0, 1.0 / l, L > 0u);
  for (var i = 0u; i < DPT; i++) {
    let d = lid + i * ${WG}u;
    if (d < D) { out[(t * H + h) * D + d] = acc[i] * inv; }
  }
}
`;
  const name = `attention_${typeTag(cache)}`;
  return kernelProgram(name, s, {
    cacheKey: `${name}:d${D}${o.slotBlock ? ':block' : ''}`,
    workgroupSize: WG,
    bindings,
    uniforms: ATTN_UNIFORMS,
    fixed: { heads: H, kvHeads: KVH, slots: o.slots, maxSeq: o.maxSeq, scale, slot0: 0, window, softcap },
    features: featuresFor([cache]),
    workgroupStorageBytes: 4 * (D + CH + WG + 2),
    dispatch(d: Dims) {
      const T = dimU32(d, 'T', name);
      if (T > 65535) throw new Error(`${name}: T = ${T} > 65 535 tokens in one dispatch; split the batch`);
      return [H, T, T === 0 ? 0 : 1];
    },
  });
}
