/**
 * softmax, row-wise and numerically stable: y = exp(x − max) / Σ exp(x − max) over the
 * first `cols` of each row; −∞ entries (masks) give 0. One workgroup per row. Rows and
 * cols are uniform fields (no recompiles); the row stride is `cols`.
 * Bindings: x, y (or x read_write with `inplace`). Uniforms: rows, cols.
 */
import { type BindingSpec, declareBindings, grid1d, main1d, reductions, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface SoftmaxOptions {
  inplace?: boolean;
  /** Invocations per row (power of two, default 64). */
  workgroupSize?: number;
}

const UNIFORMS: UniformField[] = u32Fields('rows', 'cols');

export function softmaxProgram(o: SoftmaxOptions = {}): KernelProgram {
  const inplace = o.inplace === true;
  const WG = o.workgroupSize ?? 64;
  const specs: BindingSpec[] = inplace
    ? [{ name: 'x', access: 'read_write', type: 'f32' }]
    : [
        { name: 'x', access: 'read', type: 'f32' },
        { name: 'y', access: 'read_write', type: 'f32' },
      ];
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  let s = decls;
  s += WG_LINEAR + reductions(WG);
  const y = inplace ? 'x' : 'y';
  s += `${main1d(WG)}
  let row = wg_linear(wid, nwg);
  if (row >= u.rows) { return; }
  let C = u.cols;
  let base = row * C;
  var mx = -3.4028234663852886e38;
  for (var c = lid; c < C; c += ${WG}u) { mx = max(mx, x[base + c]); }
  let m = red_max(mx, lid);
  var sum = 0.0;
  for (var c = lid; c < C; c += ${WG}u) { sum += exp(x[base + c] - m); }
  let inv = 1.0 / red_sum(sum, lid);
  for (var c = lid; c < C; c += ${WG}u) { ${y}[base + c] = exp(x[base + c] - m) * inv; }
}
`;
  const name = `softmax${inplace ? '_inplace' : ''}`;
  return kernelProgram(name, s, {
    cacheKey: `${name}:wg${WG}`,
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    workgroupStorageBytes: 4 * WG,
    dispatch(d: Dims) {
      const rows = dimU32(d, 'rows', name);
      dimU32(d, 'cols', name);
      return grid1d(rows);
    },
  });
}
