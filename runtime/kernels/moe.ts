/**
 * Mixture-of-Experts kernels (Mixtral, Qwen3-MoE): the router, the experts' matmuls over the
 * rows routed to them, the experts' SwiGLU and the weighted combine. A token's k choices are
 * k rows (row r = t·k + j), each with its expert id and routing weight in `routes`
 * (u32 pairs: expert, bitcast f32 weight), so every kernel is a plain loop over rows: no
 * sorting, no atomics (WGSL has no f32 atomic add), and the combine sums a token's k rows in
 * choice order — deterministic, and the same sum on one device as under expert parallelism.
 *
 * | kernel       | bindings                                  | uniforms (dynamic)                 |
 * |--------------|-------------------------------------------|------------------------------------|
 * | router       | x, W [experts, hidden], routes, dispatch  | T tokens from t0                   |
 * | expertMatmul | A, W [experts held, N, K], routes, C       | R (rows)                           |
 * | expertSwiglu | ue (in place)                             | n (R · ffn)                        |
 * | combine      | hidden (in place), y, routes              | T tokens from t0                   |
 *
 * The router, per token: logits = x·Wᵀ (f32), p = softmax over the experts, the k largest
 * by repeated arg-max that keeps the lower expert index on ties (torch.topk leaves the order of
 * ties unspecified: reference/moe.ts),
 * weights renormalised to sum to 1 when `normTopK`; it also copies x into the token's k
 * `dispatch` rows (what the experts, possibly on another device, read).
 */
import { ACTIVATIONS, declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { DTYPE_HELPERS, enables, featuresFor, typeTag, type TensorType } from '../wgsl/dtype.js';
import { dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram } from './types.js';

const WG = 64;

export interface RouterOptions {
  hidden: number;
  experts: number;
  topK: number;
  normTopK: boolean;
  w: TensorType;
}

export function routerProgram(o: RouterOptions): KernelProgram {
  const E = positiveInt(o.experts, 'router: experts');
  const k = positiveInt(o.topK, 'router: topK');
  if (k > E) throw new Error(`router: topK ${k} exceeds the ${E} experts`);
  const uniforms = u32Fields('T', 't0', 'hidden');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'x', access: 'read', type: 'f32' },
      { name: 'W', access: 'read', tensor: o.w },
      { name: 'routes', access: 'read_write', type: 'u32' },
      { name: 'dispatch', access: 'read_write', type: 'f32' },
    ],
    uniforms,
  );
  const s = `${enables([o.w])}${decls}${DTYPE_HELPERS}${WG_LINEAR}
${main1d(WG)}
  let i = wg_linear(wid, nwg) * ${WG}u + lid;
  if (i >= u.T) { return; }
  let t = u.t0 + i;
  let h = u.hidden;
  var p: array<f32, ${E}>;
  var taken: array<bool, ${E}>;
  var m = -3.0e38;
  for (var e = 0u; e < ${E}u; e++) {
    var acc = 0.0;
    for (var c = 0u; c < h; c++) { acc += x[t * h + c] * W_at(e * h + c); }
    p[e] = acc;
    taken[e] = false;
    m = max(m, acc);
  }
  var s = 0.0;
  for (var e = 0u; e < ${E}u; e++) { p[e] = exp(p[e] - m); s += p[e]; }
  for (var e = 0u; e < ${E}u; e++) { p[e] = p[e] / s; }
  var chosen: array<u32, ${k}>;
  var sum = 0.0;
  for (var j = 0u; j < ${k}u; j++) {
    var best = ${E}u;
    for (var e = 0u; e < ${E}u; e++) {
      // strictly greater: on equal probabilities the lower expert index stays first
      if (!taken[e] && (best == ${E}u || p[e] > p[best])) { best = e; }
    }
    taken[best] = true;
    chosen[j] = best;
    sum += p[best];
  }
  for (var j = 0u; j < ${k}u; j++) {
    let r = t * ${k}u + j;
    let e = chosen[j];
    routes[2u * r] = e;
    routes[2u * r + 1u] = bitcast<u32>(${o.normTopK ? 'p[e] / sum' : 'p[e]'});
    for (var c = 0u; c < h; c++) { dispatch[r * h + c] = x[t * h + c]; }
  }
}
`;
  const name = `router_${typeTag(o.w)}_e${E}_k${k}${o.normTopK ? '_norm' : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms,
    fixed: { hidden: positiveInt(o.hidden, 'router: hidden') },
    features: featuresFor([o.w]),
    dispatch: (d: Dims) => grid1d(Math.ceil(dimU32(d, 'T', name) / WG)),
  });
}

export interface ExpertMatmulOptions {
  /** Output columns and reduction length of one expert's [N, K] weight. */
  N: number;
  K: number;
  /** Row stride of A and the column A's rows start at. */
  lda: number;
  aOff: number;
  /** Row stride of C and the column the output starts at. */
  ldc: number;
  cOff: number;
  /** The experts W holds: e0 … e0 + held − 1 (rows routed to other experts are left alone). */
  e0: number;
  held: number;
  w: TensorType;
}

/** C[r, cOff + n] = Σ_k A[r, aOff + k] · W[e(r) − e0, n, k] for each row r routed to an expert W holds. */
export function expertMatmulProgram(o: ExpertMatmulOptions): KernelProgram {
  const uniforms = u32Fields('R', 'N', 'K', 'lda', 'aOff', 'ldc', 'cOff', 'e0', 'held');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'A', access: 'read', type: 'f32' },
      { name: 'W', access: 'read', tensor: o.w },
      { name: 'routes', access: 'read', type: 'u32' },
      { name: 'C', access: 'read_write', type: 'f32' },
    ],
    uniforms,
  );
  const s = `${enables([o.w])}${decls}${DTYPE_HELPERS}${WG_LINEAR}
