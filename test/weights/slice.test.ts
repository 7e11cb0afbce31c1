import { afterAll, describe, expect, it } from 'vitest';
import { openFile, type RandomAccessFile } from '../../runtime/weights/file.js';
import { openSafetensors } from '../../runtime/weights/safetensors.js';
import {
  axisSlice,
  shardIndex,
  shardRange,
  shardSlice,
  sliceBytes,
  transpose2d,
  type Range,
  type SliceSpec,
} from '../../runtime/weights/slice.js';
import { f32Tensor, tempDir, writeSafetensors } from './write.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A file that counts what is read from it. */
function counting(inner: RandomAccessFile) {
  const stats = { bytes: 0, calls: 0, largest: 0, inFlight: 0, maxInFlight: 0 };
  const file: RandomAccessFile = {
    size: inner.size,
    read: async (into, position) => {
      stats.calls++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        const n = await inner.read(into, position);
        stats.bytes += n;
        stats.largest = Math.max(stats.largest, n);
        return n;
      } finally {
        stats.inFlight--;
      }
    },
    close: () => inner.close(),
  };
  return { file, stats };
}

async function openCounted(path: string) {
  const { file, stats } = counting(await openFile(path));
  const f = await openSafetensors(path, { file });
  const header = stats.bytes;
  return { f, stats, reset: () => Object.assign(stats, { bytes: 0, calls: 0, largest: 0, maxInFlight: 0 }), header };
}

/** Equal bytes (fast for large arrays). */
function same(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Element-by-element reference slice of a row-major f32 array. */
function naiveSlice(values: Float32Array, shape: number[], slice: Range[]): number[] {
  const out: number[] = [];
  const rec = (dim: number, offset: number) => {
    if (dim === shape.length) {
      out.push(values[offset]!);
      return;
    }
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    for (let i = slice[dim]![0]; i < slice[dim]![1]; i++) rec(dim + 1, offset + i * stride);
  };
  rec(0, 0);
  return out;
}

let seed = 99;
const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * n);
function randomRange(size: number): Range {
  const a = rnd(size + 1);
  const b = rnd(size + 1);
  return [Math.min(a, b), Math.max(a, b)];
}

