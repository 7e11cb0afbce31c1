/**
 * Strings for tokenizer tests: hand-picked hard cases (Unicode, emoji with joiners, CJK,
 * runs of whitespace, special tokens written out, code) and a few hundred random mixes of
 * them, from a fixed seed (src/util/random.ts) so every run tests the same strings.
 */
import { mulberry32 } from '../../src/util/random.js';

const HAND = [
  '',
  ' ',
  'Hello, world!',
  'The quick brown fox jumps over the lazy dog.',
  "don't won't I'm we've they'll she'd It's",
  'UPPER lower MiXeD CamelCase snake_case kebab-case',
  '1234567890 3.14159 -42 1e-9 0x7f 1,000,000',
  'a\tb\nc\r\nd\u000be\u000cf',
  '    four spaces\n\n\n\nthree blank lines',
  'trailing spaces   ',
  '   leading spaces',
  '\n\n\n',
  '\t\t\tindented\ttabs',
  'Ünïcödé façade naïve coöperate résumé Ångström',
  'Straße ß ẞ İstanbul ǅ ﬁ ﬂ',
  'Ελληνικά Русский язык עברית العربية हिन्दी ไทย',
  '中文测试：你好，世界！这是一个句子。',
  '日本語のテキスト、カタカナとひらがな。漢字も。',
  '한국어 텍스트입니다.',
  '😀😃😄😁 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵🇫🇷 ❤️ 🫠',
  'emoji between words🎉and🎉no spaces',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝟘𝟙𝟚 — “quotes” ‘single’ … • ©®™',
  'combining: e\u0301 a\u0308 n\u0303 Z\u0335\u0321a\u0336l\u0337g\u0338o',
  'zero\u200bwidth\u200cjoin\u200dx \ufeffbom',
  'function add(a, b) {\n  return a + b;\n}\n',
  'def f(x):\n    if x > 0:\n        return x ** 2\n    return -x\n',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); }',
  "SELECT * FROM users WHERE id = 1 AND name LIKE '%a%';",
  '<html><body class="x">&amp; &lt;tag&gt;</body></html>',
  '{"key": [1, 2, {"nested": null}], "ok": true}',
  'https://example.com/path?query=1&b=%20x#frag user@example.org',
  '!!!???...,,,;;;:::---___+++===***&&&|||\\\\///',
  '<|im_start|>user\nhi<|im_end|>',
  '<|endoftext|>',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>',
  'not special: <|im_start and im_end|> <| |>',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '1111111111111111111111111111111111111111',
  '\u00a0non\u00a0breaking\u2009thin\u3000ideographic space',
  'mixed 中文 and English 混合 text 123 四五六',
  'λx.x → ∀x∃y: x≠y ∑∫∂√∞ ≤≥ ±×÷',
];

/** Pieces the random strings are made of. */
const PIECES = [
  ...HAND.filter((s) => s.length > 0 && s.length < 40),
  ' ',
  '  ',
  '\n',
  '\t',
  '\r\n',
  'the',
  ' the',
  'ing',
  '.',
  ',',
  '你',
  '好',
  '世界',
  'é',
  '🎉',
  '👩‍💻',
  '🇺🇸',
  '<|im_end|>',
  '<|endoftext|>',
  '<|eot_id|>',
  '<|begin_of_text|>',
  '0',
  '42',
  '{',
  '}',
  '=>',
  '\\',
  '"',
  "'",
  'ſ',
  '\u0301',
];

export function corpus(randomCount = 300, seed = 12): string[] {
  const r = mulberry32(seed);
  const out = [...HAND];
  for (let i = 0; i < randomCount; i++) {
    const n = 1 + Math.floor(r() * 12);
    let s = '';
    for (let j = 0; j < n; j++) {
      // Mostly pieces, sometimes a random code point (any plane, surrogates excluded).
      if (r() < 0.15) {
        const cp = Math.floor(r() * 0x2ffff);
        s += cp >= 0xd800 && cp <= 0xdfff ? 'x' : String.fromCodePoint(cp);
      } else s += PIECES[Math.floor(r() * PIECES.length)]!;
    }
    out.push(s);
  }
  return out;
}
