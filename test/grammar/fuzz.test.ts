import { describe, expect, it } from 'vitest';
import { MAX_NESTING, parse } from '../../grammar/index.js';
import type { BlockValue, PlanFile, Value } from '../../src/ast.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { SourceFile, type Span } from '../../src/source.js';
import { mulberry32 as rng } from '../../src/util/random.js';
import { EXAMPLE } from './example.js';

const ALPHABET = [
  '{',
  '}',
  '[',
  ']',
  '=',
  ',',
  ';',
  '.',
  '..',
  '"',
  "'",
  '/',
  '*',
  '/*',
  '//',
  '\\',
  '\n',
  '\r\n',
  ' ',
  '\t',
  '-',
  '%',
  ':',
  '@',
  'é',
  '😀',
  '0',
  '1',
  '9',
  '_',
  'e',
  'x',
  'f1b',
  'ms',
  'GiB',
  'plan',
  'model',
  'import',
];

function mutate(text: string, random: () => number): string {
  let s = text;
  const n = 1 + Math.floor(random() * 6);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(random() * (s.length + 1));
    const op = random();
    if (op < 0.35) {
      const len = 1 + Math.floor(random() * 4);
      s = s.slice(0, i) + s.slice(i + len); // delete
    } else if (op < 0.7) {
      s = s.slice(0, i) + ALPHABET[Math.floor(random() * ALPHABET.length)]! + s.slice(i); // insert
    } else {
      const len = 1 + Math.floor(random() * 12);
      s = s.slice(0, i) + s.slice(i, i + len) + s.slice(i); // duplicate
    }
  }
  return s;
}

/** Every span points into the text and its line/column agree with its offsets. */
function checkSpan(span: Span | undefined, source: SourceFile, what: string): void {
  expect(span, what).toBeDefined();
  const s = span!;
  const text = source.text;
  expect(s.file, what).toBe(source.path);
  expect(Number.isInteger(s.start) && Number.isInteger(s.end), what).toBe(true);
  expect(0 <= s.start && s.start <= s.end && s.end <= text.length, `${what}: ${s.start}..${s.end} of ${text.length}`).toBe(true);
  const lines = source.lineStarts.length;
  expect(s.line >= 1 && s.line <= lines && s.endLine >= s.line && s.endLine <= lines, what).toBe(true);
  expect(s.column >= 1 && s.column <= source.lineText(s.line).length + 2, what).toBe(true);
  expect(source.position(s.start), what).toEqual({ line: s.line, column: s.column });
  expect(source.position(s.end), what).toEqual({ line: s.endLine, column: s.endColumn });
}

function checkValue(v: Value, src: SourceFile, path: string): void {
  checkSpan(v.span, src, path);
  if (v.kind === 'number' && v.unit) checkSpan(v.unit.span, src, `${path}.unit`);
  if (v.kind === 'number') expect(Number.isFinite(v.value), path).toBe(true);
  if (v.kind === 'range') {
    checkSpan(v.from.span, src, `${path}.from`);
    checkSpan(v.to.span, src, `${path}.to`);
  }
  if (v.kind === 'list') v.items.forEach((item, i) => checkValue(item, src, `${path}[${i}]`));
  if (v.kind === 'block') checkBlock(v, src, path);
}

function checkBlock(b: BlockValue, src: SourceFile, path: string): void {
  for (const e of b.entries) {
    expect(typeof e.key).toBe('string');
    checkSpan(e.keySpan, src, `${path}.${e.key} key`);
    checkSpan(e.span, src, `${path}.${e.key}`);
    checkValue(e.value, src, `${path}.${e.key}`);
  }
}

function checkResult(text: string, r: { ast: PlanFile; diagnostics: Diagnostic[] }): void {
  const src = new SourceFile('fuzz.plan', text);
  for (const d of r.diagnostics) {
    expect(['PP1001', 'PP1002', 'PP1003', 'PP1004'], `${d.code} ${d.message}`).toContain(d.code);
    expect(d.message.length, d.message).toBeGreaterThan(0);
    expect(d.message, 'raw chevrotain message leaked').not.toMatch(/^\{"kind"/);
    checkSpan(d.span, src, `${d.code} ${d.message}`);
    for (const rel of d.related ?? []) checkSpan(rel.span, src, `related of ${d.message}`);
  }
  // one diagnostic per place at most for parser errors
  const syntaxStarts = r.diagnostics.filter((d) => d.code === 'PP1002').map((d) => `${d.span!.start}:${d.message}`);
  expect(new Set(syntaxStarts).size).toBe(syntaxStarts.length);
  for (const i of r.ast.imports) {
    checkSpan(i.span, src, 'import');
    checkSpan(i.pathSpan, src, 'import path');
  }
  for (const d of r.ast.declarations) {
    checkSpan(d.span, src, d.name);
    checkSpan(d.keywordSpan, src, `${d.name} keyword`);
    checkSpan(d.nameSpan, src, `${d.name} name`);
    checkBlock(d.body, src, d.name);
  }
}

describe('fuzz: random mutations of the example', () => {
  it('never throws; every diagnostic and node has a span inside the text (600 mutations)', () => {
    for (let seed = 1; seed <= 600; seed++) {
      const text = mutate(EXAMPLE, rng(seed));
      let r: ReturnType<typeof parse> | undefined;
      expect(() => (r = parse(text, 'fuzz.plan')), `seed ${seed}`).not.toThrow();
      try {
        checkResult(text, r!);
      } catch (e) {
        throw new Error(`seed ${seed}: ${(e as Error).message}\n--- text ---\n${text}`);
      }
    }
  });

  it('random character soup never throws', () => {
    const random = rng(12345);
    for (let k = 0; k < 200; k++) {
      const len = Math.floor(random() * 80);
      let text = '';
      for (let i = 0; i < len; i++) text += ALPHABET[Math.floor(random() * ALPHABET.length)]!;
      const r = parse(text, 'fuzz.plan');
      checkResult(text, r);
    }
  });

  it('deep nesting is an error, not a stack overflow', () => {
    for (const n of [MAX_NESTING, MAX_NESTING + 1, 5000]) {
      for (const text of [
        `model m { a = ${'['.repeat(n)}${']'.repeat(n)} }`,
        `model m { ${'a { '.repeat(n)}${'}'.repeat(n)} }`,
        `model m { a = ${'['.repeat(n)}`,
      ]) {
        const r = parse(text, 'fuzz.plan');
        checkResult(text, r);
        expect(
          r.diagnostics.some((d) => d.message.includes('nested more than')),
          `${n}`,
        ).toBe(n + 1 > MAX_NESTING);
      }
    }
  });
});
