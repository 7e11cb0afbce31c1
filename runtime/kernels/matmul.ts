/**
 * matmul: C[M, N] = A[M, K] · Wᵀ (+ bias[N]) (→ gelu) (+ residual[M, N]).
 *
 * A, C and the residual are f32 activations, row-major; C's and the residual's row
 * stride is `ldc` (default N), and this matmul writes C's columns `col0` … `col0 + N`
 * (default col0 = 0): with ldc > N it fills a column block of a wider matrix — a row
 * block of a weight split over several storage bindings writes its slice of the output
 * (the bias and the residual are indexed by C's column, so they stay whole). W is a
 * weight in `wLayout` 'nk' — PyTorch `nn.Linear`, [out = N, in = K] (default) — or 'kn' —
 * GPT-2's `Conv1D`, [in = K, out = N] — stored as f32, f16 or bf16 (see wgsl/dtype.ts).
 * The bias has its own storage type (default: the weight's). Epilogue order: bias, then
 * the activation, then the residual (GPT-2's c_fc → gelu; c_proj + residual stream).
 *
 * Uniforms: `M` (token rows) is dynamic; N, K, ldc and col0 are fixed by the factory
 * (`fixed`). Only their alignment is baked into the WGSL (vec4 access when K, N, ldc and
 * col0 are multiples of 4), so one pipeline serves every shape of the same alignment and
 * epilogue.
 *
 * Variants:
 * - 'tiled' (default): workgroup tiles staged in shared memory, register tiling (each
 *   invocation computes TM×TN outputs held in named vec4 accumulators), vec4 global loads
 *   where the contiguous dimension is a multiple of 4, bounds guards only in the tile
 *   loads and the epilogue. The inner K loop runs to min(BK, K − k0).
 *   Tiles: 'small' 8×8 invocations × 4×4 = 32×32, 'medium' 16×16 × 4×4 = 64×64,
 *   'large' 16×16 × 8×8 = 128×128; K-step 16.
 * - 'gemv': for few rows (decode; M ≤ maxM, default 8): a workgroup computes a block of
 *   columns for all M rows, invocations split K and reduce in shared memory.
 * - 'subgroup-matrix': tensor cores through `chromium-experimental-subgroup-matrix`
 *   (f16 weights read natively, A rounded to f16, f32 accumulation). Only where the
 *   adapter offers it (H200 with `allow_unsafe_apis`); see `subgroupMatrixSupport`.
 */
import { DTYPE_HELPERS, enables, featuresFor, isNative16, typeTag, type TensorType } from '../wgsl/dtype.js';
import { ACTIVATIONS, type BindingSpec, declareBindings } from '../wgsl/common.js';
import {
  ceilDiv,
  dimU32,
  kernelProgram,
  positiveInt,
  u32Fields,
  type BindingDecl,
  type Dims,
  type KernelProgram,
  type ProgramParts,
  type UniformField,
} from './types.js';

export type MatmulVariant = 'tiled' | 'gemv' | 'subgroup-matrix';
export type MatmulTile = 'small' | 'medium' | 'large';

export interface SubgroupMatrixConfig {
  /** Rows of the left and result matrices. */
  M: number;
  /** Columns of the right and result matrices. */
  N: number;
  /** The shared (reduction) dimension. */
  K: number;
  /** The adapter's subgroup size (`adapter.info.subgroupMaxSize`, which must equal subgroupMinSize). */
  subgroupSize: number;
}

export interface MatmulOptions {
  N: number;
  K: number;
  /** Weight storage (default f32). */
  w?: TensorType;
  /** 'nk' = [N, K] (nn.Linear, default), 'kn' = [K, N] (Conv1D). */
  wLayout?: 'nk' | 'kn';
  bias?: boolean;
  /** Bias storage (default: the weight's). */
  biasType?: TensorType;
  activation?: 'none' | 'gelu';
  residual?: boolean;
  /** Row stride of C and the residual (default N). */
  ldc?: number;
  /** The first column of C (and of the bias and residual) written (default 0); col0 + N ≤ ldc. */
  col0?: number;
  variant?: MatmulVariant;
  /** Tile of the 'tiled' variant (default 'small'). */
  tile?: MatmulTile;
  /** Largest M of the 'gemv' variant (default 8, at most 16). */
  maxM?: number;
  /** The subgroup-matrix configuration (variant 'subgroup-matrix'). */
  subgroupMatrix?: SubgroupMatrixConfig;
}

