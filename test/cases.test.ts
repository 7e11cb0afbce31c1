/**
 * Diagnostic cases: every `test/cases/**\/*.plan` declares, with caret comments,
 * exactly which diagnostics it must produce and where (see test/cases/README.md).
 */
import { readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze.js';
import { renderText } from '../src/render/text.js';

const ROOT = join(import.meta.dirname, 'cases');

function caseFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? caseFiles(join(dir, e.name)) : e.name.endsWith('.plan') && e.name !== 'prelude.plan' ? [join(dir, e.name)] : [],
  );
}

interface Expectation {
  code: string;
  line: number;
  column: number;
  width: number;
}

/** `//   ^^^ PP2002` under a line expects PP2002 there, spanning the carets. */
export function expectations(text: string): Expectation[] {
  const out: Expectation[] = [];
  let target = 0;
  text.split('\n').forEach((line, i) => {
    const m = /^(\s*\/\/\s*)(\^+)\s+(PP\d{4})\s*$/.exec(line);
    if (!m) {
      target = i + 1;
      return;
    }
    out.push({ code: m[3]!, line: target, column: m[1]!.length + 1, width: m[2]!.length });
  });
  return out;
}

const key = (e: Expectation) => `${e.code} at ${e.line}:${e.column} width ${e.width}`;

describe('diagnostic cases', () => {
  const files = caseFiles(ROOT).sort();
  it('exist', () => expect(files.length).toBeGreaterThan(30));
  for (const file of files) {
    const name = relative(ROOT, file);
    it(name, () => {
      const text = readFileSync(file, 'utf8');
      const expected = expectations(text).map(key).sort();
      expect(expected.length, 'a case must expect at least one diagnostic').toBeGreaterThan(0);
      const analysis = analyze([file]);
      const actual = analysis.diagnostics
        .filter((d) => d.span?.file === file)
        .map((d) => {
          const s = d.span!;
          return key({ code: d.code, line: s.line, column: s.column, width: s.endLine === s.line ? s.endColumn - s.column : 1 });
        })
        .sort();
      expect(actual).toEqual(expected);
      // No diagnostics may land in the shared prelude.
      expect(analysis.diagnostics.filter((d) => d.span && d.span.file !== file).map((d) => d.message)).toEqual([]);
      // Rendered text output, normalised: a snapshot next to the case.
      const rendered = renderText(analysis, { color: false }).replaceAll(ROOT + '/', '');
      const snap = file.replace(/\.plan$/, '.diag');
      if (process.env.UPDATE || !existsSync(snap)) writeFileSync(snap, rendered);
      else expect(rendered).toBe(readFileSync(snap, 'utf8'));
    });
  }
});
