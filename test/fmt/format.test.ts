/**
 * `formatPlanText`: golden cases (test/fmt/golden/NAME.in.plan → NAME.out.plan), and
 * what happens to files with syntax errors, empty files, CRLF and tabs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPlanText } from '../../src/fmt/index.js';
import { stripSpans } from '../../src/fmt/same-ast.js';
import { parse } from '../../grammar/index.js';
import { fmt, meaning } from './helpers.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const cases = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.in.plan'))
  .map((f) => f.slice(0, -'.in.plan'.length))
  .sort();

describe('golden cases', () => {
  it('covers the rules', () => {
    expect(cases).toEqual(['alignment', 'blank-lines', 'comments', 'imports', 'lists', 'nested', 'units']);
  });
  for (const name of cases) {
    const input = readFileSync(join(GOLDEN, `${name}.in.plan`), 'utf8');
    const expected = readFileSync(join(GOLDEN, `${name}.out.plan`), 'utf8');
    it(`${name}: formats as expected, keeps the meaning, and the result is a fixed point`, () => {
      expect(fmt(input, `${name}.in.plan`)).toBe(expected);
      expect(meaning(expected)).toEqual(meaning(input));
      expect(fmt(expected)).toBe(expected);
    });
  }
});

describe('layout rules', () => {
  it('one property per line, `=` aligned within a run', () => {
    expect(fmt('model m { layers = 32  kv_heads = 8 }')).toBe('model m {\n  layers   = 32\n  kv_heads = 8\n}\n');
  });

  it('a blank line, a comment line and a nested block each end a run', () => {
    const out = fmt('plan p {\n a = 1\n\n bbb = 2\n // c\n cc = 3\n d { x = 1 }\n eeee = 4 f = 5\n}');
    expect(out).toBe('plan p {\n  a = 1\n\n  bbb = 2\n  // c\n  cc = 3\n  d {\n    x = 1\n  }\n  eeee = 4\n  f    = 5\n}\n');
  });

  it('trailing comments stay on their line, aligned within a run', () => {
    expect(fmt('model m {\n a = 1 // one\n bbbb = 2   // two\n}')).toBe('model m {\n  a    = 1  // one\n  bbbb = 2  // two\n}\n');
  });

  it('units take one space, except %', () => {
    expect(fmt('plan p { a = 5ms b = 24   GiB c = 10 % d = 1e4B }')).toBe(
      'plan p {\n  a = 5 ms\n  b = 24 GiB\n  c = 10%\n  d = 1e4 B\n}\n',
    );
  });

  it('numbers and strings are kept as written', () => {
    const out = fmt('plan p { a = 1_000  b = 1.50  c = 2E+3  s = "x\\ty" }');
    expect(out).toContain('a = 1_000\n');
    expect(out).toContain('b = 1.50\n');
    expect(out).toContain('c = 2E+3\n');
    expect(out).toContain('s = "x\\ty"\n');
  });

  it('`key = { … }` is written `key { … }`; an empty block stays `{}`', () => {
    expect(fmt('cluster c { gpu = { name = "x" } spare = {} }')).toBe('cluster c {\n  gpu {\n    name = "x"\n  }\n  spare {}\n}\n');
    expect(fmt('plan p {}')).toBe('plan p {}\n');
  });

  it('a list longer than 100 columns goes one item per line, with a trailing comma', () => {
    const items = Array.from({ length: 12 }, (_, i) => `"${i}F0 ${i}B0"`);
    const out = fmt(`plan p { actions = [${items.join(', ')}] }`);
    expect(out).toBe(`plan p {\n  actions = [\n${items.map((s) => `    ${s},\n`).join('')}  ]\n}\n`);
    // one item fewer fits: back on one line
    const short = fmt(`plan p { actions = [${items.slice(0, 7).join(',')},] }`);
    expect(short).toBe(`plan p {\n  actions = [${items.slice(0, 7).join(', ')}]\n}\n`);
  });

  it('exactly one blank line between declarations, none at the start or the end', () => {
    expect(fmt('\n\n\nmodel a {}\nmodel b {}\n\n\n\nmodel c {}\n\n\n')).toBe('model a {}\n\nmodel b {}\n\nmodel c {}\n');
  });

  it('an empty file stays empty; a file of comments keeps them', () => {
    expect(fmt('')).toBe('');
    expect(fmt('  \n\n')).toBe('');
    expect(fmt('// only\n\n\n/* two */  ')).toBe('// only\n\n/* two */\n');
  });

  it('CRLF line ends become LF, tabs become two-space indentation', () => {
    expect(fmt('model m {\r\n\tlayers = 1\t// one\r\n}\r\n')).toBe('model m {\n  layers = 1  // one\n}\n');
  });

  it('`;` separators are dropped, with the comments next to them kept', () => {
    expect(fmt('model m { a = 1; /* x */ b = 2 ; // y\n}')).toBe('model m {\n  a = 1  /* x */\n  b = 2  // y\n}\n');
  });
});

describe('syntax errors', () => {
  it('leaves the text unchanged and reports the error with its position', () => {
    const text = 'plan p {\n  tensor = 2\n  pipeline 2 2\n}\n';
    const r = formatPlanText(text, 'bad.plan');
    expect(r.text).toBe(text);
    expect(r.diagnostics.length).toBeGreaterThan(0);
    const d = r.diagnostics[0]!;
    expect(d.code).toMatch(/^PP100[1-4]$/);
    expect(d.span).toMatchObject({ file: 'bad.plan', line: 3 });
  });

  it('lexical errors too (PP1001, PP1003, PP1004)', () => {
    for (const [text, code] of [
      ['model m { a = 1 @ }', 'PP1001'],
      ['model m { s = "open }', 'PP1003'],
      ['model m { a = 1__0 }', 'PP1004'],
    ] as const) {
      const r = formatPlanText(text, 'e.plan');
      expect(r.text).toBe(text);
      expect(r.diagnostics.map((d) => d.code)).toContain(code);
    }
  });
});

describe('stripSpans (the meaning comparison of these tests)', () => {
  const strip = (t: string) => stripSpans(parse(t, 'a.plan').ast);
  it('ignores positions and layout', () => {
    expect(strip('model m { a = 5ms }')).toEqual(strip('\n\nmodel   m {\n  a = 5 ms\n}\n'));
  });
  it('sees changes of value, unit, key, order and kind', () => {
    const base = strip('model m { a = 5 ms  b = x }');
    for (const other of [
      'model m { a = 6 ms  b = x }',
      'model m { a = 5 s  b = x }',
      'model m { c = 5 ms  b = x }',
      'model m { b = x  a = 5 ms }',
      'model m { a = 5 ms  b = "x" }',
      'plan m { a = 5 ms  b = x }',
    ]) {
      expect(strip(other)).not.toEqual(base);
    }
  });
});
