import { expect } from 'vitest';
import type { Value } from '../../src/ast.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { parse } from '../../grammar/index.js';

/** A value without spans, in a compact form for shape assertions. */
export function shape(v: Value): unknown {
  switch (v.kind) {
    case 'number':
      return v.unit ? { n: v.value, raw: v.raw, unit: v.unit.text } : { n: v.value, raw: v.raw };
    case 'range':
      return { range: [v.from.value, v.to.value] };
    case 'ident':
      return { ident: v.name };
    case 'string':
      return { str: v.value };
    case 'list':
      return v.items.map(shape);
    case 'block':
      return Object.fromEntries(v.entries.map((e) => [e.key, shape(e.value)]));
  }
}

/** `code line:column` of each diagnostic, for exact position assertions. */
export function where(ds: Diagnostic[]): string[] {
  return ds.map((d) => `${d.code} ${d.span?.line}:${d.span?.column}`);
}

/** Parse text with exactly one diagnostic (a recovery case): that diagnostic, and the first declaration's body as `shape` gives it (what was kept). */
export function oneError(text: string): { diagnostic: Diagnostic; body: unknown } {
  const r = parse(text, 'e.plan');
  expect(r.diagnostics).toHaveLength(1);
  return { diagnostic: r.diagnostics[0]!, body: shape(r.ast.declarations[0]!.body) };
}

/** Parse and return the value of `key` in the first declaration (`model m { key = … }`). */
export function valueOf(valueText: string) {
  const r = parse(`model m { v = ${valueText} }`, 't.plan');
  const e = r.ast.declarations[0]?.body.entries.find((x) => x.key === 'v');
  return { value: e?.value, diagnostics: r.diagnostics };
}
