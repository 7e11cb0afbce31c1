/**
 * Gradients of a linear layer C[T, N] = X[T, K]·Wᵀ (+ bias), W stored as the forward reads it
 * ('nk' = nn.Linear [N, K], 'kn' = GPT-2's Conv1D [K, N]; any storage format):
 *
 * - `matmulGradInputProgram`: dX[T, K] = dY[T, N]·W. This is the forward matmul with the roles of
 *   N and K swapped and the other layout ([N, K] read as Conv1D's [in, out] is exactly W), so it
 *   reuses `matmulProgram` (every variant, tile, storage format and the `residual` epilogue, which
 *   adds dX into an existing gradient). Bindings A (= dY), W, [residual], C (= dX); uniform M (= T).
 * - `matmulGradWeightProgram`: dW += dYᵀ·X into an f32 gradient buffer laid out as W, so that
 *   microbatches accumulate (the executor clears it once per step). 64×64 workgroup tiles of
 *   (n, k), 4×4 outputs per invocation in vec4 registers, the T dimension staged through shared
 *   memory 16 rows at a time; the sum over T is in a fixed order, so the result is deterministic.
 *   Bindings dY, X, dW; uniform T.
 * - `biasGradProgram`: db[n] += Σₜ dY[t, n] (column sums, accumulated; one invocation per column,
 *   consecutive invocations read consecutive columns). Bindings dY, db; uniform T.
 */
import { declareBindings } from '../wgsl/common.js';
import { matmulProgram, type MatmulOptions } from './matmul.js';
import { ceilDiv, dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

/** The forward's N (outputs), K (inputs), weight storage and layout; plus the matmul's variant, tile and residual. */
export type MatmulGradInputOptions = Pick<MatmulOptions, 'N' | 'K' | 'w' | 'wLayout' | 'residual' | 'variant' | 'tile' | 'maxM'>;

/** dX = dY·W (+ residual): the forward matmul over K outputs and N inputs, W read in the other layout. */
export function matmulGradInputProgram(o: MatmulGradInputOptions): KernelProgram {
  const flip = (o.wLayout ?? 'nk') === 'nk' ? 'kn' : 'nk';
  return matmulProgram({ ...o, N: o.K, K: o.N, wLayout: flip });
}

export interface MatmulGradWeightOptions {
  /** The forward's outputs (rows of an 'nk' W). */
  N: number;
  /** The forward's inputs. */
  K: number;
  /** The layout of W, and so of dW (default 'nk'). */
  wLayout?: 'nk' | 'kn';
}

/** dW tile edge (n and k) and the T rows staged per step. */
const TILE = 64;
const BT = 16;
const DW_UNIFORMS: UniformField[] = u32Fields('T', 'N', 'K');

/** dW[n, k] += Σₜ dY[t, n]·X[t, k], dW f32 in W's layout. */
export function matmulGradWeightProgram(o: MatmulGradWeightOptions): KernelProgram {
  const N = positiveInt(o.N, 'matmulGradWeight N');
  const K = positiveInt(o.K, 'matmulGradWeight K');
  const layout = o.wLayout ?? 'nk';
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'dY', access: 'read', type: 'f32' },
      { name: 'X', access: 'read', type: 'f32' },
      { name: 'dW', access: 'read_write', type: 'f32' },
    ],
    DW_UNIFORMS,
  );
  const store = layout === 'nk' ? 'n * K + k' : 'k * N + n';
  // 16×16 invocations, each 4 (n) × 4 (k) outputs held in vec4 registers: a 64×64 tile of dW;
  // T advances 16 rows at a time, the dY and X blocks staged through shared memory.
  const s = `${decls}
var<workgroup> tdy: array<array<vec4<f32>, 16>, ${BT}>;
var<workgroup> tx: array<array<vec4<f32>, 16>, ${BT}>;
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let N = u.N;
  let K = u.K;
  let T = u.T;
  let n0 = wid.y * ${TILE}u;
  let k0 = wid.x * ${TILE}u;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t0 = 0u; t0 < T; t0 += ${BT}u) {
    for (var r = 0u; r < 4u; r++) {
      let e = li + 256u * r;
      let row = e / ${TILE}u;
      let col = e % ${TILE}u;
      let t = t0 + row;
      var a = 0.0;
      var b = 0.0;
      if (t < T && n0 + col < N) { a = dY[t * N + n0 + col]; }
      if (t < T && k0 + col < K) { b = X[t * K + k0 + col]; }
      tdy[row][col >> 2u][col & 3u] = a;
      tx[row][col >> 2u][col & 3u] = b;
    }
    workgroupBarrier();
    // a dynamic bound: a constant one makes LLVM unroll the loop (lavapipe compiles ~10× longer)
    let steps = min(${BT}u, T - t0);
    for (var i = 0u; i < steps; i++) {
      let d = tdy[i][lid.y];
      let x = tx[i][lid.x];
      acc0 += d.x * x;
      acc1 += d.y * x;
      acc2 += d.z * x;
      acc3 += d.w * x;
    }
    workgroupBarrier();
  }
  let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var a = 0u; a < 4u; a++) {
    let n = n0 + lid.y * 4u + a;
    if (n >= N) { break; }
    for (var b = 0u; b < 4u; b++) {
      let k = k0 + lid.x * 4u + b;
      if (k < K) { dW[${store}] += accs[a][b]; }
    }
  }
}
`;
  const name = `matmul_grad_weight_${layout}`;
  return kernelProgram(name, s, {
    workgroupSize: [16, 16, 1],
    bindings,
    uniforms: DW_UNIFORMS,
    fixed: { N, K },
    workgroupStorageBytes: 2 * BT * TILE * 4,
    dispatch: (d: Dims) => {
      dimU32(d, 'T', name);
      return [ceilDiv(K, TILE), ceilDiv(N, TILE), 1];
    },
  });
}

const DB_WG = 64;
const DB_UNIFORMS: UniformField[] = u32Fields('T', 'N');

/** db[n] += Σₜ dY[t, n]. */
export function biasGradProgram(o: { N: number }): KernelProgram {
  const N = positiveInt(o.N, 'biasGrad N');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'dY', access: 'read', type: 'f32' },
      { name: 'db', access: 'read_write', type: 'f32' },
    ],
    DB_UNIFORMS,
  );
  const s = `${decls}
@compute @workgroup_size(${DB_WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let N = u.N;
  if (n >= N) { return; }
  var acc = 0.0;
  for (var t = 0u; t < u.T; t++) { acc += dY[t * N + n]; }
  db[n] += acc;
}
`;
  const name = 'bias_grad';
  return kernelProgram(name, s, {
    workgroupSize: DB_WG,
    bindings,
    uniforms: DB_UNIFORMS,
    fixed: { N },
    dispatch: (d: Dims) => {
      dimU32(d, 'T', name);
      return [ceilDiv(N, DB_WG), 1, 1];
    },
  });
}
