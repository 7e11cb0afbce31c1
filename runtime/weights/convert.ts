/**
 * Number-format conversion of weight bytes on the CPU: bf16/f16 → f32 (exact) and
 * f32 → bf16/f16 (round to nearest, ties to even; overflow to ±∞; NaN stays NaN),
 * and packing 16-bit values two per u32 for WGSL (`unpack2x16float` or shifts).
 *
 * Everything is little-endian, as safetensors files and WebGPU buffers are; the
 * typed arrays used here assume a little-endian host (every platform Node and
 * Dawn run on).
 */

import { bytesPerElement, type TensorFormat } from '../../src/facts/dtypes.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of `x` as an f32. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/** f32 bits → bf16 bits, round to nearest even. */
export function bf16BitsFromF32Bits(x: number): number {
  if ((x & 0x7fffffff) >>> 0 > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff; // NaN: keep it NaN (quiet)
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f32 bits → f16 bits, round to nearest even. */
export function f16BitsFromF32Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // the f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is right (up to ∞)
  return sign | h;
}

/** f16 bits → f32 bits (exact). */
export function f32BitsFromF16Bits(h: number): number {
  const s = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) {
    if (m === 0) return s >>> 0;
    let e2 = 113;
    let mm = m;
    while ((mm & 0x400) === 0) {
      mm <<= 1;
      e2--;
    }
    return (s | (e2 << 23) | ((mm & 0x3ff) << 13)) >>> 0;
  }
  if (e === 31) return (s | 0x7f800000 | (m << 13)) >>> 0;
  return (s | ((e + 112) << 23) | (m << 13)) >>> 0;
}

export const f32ToBf16Bits = (x: number): number => bf16BitsFromF32Bits(f32Bits(x));
export const f32ToF16Bits = (x: number): number => f16BitsFromF32Bits(f32Bits(x));
export const bf16BitsToF32 = (h: number): number => f32FromBits((h & 0xffff) << 16);
export const f16BitsToF32 = (h: number): number => f32FromBits(f32BitsFromF16Bits(h & 0xffff));

let f16Table: Uint32Array | undefined;
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f32BitsFromF16Bits(h);
  }
  return f16Table;
}

export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const t = f16ToF32Table();
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = t[src[i]!]!;
  return out;
}

export function f32ToBf16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) {
    const x = s[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? ((x >>> 16) | 0x40) & 0xffff : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function f32ToF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) {
    const x = s[i]!;
    const e = (x >>> 23) & 0xff;
    // Normal f16 results (exponents 113…142): rebias, add the rounding bias (ties to even) and shift; a
    // carry into the exponent is right, up to ∞. Everything else (subnormals, 0, ∞, NaN, overflow) goes slow.
    out[i] =
      e > 112 && e < 143
        ? ((x >>> 16) & 0x8000) | (((x & 0x7fffffff) - 0x38000000 + 0xfff + ((x >>> 13) & 1)) >>> 13)
        : f16BitsFromF32Bits(x);
  }
  return out;
}

/** `bytes` viewed as elements of `bytesPer` bytes; copied first when misaligned. */
function aligned(bytes: Uint8Array, bytesPer: number): Uint8Array {
  if (bytes.length % bytesPer !== 0) throw new Error(`${bytes.length} bytes is not a whole number of ${bytesPer}-byte elements`);
  return bytes.byteOffset % bytesPer === 0 ? bytes : bytes.slice();
}

const view16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
const view32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.length / 4);

/** Convert little-endian weight bytes between formats (returns `bytes` itself when `from === to`). */
export function convertBytes(bytes: Uint8Array, from: TensorFormat, to: TensorFormat): Uint8Array {
  if (from === to) return bytes;
  const src = aligned(bytes, bytesPerElement(from));
  const asF32 = from === 'f32' ? view32(src) : from === 'bf16' ? bf16ToF32(view16(src)) : f16ToF32(view16(src));
  if (to === 'f32') return new Uint8Array(asF32.buffer, asF32.byteOffset, asF32.byteLength);
  const out = to === 'bf16' ? f32ToBf16(asF32) : f32ToF16(asF32);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Values of a weight's bytes as f32 (tests, the CPU reference). */
export function toF32(bytes: Uint8Array, from: TensorFormat): Float32Array {
  const b = convertBytes(bytes, from, 'f32');
  const a = aligned(b, 4);
  return new Float32Array(a.buffer, a.byteOffset, a.length / 4);
}

/**
 * Two 16-bit values per u32, element 2i in the low half, 2i+1 in the high half —
 * the layout of a little-endian u16 array, and what WGSL's `unpack2x16float` reads
 * (for bf16: `bitcast<f32>(w << 16)` and `bitcast<f32>(w & 0xffff0000)`). An odd
 * count is padded with a zero half.
 */
export function packHalves(halves: Uint16Array): Uint32Array {
  const out = new Uint32Array(Math.ceil(halves.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = (halves[2 * i]! | ((halves[2 * i + 1] ?? 0) << 16)) >>> 0;
  return out;
}

/** The first `count` 16-bit values of packed words. */
export function unpackHalves(words: Uint32Array, count = words.length * 2): Uint16Array {
  if (count > words.length * 2) throw new Error(`${words.length} words hold at most ${words.length * 2} halves, not ${count}`);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = (words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff;
  return out;
}

/** `bytes` zero-padded to a multiple of 4 (WebGPU buffer sizes and writeBuffer lengths). */
export function padTo4(bytes: Uint8Array): Uint8Array {
  if (bytes.length % 4 === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
  out.set(bytes);
  return out;
}
