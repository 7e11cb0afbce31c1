/**
 * Reading a slice of a row-major tensor stored in a file: only the bytes the slice
 * needs, with positional reads, never the whole tensor.
 *
 * A slice is a hyper-rectangle, one `[begin, end)` range per dimension. Its bytes
 * in the file are *runs*: the trailing dimensions the slice takes whole, plus the
 * range of the last dimension it cuts, are contiguous; the leading dimensions step
 * over runs. A row slice of a 2-D tensor (axis 0) is one run; a column slice
 * (axis 1) is one run per row. Runs closer than `maxGap` bytes are read together in
 * one read of at most `chunkBytes` into a scratch buffer (a page read costs no more
 * than a syscall), the others straight into the output; up to `parallel` reads are
 * in flight. Memory: the output plus at most `parallel × chunkBytes` of scratch.
 *
 * Also the shard arithmetic (which rows or columns a tensor rank holds, with
 * replicated KV heads) and an in-memory transpose for Conv1D checkpoints.
 */
import { readFully, type RandomAccessFile } from './file.js';

export type Range = readonly [begin: number, end: number];
/** One range per dimension; `undefined` (or a missing trailing entry) is the whole dimension. */
export type SliceSpec = ReadonlyArray<Range | undefined>;

export interface Layout {
  /** Byte position of element 0 in the file. */
  offset: number;
  shape: readonly number[];
  elementBytes: number;
}

export interface ReadOptions {
  /** Runs separated by at most this many bytes are read together (default 4096). */
  maxGap?: number;
  /** Largest coalesced read (default 8 MiB). */
  chunkBytes?: number;
  /** Reads in flight (default 8). */
  parallel?: number;
}

export const DEFAULT_READ: Required<ReadOptions> = { maxGap: 4096, chunkBytes: 8 << 20, parallel: 8 };

/** Check a slice against a shape; returns one explicit range per dimension. */
export function normalizeSlice(shape: readonly number[], slice: SliceSpec | undefined): Range[] {
  if (slice !== undefined && slice.length > shape.length)
    throw new Error(`slice has ${slice.length} ranges for a tensor of rank ${shape.length} (shape [${shape.join(', ')}])`);
  return shape.map((size, i) => {
    const r = slice?.[i];
    if (r === undefined) return [0, size] as const;
    const [b, e] = r;
    if (!Number.isSafeInteger(b) || !Number.isSafeInteger(e) || b < 0 || e < b || e > size) {
      throw new Error(`slice [${b}, ${e}) of dimension ${i} is outside the tensor's shape [${shape.join(', ')}]`);
    }
    return [b, e] as const;
  });
}

export function rangesShape(ranges: readonly Range[]): number[] {
  return ranges.map(([b, e]) => e - b);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A slice taking `[begin, end)` of one axis and the whole of the others. */
export function axisSlice(rank: number, axis: number, begin: number, end: number): SliceSpec {
  return Array.from({ length: rank }, (_, i) => (i === axis ? ([begin, end] as const) : undefined));
}

/** The range of a dimension of `size` that shard `index` of `parts` holds (equal parts). */
export function shardRange(size: number, parts: number, index: number): Range {
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`cannot split into ${parts} parts`);
  if (size % parts !== 0) throw new Error(`dimension ${size} does not split into ${parts} equal parts`);
  if (!Number.isInteger(index) || index < 0 || index >= parts) throw new Error(`shard index ${index} is not in 0…${parts - 1}`);
  const n = size / parts;
  return [index * n, (index + 1) * n];
}

/**
 * The shard index of a device for a graph shard: its rank on the shard's axis, or
 * `floor(rank / replicas)` when consecutive ranks hold the same shard (KV heads
 * replicated when tensor > kv_heads).
 */
export function shardIndex(rank: number, shard: { parts: number; replicas?: number }): number {
  return Math.floor(rank / (shard.replicas ?? 1));
}

/** The slice of `shape` that shard `index` of `parts` along `axis` holds. */
export function shardSlice(shape: readonly number[], axis: number, parts: number, index: number): Range[] {
  if (axis < 0 || axis >= shape.length) throw new Error(`axis ${axis} is not a dimension of shape [${shape.join(', ')}]`);
  return shape.map((size, i) => (i === axis ? shardRange(size, parts, index) : ([0, size] as const)));
}

