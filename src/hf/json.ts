/**
 * Strict JSON (RFC 8259) with a position for every value and member name, so that a
 * diagnostic about a Hugging Face config points at `config.json:line:col`. Bounded: nesting
 * deeper than LIMITS.nesting is an error, not a stack overflow; the text's size is bounded by
 * the loader (LIMITS.planFileBytes). No dependency: JSON.parse keeps no positions.
 */
import { LIMITS } from '../facts/limits.js';
import type { SourceFile, Span } from '../source.js';

export type JsonValue =
  | { kind: 'object'; members: JsonMember[]; span: Span }
  | { kind: 'array'; items: JsonValue[]; span: Span }
  | { kind: 'string'; value: string; span: Span }
  /** `raw` is the literal as written (kept for messages and for `parplan import`). */
  | { kind: 'number'; value: number; raw: string; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'null'; span: Span };

export interface JsonMember {
  name: string;
  nameSpan: Span;
  value: JsonValue;
}

export type JsonResult = { ok: true; value: JsonValue } | { ok: false; message: string; span: Span };

class JsonError extends Error {
  constructor(
    message: string,
    readonly start: number,
    readonly end: number,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Parse `source.text` as one JSON value; an error names what was expected and where. */
export function parseJson(source: SourceFile): JsonResult {
  const text = source.text;
  let i = 0;
  const span = (a: number, b: number) => source.span(a, b);
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const found = (): string => {
    if (i >= text.length) return 'the end of the file';
    const c = text[i]!;
    return c === '\n' ? 'a line break' : `'${c}'`;
  };
  const fail = (what: string): never => {
    throw new JsonError(`expected ${what}, found ${found()}`, i, Math.min(i + 1, text.length));
  };
  const str = (): { value: string; start: number; end: number } => {
    const start = i;
    i++; // the opening quote
    let value = '';
    for (;;) {
      if (i >= text.length) throw new JsonError('unterminated string', start, i);
      const c = text[i]!;
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonError('invalid \\u escape in a string', i, Math.min(i + 6, text.length));
          value += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else if (e !== undefined && ESCAPES[e] !== undefined) {
          value += ESCAPES[e];
          i += 2;
        } else throw new JsonError('invalid escape in a string', i, Math.min(i + 2, text.length));
      } else if (c.charCodeAt(0) < 0x20) {
        throw new JsonError('a control character (such as a line break) inside a string', i, i + 1);
      } else {
        value += c;
        i++;
      }
    }
    i++;
    return { value, start, end: i };
  };
  const value = (depth: number): JsonValue => {
    ws();
    if (depth > LIMITS.nesting) throw new JsonError(`objects and arrays nest deeper than ${LIMITS.nesting} levels`, i, i + 1);
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members: JsonMember[] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { kind: 'object', members, span: span(start, i) };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a member name in double quotes');
        const name = str();
        ws();
        if (text[i] !== ':') fail("':'");
        i++;
        const v = value(depth + 1);
        members.push({ name: name.value, nameSpan: span(name.start, name.end), value: v });
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return { kind: 'object', members, span: span(start, i) };
        } else fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { kind: 'array', items, span: span(start, i) };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return { kind: 'array', items, span: span(start, i) };
        } else fail("',' or ']'");
      }
    }
    if (c === '"') {
      const s = str();
      return { kind: 'string', value: s.value, span: span(s.start, s.end) };
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v === null ? { kind: 'null', span: span(start, i) } : { kind: 'bool', value: v, span: span(start, i) };
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m && m[0] !== '-') {
      i += m[0].length;
      return { kind: 'number', value: Number(m[0]), raw: m[0], span: span(start, i) };
    }
    if (/^-?(?:NaN|Infinity)/.test(text.slice(i, i + 9)))
      throw new JsonError(
        'NaN and Infinity are not JSON numbers',
        i,
        i + (text[i] === '-' ? 1 : 0) + (text[i + (text[i] === '-' ? 1 : 0)] === 'N' ? 3 : 8),
      );
    return fail('a JSON value');
  };
  try {
    const v = value(0);
    ws();
    if (i < text.length) fail('the end of the file after the JSON value');
    return { ok: true, value: v };
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    const end = Math.max(e.end, e.start);
    return { ok: false, message: e.message, span: span(e.start, Math.min(end, text.length)) };
  }
}

/** A member of an object by name (the last one, as Python's json and JavaScript's JSON.parse keep). */
export function member(obj: JsonValue, name: string): JsonMember | undefined {
  if (obj.kind !== 'object') return undefined;
  for (let k = obj.members.length - 1; k >= 0; k--) if (obj.members[k]!.name === name) return obj.members[k];
  return undefined;
}

/** How a JSON value looks, for "found …" in messages. */
export function describeJson(v: JsonValue): string {
  switch (v.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return `the string "${v.value}"`;
    case 'number':
      return `the number ${v.raw}`;
    case 'bool':
      return String(v.value);
    case 'null':
      return 'null';
  }
}
