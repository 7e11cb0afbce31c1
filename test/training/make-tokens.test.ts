/**
 * scripts/make-tokens.ts: a token file from text with the GPT-2 tokenizer (js-tiktoken's `gpt2`
 * ranks), read back by the trainer's reader; ids known from GPT-2 ("Hello world" is 15496, 995),
 * each document after <|endoftext|> (50256), the text decoded back whole; `--encoding bytes
 * --vocab 97` for the tiny models.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import { readTokenFile } from '../../runtime/training/data.js';
import { ROOT, TSX } from '../cli/spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'parplan-make-tokens-'));
mkdirSync(join(dir, 'docs', 'sub'), { recursive: true });
const A = 'Hello world';
const B = 'Zürich <|endoftext|> is text here.\n';
writeFileSync(join(dir, 'docs', 'a.md'), A);
writeFileSync(join(dir, 'docs', 'sub', 'b.txt'), B);
writeFileSync(join(dir, 'docs', 'skip.json'), '{}');

function make(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', TSX, `${ROOT}scripts/make-tokens.ts`, ...args], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('scripts/make-tokens.ts', () => {
  it('GPT-2 ids, each document after <|endoftext|>, sorted files, .md and .txt only; decodes back to the text', () => {
    const out = join(dir, 'gpt2.bin');
    const r = make(join(dir, 'docs'), out);
    expect(r.code, r.stderr).toBe(0);
    const tokens = [...readTokenFile(out, 50257)];
    expect(tokens.slice(0, 3)).toEqual([50256, 15496, 995]);
    expect(tokens[3]).toBe(50256);
    expect(tokens.filter((t) => t === 50256)).toHaveLength(2); // the literal <|endoftext|> in b.txt is text, not the special token
    expect(getEncoding('gpt2').decode(tokens.slice(4))).toBe(B);
    expect(r.stderr).toContain(`${tokens.length} tokens from 2 files (gpt2)`);
  });

  it('--encoding bytes --vocab 97: the UTF-8 bytes mod 97', () => {
    const out = join(dir, 'bytes.bin');
    expect(make('--encoding', 'bytes', '--vocab', '97', join(dir, 'docs', 'a.md'), out).code).toBe(0);
    expect([...readTokenFile(out, 97)]).toEqual([...new TextEncoder().encode(A)].map((b) => b % 97));
  });

  it('mistakes exit 2 with a usage line', () => {
    for (const args of [
      [join(dir, 'nope'), join(dir, 'x.bin')],
      ['--vocab', '0', join(dir, 'docs'), join(dir, 'x.bin')],
      [join(dir, 'docs')],
    ]) {
      const r = make(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: .*\nusage: /);
    }
  });
});