${main1d(WG)}
  let i = wg_linear(wid, nwg) * ${WG}u + lid;
  if (i >= u.R * u.N) { return; }
  let r = i / u.N;
  let n = i % u.N;
  let e = routes[2u * r];
  if (e < u.e0 || e >= u.e0 + u.held) { return; }
  let w0 = ((e - u.e0) * u.N + n) * u.K;
  let a0 = r * u.lda + u.aOff;
  var acc = 0.0;
  for (var k = 0u; k < u.K; k++) { acc += A[a0 + k] * W_at(w0 + k); }
  C[r * u.ldc + u.cOff + n] = acc;
}
`;
  const name = `expert_matmul_${typeTag(o.w)}`;
  const fixed = { N: o.N, K: o.K, lda: o.lda, aOff: o.aOff, ldc: o.ldc, cOff: o.cOff, e0: o.e0, held: o.held };
  return kernelProgram(name, s, {
    cacheKey: name,
    workgroupSize: WG,
    bindings,
    uniforms,
    fixed,
    features: featuresFor([o.w]),
    dispatch: (d: Dims) => grid1d(Math.ceil((dimU32(d, 'R', name) * o.N) / WG)),
  });
}

/** ue rows [gate | up] of width 2·ffn: gate = silu(gate) · up, in place (the down projection reads the gate half). */
export function expertSwigluProgram(o: { ffn: number }): KernelProgram {
  const uniforms = u32Fields('n', 'ffn');
  const { bindings, wgsl: decls } = declareBindings([{ name: 'ue', access: 'read_write', type: 'f32' }], uniforms);
  const s = `${decls}${WG_LINEAR}${ACTIVATIONS}
${main1d(WG)}
  let i = wg_linear(wid, nwg) * ${WG}u + lid;
  if (i >= u.n) { return; }
  let g = (i / u.ffn) * 2u * u.ffn + i % u.ffn;
  ue[g] = silu(ue[g]) * ue[g + u.ffn];
}
`;
  return kernelProgram('expert_swiglu', s, {
    workgroupSize: WG,
    bindings,
    uniforms,
    fixed: { ffn: positiveInt(o.ffn, 'expertSwiglu: ffn') },
    dispatch: (d: Dims) => grid1d(Math.ceil(dimU32(d, 'n', 'expert_swiglu') / WG)),
  });
}

/** hidden[t] += Σ_j weight(t, j) · y[t·k + j], the k rows summed in choice order. */
export function combineProgram(o: { hidden: number; topK: number }): KernelProgram {
  const uniforms = u32Fields('T', 't0', 'hidden', 'k');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'hidden', access: 'read_write', type: 'f32' },
      { name: 'y', access: 'read', type: 'f32' },
      { name: 'routes', access: 'read', type: 'u32' },
    ],
    uniforms,
  );
  const s = `${decls}${WG_LINEAR}
${main1d(WG)}
  let l = wg_linear(wid, nwg) * ${WG}u + lid;
  if (l >= u.T * u.hidden) { return; }
  let t = u.t0 + l / u.hidden;
  let c = l % u.hidden;
  let i = t * u.hidden + c;
  var acc = 0.0;
  for (var j = 0u; j < u.k; j++) {
    let r = t * u.k + j;
    acc += bitcast<f32>(routes[2u * r + 1u]) * y[r * u.hidden + c];
  }
  hidden[i] = hidden[i] + acc;
}
`;
  return kernelProgram('moe_combine', s, {
    workgroupSize: WG,
    bindings,
    uniforms,
    fixed: { hidden: positiveInt(o.hidden, 'combine: hidden'), k: positiveInt(o.topK, 'combine: topK') },
    dispatch: (d: Dims) => grid1d(Math.ceil((dimU32(d, 'T', 'moe_combine') * o.hidden) / WG)),
  });
}
