/**
 * layernorm and rmsnorm, row-wise over `cols` (the hidden size), one workgroup per row
 * (strided loads, shared-memory tree reductions).
 *
 * - layernorm: y = (x − mean) / √(var + eps) · weight + bias, var biased (÷ cols), two
 *   passes over the row (mean first, then Σ(x − mean)²: no cancellation).
 * - rmsnorm:   y = x / √(mean(x²) + eps) · (offset + weight) (Llama: offset 0, HF `LlamaRMSNorm`;
 *   Gemma: offset 1, HF `Gemma2RMSNorm`, whose checkpoints store the gain minus one).
 *
 * x and y are f32 [rows, cols] (distinct buffers, or x alone with `inplace`); weight and bias are stored as any
 * TensorType. `cols`, `eps` and `offset` are fixed uniforms; `rows` is the dynamic one.
 */
import { DTYPE_HELPERS, enables, featuresFor, typeTag, type TensorType } from '../wgsl/dtype.js';
import { type BindingSpec, declareBindings, grid1d, main1d, nextPow2, reductions, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface NormOptions {
  cols: number;
  eps: number;
  /** Storage of the weight (gain) and, for layernorm, the bias (default f32). */
  weight?: TensorType;
  bias?: TensorType;
  /** Invocations per row (a power of two; default from cols, 32 … 256). */
  workgroupSize?: number;
  /** rmsnorm: the gain is offset + weight (default 0; Gemma's norm_offset 1). */
  offset?: number;
  /** Write the result over x (bindings x, weight[, bias]): each invocation rewrites only what it read. */
  inplace?: boolean;
  /**
   * Training: also write the statistics the backward reads — `rstd` [rows] = 1/√(var + eps)
   * (and for layernorm `mean` [rows]), f32 bindings after y (mean, then rstd).
   */
  saveStats?: boolean;
}

const UNIFORMS: UniformField[] = [...u32Fields('rows', 'cols'), { name: 'eps', type: 'f32' }, { name: 'offset', type: 'f32' }];

function normProgram(kind: 'layernorm' | 'rmsnorm', o: NormOptions): KernelProgram {
  const cols = positiveInt(o.cols, `${kind} cols`);
  if (!(o.eps >= 0)) throw new Error(`${kind}: eps must be ≥ 0`);
  const offset = o.offset ?? 0;
  if (!Number.isFinite(offset) || (kind === 'layernorm' && offset !== 0)) throw new Error(`${kind}: offset ${offset} is not supported`);
  const wt = o.weight ?? { format: 'f32' };
  const bt = o.bias ?? wt;
  const ln = kind === 'layernorm';
  const WG = o.workgroupSize ?? Math.min(256, Math.max(32, nextPow2(Math.ceil(cols / 4))));
  const inplace = o.inplace === true;
  const specs: BindingSpec[] = [
    { name: 'x', access: inplace ? 'read_write' : 'read', type: 'f32' },
    { name: 'weight', access: 'read', tensor: wt },
  ];
  if (ln) specs.push({ name: 'bias', access: 'read', tensor: bt });
  if (!inplace) specs.push({ name: 'y', access: 'read_write', type: 'f32' });
  const stats = o.saveStats === true;
  if (stats && ln) specs.push({ name: 'mean', access: 'read_write', type: 'f32' });
  if (stats) specs.push({ name: 'rstd', access: 'read_write', type: 'f32' });
  const y = inplace ? 'x' : 'y';
  const save = stats ? `  if (lid == 0u) { ${ln ? 'mean[row] = mu; ' : ''}rstd[row] = inv; }\n` : '';
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  let s = enables([wt, ln ? bt : undefined]) + decls;
  s += DTYPE_HELPERS + WG_LINEAR + reductions(WG);
  s += `${main1d(WG)}
  let row = wg_linear(wid, nwg);
  if (row >= u.rows) { return; }
  let COLS = u.cols;
  let EPS = u.eps;
  let base = row * COLS;
`;
  if (ln) {
    s += `  var acc = 0.0;
  for (var c = lid; c < COLS; c += ${WG}u) { acc += x[base + c]; }
  let mu = red_sum(acc, lid) / f32(COLS);
  var acc2 = 0.0;
  for (var c = lid; c < COLS; c += ${WG}u) { let d = x[base + c] - mu; acc2 += d * d; }
  let inv = 1.0 / sqrt(red_sum(acc2, lid) / f32(COLS) + EPS);
${save}  for (var c = lid; c < COLS; c += ${WG}u) { ${y}[base + c] = (x[base + c] - mu) * inv * weight_at(c) + bias_at(c); }
}
`;
  } else {
    s += `  var acc = 0.0;
  for (var c = lid; c < COLS; c += ${WG}u) { let v = x[base + c]; acc += v * v; }
  let inv = 1.0 / sqrt(red_sum(acc, lid) / f32(COLS) + EPS);
${save}  for (var c = lid; c < COLS; c += ${WG}u) { ${y}[base + c] = x[base + c] * inv * (u.offset + weight_at(c)); }
}
`;
  }
  const name = `${kind}_${typeTag(wt)}${ln ? `_${typeTag(bt)}` : ''}${inplace ? '_inplace' : ''}${stats ? '_stats' : ''}`;
  return kernelProgram(name, s, {
    cacheKey: `${name}:wg${WG}`,
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed: { cols, eps: o.eps, offset },
    features: featuresFor([wt, ln ? bt : undefined]),
    workgroupStorageBytes: 4 * WG,
    dispatch: (d: Dims) => grid1d(dimU32(d, 'rows', name)),
  });
}

/** LayerNorm over the last dimension (GPT-2's ln_1, ln_2, ln_f; eps 1e-5). Bindings x, weight, bias, y. */
export function layerNormProgram(o: NormOptions): KernelProgram {
  return normProgram('layernorm', o);
}

/** RMSNorm over the last dimension (Llama; eps 1e-5 or 1e-6). Bindings x, weight, y. */
export function rmsNormProgram(o: NormOptions): KernelProgram {
  return normProgram('rmsnorm', o);
}
