/** The token file (llm.c's format) and its batches (runtime/training/data.ts). */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batches, readTokenFile, TOKENS_HEADER_BYTES, TokenDataError, tokenFileBytes } from '../../runtime/training/data.js';

const dir = mkdtempSync(join(tmpdir(), 'parplan-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
const tokens = Array.from({ length: 100 }, (_, i) => (i * 7) % 97);

function error(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TokenDataError);
    return (e as Error).message;
  }
  throw new Error('no TokenDataError');
}

describe('token files', () => {
  it("llm.c's layout: 256 int32 header (20240520, version, count), uint16 tokens; uint32 past 65535", () => {
    const b = tokenFileBytes([1, 2, 65535]);
    const v = new DataView(b.buffer);
    expect([v.getInt32(0, true), v.getInt32(4, true), v.getInt32(8, true), v.getInt32(12, true)]).toEqual([20240520, 1, 3, 0]);
    expect(b.length).toBe(1024 + 6);
    expect(v.getUint16(1024 + 4, true)).toBe(65535);
    const wide = tokenFileBytes([1, 70000]);
    expect(new DataView(wide.buffer).getInt32(4, true)).toBe(2);
    expect(wide.length).toBe(1024 + 8);
    expect([...readTokenFile(file('wide.bin', wide), 100_000)]).toEqual([1, 70000]);
  });

  it('reads back what it wrote', () => {
    expect([...readTokenFile(file('ok.bin', tokenFileBytes(tokens)), 97)]).toEqual(tokens);
  });

  it.each([
    ['missing', () => join(dir, 'nope.bin'), 'nope.bin: no such file'],
    ['a directory', () => dir, 'not a regular file'],
    [
      'over LIMITS.tokenFileBytes (a sparse file: nothing is read)',
      () => {
        const p = file('huge.bin', tokenFileBytes(tokens));
        truncateSync(p, 1024 * 1024 * 1024 + 1);
        return p;
      },
      'it is 1073741825 bytes, over the limit of 1024 MiB (LIMITS.tokenFileBytes)',
    ],
    ['shorter than the header', () => file('short.bin', new Uint8Array(100)), '100 bytes is shorter than the 1024-byte header'],
    [
      'another format (text)',
      () => file('text.bin', 'hello '.repeat(300)),
      'not a token file: it starts with 1819043176, not the magic 20240520',
    ],
    [
      'an unknown version',
      () => {
        const b = tokenFileBytes(tokens);
        new DataView(b.buffer).setInt32(4, 3, true);
        return file('v3.bin', b);
      },
      'version 3 is not 1 (uint16 tokens) or 2 (uint32 tokens)',
    ],
    [
      'truncated',
      () => file('cut.bin', tokenFileBytes(tokens).subarray(0, TOKENS_HEADER_BYTES + 150)),
      'the header says 100 tokens (200 bytes), the file holds 150 bytes after the header',
    ],
    [
      'a token ≥ vocab',
      () => file('big.bin', tokenFileBytes([...tokens.slice(0, 41), 500, ...tokens.slice(42)])),
      'token 41 (byte 1106) is 500, outside the model',
    ],
  ])('%s: a clear error', (_, path, message) => {
    expect(error(() => readTokenFile(path(), 97))).toContain(message);
  });

  it('the vocabulary bound: vocab − 1 is read, vocab is refused', () => {
    expect([...readTokenFile(file('edge.bin', tokenFileBytes([0, 96])), 97)]).toEqual([0, 96]);
    expect(error(() => readTokenFile(file('over.bin', tokenFileBytes([0, 96, 97])), 97))).toContain('token 2 (byte 1028) is 97');
  });

  it('too short for one window: says the tokens, seq and batch', () => {
    const few = readTokenFile(file('few.bin', tokenFileBytes([1, 2, 3])), 97);
    expect(error(() => batches(few, { sequences: 2, seq: 8, seed: 1 }, 'few.bin').next())).toBe(
      'few.bin: 3 tokens is too short for one sequence of seq 8 + 1 = 9 tokens (a batch is 2 such windows)',
    );
  });

  it('batches: global batches of seq + 1 consecutive tokens, the same for the same seed, others for another', () => {
    const t = Uint32Array.from(tokens);
    const take = (seed: number) => {
      const it = batches(t, { sequences: 4, seq: 10, seed });
      return [it.next().value!, it.next().value!];
    };
    const a = take(1);
    expect(a[0]).toHaveLength(4);
    for (const b of a)
      for (const w of b) {
        expect(w).toHaveLength(11);
        const at = tokens.indexOf(w[0]!); // ids are distinct within 97 steps of 7 mod 97
        expect(w).toEqual(tokens.slice(at, at + 11));
      }
    expect(take(1)).toEqual(a);
    expect(take(2)).not.toEqual(a);
    expect(a[1]).not.toEqual(a[0]);
    // a window may end at the last token: every start 0 … 89 is drawn eventually
    const it = batches(t, { sequences: 8, seq: 10, seed: 3 });
    const starts = new Set<number>();
    for (let i = 0; i < 200; i++) for (const w of it.next().value!) starts.add(w[0]!);
    expect(starts.size).toBe(90);
  });
});
