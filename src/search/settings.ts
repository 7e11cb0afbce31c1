/**
 * A plan as an ordered list of `key = value` settings: the one form a candidate takes
 * both as the AST the checker reads (`toDeclaration`) and as the `.plan` text written
 * for the user (`renderPlan`), so what was checked is what is written.
 */
import type { BlockValue, Declaration, Entry, Value } from '../ast.js';
import type { Span } from '../source.js';

export type SettingValue =
  /** A plain number: `8`, `0.05`. */
  | { kind: 'number'; value: number }
  /** An identifier: an enum value, a boolean or a declaration's name. */
  | { kind: 'word'; value: string }
  /** A number with a unit: `256 MiB`, `5 ms`, `10%`. */
  | { kind: 'unit'; value: number; unit: string }
  /** A string in double quotes (a pipeline `layout`); never holds a quote or a backslash. */
  | { kind: 'string'; value: string }
  /** Inclusive layer ranges: `[0..39, 40..79]`. */
  | { kind: 'ranges'; value: readonly (readonly [number, number])[] }
  /** A list of strings: `["q_proj", "v_proj"]`. */
  | { kind: 'strings'; value: readonly string[] }
  /** A nested block: `batch { … }`. */
  | { kind: 'block'; value: readonly Setting[] };

export interface Setting {
  key: string;
  value: SettingValue;
}

export const int = (key: string, value: number): Setting => ({ key, value: { kind: 'number', value } });
export const word = (key: string, value: string | boolean): Setting => ({ key, value: { kind: 'word', value: String(value) } });
export const withUnit = (key: string, value: number, unit: string): Setting => ({ key, value: { kind: 'unit', value, unit } });

/** Candidates have no source text: every node points at the start of a named pseudo-file. */
function spanIn(file: string): Span {
  return { file, start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };
}

function toValue(v: SettingValue, span: Span): Value {
  switch (v.kind) {
    case 'number':
      return { kind: 'number', value: v.value, raw: String(v.value), span };
    case 'word':
      return { kind: 'ident', name: v.value, span };
    case 'string':
      return { kind: 'string', value: v.value, span };
    case 'unit':
      return { kind: 'number', value: v.value, raw: String(v.value), unit: { text: v.unit, span }, span };
    case 'ranges':
      return {
        kind: 'list',
        span,
        items: v.value.map(([from, to]) => ({
          kind: 'range' as const,
          from: { kind: 'number' as const, value: from, raw: String(from), span },
          to: { kind: 'number' as const, value: to, raw: String(to), span },
          span,
        })),
      };
    case 'strings':
      return { kind: 'list', span, items: v.value.map((value) => ({ kind: 'string' as const, value, span })) };
    case 'block':
      return toBlock(v.value, span);
  }
}

function toBlock(settings: readonly Setting[], span: Span): BlockValue {
  const entries: Entry[] = settings.map((s) => ({ key: s.key, keySpan: span, value: toValue(s.value, span), span }));
  return { kind: 'block', entries, span };
}

/** `plan NAME { settings }` as the parser would produce it, with every span in `file`. */
export function toDeclaration(name: string, settings: readonly Setting[], file: string): Declaration {
  const span = spanIn(file);
  return { kind: 'declaration', keyword: 'plan', keywordSpan: span, name, nameSpan: span, body: toBlock(settings, span), span };
}

function valueText(v: SettingValue, indent: string): string {
  switch (v.kind) {
    case 'number':
    case 'word':
      return String(v.value);
    case 'string':
      return JSON.stringify(v.value);
    case 'unit':
      return v.unit === '%' ? `${v.value}%` : `${v.value} ${v.unit}`;
    case 'ranges':
      return `[${v.value.map(([a, b]) => `${a}..${b}`).join(', ')}]`;
    case 'strings':
      return `[${v.value.map((t) => JSON.stringify(t)).join(', ')}]`;
    case 'block':
      return `{\n${blockLines(v.value, `${indent}  `).join('\n')}\n${indent}}`;
  }
}

/** One setting per line, `=` aligned within the block; a nested block is written `key { … }`. */
function blockLines(settings: readonly Setting[], indent: string): string[] {
  const width = Math.max(0, ...settings.filter((s) => s.value.kind !== 'block').map((s) => s.key.length));
  return settings.map((s) =>
    s.value.kind === 'block'
      ? `${indent}${s.key} ${valueText(s.value, indent)}`
      : `${indent}${s.key.padEnd(width)} = ${valueText(s.value, indent)}`,
  );
}

/** `plan NAME { … }` as canonical text: two-space indent, one setting per line. */
export function renderPlan(name: string, settings: readonly Setting[]): string {
  return `plan ${name} {\n${blockLines(settings, '  ').join('\n')}\n}\n`;
}
