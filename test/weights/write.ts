/**
 * A small safetensors writer for the weight tests: well-formed files (header padded
 * with spaces to a multiple of 8, as the reference implementation writes it) and,
 * for the validation tests, files with any header text and any declared length.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WriteTensor {
  dtype: string;
  shape: number[];
  /** Raw little-endian bytes (any typed array). */
  data: ArrayBufferView;
}

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** The bytes of a safetensors file holding `tensors` (in the given order) and `metadata`. */
export function safetensorsBytes(tensors: Record<string, WriteTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const b = bytesOf(t.data);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + b.length] };
    parts.push(b);
    offset += b.length;
  }
  return rawSafetensors(JSON.stringify(header), concat(parts), { pad: true });
}

/**
 * A file from header text and data: `headerLength` overrides the declared length;
 * `pad` pads the header with spaces to a multiple of 8.
 */
export function rawSafetensors(
  header: string | object,
  data: Uint8Array = new Uint8Array(0),
  options: { headerLength?: bigint; pad?: boolean } = {},
): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  let h = new TextEncoder().encode(text);
  if (options.pad) {
    text += ' '.repeat((8 - (h.length % 8)) % 8);
    h = new TextEncoder().encode(text);
  }
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, options.headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: Record<string, WriteTensor>, metadata?: Record<string, string>): string {
  writeFileSync(path, safetensorsBytes(tensors, metadata));
  return path;
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-weights-'));
  return { dir, file: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** f32 values 0, 1, 2, … (or `f(i)`) as a tensor. */
export function f32Tensor(shape: number[], f: (i: number) => number = (i) => i): WriteTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => f(i)) };
}
