/**
 * JSON values as TypeScript literal text, laid out the way a formatter would: a value
 * that fits in the line stays on one line, anything longer breaks one element per line
 * (numbers fill lines), with trailing commas and single quotes. Pure and deterministic:
 * the same value always gives the same text, so generated files are byte-stable.
 */

export const PRINT_WIDTH = 100;
const INDENT = '  ';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A string literal: single-quoted unless the text holds more single quotes than double
 * ones (as Prettier chooses); escapes what could end or bend the literal (the quote,
 * backslashes, line breaks, control characters).
 */
export function quote(text: string): string {
  const q = count(text, "'") > count(text, '"') ? '"' : "'";
  return q + text.replace(q === "'" ? SINGLE : DOUBLE, escape) + q;
}

const SINGLE = /['\\\u0000-\u001f\u007f\u2028\u2029]/g;
const DOUBLE = /["\\\u0000-\u001f\u007f\u2028\u2029]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escape(ch: string): string {
  if (ch === "'" || ch === '"' || ch === '\\') return '\\' + ch;
  return SHORT[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function count(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i !== -1; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * An object key: bare when it is an identifier, else quoted. `__proto__`, bare or quoted, would
 * set the literal's prototype instead of a property: it is written as a computed key.
 */
export function key(name: string): string {
  if (name === '__proto__') return `[${quote(name)}]`;
  return IDENTIFIER.test(name) ? name : quote(name);
}

function scalar(value: null | boolean | number | string): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new Error(`internal error: ${value} has no JSON form (this is a bug in parplan)`);
  return String(value);
}

/** How members end: `,` in a value, `;` in a type literal (as a formatter writes them). */
type Separator = ',' | ';';

/** The value on one line. */
function flat(value: Json, sep: Separator): string {
  if (value === null || typeof value !== 'object') return scalar(value);
  if (Array.isArray(value)) return `[${value.map((v) => flat(v, sep)).join(', ')}]`;
  const entries = Object.entries(value);
  return entries.length === 0 ? '{}' : `{ ${entries.map(([k, v]) => `${key(k)}: ${flat(v, sep)}`).join(`${sep} `)} }`;
}

/** Where the value goes: `prefix` and `suffix` columns share its line (`export const graph = `, `;`). */
export interface Place {
  prefix?: number;
  suffix?: number;
}

/** The value as literal text at nesting `depth`; continuation lines carry their own indentation. */
export function printLiteral(value: unknown, depth = 0, place: Place = {}): string {
  return print(toJson(value), depth, place.prefix ?? 0, place.suffix ?? 0, ',');
}

/** The value as a literal type: the same text, but object members end with `;`. */
export function printLiteralType(value: unknown, depth = 0, place: Place = {}): string {
  return print(toJson(value), depth, place.prefix ?? 0, place.suffix ?? 0, ';');
}

function print(value: Json, depth: number, prefix: number, suffix: number, sep: Separator): string {
  const one = flat(value, sep);
  if (value === null || typeof value !== 'object' || depth * INDENT.length + prefix + one.length + suffix <= PRINT_WIDTH) return one;
  const inner = INDENT.repeat(depth + 1);
  const close = INDENT.repeat(depth);
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number'))
      return `[\n${fill(
        value.map((v) => flat(v, sep)),
        inner,
      )}\n${close}]`;
    return `[\n${value.map((v) => `${inner}${print(v, depth + 1, 0, 1, sep)},`).join('\n')}\n${close}]`;
  }
  const lines = Object.entries(value).map(([k, v]) => `${inner}${key(k)}: ${print(v, depth + 1, key(k).length + 2, 1, sep)}${sep}`);
  return `{\n${lines.join('\n')}\n${close}}`;
}

/** Numbers packed into lines of at most PRINT_WIDTH columns. */
function fill(items: string[], indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const next = line === '' ? `${indent}${item},` : `${line} ${item},`;
    if (line !== '' && next.length > PRINT_WIDTH) {
      lines.push(line);
      line = `${indent}${item},`;
    } else line = next;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

/** What JSON.stringify would keep: undefined members dropped, so the literal equals the graph's JSON. */
function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}
