/**
 * LayerNorm and RMSNorm backward, from what the forward saved (`layernorm`/`rmsnorm` with
 * `saveStats`): the input x, rstd = 1/√(var + eps) and, for LayerNorm, the mean. With
 * x̂ = (x − mean)·rstd and g = dy·(offset + γ):
 *
 *   LayerNorm: dx = rstd·(g − mean(g) − x̂·mean(g·x̂))      RMSNorm: dx = rstd·(g − x̂·mean(g·x̂))
 *   dγ += Σ_rows dy·x̂,   dβ += Σ_rows dy
 *
 * - `normBackwardProgram`: dx, one workgroup per row (two workgroup sums, as the forward).
 *   With `accumulate`, dx += … (the residual stream's gradient already holds the skip path).
 *   Bindings x, [mean], rstd, weight (any storage format), dy, dx; uniform rows.
 * - `normGradWeightProgram`: dγ (and dβ) accumulated into f32 buffers over microbatches; one
 *   invocation per column looping over the rows in order (deterministic, no atomics).
 *   Bindings x, [mean], rstd, dy, dweight, [dbias]; uniform rows.
 */
import { DTYPE_HELPERS, enables, featuresFor, typeTag, type TensorType } from '../wgsl/dtype.js';
import { type BindingSpec, declareBindings, grid1d, main1d, nextPow2, reductions, WG_LINEAR } from '../wgsl/common.js';
import { ceilDiv, dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export type NormKind = 'layernorm' | 'rmsnorm';

export interface NormBackwardOptions {
  cols: number;
  /** Storage of the gain (default f32). */
  weight?: TensorType;
  /** rmsnorm: the gain is offset + weight (Gemma: 1). */
  offset?: number;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  /** Invocations per row (a power of two; default from cols, 32 … 256). */
  workgroupSize?: number;
}

const UNIFORMS: UniformField[] = [...u32Fields('rows', 'cols'), { name: 'offset', type: 'f32' }];

function stats(ln: boolean): BindingSpec[] {
  return [
    { name: 'x', access: 'read', type: 'f32' },
    ...(ln ? [{ name: 'mean', access: 'read' as const, type: 'f32' }] : []),
    { name: 'rstd', access: 'read', type: 'f32' },
  ];
}

/** dx of a norm over the last dimension. Bindings x, [mean], rstd, weight, dy, dx; uniform rows. */
export function normBackwardProgram(kind: NormKind, o: NormBackwardOptions): KernelProgram {
  const cols = positiveInt(o.cols, `${kind} backward cols`);
  const ln = kind === 'layernorm';
  const offset = o.offset ?? 0;
  if (!Number.isFinite(offset) || (ln && offset !== 0)) throw new Error(`${kind} backward: offset ${offset} is not supported`);
  const wt = o.weight ?? { format: 'f32' };
  const WG = o.workgroupSize ?? Math.min(256, Math.max(32, nextPow2(Math.ceil(cols / 4))));
  const acc = o.accumulate === true;
  const { bindings, wgsl: decls } = declareBindings(
    [
      ...stats(ln),
      { name: 'weight', access: 'read', tensor: wt },
      { name: 'dy', access: 'read', type: 'f32' },
      { name: 'dx', access: 'read_write', type: 'f32' },
    ],
    UNIFORMS,
  );
  const s = `${enables([wt])}${decls}${DTYPE_HELPERS}${WG_LINEAR}${reductions(WG)}${main1d(WG)}
  let row = wg_linear(wid, nwg);
  if (row >= u.rows) { return; }
  let COLS = u.cols;
  let base = row * COLS;
  let r = rstd[row];
  let m = ${ln ? 'mean[row]' : '0.0'};
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < COLS; c += ${WG}u) {
    let g = dy[base + c] * (u.offset + weight_at(c));
    sg += g;
    sgx += g * (x[base + c] - m) * r;
  }
  let mg = ${ln ? 'red_sum(sg, lid) / f32(COLS)' : '0.0'};
  let mgx = red_sum(sgx, lid) / f32(COLS);
  for (var c = lid; c < COLS; c += ${WG}u) {
    let g = dy[base + c] * (u.offset + weight_at(c));
    let v = r * (g - mg - (x[base + c] - m) * r * mgx);
    dx[base + c] ${acc ? '+=' : '='} v;
  }
}
`;
  const name = `${kind}_backward_${typeTag(wt)}${acc ? '_acc' : ''}`;
  return kernelProgram(name, s, {
    cacheKey: `${name}:wg${WG}`,
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed: { cols, offset },
    features: featuresFor([wt]),
    workgroupStorageBytes: 4 * WG,
    dispatch: (d: Dims) => grid1d(dimU32(d, 'rows', name)),
  });
}

const GW_WG = 64;
const GW_UNIFORMS: UniformField[] = u32Fields('rows', 'cols');

/** dγ (+ dβ for layernorm) accumulated. Bindings x, [mean], rstd, dy, dweight, [dbias]; uniform rows. */
export function normGradWeightProgram(kind: NormKind, o: { cols: number }): KernelProgram {
  const cols = positiveInt(o.cols, `${kind} grad weight cols`);
  const ln = kind === 'layernorm';
  const specs: BindingSpec[] = [
    ...stats(ln),
    { name: 'dy', access: 'read', type: 'f32' },
    { name: 'dweight', access: 'read_write', type: 'f32' },
  ];
  if (ln) specs.push({ name: 'dbias', access: 'read_write', type: 'f32' });
  const { bindings, wgsl: decls } = declareBindings(specs, GW_UNIFORMS);
  const s = `${decls}
@compute @workgroup_size(${GW_WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let COLS = u.cols;
  if (c >= COLS) { return; }
  var gw = 0.0;
  var gb = 0.0;
  for (var row = 0u; row < u.rows; row++) {
    let d = dy[row * COLS + c];
    gw += d * (x[row * COLS + c] - ${ln ? 'mean[row]' : '0.0'}) * rstd[row];
    gb += d;
  }
  dweight[c] += gw;
${ln ? '  dbias[c] += gb;\n' : ''}}
`;
  const name = `${kind}_grad_weight`;
  return kernelProgram(name, s, {
    workgroupSize: GW_WG,
    bindings,
    uniforms: GW_UNIFORMS,
    fixed: { cols },
    dispatch: (d: Dims) => {
      dimU32(d, 'rows', name);
      return [ceilDiv(cols, GW_WG), 1, 1];
    },
  });
}
