import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  bf16ToF32,
  convertBytes,
  f16BitsToF32,
  f16ToF32,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToBf16Bits,
  f32ToF16,
  f32ToF16Bits,
  packHalves,
  padTo4,
  toF32,
  unpackHalves,
} from '../../runtime/weights/convert.js';

describe('number formats', () => {
  it('f16 → f32 is exact for all 65536 values and f32 → f16 gives them back', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = f16ToF32(all);
    const back = f32ToF16(f);
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN ? !Number.isNaN(f[h]!) : back[h] !== h) bad.push(`0x${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
    // Known values: 1, −2, the smallest subnormal, the largest finite, ∞, −0.
    expect([0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00].map(f16BitsToF32)).toEqual([1, -2, 2 ** -24, 65504, Infinity]);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
  });

  it('f32 → f16 rounds to nearest, ties to even, overflows to ∞, underflows to 0', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even (down)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // below the rounding boundary
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // ties to even → ∞
    expect(f32ToF16Bits(1e9)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e9)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // half the smallest subnormal: tie → even (0)
    expect(f32ToF16Bits(2 ** -25 * 1.5)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 × smallest: tie → even (2)
    expect(f32ToF16Bits(2 ** -14 - 2 ** -26)).toBe(0x0400); // rounds up into the normals
    expect(f32ToF16Bits(1e-10)).toBe(0x0000);
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('f32 → f16 is the nearest f16 for random f32 values (brute-force neighbours)', () => {
    let s = 1;
    const bad: string[] = [];
    for (let i = 0; i < 20000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const exp = 100 + (s % 45); // around and inside the f16 range, subnormals included
      const x = f32FromBits(((s & 0x80000000) | (exp << 23) | ((s >>> 3) & 0x7fffff)) >>> 0);
      const h = f32ToF16Bits(x);
      const v = f16BitsToF32(h);
      if (!Number.isFinite(v)) {
        if (Math.abs(x) < 65520) bad.push(`${x} → ∞`);
        continue;
      }
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) >= 0x7c00 || n < 0 || n > 0xffff || ((n ^ h) & 0x8000) !== 0) continue;
        const d = Math.abs(f16BitsToF32(n) - x);
        const dv = Math.abs(v - x);
        if (dv > d || (dv === d && (h & 1) !== 0)) bad.push(`${x} → ${v}, but ${f16BitsToF32(n)} is nearer or even`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('bf16 ↔ f32: exact one way, round to nearest even the other', () => {
    expect([0x3f80, 0xc000, 0x7f80, 0x0001].map(bf16BitsToF32)).toEqual([1, -2, Infinity, f32FromBits(0x00010000)]);
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(f32FromBits(0x3f808000))).toBe(0x3f80); // tie → even (down)
    expect(f32ToBf16Bits(f32FromBits(0x3f818000))).toBe(0x3f82); // tie → even (up)
    expect(f32ToBf16Bits(f32FromBits(0x3f808001))).toBe(0x3f81);
    expect(f32ToBf16Bits(f32FromBits(0x7f7fffff))).toBe(0x7f80); // max f32 rounds to ∞
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80);
    const nan = f32ToBf16Bits(f32FromBits(0x7f800001)); // a NaN whose payload is all in the low bits
    expect(nan & 0x7f80).toBe(0x7f80);
    expect(nan & 0x7f).not.toBe(0);
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = f32ToBf16(bf16ToF32(all));
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) if (!Number.isNaN(bf16BitsToF32(h)) && back[h] !== h) bad.push(h);
    expect(bad).toEqual([]);
    expect(f32Bits(bf16BitsToF32(0x1234))).toBe(0x12340000);
  });

  it('convertBytes between every pair, misaligned input included', () => {
    const values = [0, 1, -2.5, 0.1, 3.14159, -65504, 1e-6];
    const f32 = Float32Array.from(values);
    const raw = new Uint8Array(f32.byteLength + 1);
    raw.set(new Uint8Array(f32.buffer), 1);
    const mis = raw.subarray(1);
    expect(convertBytes(mis, 'f32', 'f32')).toBe(mis);
    for (const to of ['f16', 'bf16'] as const) {
      const b = convertBytes(mis, 'f32', to);
      expect(b.length).toBe(values.length * 2);
      const back = toF32(b, to);
      values.forEach((v, i) =>
        expect(Math.abs(back[i]! - v)).toBeLessThanOrEqual(
          Math.abs(v) * (to === 'f16' ? 2 ** -11 : 2 ** -8) + (to === 'f16' ? 2 ** -24 : 0),
        ),
      );
      const other = to === 'f16' ? 'bf16' : 'f16';
      expect([...toF32(convertBytes(b, to, other), other)]).toEqual([
        ...toF32(convertBytes(convertBytes(b, to, 'f32'), 'f32', other), other),
      ]);
    }
    expect(() => convertBytes(new Uint8Array(3), 'f16', 'f32')).toThrow(/3 bytes is not a whole number of 2-byte elements/);
  });

  it('packs two 16-bit values per u32, low half first; odd counts padded', () => {
    const halves = Uint16Array.from([0x1111, 0x2222, 0x3333]);
    const w = packHalves(halves);
    expect([...w]).toEqual([0x22221111, 0x00003333]);
    // The same layout as the little-endian u16 array itself.
    expect([...new Uint32Array(Uint16Array.from([0x1111, 0x2222]).buffer)]).toEqual([0x22221111]);
    expect([...unpackHalves(w, 3)]).toEqual([0x1111, 0x2222, 0x3333]);
    expect([...unpackHalves(w)]).toEqual([0x1111, 0x2222, 0x3333, 0]);
    expect(() => unpackHalves(w, 5)).toThrow(/2 words hold at most 4 halves, not 5/);
    expect(padTo4(new Uint8Array([1, 2, 3, 4, 5, 6]))).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 0, 0]));
  });
});