interface Resolved {
  N: number;
  K: number;
  w: TensorType;
  layout: 'nk' | 'kn';
  bias: boolean;
  biasType: TensorType;
  gelu: boolean;
  residual: boolean;
  ldc: number;
  col0: number;
}

function resolve(o: MatmulOptions): Resolved {
  const N = positiveInt(o.N, 'matmul N');
  const K = positiveInt(o.K, 'matmul K');
  const w = o.w ?? { format: 'f32' };
  const ldc = positiveInt(o.ldc ?? N, 'matmul ldc');
  const col0 = o.col0 ?? 0;
  if (!Number.isInteger(col0) || col0 < 0) throw new Error(`matmul col0 must be a non-negative integer, got ${col0}`);
  if (ldc < col0 + N) throw new Error(`matmul: ldc ${ldc} < col0 ${col0} + N ${N}`);
  return {
    N,
    K,
    w,
    layout: o.wLayout ?? 'nk',
    bias: o.bias === true,
    biasType: o.biasType ?? w,
    gelu: (o.activation ?? 'none') === 'gelu',
    residual: o.residual === true,
    ldc,
    col0,
  };
}

const UNIFORMS: UniformField[] = u32Fields('M', 'N', 'K', 'ldc', 'col0');

/** C (and the bias and residual) are read and written as vec4 when every column index stays 4-aligned. */
function cVecOf(r: Resolved): boolean {
  return r.N % 4 === 0 && r.ldc % 4 === 0 && r.col0 % 4 === 0;
}

/** The alignment the WGSL is specialised for (vec4 access to A, W, C). */
function vecKey(r: Resolved): string {
  return `k${r.K % 4 === 0 ? 4 : 1}n${cVecOf(r) ? 4 : 1}${r.layout === 'kn' && r.N % 4 === 0 ? 'w' : ''}`;
}

function epilogueKey(r: Resolved): string {
  return `${r.bias ? `b${typeTag(r.biasType)}` : ''}${r.gelu ? 'g' : ''}${r.residual ? 'r' : ''}`;
}

/**
 * Declarations shared by the variants: A (vec4 when K % 4 == 0), W, bias, residual and C
 * (vec4 when N, ldc and col0 are multiples of 4), the params, the epilogue functions
 * `fn epi(row, col, v) -> f32` and, when vectorised, `fn epi4(row, col, v) -> vec4<f32>`
 * (col: a column of C), and `store1` / `store4(row, n, v)` taking the column n of this
 * matmul's block (C's column col0 + n).
 */
function common(r: Resolved, aVec: boolean, wVec: boolean): { decls: string; cVec: boolean; bindings: BindingDecl[] } {
  const cVec = cVecOf(r);
  const specs: BindingSpec[] = [
    { name: 'A', access: 'read', type: aVec ? 'vec4<f32>' : 'f32' },
    { name: 'W', access: 'read', tensor: r.w, vec4: wVec },
  ];
  if (r.bias) specs.push({ name: 'bias', access: 'read', tensor: r.biasType, vec4: cVec });
  if (r.residual) specs.push({ name: 'residual', access: 'read', type: cVec ? 'vec4<f32>' : 'f32' });
  specs.push({ name: 'C', access: 'read_write', type: cVec ? 'vec4<f32>' : 'f32' });
  const { bindings, wgsl } = declareBindings(specs, UNIFORMS);
  let s = enables([r.w, r.bias ? r.biasType : undefined]) + wgsl;
  s += DTYPE_HELPERS + ACTIVATIONS;
  // scalar epilogue: element (row, col) of C
  const resS = cVec ? 'residual[(row * u.ldc + col) >> 2u][col & 3u]' : 'residual[row * u.ldc + col]';
  s += `fn epi(row: u32, col: u32, acc: f32) -> f32 {\n  var v = acc;\n`;
  if (r.bias) s += `  v += bias_at(col);\n`;
  if (r.gelu) s += `  v = gelu_tanh(v);\n`;
  if (r.residual) s += `  v += ${resS};\n`;
  s += `  return v;\n}\n`;
  if (cVec) {
    s += `fn epi4(row: u32, col: u32, acc: vec4<f32>) -> vec4<f32> {\n  var v = acc;\n`;
    if (r.bias) s += `  v += bias_at4(col >> 2u);\n`;
    if (r.gelu) s += `  v = gelu_tanh4(v);\n`;
    if (r.residual) s += `  v += residual[(row * u.ldc + col) >> 2u];\n`;
    s += `  return v;\n}\n`;
    s += `fn store4(row: u32, n: u32, v: vec4<f32>) { let col = u.col0 + n; C[(row * u.ldc + col) >> 2u] = epi4(row, col, v); }\n`;
    s += `fn store1(row: u32, n: u32, v: f32) { let col = u.col0 + n; C[(row * u.ldc + col) >> 2u][col & 3u] = epi(row, col, v); }\n`;
  } else {
    s += `fn store1(row: u32, n: u32, v: f32) { let col = u.col0 + n; C[row * u.ldc + col] = epi(row, col, v); }\n`;
  }
  return { decls: s, cVec, bindings };
}

