/**
 * Reference matmul: C[M, N] = A[M, K] · Wᵀ (+ bias) (→ gelu) (+ residual), with f64
 * accumulation; the result is rounded to f32 once. W is [N, K] ('nk', nn.Linear) or
 * [K, N] ('kn', GPT-2's Conv1D). Same epilogue order as the kernel: bias, activation,
 * residual.
 */
import { geluTanh } from './activations.js';

export interface RefMatmulOptions {
  layout?: 'nk' | 'kn';
  bias?: ArrayLike<number>;
  activation?: 'none' | 'gelu';
  residual?: ArrayLike<number>;
  /** Row stride of the output and the residual (default N); other columns of `out` are left as they are. */
  ldc?: number;
  out?: Float32Array;
}

/**
 * D[m, n] = Σₖ A[m, k]·W[n, k] in f64, k in order (with `abs`, Σₖ |A[m, k]·W[n, k]|): the sum
 * of the matmul, its magnitude and the linear backward's dX (runtime/reference/backward.ts).
 */
export function linearF64(
  A: ArrayLike<number>,
  W: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  layout: 'nk' | 'kn' = 'nk',
  abs = false,
): Float64Array {
  const out = new Float64Array(M * N);
  // W's stride along k, and where row n starts: the loops stay free of branches (this is the tests' hot path).
  const [kStride, nStride] = layout === 'nk' ? [1, K] : [N, 1];
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      const a = m * K;
      let w = n * nStride;
      let s = 0;
      if (abs) for (let k = 0; k < K; k++, w += kStride) s += Math.abs(A[a + k]! * W[w]!);
      else for (let k = 0; k < K; k++, w += kStride) s += A[a + k]! * W[w]!;
      out[m * N + n] = s;
    }
  return out;
}

export function matmul(
  A: ArrayLike<number>,
  W: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  o: RefMatmulOptions = {},
): Float32Array {
  const out = o.out ?? new Float32Array(M * (o.ldc ?? N));
  return epilogue(linearF64(A, W, M, N, K, o.layout), M, N, o, out, false);
}

/**
 * Σₖ |A[m,k]·W[n,k]| (+ |bias| + |residual|): the magnitude that bounds the rounding
 * error of any summation order — tests scale their tolerance by it.
 */
export function matmulMagnitude(
  A: ArrayLike<number>,
  W: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  o: Omit<RefMatmulOptions, 'activation' | 'out'> = {},
): Float64Array {
  return epilogue(linearF64(A, W, M, N, K, o.layout, true), M, N, o, new Float64Array(M * (o.ldc ?? N)), true);
}

/** out[m, n] (row stride ldc) = sums + bias (→ gelu) + residual, in the kernel's order; with `abs` each term's magnitude. */
function epilogue<T extends Float32Array | Float64Array>(
  sums: Float64Array,
  M: number,
  N: number,
  o: Omit<RefMatmulOptions, 'out'>,
  out: T,
  abs: boolean,
): T {
  const ldc = o.ldc ?? N;
  const term = abs ? Math.abs : (x: number) => x;
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = sums[m * N + n]!;
      if (o.bias) s += term(o.bias[n]!);
      if (!abs && o.activation === 'gelu') s = geluTanh(s);
      if (o.residual) s += term(o.residual[m * ldc + n]!);
      out[m * ldc + n] = s;
    }
  return out;
}
