/**
 * Reference rotary embedding, Llama / HF rotate-half convention, in f64:
 * for i < R/2, θ = pos · invFreq[i] (default invFreq[i] = theta^(−2i/R)):
 *   x'[i] = x[i]·cos θ − x[i+R/2]·sin θ;   x'[i+R/2] = x[i+R/2]·cos θ + x[i]·sin θ.
 * x is [T, rowStride] with `heads` heads of headDim from column 0; returns a new array.
 *
 * `ropeInvFreq` is the one place the inverse frequencies come from (the CPU reference and
 * the runtime's cos/sin table both read it): the default, `linear` and `llama3` scaling as
 * transformers' modeling_rope_utils.py computes them (`_compute_default_rope_parameters`,
 * `_compute_linear_scaling_rope_parameters`, `_compute_llama3_parameters`, transformers 4.56),
 * in f64 where transformers uses f32.
 */
import type { RopeScaling } from '../../src/model.js';

export interface RefRopeOptions {
  heads: number;
  headDim: number;
  rotaryDim?: number;
  rowStride?: number;
  theta?: number;
  /** Inverse frequencies [R/2] (ropeInvFreq); default from theta, unscaled. */
  invFreq?: ArrayLike<number>;
}

/** Inverse frequencies [R/2] of RoPE with base `theta` over R rotated dimensions, scaled as `scaling` says. */
export function ropeInvFreq(rotaryDim: number, theta: number, scaling?: RopeScaling): Float64Array {
  const half = rotaryDim / 2;
  const inv = Float64Array.from({ length: half }, (_, i) => 1 / Math.pow(theta, (2 * i) / rotaryDim));
  if (!scaling) return inv;
  const { factor } = scaling;
  switch (scaling.type) {
    case 'linear':
      // Positions divided by factor: the same as every frequency divided by it.
      return inv.map((f) => f / factor);
    case 'llama3': {
      const old = scaling.originalMaxSeq;
      const low = scaling.lowFreqFactor;
      const high = scaling.highFreqFactor;
      if (old === undefined || low === undefined || high === undefined)
        throw new Error('internal error: llama3 rope scaling without its original context or frequency factors (this is a bug in parplan)');
      const lowWavelen = old / low;
      const highWavelen = old / high;
      return inv.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highWavelen) return f; // high frequencies kept
        if (wavelen > lowWavelen) return f / factor; // low frequencies scaled
        const smooth = (old / wavelen - low) / (high - low);
        return (1 - smooth) * (f / factor) + smooth * f;
      });
    }
    default:
      throw new Error(
        `internal error: rope_scaling = ${scaling.type} has no implementation here; the checker refuses it for engine = webgpu (PP3036) (this is a bug in parplan)`,
      );
  }
}

export function rope(x: ArrayLike<number>, positions: ArrayLike<number>, o: RefRopeOptions): Float32Array {
  const D = o.headDim;
  const R = o.rotaryDim ?? D;
  const half = R / 2;
  const stride = o.rowStride ?? o.heads * D;
  const inv = o.invFreq ?? ropeInvFreq(R, o.theta ?? 10000);
  const out = Float32Array.from(x);
  for (let t = 0; t < positions.length; t++) {
    const pos = positions[t]!;
    for (let h = 0; h < o.heads; h++) {
      const b = t * stride + h * D;
      for (let i = 0; i < half; i++) {
        const a = pos * inv[i]!;
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
