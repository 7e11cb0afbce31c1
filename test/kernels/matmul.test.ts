/**
 * matmul against the f64 reference, for every variant × weight storage the adapter
 * offers × both weight layouts, on odd sizes (nothing a multiple of the tile), aligned
 * sizes (the vec4 paths), 1×1×1, and fused epilogues with a row stride.
 *
 * Tolerances. The reference is given exactly the weight values the kernel reads (bf16/f16
 * decoded), so every path is judged by f32 accumulation: |err| ≤ 2·(K + 8)·2⁻²⁴·S, S =
 * Σₖ|aₖwₖ| + |bias| + |residual| (a summation-order-independent bound; ×1.2 after gelu,
 * whose slope is < 1.13, plus 4 ulp of the result). Against the *unrounded* f32 weights a
 * 16-bit path is also within its format's unit roundoff: + u·Σ|aₖwₖ| with u = 2⁻⁸ (bf16),
 * 2⁻¹¹ (f16), + K·2⁻²⁵·max|a| for f16 subnormals.
 */
import { describe, expect, it } from 'vitest';
import { matmulProgram, pickMatmul, subgroupMatrixSupport, type MatmulOptions, type MatmulTile } from '../../runtime/kernels/matmul.js';
import { encode, roundAll, unitRoundoff } from '../../runtime/reference/dtype.js';
import { matmul, matmulMagnitude } from '../../runtime/reference/matmul.js';
import type { TensorType } from '../../runtime/wgsl/dtype.js';
import { expectClose, f32s, rng, tensorTypes, testGpu, U32, uniform, runOnce } from './util.js';

interface Case {
  M: number;
  K: number;
  N: number;
}

// Shapes share a pipeline when they share alignment (N, K are uniforms): ODD has K and N
// not multiples of 4 (scalar loads, every guard), ALIGNED has both multiples of 4 (vec4
// loads) but nothing a multiple of a tile. On lavapipe every distinct shader costs about
// a second of LLVM time at its first dispatch, so the table is chosen to cover each code
// path once rather than every combination.
const ODD: Case[] = [
  { M: 3, K: 37, N: 29 },
  { M: 1, K: 1, N: 1 },
  { M: 70, K: 19, N: 65 },
  { M: 33, K: 41, N: 70 },
];
const ALIGNED: Case[] = [
  { M: 4, K: 64, N: 48 },
  { M: 17, K: 128, N: 36 },
  { M: 65, K: 20, N: 68 },
];
// gemv (maxM 4): the cases above with M ≤ 4, and one more of each alignment
const SMALL_M_ODD: Case[] = [...ODD.filter((c) => c.M <= 4), { M: 4, K: 33, N: 100 }];
const SMALL_M_ALIGNED: Case[] = [...ALIGNED.filter((c) => c.M <= 4), { M: 2, K: 132, N: 5 }];

let seed = 1000;

async function check(
  c: Case,
  opts: Omit<MatmulOptions, 'N' | 'K'>,
  label: string,
  epi: { bias?: boolean; gelu?: boolean; residual?: boolean; ldc?: number } = {},
): Promise<void> {
  const g = await testGpu();
  const { M, K, N } = c;
  const r = rng(seed++);
  const w: TensorType = opts.w ?? { format: 'f32' };
  const layout = opts.wLayout ?? 'nk';
  const ldc = epi.ldc ?? N;
  const A = uniform(r, M * K);
  const W0 = uniform(r, N * K);
  const W = roundAll(w.format, W0);
  const bias0 = epi.bias ? uniform(r, N) : undefined;
  const biasType = opts.biasType ?? w;
  const bias = bias0 ? roundAll(biasType.format, bias0) : undefined;
  const residual = epi.residual ? uniform(r, M * ldc) : undefined;
  const program = matmulProgram({ N, K, ...opts, bias: epi.bias, activation: epi.gelu ? 'gelu' : 'none', residual: epi.residual, ldc });
  const sentinel = new Float32Array(M * ldc).fill(123.5);
  const inputs: Record<string, ArrayBufferView> = { A, W: encode(w.format, W0), C: sentinel };
  if (bias0) inputs['bias'] = encode(biasType.format, bias0);
  if (residual) inputs['residual'] = residual;
  const out = await runOnce(g, program, inputs, { M }, ['C']);
  const got = f32s(out['C']!, M * ldc);
  const want = matmul(A, W, M, N, K, {
    layout,
    bias,
    activation: epi.gelu ? 'gelu' : 'none',
    residual,
    ldc,
    out: new Float32Array(sentinel),
  });
  const S = matmulMagnitude(A, W, M, N, K, { layout, bias, residual, ldc });
  const geluF = epi.gelu ? 1.2 : 1;
  const tol = (i: number) => geluF * 2 * (K + 8) * U32 * S[i]! + 4 * U32 * Math.abs(want[i]!) + 1e-30;
  expectClose(got, want, tol, `${label} ${program.name} M=${M} K=${K} N=${N}`);
  // the columns beyond N (ldc > N) are untouched
  for (let m = 0; m < M; m++) for (let n = N; n < ldc; n++) expect(got[m * ldc + n]).toBe(123.5);
  if (w.format !== 'f32' && !epi.gelu) {
    const want0 = matmul(A, W0, M, N, K, { layout, bias: bias0, residual, ldc, out: new Float32Array(sentinel) });
    const S0 = matmulMagnitude(A, W0, M, N, K, { layout, bias: bias0, residual, ldc });
    const u = Math.max(unitRoundoff(w.format), unitRoundoff(biasType.format));
    const amax = A.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    const tol0 = (i: number) => u * S0[i]! + K * 2 ** -25 * amax + tol(i);
    expectClose(got, want0, tol0, `${label} vs f32 weights`);
  }
}

