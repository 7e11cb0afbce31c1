/**
 * The positioned JSON reader (src/hf/json.ts) against JSON.parse, the independent reference for
 * what strict JSON means; and its positions against the text.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/facts/limits.js';
import { member, parseJson, type JsonValue } from '../../src/hf/json.js';
import { SourceFile } from '../../src/source.js';

const read = (text: string) => parseJson(new SourceFile('c.json', text));

/** The plain value, as JSON.parse gives it (the last of duplicate members wins in both). */
function plain(v: JsonValue): unknown {
  switch (v.kind) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const m of v.members) o[m.name] = plain(m.value);
      return o;
    }
    case 'array':
      return v.items.map(plain);
    case 'null':
      return null;
    default:
      return v.value;
  }
}

describe('strict JSON with positions', () => {
  const good = [
    '{}',
    '[]',
    ' {"a": 1, "b": [true, false, null], "c": {"d": -0.5e-3}} ',
    '"\\u00e9\\n\\t\\"\\\\\\/"',
    '{"a": 1, "a": 2}',
    '1e400',
    '[1, 2.5, -3, 0, 1E+2]',
    '{"model_type": "llama", "rope_scaling": null}',
  ];
  for (const text of good)
    it(`reads ${text} as JSON.parse does`, () => {
      const r = read(text);
      expect(r.ok).toBe(true);
      expect(plain((r as { value: JsonValue }).value)).toEqual(JSON.parse(text));
    });

  const bad = [
    '',
    '{',
    '{"a": 1,}',
    '[1,]',
    "{'a': 1}",
    '{"a" 1}',
    'NaN',
    '{"a": Infinity}',
    '-Infinity',
    '01',
    '1.',
    '"a\nb"',
    '{"a": 1} x',
    '"\\x"',
    'tru',
    '/* c */ {}',
  ];
  for (const text of bad)
    it(`refuses ${JSON.stringify(text)}, as JSON.parse does, with a place inside the text`, () => {
      expect(() => JSON.parse(text)).toThrow();
      const r = read(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.span.start).toBeGreaterThanOrEqual(0);
        expect(r.span.end).toBeLessThanOrEqual(text.length);
      }
    });

  it('points at the offending character: a trailing comma before }', () => {
    const r = read('{\n  "a": 1,\n}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.span.line, r.span.column, r.message]).toEqual([3, 1, "expected a member name in double quotes, found '}'"]);
  });

  it('keeps the place of every member name and value', () => {
    const text = '{\n  "hidden_size": 4096,\n  "rope_scaling": {"factor": 8.0}\n}';
    const r = read(text);
    if (!r.ok) throw new Error(r.message);
    const h = member(r.value, 'hidden_size')!;
    expect(text.slice(h.nameSpan.start, h.nameSpan.end)).toBe('"hidden_size"');
    expect([h.value.span.line, h.value.span.column]).toEqual([2, 18]);
    const f = member(member(r.value, 'rope_scaling')!.value, 'factor')!;
    expect(f.value).toMatchObject({ kind: 'number', value: 8, raw: '8.0' });
  });

  it(`nesting past ${LIMITS.nesting} levels is an error, and 100,000 levels do not overflow the stack`, () => {
    expect(read('['.repeat(LIMITS.nesting) + ']'.repeat(LIMITS.nesting)).ok).toBe(true);
    const deep = read('['.repeat(100_000) + ']'.repeat(100_000));
    expect(deep.ok).toBe(false);
    if (!deep.ok) expect(deep.message).toContain(`deeper than ${LIMITS.nesting}`);
  });
});
