/**
 * Diagnostic cases: every `test/cases/**\/*.plan` declares, with caret comments,
 * exactly which diagnostics it must produce and where (see test/cases/README.md).
 */
import { readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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

/**
 * `// configs/x.json:3:18 ^^^^^^ PP2021` expects PP2021 in that file (relative to the case) at line 3,
 * column 18, spanning the carets: a diagnostic inside a Hugging Face config (or a request trace, `.csv`), where no caret comment can go.
 */
export function fileExpectations(text: string): Map<string, Expectation[]> {
  const out = new Map<string, Expectation[]>();
  for (const line of text.split('\n')) {
    const m = /^\s*\/\/\s*(\S+\.(?:json|csv)):(\d+):(\d+)\s+(\^+)\s+(PP\d{4})\s*$/.exec(line);
    if (!m) continue;
    const list = out.get(m[1]!) ?? [];
    list.push({ code: m[5]!, line: Number(m[2]), column: Number(m[3]), width: m[4]!.length });
    out.set(m[1]!, list);
  }
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
      const expected = expectations(text).map(key);
      const others = fileExpectations(text);
      expected.push(...[...others].flatMap(([f, es]) => es.map((e) => `${f}: ${key(e)}`)));
      expected.sort();
      expect(expected.length, 'a case must expect at least one diagnostic').toBeGreaterThan(0);
      const analysis = analyze([file]);
      const configs = new Map([...others.keys()].map((f) => [join(dirname(file), f), f] as const));
      const actual = analysis.diagnostics
        .filter((d) => d.span?.file === file || configs.has(d.span?.file ?? ''))
        .map((d) => {
          const s = d.span!;
          const k = key({ code: d.code, line: s.line, column: s.column, width: s.endLine === s.line ? s.endColumn - s.column : 1 });
          return s.file === file ? k : `${configs.get(s.file)}: ${k}`;
        })
        .sort();
      expect(actual).toEqual(expected);
      // No diagnostics may land in the shared prelude (or a config the case does not expect them in).
      expect(analysis.diagnostics.filter((d) => d.span && d.span.file !== file && !configs.has(d.span.file)).map((d) => d.message)).toEqual(
        [],
      );
      // Rendered text output, normalised: a snapshot next to the case.
      const rendered = renderText(analysis, { color: false }).replaceAll(ROOT + '/', '');
      const snap = file.replace(/\.plan$/, '.diag');
      if (process.env.UPDATE || !existsSync(snap)) writeFileSync(snap, rendered);
      else expect(rendered).toBe(readFileSync(snap, 'utf8'));
    });
  }
});