/** The program object of a variant: the uniforms, static sizes and (unless given) features all variants share. */
function program(r: Resolved, name: string, wgsl: string, p: Omit<ProgramParts, 'uniforms' | 'fixed'>): KernelProgram {
  return kernelProgram(name, wgsl, {
    uniforms: UNIFORMS,
    fixed: { N: r.N, K: r.K, ldc: r.ldc, col0: r.col0 },
    features: featuresFor([r.w, r.bias ? r.biasType : undefined]),
    ...p,
  });
}

/** One workgroup per BM × BN tile of C (none when M is 0). */
function tileGrid(r: Resolved, M: number, BM: number, BN: number): [number, number, number] {
  return [ceilDiv(r.N, BN), ceilDiv(M, BM), M === 0 ? 0 : 1];
}

const TILES: Record<MatmulTile, { TX: number; TY: number; TM: number; TN: number; BK: number }> = {
  small: { TX: 8, TY: 8, TM: 4, TN: 4, BK: 16 },
  medium: { TX: 16, TY: 16, TM: 4, TN: 4, BK: 16 },
  large: { TX: 16, TY: 16, TM: 8, TN: 8, BK: 16 },
};

function tiled(r: Resolved, tile: MatmulTile): KernelProgram {
  const { TX, TY, TM, TN, BK } = TILES[tile];
  const BM = TY * TM;
  const BN = TX * TN;
  const NT = TX * TY;
  const aVec = r.K % 4 === 0;
  // W is vectorised along its contiguous dimension: K for 'nk', N for 'kn'.
  const wVec = r.layout === 'nk' ? r.K % 4 === 0 : r.N % 4 === 0;
  const { decls, cVec, bindings } = common(r, aVec, wVec);
  // N and K are uniforms, so the tile loads always guard them (outside the inner loop)
  const kGuard = true;
  const nGuard = true;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  L(decls);
  L(`const BM = ${BM}u;\nconst BN = ${BN}u;\nconst BK = ${BK}u;`);
  L(`var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;`);
  L(`var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;`);
  // A-like tile loader: rows r0 … r0+ROWS along a K-contiguous matrix, stored k-major into S.
  const rowLoad = (
    S: string,
    rows: number,
    base: string,
    limit: string,
    guardRows: boolean,
    load4: string,
    load1: string,
    vec: boolean,
  ) => {
    const groups = (rows * BK) / 4;
    const iters = ceilDiv(groups, NT);
    const out: string[] = [];
    out.push(`  for (var it = 0u; it < ${iters}u; it++) {`);
    out.push(`    let g = tid + it * ${NT}u;`);
    if (groups % NT !== 0) out.push(`    if (g < ${groups}u) {`);
    out.push(`    let rr = g / ${BK / 4}u;`);
    out.push(`    let kc = (g % ${BK / 4}u) * 4u;`);
    out.push(`    let row = ${base} + rr;`);
    out.push(`    let k = k0 + kc;`);
    out.push(`    var v = vec4<f32>(0.0);`);
    const rowOk = guardRows ? `row < ${limit}` : 'true';
    if (vec) {
      const cond = [guardRows ? `row < ${limit}` : '', kGuard ? 'k < K' : ''].filter(Boolean).join(' && ') || 'true';
      out.push(`    if (${cond}) { v = ${load4}; }`);
    } else {
      out.push(`    if (${rowOk}) {`);
      for (let j = 0; j < 4; j++) {
        const e = ['x', 'y', 'z', 'w'][j];
        out.push(`      if (k + ${j}u < K) { v.${e} = ${load1.replace('$J', `${j}u`)}; }`);
      }
      out.push(`    }`);
    }
    for (let j = 0; j < 4; j++) out.push(`    ${S}[(kc + ${j}u) * ${rows / 4}u + (rr >> 2u)][rr & 3u] = v[${j}];`);
    if (groups % NT !== 0) out.push(`    }`);
    out.push(`  }`);
    return out.join('\n');
  };
  L(`@compute @workgroup_size(${TX}, ${TY}, 1)`);
  L(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {`);
  L(`  let M = u.M;`);
  L(`  let N = u.N;`);
  L(`  let K = u.K;`);
  L(`  let m0 = wid.y * BM;`);
  L(`  let n0 = wid.x * BN;`);
  L(`  let tid = lid.y * ${TX}u + lid.x;`);
  const accName = (i: number, j: number) => `acc_${i}_${j}`;
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN / 4; j++) L(`  var ${accName(i, j)} = vec4<f32>(0.0);`);
  L(`  for (var k0 = 0u; k0 < K; k0 += BK) {`);
  // A tile
  L(rowLoad('As', BM, 'm0', 'M', true, `A[(row * K + k) >> 2u]`, aVec ? '' : `A[row * K + k + $J]`, aVec));
  // W tile
  if (r.layout === 'nk') {
    L(rowLoad('Bs', BN, 'n0', 'N', nGuard, `W_at4((row * K + k) >> 2u)`, `W_at(row * K + k + $J)`, wVec));
  } else {
    const groups = (BK * BN) / 4;
    const iters = ceilDiv(groups, NT);
    L(`  for (var it = 0u; it < ${iters}u; it++) {`);
    L(`    let g = tid + it * ${NT}u;`);
    if (groups % NT !== 0) L(`    if (g < ${groups}u) {`);
    L(`    let kr = g / ${BN / 4}u;`);
    L(`    let nc = (g % ${BN / 4}u) * 4u;`);
    L(`    let k = k0 + kr;`);
    L(`    let n = n0 + nc;`);
    L(`    var v = vec4<f32>(0.0);`);
    if (wVec) {
      const cond = [kGuard ? 'k < K' : '', nGuard ? 'n < N' : ''].filter(Boolean).join(' && ') || 'true';
      L(`    if (${cond}) { v = W_at4((k * N + n) >> 2u); }`);
    } else {
      L(`    if (k < K) {`);
      for (let j = 0; j < 4; j++) L(`      if (n + ${j}u < N) { v.${'xyzw'[j]} = W_at(k * N + n + ${j}u); }`);
      L(`    }`);
    }
    L(`    Bs[kr * ${BN / 4}u + (nc >> 2u)] = v;`);
    if (groups % NT !== 0) L(`    }`);
    L(`  }`);
  }
  L(`  workgroupBarrier();`);
  // the bound is dynamic on purpose: it skips the zero padding of the last K step, and a
  // constant bound makes lavapipe's LLVM unroll the loop (seconds more per shader)
  L(`  let kEnd = min(BK, K - k0);`);
  L(`  for (var kk = 0u; kk < kEnd; kk++) {`);
  for (let i4 = 0; i4 < TM / 4; i4++) L(`    let a${i4} = As[kk * ${BM / 4}u + lid.y * ${TM / 4}u + ${i4}u];`);
  for (let j = 0; j < TN / 4; j++) L(`    let b${j} = Bs[kk * ${BN / 4}u + lid.x * ${TN / 4}u + ${j}u];`);
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN / 4; j++) L(`    ${accName(i, j)} += a${i >> 2}.${'xyzw'[i & 3]} * b${j};`);
  }
  L(`  }`);
  L(`  workgroupBarrier();`);
  L(`  }`);
  // epilogue
  for (let i = 0; i < TM; i++) {
    L(`  {`);
    L(`    let row = m0 + lid.y * ${TM}u + ${i}u;`);
    L(`    if (row < M) {`);
    for (let j = 0; j < TN / 4; j++) {
      L(`      {`);
      L(`        let col = n0 + lid.x * ${TN}u + ${4 * j}u;`);
      const v = accName(i, j);
      if (cVec) {
        L(`        if (col < N) { store4(row, col, ${v}); }`);
      } else {
        for (let c = 0; c < 4; c++) L(`        if (col + ${c}u < N) { store1(row, col + ${c}u, ${v}.${'xyzw'[c]}); }`);
      }
      L(`      }`);
    }
    L(`    }`);
    L(`  }`);
  }
  L(`}`);
  const wgsl = lines.join('\n');
  const name = `matmul_tiled_${tile}_${typeTag(r.w)}_${r.layout}`;
  return program(r, name, wgsl, {
    cacheKey: `${name}:${vecKey(r)}:${epilogueKey(r)}`,
    workgroupSize: [TX, TY, 1],
    bindings,
    workgroupStorageBytes: 4 * BK * (BM + BN),
    dispatch: (d: Dims) => tileGrid(r, dimU32(d, 'M', name), BM, BN),
  });
}

function gemv(r: Resolved, maxM: number): KernelProgram {
  if (!Number.isInteger(maxM) || maxM < 1 || maxM > 16) throw new Error(`matmul gemv: maxM must be 1 … 16, got ${maxM}`);
  // 'nk': 4 columns per workgroup, 32 lanes each split K (lanes of a column read consecutive
  // vec4s of its weight row). 'kn': 64 columns per workgroup (consecutive invocations read
  // consecutive columns of a weight row), 4 lanes split K.
  const nk = r.layout === 'nk';
  const COLS = nk ? 4 : 64;
  const LANES = nk ? 32 : 4;
  const WG = COLS * LANES;
  const vec = nk && r.K % 4 === 0;
  const aVec = vec;
  const { decls, cVec, bindings } = common(r, aVec, vec);
  void cVec;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  L(decls);
  L(`const MAXM = ${maxM}u;`);
  L(`var<workgroup> part: array<f32, ${maxM * WG}>;`);
  L(`@compute @workgroup_size(${WG}, 1, 1)`);
  L(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {`);
  L(`  let M = u.M;`);
  L(`  let N = u.N;`);
  L(`  let K = u.K;`);
  if (nk) {
    L(`  let c = tid / ${LANES}u;`);
    L(`  let lane = tid % ${LANES}u;`);
  } else {
    L(`  let c = tid % ${COLS}u;`);
    L(`  let lane = tid / ${COLS}u;`);
  }
  L(`  let n = wid.x * ${COLS}u + c;`);
  L(`  var acc: array<f32, ${maxM}>;`);
  L(`  if (n < N) {`);
  if (vec) {
    L(`    for (var k4 = lane; k4 < K / 4u; k4 += ${LANES}u) {`);
    L(`      let w = W_at4(n * (K / 4u) + k4);`);
    for (let m = 0; m < maxM; m++) L(`      if (${m}u < M) { acc[${m}] += dot(A[${m}u * (K / 4u) + k4], w); }`);
    L(`    }`);
  } else {
    L(`    for (var k = lane; k < K; k += ${LANES}u) {`);
    L(nk ? `      let w = W_at(n * K + k);` : `      let w = W_at(k * N + n);`);
    for (let m = 0; m < maxM; m++) L(`      if (${m}u < M) { acc[${m}] += A[${m}u * K + k] * w; }`);
    L(`    }`);
  }
  L(`  }`);
  // partial sums: part[(m * COLS + c) * LANES + lane]
  for (let m = 0; m < maxM; m++) L(`  part[(${m}u * ${COLS}u + c) * ${LANES}u + lane] = acc[${m}];`);
  L(`  workgroupBarrier();`);
  L(`  for (var s = ${LANES / 2}u; s > 0u; s >>= 1u) {`);
  L(`    if (lane < s) {`);
  for (let m = 0; m < maxM; m++)
    L(`      part[(${m}u * ${COLS}u + c) * ${LANES}u + lane] += part[(${m}u * ${COLS}u + c) * ${LANES}u + lane + s];`);
  L(`    }`);
  L(`    workgroupBarrier();`);
  L(`  }`);
  L(`  if (lane == 0u && n < N) {`);
  L(`    for (var m = 0u; m < min(M, MAXM); m++) { store1(m, n, part[(m * ${COLS}u + c) * ${LANES}u]); }`);
  L(`  }`);
  L(`}`);
  const name = `matmul_gemv_${typeTag(r.w)}_${r.layout}`;
  return program(r, name, lines.join('\n'), {
    cacheKey: `${name}:${vecKey(r)}:m${maxM}:${epilogueKey(r)}`,
    workgroupSize: WG,
    bindings,
    workgroupStorageBytes: 4 * maxM * WG,
    dispatch(d: Dims) {
      const M = dimU32(d, 'M', name);
      if (M > maxM) throw new Error(`${name}: M = ${M} exceeds maxM = ${maxM}; use the tiled variant`);
      return [ceilDiv(r.N, COLS), M === 0 ? 0 : 1, 1];
    },
  });
}

