/**
 * A safetensors reader that never reads the whole file: it reads the 8-byte header
 * length and the JSON header, validates every entry against the file, and then
 * reads only the byte ranges a caller asks for (`readSlice`), with positional reads
 * on a file handle.
 *
 * Format (https://huggingface.co/docs/safetensors): u64 little-endian N; N bytes of
 * UTF-8 JSON `{ "__metadata__"?: {string: string}, NAME: { dtype, shape,
 * data_offsets: [begin, end] } … }`; then the data section, offsets relative to its
 * start (byte 8 + N), tensors row-major and little-endian.
 *
 * Anything wrong with a file — truncated, hostile or corrupt — is a
 * `SafetensorsError` naming the file, the tensor and what is wrong.
 */
import { LOADABLE_DTYPES, type LoadableDtype } from '../../src/facts/dtypes.js';
import { openFile, readFully, type RandomAccessFile } from './file.js';
import { readRegion, type ReadOptions, type SliceSpec } from './slice.js';

export { openFile, readFully, type RandomAccessFile } from './file.js';

/** Every dtype the format defines, with its size in bits. */
export const SAFETENSORS_DTYPES = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  C64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
} as const;

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** The dtypes the weight loader converts (the dtype table's stored formats); the others can be read as raw bytes. */
export { LOADABLE_DTYPES, type LoadableDtype } from '../../src/facts/dtypes.js';

export function isLoadableDtype(d: string): d is LoadableDtype {
  return (LOADABLE_DTYPES as readonly string[]).includes(d);
}

/** Largest header accepted (the reference implementation's limit is 100 MB too). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets in the data section (relative to byte 8 + N). */
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly tensor?: string,
  ) {
    super(`${path}: ${tensor === undefined ? '' : `tensor ${JSON.stringify(tensor)}: `}${problem}`);
    this.name = 'SafetensorsError';
  }
}

export interface SafetensorsFile {
  readonly path: string;
  /** File size in bytes. */
  readonly size: number;
  /** Header length N (the data section starts at 8 + N). */
  readonly headerBytes: number;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The bytes of a tensor, or of a slice of it (one `[begin, end)` per dimension;
   * `undefined` or missing trailing entries take the whole dimension), row-major
   * in the file's dtype. Reads only the bytes the slice needs (see slice.ts).
   */
  readSlice(name: string, slice?: SliceSpec, options?: ReadOptions): Promise<ArrayBuffer>;
  /** Like readSlice, into a caller's buffer (which must hold exactly the slice's bytes). */
  readSliceInto(name: string, slice: SliceSpec | undefined, into: Uint8Array, options?: ReadOptions): Promise<void>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Use this file instead of opening `path` (instrumented or in-memory files). */
  file?: RandomAccessFile;
  /** Header length limit (default MAX_HEADER_BYTES). */
  maxHeaderBytes?: number;
  /** Defaults for readSlice. */
  read?: ReadOptions;
}

