/**
 * The storage formats as values: rounding f32 to bf16 / f16 (round to nearest, ties to
 * even; f16 overflows to ±∞ and has subnormals), and the packed layout the kernels read
 * (two 16-bit values per u32, element 2i in the low half — a little-endian u16 array).
 * Written independently of the weight loader's converter so each checks the other.
 */
import type { TensorFormat } from '../wgsl/dtype.js';

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);

export function bf16Bits(x: number): number {
  f[0] = x;
  const b = u[0]!;
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16Value(h: number): number {
  u[0] = (h & 0xffff) << 16;
  return f[0]!;
}

export function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f16 bits of x, round to nearest even (from the exact f64 value of Math.fround(x)). */
export function f16Bits(x: number): number {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // 65504 + half an ulp (32) rounds to ∞
  if (a < 2 ** -14) {
    // subnormal: units of 2^-24
    const q = a / 2 ** -24;
    let n = Math.floor(q);
    const r = q - n;
    if (r > 0.5 || (r === 0.5 && (n & 1) === 1)) n++;
    return sign | n; // n = 1024 becomes the smallest normal, which is right
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const q = (a / 2 ** e - 1) * 1024;
  let m = Math.floor(q);
  const r = q - m;
  if (r > 0.5 || (r === 0.5 && (m & 1) === 1)) m++;
  if (m === 1024) {
    m = 0;
    e++;
  }
  if (e + 15 >= 31) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

/** x as stored in format `fmt` and read back (f32 rounding for 'f32'). */
export function roundTo(fmt: TensorFormat, x: number): number {
  if (fmt === 'f32') return Math.fround(x);
  return fmt === 'bf16' ? bf16Value(bf16Bits(x)) : f16Value(f16Bits(x));
}

/** Every value rounded to `fmt` (what a kernel reading that format sees). */
export function roundAll(fmt: TensorFormat, xs: ArrayLike<number>): Float32Array {
  const out = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = roundTo(fmt, xs[i]!);
  return out;
}

/** The buffer bytes of `xs` stored as `fmt` (16-bit formats packed two per u32; odd counts padded with a zero half). */
export function encode(fmt: TensorFormat, xs: ArrayLike<number>): Uint32Array {
  if (fmt === 'f32') {
    const out = new Float32Array(xs.length);
    for (let i = 0; i < xs.length; i++) out[i] = xs[i]!;
    return new Uint32Array(out.buffer);
  }
  const bits = fmt === 'bf16' ? bf16Bits : f16Bits;
  const out = new Uint32Array(Math.ceil(xs.length / 2));
  for (let i = 0; i < xs.length; i++) out[i >> 1] = (out[i >> 1]! | (bits(xs[i]!) << ((i & 1) * 16))) >>> 0;
  return out;
}

/** The values stored in `words` as `fmt` (the first `count`). */
export function decode(fmt: TensorFormat, words: Uint32Array, count: number): Float32Array {
  if (fmt === 'f32') return new Float32Array(words.buffer, words.byteOffset, count).slice();
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const h = (words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff;
    out[i] = fmt === 'bf16' ? bf16Value(h) : f16Value(h);
  }
  return out;
}

/** Unit roundoff of the format (relative error bound of round-to-nearest): 2⁻²⁴, 2⁻¹¹, 2⁻⁸. */
export function unitRoundoff(fmt: TensorFormat): number {
  return fmt === 'f32' ? 2 ** -24 : fmt === 'f16' ? 2 ** -11 : 2 ** -8;
}