describe('matmul', async () => {
  const g = await testGpu();
  const types = tensorTypes(g);
  const wide = (t: TensorType) => t.format === 'f32' || t.format === 'bf16';

  describe.each(types)('weights $tag', ({ t }) => {
    it('tiled (small tile), nk: odd and aligned sizes', async () => {
      for (const c of [...ODD, ...ALIGNED]) await check(c, { w: t }, 'tiled');
    });
    it('tiled (small tile), kn (Conv1D layout)', async () => {
      for (const c of [...ODD, ...(wide(t) ? ALIGNED : [])]) await check(c, { w: t, wLayout: 'kn' }, 'tiled');
    });
    it('gemv (maxM 4), nk and kn', async () => {
      for (const c of [...SMALL_M_ODD, ...(wide(t) ? SMALL_M_ALIGNED : [])]) await check(c, { w: t, variant: 'gemv', maxM: 4 }, 'gemv');
      if (wide(t)) for (const c of SMALL_M_ODD) await check(c, { w: t, wLayout: 'kn', variant: 'gemv', maxM: 4 }, 'gemv');
    });
  });

  it('gemv with the default maxM 8', async () => {
    for (const M of [1, 5, 8]) await check({ M, K: 64, N: 40 }, { w: { format: 'bf16' }, variant: 'gemv' }, 'gemv8');
  });

  for (const tile of ['medium', 'large'] as MatmulTile[]) {
    it(`tiled ${tile} tile: f32 nk odd sizes, bf16 kn aligned sizes`, async () => {
      for (const c of [...ODD, { M: 130, K: 37, N: 133 }]) await check(c, { tile }, tile);
      for (const c of [...ALIGNED, { M: 130, K: 48, N: 132 }]) await check(c, { w: { format: 'bf16' }, wLayout: 'kn', tile }, tile);
    });
  }

  it('fused epilogues: bias, gelu, residual, ldc > N (tiled and gemv; f32 and packed bias)', async () => {
    const all = { bias: true, gelu: true, residual: true, ldc: 33 };
    await check({ M: 5, K: 23, N: 29 }, { w: { format: 'bf16' }, biasType: { format: 'f32' } }, 'epilogue all', all);
    await check({ M: 9, K: 32, N: 32 }, { w: { format: 'f16' }, wLayout: 'kn' }, 'epilogue bias', { bias: true });
    await check({ M: 6, K: 32, N: 32 }, { w: { format: 'f32' } }, 'epilogue residual ldc', { residual: true, ldc: 40 });
    await check(
      { M: 3, K: 23, N: 29 },
      { variant: 'gemv', maxM: 4, w: { format: 'bf16' }, biasType: { format: 'f32' } },
      'gemv epilogue all',
      all,
    );
    await check({ M: 4, K: 32, N: 32 }, { variant: 'gemv', maxM: 4, w: { format: 'f16' }, wLayout: 'kn' }, 'gemv epilogue bias', {
      bias: true,
    });
  });

  /**
   * A weight split over several bindings: W's row blocks, one dispatch each with col0 at
   * the block's first row and ldc = N, fill C column block by column block with the
   * whole bias and residual; the result is the unsplit matmul's. Blocks of 12 rows (vec4
   * C) and a ragged last block; blocks of 5 rows (scalar C); tiled and gemv.
   */
  it('row blocks of W with col0: the column blocks of C equal one matmul (bias, residual; tiled and gemv)', async () => {
    const M = 5;
    const K = 36;
    const N = 41;
    for (const [per, opts] of [
      [12, { w: { format: 'f32' } }],
      [12, { w: { format: 'bf16' }, variant: 'gemv', maxM: 8 }],
      [5, { w: { format: 'bf16' } }],
    ] as [number, Omit<MatmulOptions, 'N' | 'K'>][]) {
      const r = rng(seed++);
      const w = opts.w!;
      const A = uniform(r, M * K);
      const W0 = uniform(r, N * K);
      const bias = uniform(r, N);
      const residual = uniform(r, M * N);
      let C: ArrayBuffer = new Float32Array(M * N).fill(123.5).buffer;
      let blocks = 0;
      for (let n0 = 0; n0 < N; n0 += per, blocks++) {
        const n1 = Math.min(N, n0 + per);
        const p = matmulProgram({ ...opts, N: n1 - n0, K, ldc: N, col0: n0, bias: true, biasType: { format: 'f32' }, residual: true });
        const inputs = { A, W: encode(w.format, W0.subarray(n0 * K, n1 * K)), bias, residual, C: new Float32Array(C) };
        C = (await runOnce(g, p, inputs, { M }, ['C']))['C']!;
      }
      expect(blocks).toBe(Math.ceil(N / per));
      const W = roundAll(w.format, W0);
      const want = matmul(A, W, M, N, K, { bias, residual });
      const S = matmulMagnitude(A, W, M, N, K, { bias, residual });
      expectClose(
        f32s(C, M * N),
        want,
        (i) => 2 * (K + 8) * U32 * S[i]! + 4 * U32 * Math.abs(want[i]!) + 1e-30,
        `row blocks of ${per}, ${opts.variant ?? 'tiled'} ${w.format}`,
      );
    }
    expect(() => matmulProgram({ N: 8, K: 4, ldc: 10, col0: 4 })).toThrow(/ldc 10 < col0 4 \+ N 8/);
  });

  it('M = 0 records no dispatch; gemv refuses M > maxM', async () => {
    const p = matmulProgram({ N: 8, K: 8 });
    expect(p.dispatch({ M: 0 })).toEqual([1, 0, 0]);
    const gv = matmulProgram({ N: 8, K: 8, variant: 'gemv', maxM: 4 });
    expect(() => gv.dispatch({ M: 5 })).toThrow(/maxM/);
    expect(pickMatmul(1, { format: 'bf16' }).variant).toBe('gemv');
    expect(pickMatmul(100, { format: 'bf16' })).toEqual({ variant: 'tiled', tile: 'medium' });
  });

  it('subgroup-matrix (tensor core) path: generated here; run where the adapter offers it', async () => {
    const cfg = subgroupMatrixSupport(g.adapter, g.device);
    const p = matmulProgram({
      N: 29,
      K: 37,
      w: { format: 'f16', native16: true },
      variant: 'subgroup-matrix',
      subgroupMatrix: cfg ?? { M: 16, N: 16, K: 16, subgroupSize: 32 },
      bias: true,
    });
    expect(p.wgsl).toContain('subgroupMatrixMultiplyAccumulate');
    expect(p.features).toContain('chromium-experimental-subgroup-matrix');
    if (!cfg) {
      // lavapipe offers no subgroup matrices: the path is compiled and checked on GPUs that do (see docs/kernels.md)
      console.info(`[matmul] ${g.description}: no f16 subgroup-matrix configuration; tensor-core path not run`);
      return;
    }
    // A is rounded to f16 too, so the tolerance adds 2·2⁻¹¹·S and tensor-core accumulation is allowed 2⁻²⁰·K·S
    for (const c of [...ODD, ...ALIGNED, { M: 130, K: 96, N: 200 }]) {
      const r = rng(seed++);
      const A = uniform(r, c.M * c.K);
      const W = roundAll('f16', uniform(r, c.N * c.K));
      const prog = matmulProgram({ N: c.N, K: c.K, w: { format: 'f16', native16: true }, variant: 'subgroup-matrix', subgroupMatrix: cfg });
      const out = await runOnce(g, prog, { A, W: encode('f16', W), C: { bytes: c.M * c.N * 4 } }, { M: c.M }, ['C']);
      const want = matmul(A, W, c.M, c.N, c.K);
      const S = matmulMagnitude(A, W, c.M, c.N, c.K);
      expectClose(
        f32s(out['C']!, c.M * c.N),
        want,
        (i) => (2 * 2 ** -11 + (c.K + 8) * 2 ** -20) * S[i]!,
        `sgmat M=${c.M} K=${c.K} N=${c.N}`,
      );
    }
  });
});