/** Open and validate a safetensors file; only its header is read. */
export async function openSafetensors(path: string, options: OpenOptions = {}): Promise<SafetensorsFile> {
  let file: RandomAccessFile;
  try {
    file = options.file ?? (await openFile(path));
  } catch (e) {
    throw new SafetensorsError(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    const { tensors, metadata, headerBytes } = await readHeader(path, file, options.maxHeaderBytes ?? MAX_HEADER_BYTES);
    return makeFile(path, file, headerBytes, tensors, metadata, options.read ?? {});
  } catch (e) {
    await file.close().catch(() => undefined);
    throw e;
  }
}

async function readHeader(path: string, file: RandomAccessFile, maxHeaderBytes: number) {
  const fail = (problem: string, tensor?: string): never => {
    throw new SafetensorsError(path, problem, tensor);
  };
  if (file.size < 8) fail(`truncated: ${file.size} bytes, shorter than the 8-byte header length`);
  const lenBytes = new Uint8Array(8);
  if (!(await readFully(file, lenBytes, 0))) fail('truncated while reading the header length');
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes))
    fail(`header length ${n} exceeds the limit of ${maxHeaderBytes} bytes (corrupt or not a safetensors file)`);
  if (n > BigInt(file.size - 8)) fail(`truncated: header length ${n} but only ${file.size - 8} bytes follow the length`);
  if (n < 2n) fail(`header length ${n} is too small for a JSON object`);
  const headerBytes = Number(n);
  const raw = new Uint8Array(headerBytes);
  if (!(await readFully(file, raw, 8))) fail('truncated while reading the header');
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header is not a JSON object (it must start with "{")');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('header is not a JSON object');
  const dataBytes = file.size - 8 - headerBytes;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__[${JSON.stringify(k)}] must be a string, found ${describe(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    tensors.set(
      name,
      checkEntry(value, dataBytes, (problem) => fail(problem, name)),
    );
  }
  // No two tensors may share bytes (zero-length tensors share nothing).
  const sorted = [...tensors].filter(([, t]) => t.end > t.begin).sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1]!;
    const [name, t] = sorted[i]!;
    if (t.begin < prev.end)
      fail(`bytes [${t.begin}, ${t.end}) overlap tensor ${JSON.stringify(prevName)} at [${prev.begin}, ${prev.end})`, name);
  }
  return { tensors, metadata, headerBytes };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function checkEntry(value: unknown, dataBytes: number, fail: (problem: string) => never): TensorEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`entry must be an object with dtype, shape and data_offsets, found ${describe(value)}`);
  const v = value as Record<string, unknown>;
  const dtype = v.dtype;
  if (typeof dtype !== 'string') fail(`dtype must be a string, found ${describe(dtype)}`);
  if (!Object.hasOwn(SAFETENSORS_DTYPES, dtype as string))
    fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`);
  const bits = SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
  const shape = v.shape;
  if (!Array.isArray(shape)) fail(`shape must be an array of integers, found ${describe(shape)}`);
  for (const [i, d] of (shape as unknown[]).entries()) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      fail(`shape[${i}] must be a non-negative integer, found ${describe(d)}`);
  }
  const offsets = v.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`data_offsets must be [begin, end], found ${describe(offsets)}`);
  const [begin, end] = offsets as unknown[];
  for (const [what, o] of [
    ['begin', begin],
    ['end', end],
  ] as const) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)
      fail(`data_offsets ${what} must be a non-negative integer, found ${describe(o)}`);
  }
  const b = begin as number;
  const e = end as number;
  if (b > e) fail(`data_offsets [${b}, ${e}]: begin is after end`);
  if (e > dataBytes) fail(`data_offsets [${b}, ${e}] run past the end of the data section (${dataBytes} bytes; the file may be truncated)`);
  const elements = (shape as number[]).reduce((a, d) => a * BigInt(d), 1n);
  const bitCount = elements * BigInt(bits);
  if (bitCount % 8n !== 0n) fail(`${elements} elements of ${dtype} are not a whole number of bytes`);
  const expected = bitCount / 8n;
  if (expected !== BigInt(e - b))
    fail(`shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets [${b}, ${e}] hold ${e - b}`);
  return { dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], begin: b, end: e };
}

function makeFile(
  path: string,
  file: RandomAccessFile,
  headerBytes: number,
  tensors: Map<string, TensorEntry>,
  metadata: Record<string, string>,
  defaults: ReadOptions,
): SafetensorsFile {
  const dataStart = 8 + headerBytes;
  let closed = false;
  const entry = (name: string): TensorEntry => {
    if (closed) throw new SafetensorsError(path, 'file is closed', name);
    const t = tensors.get(name);
    if (t === undefined) throw new SafetensorsError(path, 'no such tensor in this file', name);
    return t;
  };
  const readInto = async (
    name: string,
    slice: SliceSpec | undefined,
    into: Uint8Array | undefined,
    options?: ReadOptions,
  ): Promise<Uint8Array> => {
    const t = entry(name);
    const bits = SAFETENSORS_DTYPES[t.dtype];
    if (bits % 8 !== 0) {
      const full = slice === undefined || slice.every((r, i) => r === undefined || (r[0] === 0 && r[1] === t.shape[i]));
      if (!full) throw new SafetensorsError(path, `cannot slice ${t.dtype}: its elements are not whole bytes`, name);
    }
    try {
      return await readRegion(
        file,
        { offset: dataStart + t.begin, shape: bits % 8 === 0 ? t.shape : [t.end - t.begin], elementBytes: bits % 8 === 0 ? bits / 8 : 1 },
        bits % 8 === 0 ? slice : undefined,
        into,
        { ...defaults, ...options },
      );
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
      throw new SafetensorsError(path, (e as Error).message, name);
    }
  };
  return {
    path,
    size: file.size,
    headerBytes,
    tensors,
    metadata,
    readSlice: async (name, slice, options) => {
      const out = await readInto(name, slice, undefined, options);
      return out.buffer as ArrayBuffer;
    },
    readSliceInto: async (name, slice, into, options) => {
      await readInto(name, slice, into, options);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await file.close();
    },
  };
}
