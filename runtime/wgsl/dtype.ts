/**
 * WGSL access to tensors stored as f32, f16 or bf16.
 *
 * Storage formats are the bytes in the buffer (the dtype table's `format`, src/facts/dtypes.ts,
 * which the weight loader produces too): `f32`; `f16` and `bf16`, two 16-bit values per 32-bit word, element
 * 2i in the low half and 2i+1 in the high half (a little-endian u16 array, i.e. the
 * bytes of a safetensors tensor as they are). Kernels always compute in f32:
 *
 * - `bf16` is widened in-shader: `bitcast<f32>(w << 16)` / `bitcast<f32>(w & 0xffff0000)`;
 * - `f16` is widened with the core builtin `unpack2x16float` ("packed" path, any adapter),
 *   or, with `native16` (needs the `shader-f16` feature), declared as `array<f16>` /
 *   `array<vec4<f16>>` and converted with `f32(…)` ("native" path). The bytes are the same.
 *
 * Each accessor declares one binding and WGSL functions named after it:
 * `<name>_at(i) -> f32` (element i), and with `vec4`, `<name>_at4(i4) -> vec4<f32>`
 * (elements 4·i4 … 4·i4+3; only valid when the tensor's element count is a multiple of 4,
 * so that the last vector lies wholly inside the binding). Writable accessors add
 * `<name>_set2(iw, v: vec2<f32>)`, writing elements 2·iw and 2·iw+1 (a whole 32-bit word for
 * the 16-bit formats, so no two invocations share a word; rounding to bf16 is to nearest
 * even, to f16 as the platform's f32→f16 conversion rounds: one of the two neighbours).
 */

import { bytesPerElement, type TensorFormat } from '../../src/facts/dtypes.js';

// The formats and their sizes are facts of the dtype table (src/facts/dtypes.ts).
export { TENSOR_FORMATS, type TensorFormat } from '../../src/facts/dtypes.js';

/** How a kernel reads a stored tensor: the format plus, for f16, native (`shader-f16`) or packed access. */
export interface TensorType {
  format: TensorFormat;
  /** Read f16 as WGSL `f16` (requires `shader-f16`); ignored for f32 and bf16. */
  native16?: boolean;
}

/** Bytes a buffer needs to hold `elements` values of format `f` (rounded up to a whole 4-byte word). */
export function storageBytes(f: TensorFormat, elements: number): number {
  return Math.ceil((elements * bytesPerElement(f)) / 4) * 4;
}

export function isNative16(t: TensorType): boolean {
  return t.format === 'f16' && t.native16 === true;
}

/** A short tag for cache keys and names: `f32`, `bf16`, `f16` (packed) or `f16n` (native). */
export function typeTag(t: TensorType): string {
  return isNative16(t) ? 'f16n' : t.format;
}

/** `enable f16;` when any of the types reads f16 natively, else ''. */
export function enables(types: readonly (TensorType | undefined)[]): string {
  return types.some((t) => t !== undefined && isNative16(t)) ? 'enable f16;\n' : '';
}

export function featuresFor(types: readonly (TensorType | undefined)[]): GPUFeatureName[] {
  return types.some((t) => t !== undefined && isNative16(t)) ? ['shader-f16'] : [];
}

/** WGSL helpers shared by the accessors (emit once per shader). */
export const DTYPE_HELPERS = /* wgsl */ `
fn bf16_lo(w: u32) -> f32 { return bitcast<f32>(w << 16u); }
fn bf16_hi(w: u32) -> f32 { return bitcast<f32>(w & 0xffff0000u); }
fn bf16x2(w: u32) -> vec2<f32> { return vec2<f32>(bf16_lo(w), bf16_hi(w)); }
fn bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}
fn pack_bf16x2(v: vec2<f32>) -> u32 { return bf16_bits(v.x) | (bf16_bits(v.y) << 16u); }
`;

