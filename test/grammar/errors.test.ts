import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { oneError, shape, where } from './helpers.js';

/** Parse and return the diagnostics as `CODE line:col message`. */
function errs(text: string): string[] {
  return parse(text, 'e.plan').diagnostics.map((d) => `${d.code} ${d.span?.line}:${d.span?.column} ${d.message}`);
}

const names = (text: string) => parse(text, 'e.plan').ast.declarations.map((d) => d.name);

describe('syntax errors (PP1002): one per mistake, at the right token, with a human message', () => {
  it('a missing = after a key', () => {
    const r = oneError('plan p {\n  tensor 2\n  data = 2\n}');
    expect(r.diagnostic).toMatchObject({
      code: 'PP1002',
      severity: 'error',
      message: "expected '=' between key 'tensor' and its value",
      help: "write 'tensor = 2'",
      span: { line: 2, column: 10, endLine: 2, endColumn: 11 },
    });
    expect(r.body).toEqual({ tensor: { n: 2, raw: '2' }, data: { n: 2, raw: '2' } });
  });

  it('a missing value', () => {
    expect(errs('model m {\n  layers =\n}')).toEqual(["PP1002 3:1 expected a value after '=', found '}'"]);
    expect(parse('model m { layers = }', 'e.plan').diagnostics[0]!.help).toMatch(/^give 'layers' a value/);
  });

  it("a missing '}' at the end of the file points just after the last token, and at the '{'", () => {
    const r = oneError('plan x {\n  tensor = 2\n');
    expect(r.diagnostic).toMatchObject({
      message: "expected '}' to close the block of plan 'x'",
      span: { line: 2, column: 13, endLine: 2, endColumn: 13 },
      related: [{ message: "the block of plan 'x' opens here", span: { line: 1, column: 8 } }],
    });
    // what was parsed is kept
    expect(r.body).toEqual({ tensor: { n: 2, raw: '2' } });
  });

  it("a missing '}' of a nested block names the innermost block (one error at one place)", () => {
    expect(errs('plan x {\n  batch { seq = 1\n')).toEqual(["PP1002 2:18 expected '}' to close the block of 'batch'"]);
    expect(errs('plan x {\n  batch { seq = 1\n}')).toEqual(["PP1002 3:2 expected '}' to close the block of plan 'x'"]);
  });

  it("a missing '}' before the next declaration: reported there, and the next declaration is parsed", () => {
    const text = 'model a {\n  layers = 32\n\nplan b {\n  tensor = 2\n}\n';
    expect(errs(text)).toEqual(["PP1002 4:1 expected '}' to close the block of model 'a' before 'plan'"]);
    expect(names(text)).toEqual(['a', 'b']);
    // even when the last value has a unit
    const t2 = 'model a {\n  w = 5 ms\nplan b { tensor = 2 }';
    expect(errs(t2)).toEqual(["PP1002 3:1 expected '}' to close the block of model 'a' before 'plan'"]);
    expect(shape(parse(t2, 'e.plan').ast.declarations[0]!.body)).toEqual({ w: { n: 5, raw: '5', unit: 'ms' } });
  });

  it("an extra '}'", () => {
    const text = 'model a { layers = 1 }\n}\nplan b { }';
    expect(errs(text)).toEqual(["PP1002 2:1 unexpected '}': no block is open here"]);
    expect(names(text)).toEqual(['a', 'b']);
  });

  it('a stray token in a block', () => {
    expect(errs('model a { layers = 1 ] hidden = 2 }')).toEqual(["PP1002 1:22 expected a key or '}' in the block of model 'a', found ']'"]);
    expect(shape(parse('model a { layers = 1 ] hidden = 2 }', 'e.plan').ast.declarations[0]!.body)).toEqual({
      layers: { n: 1, raw: '1' },
      hidden: { n: 2, raw: '2' },
    });
  });

  it('lists: missing comma, missing ] and an extra comma', () => {
    expect(errs('plan p { stages = [0..15 16..31] }')).toEqual(["PP1002 1:26 expected ',' or ']' in the list of 'stages', found '16'"]);
    expect(errs('plan p { stages = [0..15, 16..31 }')).toEqual(["PP1002 1:34 expected ']' to close the list of 'stages', found '}'"]);
    expect(errs('plan p { stages = [0..15,, 16..31] }')).toEqual(["PP1002 1:26 expected a value in the list, found ','"]);
    expect(errs('plan p { stages = [0..15, 16..31, ] }')).toEqual([]);
    expect(errs('plan p { stages = [] }')).toEqual([]);
  });

  it('numbers and ranges', () => {
    expect(errs('plan p { a = - x }')).toEqual(["PP1002 1:16 expected a number after '-', found 'x'"]);
    expect(errs('plan p { a = 0.. }')).toEqual(["PP1002 1:18 expected a number after '..', found '}'"]);
  });

  it('declarations', () => {
    expect(errs('model { layers = 1 }')).toEqual(["PP1002 1:7 expected a name after 'model', found '{'"]);
    expect(errs('model m layers = 1 }')).toEqual(["PP1002 1:9 expected '{' after model 'm', found 'layers'"]);
    expect(errs('model m')).toEqual(["PP1002 1:8 expected '{' after model 'm', found the end of the file"]);
    expect(errs('model "m" { }')).toEqual(["PP1002 1:7 expected a name after 'model', found a string"]);
    expect(errs('layers = 32')).toEqual(["PP1002 1:8 unexpected '=' after 'layers': 'key = value' entries belong inside a block"]);
    expect(errs('{ }')).toEqual(["PP1002 1:1 expected a declaration (model, cluster, plan or import), found '{'"]);
  });

  it('imports: the keyword is checked in to-ast (a string after another word is PP1002)', () => {
    expect(errs('import "a.plan"')).toEqual([]);
    expect(errs('improt "a.plan"')).toEqual(["PP1002 1:1 expected 'import' before a path, found 'improt'"]);
    expect(parse('improt "a.plan"', 'e.plan').diagnostics[0]!.help).toBe("did you mean 'import'?");
    expect(errs('import a')).toEqual(["PP1002 1:8 expected a path string after 'import', found 'a'"]);
    expect(errs('import')).toEqual(["PP1002 1:7 expected a path string after 'import', found the end of the file"]);
    const r = parse('import "a.plan" { }\nimport "b.plan"', 'e.plan');
    expect(where(r.diagnostics)).toEqual(['PP1002 1:17']);
    expect(r.ast.imports.map((i) => i.path)).toEqual(['a.plan', 'b.plan']);
  });
});

