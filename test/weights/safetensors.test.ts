import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryFile, type RandomAccessFile } from '../../runtime/weights/file.js';
import { openSafetensors, SafetensorsError, type SafetensorsFile } from '../../runtime/weights/safetensors.js';
import { f32Tensor, rawSafetensors, safetensorsBytes, tempDir, writeSafetensors } from './write.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

let counter = 0;
function fileOf(bytes: Uint8Array): string {
  const path = tmp.file(`f${counter++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

/** The SafetensorsError that opening `bytes` gives. */
async function openError(bytes: Uint8Array): Promise<SafetensorsError> {
  const path = fileOf(bytes);
  try {
    const f = await openSafetensors(path);
    await f.close();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    const err = e as SafetensorsError;
    expect(err.path).toBe(path);
    expect(err.message.startsWith(`${path}: `)).toBe(true);
    return err;
  }
  throw new Error('expected an error');
}

const entry = (dtype: string, shape: unknown[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe('safetensors reader', () => {
  it('round-trips tensors, metadata and dtypes', async () => {
    const path = writeSafetensors(
      tmp.file('rt.safetensors'),
      {
        a: f32Tensor([3, 4]),
        h: { dtype: 'F16', shape: [5], data: new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x8000]) },
        b: { dtype: 'BF16', shape: [2, 1], data: new Uint16Array([0x3f80, 0xbf80]) },
        i: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, -2n]) },
        empty: { dtype: 'F32', shape: [0, 7], data: new Float32Array(0) },
        scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
      },
      { format: 'pt', note: 'ünïcode ✓' },
    );
    const f = await openSafetensors(path);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expect([...f.tensors.keys()]).toEqual(['a', 'h', 'b', 'i', 'empty', 'scalar']);
    expect(f.tensors.get('a')).toEqual({ dtype: 'F32', shape: [3, 4], begin: 0, end: 48 });
    expect([...new Float32Array(await f.readSlice('a'))]).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect([...new Uint16Array(await f.readSlice('h'))]).toEqual([0x3c00, 0xc000, 0x0001, 0x7c00, 0x8000]);
    expect([...new Uint16Array(await f.readSlice('b'))]).toEqual([0x3f80, 0xbf80]);
    expect([...new BigInt64Array(await f.readSlice('i'))]).toEqual([1n, -2n]);
    expect((await f.readSlice('empty')).byteLength).toBe(0);
    expect([...new Float32Array(await f.readSlice('scalar'))]).toEqual([42]);
    await expect(f.readSlice('nope')).rejects.toThrow(/tensor "nope": no such tensor/);
    await expect(f.readSlice('a', [[0, 4]])).rejects.toThrow(
      /tensor "a": slice \[0, 4\) of dimension 0 is outside the tensor's shape \[3, 4\]/,
    );
    await f.close();
    await expect(f.readSlice('a')).rejects.toThrow(/file is closed/);
  });

  it('reads a file written by the reference implementation (Python safetensors 0.8.0)', async () => {
    // save_file({"a": arange(12, f32).reshape(3, 4), "b": [1, -2.5, 0.333] f16}, metadata={"format": "np"})
    const hex =
      '90000000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a226e70227d2c2261223a7b226474797065223a22463332222c227368617065223a5b332c345d2c22646174615f6f666673657473223a5b302c34385d7d2c2262223a7b226474797065223a22463136222c227368617065223a5b335d2c22646174615f6f666673657473223a5b34382c35345d7d7d20000000000000803f0000004000004040000080400000a0400000c0400000e04000000041000010410000204100003041003c00c15435';
    const bytes = Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
    const f = await openSafetensors('reference.safetensors', { file: memoryFile(bytes) });
    expect(f.metadata).toEqual({ format: 'np' });
    expect([...new Float32Array(await f.readSlice('a', [undefined, [1, 3]]))]).toEqual([1, 2, 5, 6, 9, 10]);
    expect([...new Uint16Array(await f.readSlice('b'))]).toEqual([15360, 49408, 13652]);
    await f.close();
  });

  it('the writer pads the header to 8 bytes with spaces, as the reference does', () => {
    const b = safetensorsBytes({ x: f32Tensor([1]) });
    const n = Number(new DataView(b.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(new TextDecoder().decode(b.subarray(8, 8 + n)).endsWith(' ')).toBe(true);
  });

  describe('validation: a corrupt, truncated or hostile file is a SafetensorsError naming the file, the tensor and the problem', () => {
    const ok = safetensorsBytes({ a: f32Tensor([2, 2]), b: f32Tensor([3]) });

    it('file shorter than 8 bytes', async () => {
      expect((await openError(new Uint8Array(5))).message).toMatch(/truncated: 5 bytes, shorter than the 8-byte header length/);
      expect((await openError(new Uint8Array(0))).message).toMatch(/truncated: 0 bytes/);
    });

    it('truncated data section', async () => {
      const e = await openError(ok.subarray(0, ok.length - 3));
      expect(e.tensor).toBe('b');
      expect(e.message).toMatch(
        /tensor "b": data_offsets \[16, 28\] run past the end of the data section \(25 bytes; the file may be truncated\)/,
      );
    });

    it('truncated header', async () => {
      expect((await openError(ok.subarray(0, 20))).message).toMatch(/truncated: header length \d+ but only 12 bytes follow the length/);
    });

    it('header length too big', async () => {
      expect((await openError(rawSafetensors('{}', undefined, { headerLength: 2n ** 64n - 1n }))).message).toMatch(
        /header length 18446744073709551615 exceeds the limit of 100000000 bytes/,
      );
      expect((await openError(rawSafetensors('{}', undefined, { headerLength: 100_000_001n }))).message).toMatch(/exceeds the limit/);
    });

    it('header length too small', async () => {
      expect((await openError(rawSafetensors('{}', undefined, { headerLength: 0n }))).message).toMatch(/header length 0 is too small/);
    });

    it('bad JSON, not an object, bad UTF-8', async () => {
      expect((await openError(rawSafetensors('{"a": '))).message).toMatch(/header is not valid JSON: /);
      expect((await openError(rawSafetensors('[1, 2]'))).message).toMatch(/header is not a JSON object \(it must start with "\{"\)/);
      expect((await openError(rawSafetensors(' {}'))).message).toMatch(/must start with/);
      const bad = rawSafetensors('{"\u00e9":1}');
      bad[11] = 0xff; // break the UTF-8 sequence of é
      expect((await openError(bad)).message).toMatch(/header is not valid UTF-8/);
      expect((await openError(rawSafetensors('{"a": 1}'))).message).toMatch(
        /tensor "a": entry must be an object with dtype, shape and data_offsets, found number 1/,
      );
    });

    it('bad __metadata__', async () => {
      expect((await openError(rawSafetensors({ __metadata__: { n: 1 } }))).message).toMatch(
        /__metadata__\["n"\] must be a string, found number 1/,
      );
      expect((await openError(rawSafetensors({ __metadata__: ['x'] }))).message).toMatch(/__metadata__ must be an object of strings/);
    });

    it('unknown or missing dtype', async () => {
      const e = await openError(rawSafetensors({ w: entry('F128', [1], 0, 16) }, new Uint8Array(16)));
      expect(e.tensor).toBe('w');
      expect(e.message).toMatch(/tensor "w": unknown dtype "F128" \(known: BOOL, U8, .*F32.*\)/);
      expect((await openError(rawSafetensors({ w: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)))).message).toMatch(
        /dtype must be a string, found undefined/,
      );
      expect((await openError(rawSafetensors({ w: entry('toString', [1], 0, 4) }, new Uint8Array(4)))).message).toMatch(
        /unknown dtype "toString"/,
      );
    });

    it('offsets out of bounds, reversed or malformed', async () => {
      expect((await openError(rawSafetensors({ w: entry('F32', [2], 0, 8) }, new Uint8Array(4)))).message).toMatch(
        /tensor "w": data_offsets \[0, 8\] run past the end of the data section \(4 bytes/,
      );
      expect((await openError(rawSafetensors({ w: entry('F32', [0], 8, 4) }, new Uint8Array(8)))).message).toMatch(
        /data_offsets \[8, 4\]: begin is after end/,
      );
      expect((await openError(rawSafetensors({ w: entry('F32', [1], -4, 0) }, new Uint8Array(8)))).message).toMatch(
        /data_offsets begin must be a non-negative integer, found number -4/,
      );
      expect((await openError(rawSafetensors({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(8)))).message).toMatch(
        /data_offsets must be \[begin, end\], found an array/,
      );
      expect((await openError(rawSafetensors({ w: entry('F32', [1], 0, 2 ** 60) }, new Uint8Array(8)))).message).toMatch(
        /data_offsets end must be a non-negative integer, found number 1152921504606847000/,
      );
    });

    it('overlapping tensors', async () => {
      const e = await openError(rawSafetensors({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }, new Uint8Array(12)));
      expect(e.tensor).toBe('b');
      expect(e.message).toMatch(/tensor "b": bytes \[4, 12\) overlap tensor "a" at \[0, 8\)/);
      // The same range twice, listed in any order.
      expect(
        (await openError(rawSafetensors({ z: entry('F32', [1], 4, 8), a: entry('F32', [1], 4, 8) }, new Uint8Array(8)))).message,
      ).toMatch(/overlap/);
    });

    it('unused gaps and empty tensors sharing an offset are fine', async () => {
      const f = await openSafetensors(
        fileOf(
          rawSafetensors({ a: entry('F32', [1], 8, 12), e1: entry('F32', [0], 4, 4), e2: entry('U8', [0, 5], 4, 4) }, new Uint8Array(16)),
        ),
      );
      expect(f.tensors.size).toBe(3);
      await f.close();
    });

    it('size mismatch', async () => {
      const e = await openError(rawSafetensors({ w: entry('BF16', [2, 3], 0, 8) }, new Uint8Array(12)));
      expect(e.message).toMatch(/tensor "w": shape \[2, 3\] of BF16 needs 12 bytes but data_offsets \[0, 8\] hold 8/);
    });

    it('negative, fractional, huge or non-numeric shapes', async () => {
      expect((await openError(rawSafetensors({ w: entry('F32', [-1, 4], 0, 0) }))).message).toMatch(
        /tensor "w": shape\[0\] must be a non-negative integer, found number -1/,
      );
      expect((await openError(rawSafetensors({ w: entry('F32', [1.5], 0, 0) }))).message).toMatch(
        /shape\[0\] must be a non-negative integer, found number 1.5/,
      );
      expect((await openError(rawSafetensors({ w: entry('F32', ['2'], 0, 0) }))).message).toMatch(
        /shape\[0\] must be a non-negative integer, found the string "2"/,
      );
      expect((await openError(rawSafetensors({ w: entry('F32', [1e300], 0, 0) }))).message).toMatch(
        /shape\[0\] must be a non-negative integer/,
      );
      expect(
        (await openError(rawSafetensors({ w: { dtype: 'F32', shape: 4, data_offsets: [0, 16] } }, new Uint8Array(16)))).message,
      ).toMatch(/shape must be an array of integers, found number 4/);
      // Each dimension is a safe integer but the product overflows 2^64: still an exact size mismatch, not a wrap-around.
      const big = 2 ** 53 - 1;
      expect((await openError(rawSafetensors({ w: entry('F32', [big, big, big], 0, 8) }, new Uint8Array(8)))).message).toMatch(
        /shape \[9007199254740991, 9007199254740991, 9007199254740991\] of F32 needs 2923003274661804862851708690152493776234860249084 bytes but data_offsets \[0, 8\] hold 8/,
      );
      // A product that would wrap to 0 in 64 bits.
      expect((await openError(rawSafetensors({ w: entry('U8', [2 ** 32, 2 ** 32], 0, 0) }))).message).toMatch(
        /needs 18446744073709551616 bytes but data_offsets \[0, 0\] hold 0/,
      );
    });

    it('sub-byte dtypes must fill whole bytes', async () => {
      expect((await openError(rawSafetensors({ w: entry('F4', [3], 0, 2) }, new Uint8Array(2)))).message).toMatch(
        /3 elements of F4 are not a whole number of bytes/,
      );
      const f = await openSafetensors(fileOf(rawSafetensors({ w: entry('F4', [2, 2], 0, 2) }, new Uint8Array([0x12, 0x34]))));
      expect([...new Uint8Array(await f.readSlice('w'))]).toEqual([0x12, 0x34]);
      await expect(f.readSlice('w', [[0, 1]])).rejects.toThrow(/cannot slice F4: its elements are not whole bytes/);
      await f.close();
    });

    it('a missing file', async () => {
      await expect(openSafetensors(tmp.file('missing.safetensors'))).rejects.toThrow(/missing.safetensors: cannot open: ENOENT/);
    });

    it('a file truncated after it was opened', async () => {
      const bytes = safetensorsBytes({ a: f32Tensor([4, 4]) });
      let limit = bytes.length;
      const file: RandomAccessFile = {
        size: bytes.length,
        read: async (into, pos) => {
          const n = Math.max(0, Math.min(into.length, limit - pos));
          into.set(bytes.subarray(pos, pos + n));
          return n;
        },
        close: async () => undefined,
      };
      const f = await openSafetensors('shrinking.safetensors', { file });
      limit -= 10;
      await expect(f.readSlice('a')).rejects.toThrow(
        /shrinking.safetensors: tensor "a": the file ended before byte \d+ \(truncated or changed since it was opened\)/,
      );
    });

    it('random garbage never escapes as anything but a SafetensorsError', async () => {
      let seed = 7;
      const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
      for (let i = 0; i < 300; i++) {
        const base = safetensorsBytes({ a: f32Tensor([2, 3]), b: { dtype: 'BF16', shape: [4], data: new Uint16Array(4) } }, { k: 'v' });
        const bytes = base.slice(0, Math.max(0, base.length - Math.floor(rnd() * 12)));
        for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
        let f: SafetensorsFile | undefined;
        try {
          f = await openSafetensors(`garbage${i}`, { file: memoryFile(bytes) });
          for (const name of f.tensors.keys()) await f.readSlice(name);
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(SafetensorsError);
        } finally {
          await f?.close();
        }
      }
    });
  });
});