interface Run {
  /** Byte position in the file. */
  file: number;
  /** Byte position in the output. */
  out: number;
}

/** The contiguous runs of a slice, in file order, and their common length in bytes. */
export function sliceRuns(layout: Layout, ranges: readonly Range[]): { runBytes: number; count: number; runs: () => Generator<Run> } {
  const { shape, elementBytes: eb, offset } = layout;
  const n = shape.length;
  const strides = new Array<number>(n);
  let s = eb;
  for (let i = n - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  // k: the last dimension the slice cuts; everything after it is whole.
  let k = n - 1;
  while (k >= 0 && ranges[k]![0] === 0 && ranges[k]![1] === shape[k]) k--;
  if (k < 0) {
    const total = elementCount(shape) * eb;
    return {
      runBytes: total,
      count: total > 0 ? 1 : 0,
      runs: function* () {
        if (total > 0) yield { file: offset, out: 0 };
      },
    };
  }
  const runBytes = (ranges[k]![1] - ranges[k]![0]) * strides[k]!;
  let count = runBytes > 0 ? 1 : 0;
  for (let i = 0; i < k; i++) count *= ranges[i]![1] - ranges[i]![0];
  return {
    runBytes,
    count,
    runs: function* () {
      if (count === 0) return;
      const idx = ranges.slice(0, k).map((r) => r[0]);
      const base = offset + ranges[k]![0] * strides[k]!;
      for (let out = 0; ; out += runBytes) {
        let file = base;
        for (let i = 0; i < k; i++) file += idx[i]! * strides[i]!;
        yield { file, out };
        // Odometer over the leading dimensions.
        let i = k - 1;
        while (i >= 0) {
          idx[i]!++;
          if (idx[i]! < ranges[i]![1]) break;
          idx[i] = ranges[i]![0];
          i--;
        }
        if (i < 0) return;
      }
    },
  };
}

/**
 * Read a slice of the tensor at `layout` in `file` into `into` (allocated when not
 * given); row-major bytes of the slice, as stored.
 */
export async function readRegion(
  file: RandomAccessFile,
  layout: Layout,
  slice: SliceSpec | undefined,
  into?: Uint8Array,
  options: ReadOptions = {},
): Promise<Uint8Array> {
  const { maxGap, chunkBytes, parallel } = { ...DEFAULT_READ, ...options };
  const ranges = normalizeSlice(layout.shape, slice);
  const bytes = elementCount(rangesShape(ranges)) * layout.elementBytes;
  const out = into ?? new Uint8Array(bytes);
  if (out.length !== bytes) throw new Error(`output buffer holds ${out.length} bytes; the slice needs ${bytes}`);
  const { runBytes, runs } = sliceRuns(layout, ranges);
  if (bytes === 0) return out;

  const ended = (at: number) => new Error(`the file ended before byte ${at} (truncated or changed since it was opened)`);
  const inFlight = new Set<Promise<void>>();
  const pool: Uint8Array[] = [];
  const start = async (task: () => Promise<void>) => {
    const p = task().finally(() => inFlight.delete(p));
    p.catch(() => undefined); // observed below (race / all); never an unhandled rejection
    inFlight.add(p);
    if (inFlight.size >= parallel) await Promise.race(inFlight);
  };
  // A group: runs read by one read call.
  let group: Run[] = [];
  let groupEnd = 0;
  const flush = async () => {
    const g = group;
    group = [];
    if (g.length === 0) return;
    const first = g[0]!;
    if (g.length === 1) {
      await start(async () => {
        if (!(await readFully(file, out.subarray(first.out, first.out + runBytes), first.file))) throw ended(first.file + runBytes);
      });
      return;
    }
    const span = groupEnd - first.file;
    await start(async () => {
      // Scratch buffers are reused within this read (at most `parallel` of them).
      let buf = pool.pop();
      if (buf === undefined || buf.length < span) buf = new Uint8Array(span);
      const scratch = buf.subarray(0, span);
      try {
        if (!(await readFully(file, scratch, first.file))) throw ended(first.file + span);
        for (const r of g) out.set(scratch.subarray(r.file - first.file, r.file - first.file + runBytes), r.out);
      } finally {
        pool.push(buf);
      }
    });
  };
  try {
    for (const r of runs()) {
      if (group.length > 0 && (r.file - groupEnd > maxGap || r.file + runBytes - group[0]!.file > chunkBytes)) await flush();
      group.push(r);
      groupEnd = r.file + runBytes;
    }
    await flush();
    await Promise.all(inFlight);
  } catch (e) {
    await Promise.allSettled(inFlight);
    throw e;
  }
  return out;
}

/** Slice a row-major array held in memory (the reference for tests, and for data already read). */
export function sliceBytes(bytes: Uint8Array, shape: readonly number[], elementBytes: number, slice: SliceSpec | undefined): Uint8Array {
  const ranges = normalizeSlice(shape, slice);
  const { runBytes, runs } = sliceRuns({ offset: 0, shape, elementBytes }, ranges);
  const out = new Uint8Array(elementCount(rangesShape(ranges)) * elementBytes);
  for (const r of runs()) out.set(bytes.subarray(r.file, r.file + runBytes), r.out);
  return out;
}

/** Transpose a row-major [rows, cols] matrix of `elementBytes`-byte elements to [cols, rows]. */
export function transpose2d(bytes: Uint8Array, rows: number, cols: number, elementBytes: number, into?: Uint8Array): Uint8Array {
  if (bytes.length !== rows * cols * elementBytes)
    throw new Error(`transpose: ${bytes.length} bytes is not ${rows} × ${cols} × ${elementBytes}`);
  if (into !== undefined && (into.length !== bytes.length || into.byteOffset % 4 !== 0))
    throw new Error(`transpose: the output must hold ${bytes.length} bytes, 4-byte aligned`);
  const out = into ?? new Uint8Array(bytes.length);
  if (rows <= 1 || cols <= 1) {
    out.set(bytes);
    return out;
  }
  const src = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  // One loop per element type keeps each monomorphic (fast); 8-byte elements move as two 32-bit words
  // (a Float64Array copy could alter NaN payloads).
  switch (elementBytes) {
    case 1:
      transposeU8(src, out, rows, cols);
      break;
    case 2:
      transposeU16(
        new Uint16Array(src.buffer, src.byteOffset, src.length / 2),
        new Uint16Array(out.buffer, out.byteOffset, out.length / 2),
        rows,
        cols,
      );
      break;
    case 4:
      transposeU32(
        new Uint32Array(src.buffer, src.byteOffset, src.length / 4),
        new Uint32Array(out.buffer, out.byteOffset, out.length / 4),
        rows,
        cols,
      );
      break;
    case 8:
      transposeU64(
        new Uint32Array(src.buffer, src.byteOffset, src.length / 4),
        new Uint32Array(out.buffer, out.byteOffset, out.length / 4),
        rows,
        cols,
      );
      break;
    default:
      throw new Error(`transpose: unsupported element size ${elementBytes}`);
  }
  return out;
}

const TILE = 32;

function transposeU8(src: Uint8Array, dst: Uint8Array, rows: number, cols: number): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) for (let c = c0, s = r * cols + c0, d = c0 * rows + r; c < c1; c++, s++, d += rows) dst[d] = src[s]!;
    }
  }
}

function transposeU16(src: Uint16Array, dst: Uint16Array, rows: number, cols: number): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) for (let c = c0, s = r * cols + c0, d = c0 * rows + r; c < c1; c++, s++, d += rows) dst[d] = src[s]!;
    }
  }
}

function transposeU32(src: Uint32Array, dst: Uint32Array, rows: number, cols: number): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) for (let c = c0, s = r * cols + c0, d = c0 * rows + r; c < c1; c++, s++, d += rows) dst[d] = src[s]!;
    }
  }
}

function transposeU64(src: Uint32Array, dst: Uint32Array, rows: number, cols: number): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        for (let c = c0, s = 2 * (r * cols + c0), d = 2 * (c0 * rows + r); c < c1; c++, s += 2, d += 2 * rows) {
          dst[d] = src[s]!;
          dst[d + 1] = src[s + 1]!;
        }
      }
    }
  }
}
