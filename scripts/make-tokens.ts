/**
 * Make a token file for `parplan train --data` from text files:
 *
 *   node --import tsx scripts/make-tokens.ts [--encoding gpt2|bytes] [--vocab N] SOURCE... OUT.bin
 *
 * SOURCE: files, or directories searched recursively for *.md and *.txt (in sorted order).
 * Each file is one document. `gpt2` (default): GPT-2's byte-level BPE (js-tiktoken's `gpt2`
 * encoding, the ranks of OpenAI's GPT-2 release, the same ids as Hugging Face's `gpt2`
 * tokenizer), each document preceded by <|endoftext|> (50256), as llm.c's data scripts write
 * them (dev/data/fineweb.py). `bytes`: each UTF-8 byte is one token (0 … 255), no separator.
 * `--vocab N`: every id is taken mod N, for the tiny test models (vocab 97: the bytes of ASCII
 * text mod 97); omitted, every id must fit the encoding's vocabulary (50,257 or 256).
 * The output is llm.c's format (runtime/training/data.ts; docs/runtime.md, "Training").
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getEncoding } from 'js-tiktoken';
import { tokenFileBytes } from '../runtime/training/data.js';

const EOT = 50256;

function usage(message: string): never {
  process.stderr.write(
    `error: ${message}\nusage: node --import tsx scripts/make-tokens.ts [--encoding gpt2|bytes] [--vocab N] SOURCE... OUT.bin\n`,
  );
  process.exit(2);
}

function documents(path: string): string[] {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) usage(`no such file or directory: ${path}`);
  if (st.isFile()) return [path];
  if (!st.isDirectory()) usage(`not a file or directory: ${path}`);
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const p = join(path, name);
      return statSync(p).isDirectory() ? documents(p) : /\.(md|txt)$/.test(name) ? [p] : [];
    });
}

/** The token ids of `texts`, one document each. */
export function tokenize(texts: readonly string[], encoding: 'gpt2' | 'bytes', vocab?: number): number[] {
  const out: number[] = [];
  const enc = encoding === 'gpt2' ? getEncoding('gpt2') : undefined;
  for (const text of texts) {
    // encode with no special tokens allowed: text that spells <|endoftext|> is ordinary text
    const ids = enc ? [EOT, ...enc.encode(text, [], [])] : [...new TextEncoder().encode(text)];
    for (const id of ids) out.push(vocab === undefined ? id : id % vocab);
  }
  return out;
}

function main(argv: string[]): void {
  let encoding: 'gpt2' | 'bytes' = 'gpt2';
  let vocab: number | undefined;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--encoding') {
      const v = argv[++i];
      if (v !== 'gpt2' && v !== 'bytes') usage(`--encoding must be gpt2 or bytes, found '${v ?? ''}'`);
      encoding = v;
    } else if (a === '--vocab') {
      const v = argv[++i] ?? '';
      vocab = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
      if (!(vocab >= 1)) usage(`--vocab must be a whole number ≥ 1, found '${v}'`);
    } else if (a.startsWith('-')) usage(`unknown option '${a}'`);
    else paths.push(a);
  }
  if (paths.length < 2) usage('give at least one SOURCE and the OUT file');
  const out = paths.pop()!;
  const files = paths.flatMap(documents);
  if (files.length === 0) usage(`no .md or .txt files in ${paths.join(', ')}`);
  const tokens = tokenize(
    files.map((f) => readFileSync(f, 'utf8')),
    encoding,
    vocab,
  );
  writeFileSync(out, tokenFileBytes(tokens));
  process.stderr.write(
    `wrote ${out}: ${tokens.length} tokens from ${files.length} files (${encoding}${vocab ? `, ids mod ${vocab}` : ''})\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
