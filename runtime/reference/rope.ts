/**
 * Reference rotary embedding, Llama / HF rotate-half convention, in f64:
 * for i < R/2, θ = pos · theta^(−2i/R):
 *   x'[i] = x[i]·cos θ − x[i+R/2]·sin θ;   x'[i+R/2] = x[i+R/2]·cos θ + x[i]·sin θ.
 * x is [T, rowStride] with `heads` heads of headDim from column 0; returns a new array.
 */
export interface RefRopeOptions {
  heads: number;
  headDim: number;
  rotaryDim?: number;
  rowStride?: number;
  theta?: number;
}

export function rope(x: ArrayLike<number>, positions: ArrayLike<number>, o: RefRopeOptions): Float32Array {
  const D = o.headDim;
  const R = o.rotaryDim ?? D;
  const half = R / 2;
  const stride = o.rowStride ?? o.heads * D;
  const theta = o.theta ?? 10000;
  const out = Float32Array.from(x);
  for (let t = 0; t < positions.length; t++) {
    const pos = positions[t]!;
    for (let h = 0; h < o.heads; h++) {
      const b = t * stride + h * D;
      for (let i = 0; i < half; i++) {
        const a = pos * Math.pow(theta, (-2 * i) / R);
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[b + i]!;
        const x2 = x[b + i + half]!;
        out[b + i] = x1 * c - x2 * s;
        out[b + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return out;
}
