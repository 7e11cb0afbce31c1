import { describe, expect, it } from 'vitest';
import { tokenize } from '../../grammar/index.js';
import { oneError, valueOf, where } from './helpers.js';

const types = (text: string) => tokenize(text).tokens.map((t) => `${t.type}:${t.text}`);

describe('numbers', () => {
  it.each([
    ['4096', 4096],
    ['1_000_000', 1_000_000],
    ['0.9', 0.9],
    ['1.5', 1.5],
    ['1e-4', 1e-4],
    ['2E+3', 2000],
    ['1e4', 10000],
    ['0', 0],
  ])('%s is the number %d', (text, n) => {
    const { value, diagnostics } = valueOf(text);
    expect(diagnostics).toEqual([]);
    expect(value).toMatchObject({ kind: 'number', value: n, raw: text });
    expect(value).not.toHaveProperty('unit');
  });

  it('negative numbers keep the sign in value and raw, and the span starts at the minus', () => {
    const { value, diagnostics } = valueOf('-3');
    expect(diagnostics).toEqual([]);
    expect(value).toMatchObject({ kind: 'number', value: -3, raw: '-3', span: { column: 15, endColumn: 17 } });
    expect(valueOf('-1.5e2').value).toMatchObject({ value: -150 });
    expect(valueOf('- 2 GiB').value).toMatchObject({ value: -2, unit: { text: 'GiB' } });
  });

  it.each([
    ['1__0', 15, 19],
    ['1.', 15, 17],
    ['1_', 15, 17],
    ['1_.5', 15, 19],
    ['1e999', 15, 20],
  ])('%s is an invalid number (PP1004) with its span', (text, column, endColumn) => {
    const { diagnostics } = valueOf(text);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      code: 'PP1004',
      message: `invalid number '${text}'`,
      span: { line: 1, column, endLine: 1, endColumn },
    });
    expect(diagnostics[0]!.help).toBeTruthy();
  });

  it('a range does not eat its dots: 0..15', () => {
    expect(types('0..15')).toEqual(['NumberLiteral:0', 'DotDot:..', 'NumberLiteral:15']);
    expect(types('0.5..1')).toEqual(['NumberLiteral:0.5', 'DotDot:..', 'NumberLiteral:1']);
    expect(valueOf('16..31').value).toMatchObject({ kind: 'range', from: { value: 16 }, to: { value: 31 } });
  });
});

describe('units', () => {
  it.each([
    ['5 ms', 5, 'ms'],
    ['5ms', 5, 'ms'],
    ['24 GiB', 24, 'GiB'],
    ['24GiB', 24, 'GiB'],
    ['10KB', 10, 'KB'],
    ['256MiB', 256, 'MiB'],
    ['1.5 s', 1.5, 's'],
    ['10%', 10, '%'],
    ['10 %', 10, '%'],
    ['1e4B', 1e4, 'B'],
    ['24 Gb', 24, 'Gb'],
    ['3 parsecs', 3, 'parsecs'],
  ])('%s is %d with unit %s (any identifier is kept as the unit)', (text, n, unit) => {
    const { value, diagnostics } = valueOf(text);
    expect(diagnostics).toEqual([]);
    expect(value).toMatchObject({ kind: 'number', value: n, unit: { text: unit } });
  });

  it('the unit span is the unit, the value span covers number and unit', () => {
    const { value } = valueOf('24  GiB');
    expect(value).toMatchObject({ span: { column: 15, endColumn: 22 }, unit: { span: { column: 19, endColumn: 22 } } });
  });

  it('a word followed by = or { is the next key, not a unit', () => {
    const { value } = valueOf('2 pipeline = 2');
    expect(value).toMatchObject({ kind: 'number', value: 2 });
    expect(value).not.toHaveProperty('unit');
    const { value: v2 } = valueOf('2 batch { seq = 1 }');
    expect(v2).not.toHaveProperty('unit');
  });

  it('a unit may be followed by another entry: 5 ms batch { … }', () => {
    const { value, diagnostics } = valueOf('5 ms batch { seq = 1 }');
    expect(diagnostics).toEqual([]);
    expect(value).toMatchObject({ unit: { text: 'ms' } });
  });
});

