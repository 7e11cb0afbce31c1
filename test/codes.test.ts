/** The code table is the single source of every message: keep it unique, well-formed and exercised. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES, formatMessage } from '../src/diagnostics/codes.js';

function planFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? planFiles(join(dir, e.name)) : e.name.endsWith('.plan') ? [join(dir, e.name)] : [],
  );
}

describe('diagnostic codes', () => {
  const codes = Object.keys(CODES);

  it('are PP + four digits, in ranges by area', () => {
    for (const c of codes) expect(c).toMatch(/^PP[1-9]\d{3}$/);
  });

  it('have unique titles', () => {
    const titles = Object.values(CODES).map((c) => c.title);
    expect(new Set(titles).size).toBe(titles.length);
  });

  it('messages: lower case start, no final period, placeholders only of {name} form', () => {
    for (const [code, info] of Object.entries(CODES)) {
      expect(info.message, code).not.toMatch(/\.$/);
      expect(info.message, code).toMatch(/^[a-z'{]/);
      const filled = formatMessage(info.message, new Proxy({}, { get: () => 'x' }) as Record<string, string>);
      expect(filled, code).not.toMatch(/[{}]/);
    }
  });

  it('every checker code (1xxx–4xxx) has a diagnostic case in test/cases', () => {
    const expected = new Set(
      planFiles(join(import.meta.dirname, 'cases')).flatMap((f) =>
        [...readFileSync(f, 'utf8').matchAll(/\^+\s+(PP\d{4})/g)].map((m) => m[1]!),
      ),
    );
    const missing = codes.filter((c) => /^PP[1-4]/.test(c) && !expected.has(c));
    expect(missing).toEqual([]);
  });

  it('command-line and internal codes (6xxx, 9xxx) are exercised by the CLI tests', () => {
    const cliTests = readdirSync(join(import.meta.dirname, 'cli'))
      .map((f) => readFileSync(join(import.meta.dirname, 'cli', f), 'utf8'))
      .join('\n');
    const missing = codes.filter((c) => /^PP[69]/.test(c) && !cliTests.includes(c));
    expect(missing).toEqual([]);
  });

  it('export codes (8xxx) are exercised by the export tests', () => {
    const dir = join(import.meta.dirname, 'export');
    const exportTests = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    const missing = codes.filter((c) => /^PP8/.test(c) && !exportTests.includes(c));
    expect(missing).toEqual([]);
  });

  it('embedded-plan codes (7xxx) are exercised by the tests of test/embedded (or test/hostile, for the limits)', () => {
    const dirs = ['embedded', 'hostile'].map((d) => join(import.meta.dirname, d));
    const tests = dirs
      .flatMap((dir) =>
        readdirSync(dir)
          .filter((f) => f.endsWith('.test.ts') && f !== 'explain.test.ts')
          .map((f) => readFileSync(join(dir, f), 'utf8')),
      )
      .join('\n');
    const missing = codes.filter((c) => /^PP7/.test(c) && !tests.includes(c));
    expect(missing).toEqual([]);
  });
});
