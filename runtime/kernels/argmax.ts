/**
 * argmax per row (greedy sampling on the device): out[r] = indexBase + the first index
 * of the largest of x[r, 0 … cols−1] (row stride `rowStride`, default cols, so padded
 * logits can be skipped). NaNs are ignored; a row of only NaNs gives 0xffffffff. With
 * `values`, the maximum itself is written to maxValues[r] (to merge vocabulary shards
 * across ranks: the best of the shards' maxima, lowest index on ties).
 * Bindings: x (f32), out (u32) [, maxValues (f32)]. Uniform: rows.
 */
import { type BindingSpec, declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface ArgmaxOptions {
  cols: number;
  rowStride?: number;
  /** Added to every index (the first column of this rank's vocabulary shard). */
  indexBase?: number;
  values?: boolean;
}

const WG = 256;
const UNIFORMS: UniformField[] = u32Fields('rows', 'cols', 'stride', 'base');

export function argmaxProgram(o: ArgmaxOptions): KernelProgram {
  const cols = positiveInt(o.cols, 'argmax cols');
  const stride = o.rowStride ?? cols;
  if (stride < cols) throw new Error(`argmax: rowStride ${stride} < cols ${cols}`);
  const base = o.indexBase ?? 0;
  const specs: BindingSpec[] = [
    { name: 'x', access: 'read', type: 'f32' },
    { name: 'out', access: 'read_write', type: 'u32' },
  ];
  if (o.values) specs.push({ name: 'maxValues', access: 'read_write', type: 'f32' });
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  let s = decls;
  s += WG_LINEAR;
  s += `const NONE = 0xffffffffu;
var<workgroup> bv: array<f32, ${WG}>;
var<workgroup> bi: array<u32, ${WG}>;
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  // is (v, i) better than (w, j)? NaN never is; an index of NONE always loses
  if (v != v || i == NONE) { return false; }
  if (j == NONE) { return true; }
  return v > w || (v == w && i < j);
}
${main1d(WG)}
  let row = wg_linear(wid, nwg);
  if (row >= u.rows) { return; }
  var best = 0.0;
  var bidx = NONE;
  for (var c = lid; c < u.cols; c += ${WG}u) {
    let v = x[row * u.stride + c];
    if (better(v, c, best, bidx)) { best = v; bidx = c; }
  }
  bv[lid] = best;
  bi[lid] = bidx;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      if (better(bv[lid + s], bi[lid + s], bv[lid], bi[lid])) { bv[lid] = bv[lid + s]; bi[lid] = bi[lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let i = bi[0];
    out[row] = select(i + u.base, NONE, i == NONE);
${o.values ? '    maxValues[row] = bv[0];\n' : ''}  }
}
`;
  const name = `argmax${o.values ? '_values' : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed: { cols, stride, base },
    workgroupStorageBytes: 8 * WG,
    dispatch: (d: Dims) => grid1d(dimU32(d, 'rows', name)),
  });
}
