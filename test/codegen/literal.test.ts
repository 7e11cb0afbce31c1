/** Literal printing: what is printed evaluates back to the value, within the print width, with single quotes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRINT_WIDTH, key, printLiteral, printLiteralType, quote } from '../../src/codegen/literal.js';

const evaluate = (text: string): unknown => new Function(`return (${text});`)();

describe('quote', () => {
  it.each([
    ['plain', "'plain'"],
    ["it's", `"it's"`],
    ['say "hi"', `'say "hi"'`],
    ['a\\b', "'a\\\\b'"],
    ['two\nlines\r\ttab', "'two\\nlines\\r\\ttab'"],
    ['\u0001\u2028', "'\\u0001\\u2028'"],
  ])('%j → %s', (text, want) => {
    expect(quote(text)).toBe(want);
    expect(evaluate(quote(text))).toBe(text);
  });

  it('any string evaluates back to itself, on one line', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const q = quote(s);
        expect(q).not.toMatch(/[\n\r\u2028\u2029]/);
        expect(evaluate(q)).toBe(s);
      }),
    );
  });
});

describe('printLiteral', () => {
  it('keys: identifiers bare, others quoted', () => {
    expect(key('stage0')).toBe('stage0');
    expect(key('layer.forward')).toBe("'layer.forward'");
    expect(printLiteral({ 'layer.decode': [], b: {}, c: null })).toBe("{ 'layer.decode': [], b: {}, c: null }");
    // A JSON key __proto__ is an own property; bare or quoted in a literal it would set the prototype.
    const proto = JSON.parse('{"__proto__": {"a": 1}}') as unknown;
    expect(key('__proto__')).toBe("['__proto__']");
    expect(evaluate(printLiteral(proto))).toEqual(proto);
    expect(printLiteralType({ plan: { name: 'a', mode: 'serve' } })).toBe("{ plan: { name: 'a'; mode: 'serve' } }");
    expect(printLiteralType({ a: 'x'.repeat(50), b: 'y'.repeat(50) })).toBe(`{\n  a: '${'x'.repeat(50)}';\n  b: '${'y'.repeat(50)}';\n}`);
  });

  it('a value that fits stays on one line; a longer one breaks one element per line, numbers filling lines', () => {
    expect(printLiteral({ a: [1, 2], b: 'x' })).toBe("{ a: [1, 2], b: 'x' }");
    const long = { name: 'x'.repeat(60), shape: [4096, 4096], owners: Array.from({ length: 40 }, (_, i) => i) };
    const text = printLiteral(long);
    expect(text.split('\n')).toEqual([
      '{',
      `  name: '${'x'.repeat(60)}',`,
      '  shape: [4096, 4096],',
      '  owners: [',
      '    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,',
      '    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39,',
      '  ],',
      '}',
    ]);
  });

  it('any JSON value evaluates back to itself, and lines stay within the width unless one token is longer', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const json = JSON.parse(JSON.stringify(v)) as unknown;
        const text = printLiteral(json);
        expect(evaluate(text)).toEqual(json);
        for (const line of text.split('\n')) {
          // Only a string longer than the line may overflow it: alone, after its key.
          if (line.length > PRINT_WIDTH) expect(line).toMatch(/^ *((\w+|'.*'|".*"): )?('.*'|".*"),?$/);
        }
      }),
    );
  });
});
