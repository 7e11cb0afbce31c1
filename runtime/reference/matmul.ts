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
  const nk = layout === 'nk';
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const p = A[m * K + k]! * (nk ? W[n * K + k]! : W[k * N + n]!);
        s += abs ? Math.abs(p) : p;
      }
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
  const ldc = o.ldc ?? N;
  const out = o.out ?? new Float32Array(M * ldc);
  const dots = linearF64(A, W, M, N, K, o.layout);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = dots[m * N + n]!;
      if (o.bias) s += o.bias[n]!;
      if (o.activation === 'gelu') s = geluTanh(s);
      if (o.residual) s += o.residual[m * ldc + n]!;
      out[m * ldc + n] = s;
    }
  }
  return out;
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
  const ldc = o.ldc ?? N;
  const out = new Float64Array(M * ldc);
  const dots = linearF64(A, W, M, N, K, o.layout, true);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = dots[m * N + n]!;
      if (o.bias) s += Math.abs(o.bias[n]!);
      if (o.residual) s += Math.abs(o.residual[m * ldc + n]!);
      out[m * ldc + n] = s;
    }
  }
  return out;
}
