/**
 * The token file `parplan train --data` reads, and the global batches drawn from it.
 *
 * Format: llm.c's (karpathy/llm.c, dev/data/data_common.py `write_datafile`, read by
 * llmc/dataloader.h): a header of 256 little-endian int32 — [0] the magic 20240520, [1] the
 * version, 1: tokens are uint16 (GPT-2's 50,257 ids), 2: uint32 (larger vocabularies, Llama-3),
 * [2] the number of tokens, the rest 0 — then the tokens, little-endian. One file is one
 * stream of documents, each usually started by the tokenizer's end-of-text token.
 *
 * Batches: step k's global batch is `sequences` windows of seq + 1 consecutive tokens whose
 * starts are drawn uniformly from 0 … tokens − (seq + 1) by a seeded generator (mulberry32,
 * the one the tests use), as nanoGPT's `get_batch` draws them: the same file, seed and shape
 * give the same batches on every machine.
 */
import { readFileSync, statSync } from 'node:fs';
import { LIMITS, limitText } from '../../src/facts/limits.js';
import { mulberry32 } from '../../src/util/random.js';

export const TOKENS_MAGIC = 20240520;
export const TOKENS_HEADER_INTS = 256;
export const TOKENS_HEADER_BYTES = TOKENS_HEADER_INTS * 4;
/** Version → bytes per token. */
export const TOKENS_VERSIONS: Readonly<Record<number, 2 | 4>> = { 1: 2, 2: 4 };

export class TokenDataError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'TokenDataError';
  }
}

/** The bytes of a token file holding `tokens` (version 1 when every id fits 16 bits, else 2). */
export function tokenFileBytes(tokens: ArrayLike<number>, version?: 1 | 2): Uint8Array {
  let max = 0;
  for (let i = 0; i < tokens.length; i++) max = Math.max(max, tokens[i]!);
  const v = version ?? (max < 65536 ? 1 : 2);
  if (v === 1 && max >= 65536) throw new RangeError(`token ${max} does not fit version 1's uint16`);
  const size = TOKENS_VERSIONS[v]!;
  const out = new Uint8Array(TOKENS_HEADER_BYTES + tokens.length * size);
  const view = new DataView(out.buffer);
  view.setInt32(0, TOKENS_MAGIC, true);
  view.setInt32(4, v, true);
  view.setInt32(8, tokens.length, true);
  for (let i = 0; i < tokens.length; i++) {
    if (size === 2) view.setUint16(TOKENS_HEADER_BYTES + 2 * i, tokens[i]!, true);
    else view.setUint32(TOKENS_HEADER_BYTES + 4 * i, tokens[i]!, true);
  }
  return out;
}

/** The tokens of a token file's bytes, checked against the header and `vocab`. */
export function parseTokenFile(path: string, bytes: Uint8Array, vocab: number): Uint32Array {
  if (bytes.length < TOKENS_HEADER_BYTES)
    throw new TokenDataError(path, `${bytes.length} bytes is shorter than the ${TOKENS_HEADER_BYTES}-byte header of a token file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getInt32(0, true);
  if (magic !== TOKENS_MAGIC)
    throw new TokenDataError(
      path,
      `not a token file: it starts with ${magic}, not the magic ${TOKENS_MAGIC} (llm.c's format: 256 int32 header, then the tokens; scripts/make-tokens.ts writes one)`,
    );
  const version = view.getInt32(4, true);
  const size = TOKENS_VERSIONS[version];
  if (size === undefined) throw new TokenDataError(path, `version ${version} is not 1 (uint16 tokens) or 2 (uint32 tokens)`);
  const count = view.getInt32(8, true);
  const have = bytes.length - TOKENS_HEADER_BYTES;
  if (count < 0 || have !== count * size)
    throw new TokenDataError(
      path,
      `the header says ${count} tokens (${count * size} bytes), the file holds ${have} bytes after the header: truncated or not one file`,
    );
  const tokens = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const id = size === 2 ? view.getUint16(TOKENS_HEADER_BYTES + 2 * i, true) : view.getUint32(TOKENS_HEADER_BYTES + 4 * i, true);
    if (id >= vocab)
      throw new TokenDataError(
        path,
        `token ${i} (byte ${TOKENS_HEADER_BYTES + size * i}) is ${id}, outside the model's vocabulary (0 … ${vocab - 1}): a file made with another tokenizer?`,
      );
    tokens[i] = id;
  }
  return tokens;
}

/** Read and check a token file (the whole file is read, at most LIMITS.tokenFileBytes: token files for what WebGPU trains are small). */
export function readTokenFile(path: string, vocab: number): Uint32Array {
  let bytes: Uint8Array;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new TokenDataError(path, 'not a regular file');
    if (st.size > LIMITS.tokenFileBytes)
      throw new TokenDataError(
        path,
        `it is ${st.size} bytes, over the limit of ${limitText(LIMITS.tokenFileBytes)} (LIMITS.tokenFileBytes)`,
      );
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof TokenDataError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new TokenDataError(path, code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (e as Error).message})`);
  }
  return parseTokenFile(path, bytes, vocab);
}

export interface BatchPlan {
  /** Sequences per global batch. */
  sequences: number;
  /** Tokens each sequence feeds the model; a window is seq + 1 tokens. */
  seq: number;
  seed: number;
}

/**
 * An endless, deterministic stream of global batches from `tokens`: each batch `sequences`
 * windows of seq + 1 tokens (number[][], as `trainer.step` takes it).
 */
export function* batches(tokens: Uint32Array, plan: BatchPlan, path = 'the token file'): Generator<number[][]> {
  const width = plan.seq + 1;
  if (tokens.length < width)
    throw new TokenDataError(
      path,
      `${tokens.length} tokens is too short for one sequence of seq ${plan.seq} + 1 = ${width} tokens (a batch is ${plan.sequences} such windows)`,
    );
  const rand = mulberry32(plan.seed);
  const starts = tokens.length - width + 1;
  for (;;) {
    const batch: number[][] = [];
    for (let s = 0; s < plan.sequences; s++) {
      const at = Math.floor(rand() * starts);
      batch.push(Array.from(tokens.subarray(at, at + width)));
    }
    yield batch;
  }
}