describe('slicing', () => {
  const shapes = [[7], [5, 9], [4, 6, 3], [3, 2, 5, 4], [1, 33], [33, 1]];
  const path = writeSafetensors(
    tmp.file('shapes.safetensors'),
    Object.fromEntries(shapes.map((s, i) => [`t${i}`, f32Tensor(s, (k) => k * 0.5 - 3)])),
  );

  it('any slice of any shape equals slicing the full array, whatever the read options', async () => {
    const f = await openSafetensors(path);
    const optionSets = [
      {},
      { maxGap: 0 },
      { maxGap: 1 << 20, chunkBytes: 24 },
      { parallel: 1 },
      { maxGap: 8, chunkBytes: 64, parallel: 3 },
    ];
    for (const [i, shape] of shapes.entries()) {
      const full = new Float32Array(await f.readSlice(`t${i}`));
      for (let k = 0; k < 40; k++) {
        const slice = shape.map(randomRange);
        const want = naiveSlice(full, shape, slice);
        for (const o of optionSets)
          expect(
            [...new Float32Array(await f.readSlice(`t${i}`, slice, o))],
            `${shape} ${JSON.stringify(slice)} ${JSON.stringify(o)}`,
          ).toEqual(want);
        const b = sliceBytes(new Uint8Array(full.buffer), shape, 4, slice);
        expect([...new Float32Array(b.buffer)]).toEqual(want);
      }
    }
    await f.close();
  });

  it('missing trailing ranges and undefined take whole dimensions', async () => {
    const f = await openSafetensors(path);
    const a = await f.readSlice('t2', [[1, 3]]);
    const b = await f.readSlice('t2', [[1, 3], undefined, [0, 3]]);
    expect(new Uint8Array(a)).toEqual(new Uint8Array(b));
    expect(a.byteLength).toBe(2 * 6 * 3 * 4);
    await f.close();
  });

  describe('reads only the bytes a shard needs', () => {
    // 512 × 1024 f32 = 2 MiB, rows of 4 KiB.
    const rows = 512;
    const cols = 1024;
    const big = writeSafetensors(tmp.file('big.safetensors'), { pad: f32Tensor([8]), w: f32Tensor([rows, cols]) });
    /** Columns [b, e) of every row of `full`, by the naive reference. */
    const columns = (full: Float32Array, b: number, e: number) =>
      Float32Array.from(
        naiveSlice(
          full,
          [rows, cols],
          [
            [0, rows],
            [b, e],
          ],
        ),
      );

    it('a row shard (axis 0) is one contiguous read of exactly its bytes', async () => {
      const { f, stats, reset } = await openCounted(big);
      const full = new Float32Array(await f.readSlice('w'));
      for (let r = 0; r < 4; r++) {
        reset();
        const [b, e] = shardRange(rows, 4, r);
        const got = new Float32Array(await f.readSlice('w', axisSlice(2, 0, b, e)));
        expect(stats.bytes).toBe((rows / 4) * cols * 4);
        expect(stats.calls).toBe(1);
        expect(same(got, full.subarray(b * cols, e * cols))).toBe(true);
      }
      await f.close();
    });

    it('a column shard (axis 1) reads each row’s columns and nothing else when rows are far apart', async () => {
      const { f, stats, reset } = await openCounted(big);
      const full = new Float32Array(await f.readSlice('w'));
      for (let r = 0; r < 4; r++) {
        reset();
        const [b, e] = shardRange(cols, 4, r);
        // 1 KiB runs 3 KiB apart: coalesced under the default 4 KiB gap, so say 0 here.
        const got = new Float32Array(await f.readSlice('w', axisSlice(2, 1, b, e), { maxGap: 0 }));
        expect(stats.bytes).toBe(rows * (cols / 4) * 4);
        expect(stats.calls).toBe(rows);
        expect(stats.largest).toBe((cols / 4) * 4);
        expect(stats.maxInFlight).toBeLessThanOrEqual(8);
        expect(same(got, columns(full, b, e))).toBe(true);
      }
      await f.close();
    });

    it('close runs are read in chunks of at most chunkBytes; a shard of an 8-way split never reads more than the tensor', async () => {
      const { f, stats, reset } = await openCounted(big);
      const full = new Float32Array(await f.readSlice('w'));
      reset();
      const [b, e] = shardRange(cols, 8, 3);
      const got = new Float32Array(await f.readSlice('w', axisSlice(2, 1, b, e), { chunkBytes: 64 << 10 }));
      expect(same(got, columns(full, b, e))).toBe(true);
      expect(stats.largest).toBeLessThanOrEqual(64 << 10);
      expect(stats.calls).toBeLessThan(rows / 8); // coalesced
      expect(stats.bytes).toBeLessThan(rows * cols * 4);
      await f.close();
    });

    it('the whole file is never read for a shard: a 4-way column shard of a wide tensor reads a quarter of it', async () => {
      // 64 × 16384 f32: rows of 64 KiB, far apart (gaps of 48 KiB), so no coalescing by default.
      const wide = writeSafetensors(tmp.file('wide.safetensors'), { w: f32Tensor([64, 16384]) });
      const { f, stats, reset, header } = await openCounted(wide);
      expect(header).toBeLessThan(200);
      reset();
      const [b, e] = shardRange(16384, 4, 2);
      const got = await f.readSlice('w', axisSlice(2, 1, b, e));
      expect(got.byteLength).toBe(64 * 4096 * 4);
      expect(stats.bytes).toBe(64 * 4096 * 4);
      expect(stats.bytes + header).toBeLessThan(f.size / 3);
      await f.close();
    });
  });

  it('KV-head replication: consecutive tensor ranks read the same rows', async () => {
    // kv_heads = 2 over tensor = 4: replicas 2, parts 2.
    const shard = { axis: 0, parts: 2, over: 'tensor' as const, replicas: 2 };
    expect([0, 1, 2, 3].map((r) => shardIndex(r, shard))).toEqual([0, 0, 1, 1]);
    expect(shardIndex(3, { parts: 4 })).toBe(3);
    const kv = writeSafetensors(tmp.file('kv.safetensors'), { k: f32Tensor([32, 8]) });
    const f = await openSafetensors(kv);
    const read = (rank: number) => f.readSlice('k', shardSlice([32, 8], 0, shard.parts, shardIndex(rank, shard)));
    const [r0, r1, r2, r3] = await Promise.all([0, 1, 2, 3].map(read));
    expect(new Uint8Array(r0!)).toEqual(new Uint8Array(r1!));
    expect(new Uint8Array(r2!)).toEqual(new Uint8Array(r3!));
    expect(new Float32Array(r2!)[0]).toBe(16 * 8);
    await f.close();
  });

  it('shard arithmetic rejects what does not split', () => {
    expect(shardRange(12, 4, 1)).toEqual([3, 6]);
    expect(() => shardRange(10, 4, 0)).toThrow(/dimension 10 does not split into 4 equal parts/);
    expect(() => shardRange(12, 4, 4)).toThrow(/shard index 4 is not in 0…3/);
    expect(() => shardSlice([4, 4], 2, 2, 0)).toThrow(/axis 2 is not a dimension of shape \[4, 4\]/);
    const bad: SliceSpec = [
      [0, 1],
      [0, 1],
      [0, 1],
    ];
    expect(() => sliceBytes(new Uint8Array(16), [2, 2], 4, bad)).toThrow(/slice has 3 ranges for a tensor of rank 2/);
  });

  it('transpose2d for 1-, 2-, 4- and 8-byte elements, misaligned input too', () => {
    for (const eb of [1, 2, 4, 8]) {
      for (const [rows, cols] of [
        [1, 5],
        [5, 1],
        [3, 7],
        [33, 65],
        [64, 32],
      ] as const) {
        const src = new Uint8Array(rows * cols * eb + 1).map((_, i) => (i * 37 + eb) & 0xff).subarray(1);
        const t = transpose2d(src, rows, cols, eb);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            expect([...t.subarray((c * rows + r) * eb, (c * rows + r + 1) * eb)]).toEqual([
              ...src.subarray((r * cols + c) * eb, (r * cols + c + 1) * eb),
            ]);
          }
        }
      }
    }
    expect(() => transpose2d(new Uint8Array(6), 2, 2, 2)).toThrow(/6 bytes is not 2 × 2 × 2/);
  });
});