describe('recovery', () => {
  it('two errors in one file: two diagnostics, and the later good declaration is in the AST', () => {
    const text = [
      'model m {', //                       1
      '  layers 32', //                     2  missing '='
      '  hidden = 4096', //                 3
      '}', //                               4
      'plan p {', //                        5
      '  stages = [0..15 16..31]', //       6  missing ','
      '  tensor = 2', //                    7
      '}', //                               8
      'cluster c { gpus = 8 }', //          9  good
    ].join('\n');
    const r = parse(text, 'r.plan');
    expect(where(r.diagnostics)).toEqual(['PP1002 2:10', 'PP1002 6:19']);
    expect(r.ast.declarations.map((d) => d.name)).toEqual(['m', 'p', 'c']);
    // The entry with the missing '=' is kept (the error says what to write).
    expect(shape(r.ast.declarations[0]!.body)).toEqual({ layers: { n: 32, raw: '32' }, hidden: { n: 4096, raw: '4096' } });
    expect(shape(r.ast.declarations[1]!.body)).toEqual({ tensor: { n: 2, raw: '2' } });
    expect(shape(r.ast.declarations[2]!.body)).toEqual({ gpus: { n: 8, raw: '8' } });
  });

  it('lexical and syntax errors together, sorted by position', () => {
    const r = parse('model m { a = 1__0 }\nplan p { b = @ }\ncluster c { x = "open\n y = 2 }\nplan q { }', 'r.plan');
    expect(where(r.diagnostics)).toEqual(['PP1004 1:15', 'PP1001 2:14', 'PP1003 3:17']);
    expect(r.ast.declarations.map((d) => d.name)).toEqual(['m', 'p', 'c', 'q']);
  });

  it('an unterminated comment swallows the rest, without a cascade at the end of the file', () => {
    const r = parse('model m { a = 1 /* oops\n b = 2 }\nplan p { }', 'r.plan');
    expect(where(r.diagnostics)).toEqual(['PP1003 1:17']);
    expect(r.ast.declarations.map((d) => d.name)).toEqual(['m']);
  });

  it('a list with an item lost to an error is left out (no partial list reaches the checker)', () => {
    for (const text of ['plan p { stages = [0..15, 16..] tensor = 2 }', 'plan p { stages = [0..15 16..31] tensor = 2 }']) {
      expect(oneError(text).body).toEqual({ tensor: { n: 2, raw: '2' } });
    }
  });

  it('junk between declarations is one error, and both declarations are kept', () => {
    const r = parse('model x { }\ngarbage 5\nplan y { }', 'r.plan');
    expect(where(r.diagnostics)).toEqual(['PP1002 2:9']);
    expect(r.ast.declarations.map((d) => d.name)).toEqual(['x', 'y']);
  });

  it('a bad character before the error token is reported once (not also as a syntax error)', () => {
    expect(errs('model m { a = @ }')).toEqual(["PP1001 1:15 unexpected character '@'"]);
  });
});
