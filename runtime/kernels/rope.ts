/**
 * rope: rotary position embedding, in place, Llama / Hugging Face "rotate half"
 * convention: for each head and i < R/2 (R = rotaryDim, default headDim),
 *
 *   x'[i]       = x[i]·cos θ − x[i + R/2]·sin θ
 *   x'[i + R/2] = x[i + R/2]·cos θ + x[i]·sin θ,    θ = pos · invFreq[i] (theta^(−2i/R) unscaled),
 *
 * dimensions ≥ R untouched. x is f32 [T, rowStride] holding `heads` heads of `headDim`
 * from column 0 (bind at an offset for others); pos = positions[t] (u32), so prefill
 * (positions p0 … p0+T−1) and a decode batch (one position per sequence) are the same
 * call. cos/sin come from a table computed in f64 on the host (`ropeTable`), not from
 * WGSL's cos/sin, whose accuracy for large angles is not guaranteed. Positions at or
 * beyond the table's maxSeq are left unrotated (the executor never sends them).
 *
 * Bindings: x (read_write), positions (u32), table (f32: cos [maxSeq, R/2] then sin
 * [maxSeq, R/2]). Uniform: T.
 */
import { declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface RopeOptions {
  heads: number;
  headDim: number;
  /** Rotated dimensions per head (even; default headDim). */
  rotaryDim?: number;
  /** Row stride of x in elements (default heads · headDim). */
  rowStride?: number;
  /** Positions the table covers. */
  maxSeq: number;
  /**
   * Rotate by −θ (the backward: the rotation is orthogonal, so dx = R(−θ)·dy), same table.
   * x'[i] = x[i]·cos θ + x[i + R/2]·sin θ, x'[i + R/2] = x[i + R/2]·cos θ − x[i]·sin θ.
   */
  inverse?: boolean;
}

const WG = 64;
const UNIFORMS: UniformField[] = u32Fields('T', 'heads', 'headDim', 'half', 'stride', 'maxSeq');

/**
 * cos then sin of pos · invFreq[i] for pos < maxSeq, i < R/2, computed in f64 — bind as `table`.
 * `freq`: the base theta (unscaled: invFreq[i] = theta^(−2i/R)) or the inverse frequencies
 * themselves (scaled RoPE: runtime/reference/rope.ts `ropeInvFreq`).
 */
export function ropeTable(maxSeq: number, rotaryDim: number, freq: number | ArrayLike<number> = 10000): Float32Array {
  const half = rotaryDim / 2;
  const inv = typeof freq === 'number' ? Float64Array.from({ length: half }, (_, i) => 1 / Math.pow(freq, (2 * i) / rotaryDim)) : freq;
  if (inv.length !== half) throw new Error(`ropeTable: ${inv.length} inverse frequencies for ${half} rotated pairs`);
  const out = new Float32Array(2 * maxSeq * half);
  for (let p = 0; p < maxSeq; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * inv[i]!;
      out[p * half + i] = Math.cos(a);
      out[maxSeq * half + p * half + i] = Math.sin(a);
    }
  }
  return out;
}

export function ropeProgram(o: RopeOptions): KernelProgram {
  const heads = positiveInt(o.heads, 'rope heads');
  const D = positiveInt(o.headDim, 'rope headDim');
  const R = o.rotaryDim ?? D;
  if (R % 2 !== 0 || R > D || R < 2) throw new Error(`rope: rotaryDim ${R} must be even and 2 … headDim`);
  const stride = o.rowStride ?? heads * D;
  if (stride < heads * D) throw new Error(`rope: rowStride ${stride} < heads · headDim`);
  const maxSeq = positiveInt(o.maxSeq, 'rope maxSeq');
  const half = R / 2;
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'x', access: 'read_write', type: 'f32' },
      { name: 'positions', access: 'read', type: 'u32' },
      { name: 'table', access: 'read', type: 'f32' },
    ],
    UNIFORMS,
  );
  let s = decls;
  s += WG_LINEAR;
  s += `${main1d(WG)}
  let HEADS = u.heads;
  let D = u.headDim;
  let HALF = u.half;
  let STRIDE = u.stride;
  let MAXSEQ = u.maxSeq;
  let g = wg_linear(wid, nwg) * ${WG}u + lid;
  let i = g % HALF;
  let h = (g / HALF) % HEADS;
  let t = g / (HALF * HEADS);
  if (t >= u.T) { return; }
  let pos = positions[t];
  if (pos >= MAXSEQ) { return; }
  let c = table[pos * HALF + i];
  let sn = ${o.inverse === true ? '-' : ''}table[MAXSEQ * HALF + pos * HALF + i];
  let base = t * STRIDE + h * D;
  let x1 = x[base + i];
  let x2 = x[base + i + HALF];
  x[base + i] = x1 * c - x2 * sn;
  x[base + i + HALF] = x2 * c + x1 * sn;
}
`;
  const name = o.inverse === true ? 'rope_inverse' : 'rope';
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed: { heads, headDim: D, half, stride, maxSeq },
    dispatch: (d: Dims) => grid1d(Math.ceil((dimU32(d, 'T', name) * heads * half) / WG)),
  });
}