export interface AccessorOptions {
  /** Declare as vectors and add `<name>_at4` (the element count must be a multiple of 4). */
  vec4?: boolean;
  /** Declare read_write and add `<name>_set2`. */
  write?: boolean;
}

/** The binding declaration and accessor functions for a stored tensor. */
export function tensorAccessor(name: string, binding: number, t: TensorType, opts: AccessorOptions = {}): string {
  const access = opts.write ? 'read_write' : 'read';
  const decl = (ty: string) => `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${ty}>;\n`;
  const v = opts.vec4 === true;
  const lines: string[] = [];
  if (t.format === 'f32') {
    if (v) {
      lines.push(decl('vec4<f32>'));
      lines.push(`fn ${name}_at(i: u32) -> f32 { return ${name}[i >> 2u][i & 3u]; }`);
      lines.push(`fn ${name}_at4(i4: u32) -> vec4<f32> { return ${name}[i4]; }`);
      if (opts.write)
        lines.push(
          `fn ${name}_set2(iw: u32, x: vec2<f32>) { ${name}[iw >> 1u][(iw & 1u) * 2u] = x.x; ${name}[iw >> 1u][(iw & 1u) * 2u + 1u] = x.y; }`,
        );
    } else {
      lines.push(decl('f32'));
      lines.push(`fn ${name}_at(i: u32) -> f32 { return ${name}[i]; }`);
      if (opts.write) lines.push(`fn ${name}_set2(iw: u32, x: vec2<f32>) { ${name}[2u * iw] = x.x; ${name}[2u * iw + 1u] = x.y; }`);
    }
  } else if (isNative16(t)) {
    if (v) {
      lines.push(decl('vec4<f16>'));
      lines.push(`fn ${name}_at(i: u32) -> f32 { return f32(${name}[i >> 2u][i & 3u]); }`);
      lines.push(`fn ${name}_at4(i4: u32) -> vec4<f32> { return vec4<f32>(${name}[i4]); }`);
      if (opts.write)
        lines.push(
          `fn ${name}_set2(iw: u32, x: vec2<f32>) { ${name}[iw >> 1u][(iw & 1u) * 2u] = f16(x.x); ${name}[iw >> 1u][(iw & 1u) * 2u + 1u] = f16(x.y); }`,
        );
    } else {
      lines.push(decl('f16'));
      lines.push(`fn ${name}_at(i: u32) -> f32 { return f32(${name}[i]); }`);
      if (opts.write)
        lines.push(`fn ${name}_set2(iw: u32, x: vec2<f32>) { ${name}[2u * iw] = f16(x.x); ${name}[2u * iw + 1u] = f16(x.y); }`);
    }
  } else {
    // packed 16-bit: f16 via unpack2x16float, bf16 via shifts
    const un = t.format === 'f16' ? 'unpack2x16float' : 'bf16x2';
    const pk = t.format === 'f16' ? 'pack2x16float' : 'pack_bf16x2';
    if (v) {
      lines.push(decl('vec2<u32>'));
      lines.push(`fn ${name}_at(i: u32) -> f32 { return ${un}(${name}[i >> 2u][(i >> 1u) & 1u])[i & 1u]; }`);
      lines.push(`fn ${name}_at4(i4: u32) -> vec4<f32> { let w = ${name}[i4]; return vec4<f32>(${un}(w.x), ${un}(w.y)); }`);
      if (opts.write) lines.push(`fn ${name}_set2(iw: u32, x: vec2<f32>) { ${name}[iw >> 1u][iw & 1u] = ${pk}(x); }`);
    } else {
      lines.push(decl('u32'));
      lines.push(`fn ${name}_at(i: u32) -> f32 { return ${un}(${name}[i >> 1u])[i & 1u]; }`);
      if (opts.write) lines.push(`fn ${name}_set2(iw: u32, x: vec2<f32>) { ${name}[iw] = ${pk}(x); }`);
    }
  }
  return lines.join('\n') + '\n';
}
