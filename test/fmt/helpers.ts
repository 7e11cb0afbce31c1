/** Shared by the fmt tests: formatting that must succeed, and the meaning of a text. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parse } from '../../grammar/index.js';
import { formatPlanText } from '../../src/fmt/index.js';
import { stripSpans } from '../../src/fmt/same-ast.js';

/** The AST without positions: what a text means. */
export function meaning(text: string): unknown {
  return stripSpans(parse(text, 'x.plan').ast);
}

export function hasSyntaxErrors(text: string): boolean {
  return parse(text, 'x.plan').diagnostics.some((d) => d.severity === 'error');
}

/** Formats a text that has no syntax errors; fails the test on any diagnostic. */
export function fmt(text: string, file = 'x.plan'): string {
  const r = formatPlanText(text, file);
  expect(r.diagnostics, `diagnostics for ${file}`).toEqual([]);
  return r.text;
}

/** Every `*.plan` below `dir`, sorted. */
export function planFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...planFilesUnder(p));
    else if (e.name.endsWith('.plan')) out.push(p);
  }
  return out.sort();
}
