/**
 * fmt is idempotent and keeps the meaning (the AST, positions aside) of every example,
 * every diagnostic case without syntax errors, and of fuzz mutants of both (the mutator
 * of test/fuzz/mutate.ts, deterministic seeds). Mutants with syntax errors must come
 * back unchanged, with diagnostics.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPlanText } from '../../src/fmt/index.js';
import { mutate, rng } from '../fuzz/mutate.js';
import { hasSyntaxErrors, meaning, planFilesUnder } from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES = planFilesUnder(join(ROOT, 'examples'));
const CASES = planFilesUnder(join(ROOT, 'test', 'cases'));
const read = (p: string) => readFileSync(p, 'utf8');

/** What is wrong with formatting `text` (empty when nothing is). */
function problems(text: string): string[] {
  const once = formatPlanText(text, 'x.plan');
  if (hasSyntaxErrors(text)) {
    if (once.text !== text) return ['a text with syntax errors was changed'];
    return once.diagnostics.length === 0 ? ['a text with syntax errors got no diagnostics'] : [];
  }
  if (once.diagnostics.length > 0) return once.diagnostics.map((d) => `${d.code}: ${d.message}`);
  const out: string[] = [];
  const twice = formatPlanText(once.text, 'x.plan');
  if (twice.text !== once.text) out.push(`not idempotent:\n--- once ---\n${once.text}--- twice ---\n${twice.text}`);
  if (JSON.stringify(meaning(once.text)) !== JSON.stringify(meaning(text))) out.push('the meaning changed');
  if (!once.text.endsWith('\n') && once.text !== '') out.push('no final newline');
  if (/[ \t]\n/.test(once.text)) out.push('trailing blanks');
  return out;
}

describe('fmt over the examples', () => {
  it('finds them', () => expect(EXAMPLES.length).toBeGreaterThanOrEqual(15));
  for (const file of EXAMPLES) {
    it(`${file.slice(ROOT.length + 1)}: already formatted, and formatting keeps its meaning`, () => {
      const text = read(file);
      expect(problems(text)).toEqual([]);
      expect(formatPlanText(text, file).text).toBe(text);
      expect(meaning(formatPlanText(text, file).text)).toEqual(meaning(text));
    });
  }
});

describe('fmt over the diagnostic cases (test/cases) without syntax errors', () => {
  const clean = CASES.filter((f) => !hasSyntaxErrors(read(f)));
  it('finds them, and skips only the syntax cases', () => {
    expect(clean.length).toBeGreaterThanOrEqual(50);
    expect(CASES.filter((f) => !clean.includes(f)).every((f) => f.includes(`${join('cases', 'syntax')}`))).toBe(true);
  });
  for (const file of clean) {
    it(file.slice(ROOT.length + 1), () => expect(problems(read(file))).toEqual([]));
  }
});

describe('fmt over fuzz mutants', () => {
  const corpus = [...EXAMPLES, ...CASES].map(read);
  it('is idempotent and keeps the meaning of every mutant that parses; leaves the others unchanged (2,000 mutants)', () => {
    const failures: string[] = [];
    let parsed = 0;
    for (let seed = 1; seed <= 2000 && failures.length < 3; seed++) {
      const random = rng(seed);
      const text = mutate(corpus[Math.floor(random() * corpus.length)]!, random);
      if (!hasSyntaxErrors(text)) parsed++;
      const p = problems(text);
      if (p.length > 0) failures.push(`seed ${seed}: ${p.join('; ')}\n--- input ---\n${text}`);
    }
    expect(failures).toEqual([]);
    // the corpus must exercise the formatter, not only the error path
    expect(parsed).toBeGreaterThan(400);
  });
});