/** The adapter's f16 → f32 subgroup-matrix configuration, if any (prefers 16×16×16). */
export function subgroupMatrixSupport(adapter: GPUAdapter, device?: GPUDevice): SubgroupMatrixConfig | undefined {
  const feats = device?.features ?? adapter.features;
  if (!feats.has('chromium-experimental-subgroup-matrix' as GPUFeatureName) || !feats.has('shader-f16') || !feats.has('subgroups'))
    return undefined;
  const info = adapter.info as GPUAdapterInfo & {
    subgroupMatrixConfigs?: readonly { componentType: string; resultComponentType: string; M: number; N: number; K: number }[];
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const sg = info.subgroupMaxSize ?? 0;
  if (!sg || info.subgroupMinSize !== sg) return undefined;
  const cfgs = (info.subgroupMatrixConfigs ?? []).filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32');
  const best =
    cfgs.find((c) => c.M === 16 && c.N === 16 && c.K === 16) ?? cfgs.find((c) => 32 % c.M === 0 && 32 % c.N === 0 && 32 % c.K === 0);
  return best ? { M: best.M, N: best.N, K: best.K, subgroupSize: sg } : undefined;
}

/**
 * Tensor-core matmul (not runnable on lavapipe: compiled and run only where the adapter
 * offers `chromium-experimental-subgroup-matrix`). Workgroup tile 64×64, K-step 32;
 * four subgroups, each owning a 32×32 block of (32/M)×(32/N) result matrices. A (f32) and
 * W (f16) tiles are staged through shared memory as f16 (zero-filled outside the
 * matrices, so any M, N, K work), results go through shared memory to a bounds-checked
 * epilogue (bias, gelu, residual) like the other variants. A is clamped to ±65504 before
 * rounding to f16.
 */
function subgroupMatrix(r: Resolved, cfg: SubgroupMatrixConfig): KernelProgram {
  if (!isNative16(r.w)) throw new Error('matmul subgroup-matrix: the weight must be f16 read natively ({ format: "f16", native16: true })');
  const { M: SM, N: SN, K: SK, subgroupSize: SG } = cfg;
  if (32 % SM !== 0 || 32 % SN !== 0 || 32 % SK !== 0)
    throw new Error(`matmul subgroup-matrix: config ${SM}×${SN}×${SK} does not divide 32`);
  const BM = 64;
  const BN = 64;
  const BK = 32;
  const WG = 4 * SG;
  const TR = 32 / SM;
  const TC = 32 / SN;
  const { decls, bindings } = common(r, false, false);
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  L(`diagnostic(off, chromium.subgroup_matrix_uniformity);`);
  L(`enable subgroups;`);
  L(`enable chromium_experimental_subgroup_matrix;`);
  L(decls);
  L(`var<workgroup> As: array<f16, ${BM * BK}>;`);
  L(`var<workgroup> Ws: array<f16, ${BN * BK}>;`);
  L(`var<workgroup> Cs: array<f32, ${BM * BN}>;`);
  L(`@compute @workgroup_size(${WG}, 1, 1)`);
  L(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32, @builtin(subgroup_id) sg: u32) {`);
  L(`  let M = u.M;`);
  L(`  let N = u.N;`);
  L(`  let K = u.K;`);
  L(`  let m0 = wid.y * ${BM}u;`);
  L(`  let n0 = wid.x * ${BN}u;`);
  L(`  let rb = (sg / 2u) * 32u;`);
  L(`  let cb = (sg % 2u) * 32u;`);
  const acc = (i: number, j: number) => `c_${i}_${j}`;
  for (let i = 0; i < TR; i++) for (let j = 0; j < TC; j++) L(`  var ${acc(i, j)}: subgroup_matrix_result<f32, ${SN}, ${SM}>;`);
  L(`  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {`);
  L(`    for (var e = tid; e < ${BM * BK}u; e += ${WG}u) {`);
  L(`      let rr = e / ${BK}u; let kk = e % ${BK}u;`);
  L(`      let row = m0 + rr; let k = k0 + kk;`);
  L(`      var a = 0.0;`);
  L(`      if (row < M && k < K) { a = clamp(A[row * K + k], -65504.0, 65504.0); }`);
  L(`      As[e] = f16(a);`);
  L(`      let n = n0 + rr;`);
  L(`      var w = f16(0.0);`);
  L(r.layout === 'nk' ? `      if (n < N && k < K) { w = W[n * K + k]; }` : `      if (n < N && k < K) { w = W[k * N + n]; }`);
  L(`      Ws[e] = w;`);
  L(`    }`);
  L(`    workgroupBarrier();`);
  L(`    for (var kk = 0u; kk < ${BK}u; kk += ${SK}u) {`);
  for (let i = 0; i < TR; i++)
    L(
      `      let a${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, ${SK}, ${SM}>>(&As, (rb + ${i * SM}u) * ${BK}u + kk, false, ${BK}u);`,
    );
  for (let j = 0; j < TC; j++)
    L(
      `      let b${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, ${SN}, ${SK}>>(&Ws, (cb + ${j * SN}u) * ${BK}u + kk, true, ${BK}u);`,
    );
  for (let i = 0; i < TR; i++)
    for (let j = 0; j < TC; j++) L(`      ${acc(i, j)} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, ${acc(i, j)});`);
  L(`    }`);
  L(`    workgroupBarrier();`);
  L(`  }`);
  for (let i = 0; i < TR; i++)
    for (let j = 0; j < TC; j++)
      L(`  subgroupMatrixStore(&Cs, (rb + ${i * SM}u) * ${BN}u + cb + ${j * SN}u, ${acc(i, j)}, false, ${BN}u);`);
  L(`  workgroupBarrier();`);
  L(`  for (var e = tid; e < ${BM * BN}u; e += ${WG}u) {`);
  L(`    let row = m0 + e / ${BN}u; let col = n0 + e % ${BN}u;`);
  L(`    if (row < M && col < N) { store1(row, col, Cs[e]); }`);
  L(`  }`);
  L(`}`);
  const name = `matmul_sgmat_${r.layout}`;
  return program(r, name, lines.join('\n'), {
    cacheKey: `${name}:${SM}x${SN}x${SK}:sg${SG}:${vecKey(r)}:${epilogueKey(r)}`,
    workgroupSize: WG,
    bindings,
    features: ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix' as GPUFeatureName],
    workgroupStorageBytes: 2 * BM * BK + 2 * BN * BK + 4 * BM * BN,
    dispatch: (d: Dims) => tileGrid(r, dimU32(d, 'M', name), BM, BN),
  });
}

export function matmulProgram(o: MatmulOptions): KernelProgram {
  const r = resolve(o);
  const variant = o.variant ?? 'tiled';
  if (variant === 'gemv') return gemv(r, o.maxM ?? 8);
  if (variant === 'subgroup-matrix') {
    if (!o.subgroupMatrix) throw new Error('matmul subgroup-matrix: pass subgroupMatrix (from subgroupMatrixSupport(adapter))');
    return subgroupMatrix(r, o.subgroupMatrix);
  }
  return tiled(r, o.tile ?? 'small');
}

/**
 * A reasonable variant for M rows: 'gemv' up to 8 rows (decode), else the subgroup-matrix
 * path when given a config and the weight is native f16, else 'tiled' with a tile that
 * does not waste most of its rows ('small' below 64 rows, 'medium' below 512, else 'large').
 */
export function pickMatmul(M: number, w: TensorType, sgmat?: SubgroupMatrixConfig): { variant: MatmulVariant; tile?: MatmulTile } {
  if (M <= 8) return { variant: 'gemv' };
  if (sgmat && isNative16(w)) return { variant: 'subgroup-matrix' };
  return { variant: 'tiled', tile: M < 64 ? 'small' : M < 512 ? 'medium' : 'large' };
}