describe('identifiers', () => {
  it('1f1b is one identifier; 5ms, 24GiB, 10KB, 256MiB, 4096 are numbers', () => {
    expect(types('1f1b')).toEqual(['DigitIdent:1f1b']);
    expect(types('5ms')).toEqual(['NumberLiteral:5', 'Identifier:ms']);
    expect(types('24GiB')).toEqual(['NumberLiteral:24', 'Identifier:GiB']);
    expect(types('10KB')).toEqual(['NumberLiteral:10', 'Identifier:KB']);
    expect(types('256MiB')).toEqual(['NumberLiteral:256', 'Identifier:MiB']);
    expect(types('4096')).toEqual(['NumberLiteral:4096']);
    expect(types('1e-4')).toEqual(['NumberLiteral:1e-4']);
    expect(types('2x4 3d_2')).toEqual(['DigitIdent:2x4', 'DigitIdent:3d_2']);
    expect(valueOf('1f1b').value).toMatchObject({ kind: 'ident', name: '1f1b', span: { column: 15, endColumn: 19 } });
    expect(valueOf('[gpipe, 1f1b]').value).toMatchObject({ kind: 'list', items: [{ name: 'gpipe' }, { name: '1f1b' }] });
  });

  it('words: letters, digits and _, not starting with a digit', () => {
    expect(types('llama3_8b _x H100_SXM_80GB bf16')).toEqual([
      'Identifier:llama3_8b',
      'Identifier:_x',
      'Identifier:H100_SXM_80GB',
      'Identifier:bf16',
    ]);
  });
});

describe('strings', () => {
  it('unescapes \\" \\\\ \\n \\t', () => {
    const { value, diagnostics } = valueOf('"a \\"b\\" c\\\\d\\ne\\tf"');
    expect(diagnostics).toEqual([]);
    expect(value).toMatchObject({ kind: 'string', value: 'a "b" c\\d\ne\tf' });
  });

  it('an unknown escape is a PP1002 at the escape', () => {
    const { diagnostics } = valueOf('"a\\qb"');
    expect(where(diagnostics)).toEqual(['PP1002 1:17']);
    expect(diagnostics[0]!.message).toBe("unknown escape '\\q' in a string");
  });

  it('a newline before the closing quote: PP1003 unterminated string, and the parse goes on', () => {
    const r = valueOf('"RTX 4090\n  w = 1');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({
      code: 'PP1003',
      message: 'unterminated string',
      span: { line: 1, column: 15, endLine: 1, endColumn: 24 },
    });
    expect(r.value).toMatchObject({ kind: 'string', value: 'RTX 4090' });
  });

  it('the end of the file before the closing quote: PP1003, and no cascade at the end', () => {
    const { tokens, diagnostics } = tokenize('model m { name = "abc');
    expect(tokens.at(-1)).toMatchObject({ type: 'UnterminatedString', text: '"abc' });
    expect(where(diagnostics)).toEqual(['PP1003 1:18']);
  });

  it('single quotes: one PP1001 at the quote, the text still parsed as a string', () => {
    const { value, diagnostics } = valueOf("'RTX'");
    expect(where(diagnostics)).toEqual(['PP1001 1:15']);
    expect(diagnostics[0]!.help).toBe('strings use double quotes: "RTX"');
    expect(value).toMatchObject({ kind: 'string', value: 'RTX' });
  });
});

describe('comments and separators', () => {
  it('line and block comments are skipped, block comments may span lines', () => {
    expect(types('a // x = 1\n/* y\n = 2 */ b')).toEqual(['Identifier:a', 'Identifier:b']);
  });

  it('an unclosed block comment: PP1003 at the /*', () => {
    const { diagnostics } = tokenize('a\n  /* never\nclosed');
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'PP1003', message: 'unterminated comment', span: expect.objectContaining({ line: 2, column: 3 }) }),
    ]);
  });

  it('separators: whitespace, newlines, CRLF, tabs and ;', () => {
    expect(types('a\tb\r\nc;d')).toEqual(['Identifier:a', 'Identifier:b', 'Identifier:c', 'Semicolon:;', 'Identifier:d']);
  });
});

describe('unexpected characters', () => {
  it('each is a PP1001 with the character and its span, and lexing goes on', () => {
    const { tokens, diagnostics } = tokenize('a @ b\n  $c');
    expect(tokens.map((t) => t.text)).toEqual(['a', 'b', 'c']);
    expect(diagnostics.map((d) => [d.code, d.message, d.span?.line, d.span?.column, d.span?.endColumn])).toEqual([
      ['PP1001', "unexpected character '@'", 1, 3, 4],
      ['PP1001', "unexpected character '$'", 2, 3, 4],
    ]);
  });

  it('a non-ASCII character (even outside the BMP) is one PP1001', () => {
    const { diagnostics } = tokenize('café 😀');
    expect(diagnostics.map((d) => d.message)).toEqual(["unexpected character 'é'", "unexpected character '😀'"]);
    expect(diagnostics[1]!.span).toMatchObject({ start: 5, end: 7 });
  });

  it('a : between key and value is reported once, with help, and the entry is kept', () => {
    const r = oneError('model m {\n  tensor = 2\n  pipeline: 2\n}');
    expect(r.diagnostic).toMatchObject({
      code: 'PP1001',
      message: "unexpected character ':'",
      help: "use '=' between a key and its value",
      span: { line: 3, column: 11 },
    });
    expect(r.body).toEqual({ tensor: { n: 2, raw: '2' }, pipeline: { n: 2, raw: '2' } });
  });
});
