import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import type { Entry, NumberValue } from '../../src/ast.js';
import { EXAMPLE } from './example.js';
import { shape } from './helpers.js';

const pos = (s: { line: number; column: number; endLine: number; endColumn: number }) =>
  `${s.line}:${s.column}-${s.endLine}:${s.endColumn}`;

describe('the example file', () => {
  const { ast, diagnostics } = parse(EXAMPLE, 'examples/serve.plan');
  const byName = (name: string) => ast.declarations.find((d) => d.name === name)!;
  const entry = (decl: string, key: string): Entry => byName(decl).body.entries.find((e) => e.key === key)!;

  it('parses with no diagnostics', () => {
    expect(diagnostics).toEqual([]);
  });

  it('has the import and the three declarations, in order', () => {
    expect(ast.file).toBe('examples/serve.plan');
    expect(ast.imports.map((i) => i.path)).toEqual(['models/llama.plan']);
    expect(ast.declarations.map((d) => [d.keyword, d.name])).toEqual([
      ['model', 'llama3_8b'],
      ['cluster', 'node'],
      ['plan', 'serve_8b'],
    ]);
  });

  it('builds the exact entries, values, units, ranges and nested blocks', () => {
    expect(shape(byName('llama3_8b').body)).toEqual({
      arch: { ident: 'llama' },
      layers: { n: 32, raw: '32' },
      kv_heads: { n: 8, raw: '8' },
      dtype: { ident: 'bf16' },
      tied_embeddings: { ident: 'false' },
    });
    expect(shape(byName('node').body)).toEqual({
      gpu: { ident: 'H100_SXM_80GB' },
      gpus: { n: 8, raw: '8' },
    });
    expect(shape(byName('serve_8b').body)).toEqual({
      model: { ident: 'llama3_8b' },
      cluster: { ident: 'node' },
      mode: { ident: 'serve' },
      tensor: { n: 2, raw: '2' },
      pipeline: { n: 2, raw: '2' },
      data: { n: 2, raw: '2' },
      stages: [{ range: [0, 15] }, { range: [16, 31] }],
      batch: {
        max_batch: { n: 32, raw: '32' },
        max_wait: { n: 5, raw: '5', unit: 'ms' },
        seq: { n: 4096, raw: '4096' },
        queue: { n: 1024, raw: '1024' },
      },
      reserve: { n: 10, raw: '10', unit: '%' },
      workspace: { n: 256, raw: '256', unit: 'MiB' },
    });
    // entries keep their order
    expect(byName('serve_8b').body.entries.map((e) => e.key)).toEqual([
      'model',
      'cluster',
      'mode',
      'tensor',
      'pipeline',
      'data',
      'stages',
      'batch',
      'reserve',
      'workspace',
    ]);
  });

  it('puts exact spans on declarations, keys and values', () => {
    const imp = ast.imports[0]!;
    expect(pos(imp.span)).toBe('2:1-2:27');
    expect(pos(imp.pathSpan)).toBe('2:8-2:27');

    const model = byName('llama3_8b');
    expect(pos(model.keywordSpan)).toBe('4:1-4:6');
    expect(pos(model.nameSpan)).toBe('4:7-4:16');
    expect(pos(model.body.span)).toBe('4:17-9:2');
    expect(pos(model.span)).toBe('4:1-9:2');

    const dtype = entry('llama3_8b', 'dtype');
    expect(pos(dtype.keySpan)).toBe('7:18-7:23');
    expect(pos(dtype.value.span)).toBe('7:26-7:30');
    expect(pos(dtype.span)).toBe('7:18-7:30');

    const plan = byName('serve_8b');
    expect(pos(plan.span)).toBe('14:1-21:2');

    const stages = entry('serve_8b', 'stages').value;
    expect(pos(stages.span)).toBe('17:12-17:27');
    if (stages.kind !== 'list') throw new Error('stages is not a list');
    const [first, second] = stages.items;
    expect(first?.kind).toBe('range');
    if (first?.kind !== 'range' || second?.kind !== 'range') throw new Error('not ranges');
    expect(pos(first.span)).toBe('17:13-17:18');
    expect(pos(first.from.span)).toBe('17:13-17:14');
    expect(pos(first.to.span)).toBe('17:16-17:18');
    expect(pos(second.span)).toBe('17:20-17:26');

    const batch = entry('serve_8b', 'batch');
    expect(pos(batch.keySpan)).toBe('18:3-18:8');
    expect(batch.value.kind).toBe('block');
    expect(pos(batch.value.span)).toBe('18:9-18:70');
    expect(pos(batch.span)).toBe('18:3-18:70');
    if (batch.value.kind !== 'block') throw new Error('batch is not a block');
    const maxWait = batch.value.entries.find((e) => e.key === 'max_wait')!.value as NumberValue;
    expect(pos(maxWait.span)).toBe('18:38-18:42');
    expect(pos(maxWait.unit!.span)).toBe('18:40-18:42');

    const reserve = entry('serve_8b', 'reserve').value as NumberValue;
    expect(pos(reserve.span)).toBe('19:13-19:16');
    expect(pos(reserve.unit!.span)).toBe('19:15-19:16');

    const ws = entry('serve_8b', 'workspace').value as NumberValue;
    expect(pos(ws.span)).toBe('20:15-20:21');
    expect(pos(ws.unit!.span)).toBe('20:18-20:21');
  });

  it('spans carry the file and offsets that slice the source text', () => {
    const ws = entry('serve_8b', 'workspace');
    expect(ws.span.file).toBe('examples/serve.plan');
    expect(EXAMPLE.slice(ws.span.start, ws.span.end)).toBe('workspace = 256MiB');
    expect(EXAMPLE.slice(ws.keySpan.start, ws.keySpan.end)).toBe('workspace');
    const batch = entry('serve_8b', 'batch');
    expect(EXAMPLE.slice(batch.value.span.start, batch.value.span.end)).toBe(
      '{ max_batch = 32  max_wait = 5 ms  seq = 4096  queue = 1024 }',
    );
  });

  it('parses the nested gpu block form of the comment', () => {
    const r = parse('cluster c {\n  gpu { name = "RTX 4090"  memory = 24 GiB }\n  gpus = 1\n}\n', 'c.plan');
    expect(r.diagnostics).toEqual([]);
    expect(shape(r.ast.declarations[0]!.body)).toEqual({
      gpu: { name: { str: 'RTX 4090' }, memory: { n: 24, raw: '24', unit: 'GiB' } },
      gpus: { n: 1, raw: '1' },
    });
  });
});

describe('degenerate files', () => {
  it('an empty file is an empty AST', () => {
    expect(parse('', 'e.plan')).toEqual({ ast: { file: 'e.plan', imports: [], declarations: [] }, diagnostics: [] });
  });

  it('a file of only comments and whitespace is an empty AST', () => {
    const r = parse('// one\n/* two\n   lines */\r\n\t  // three', 'c.plan');
    expect(r.diagnostics).toEqual([]);
    expect(r.ast.declarations).toEqual([]);
    expect(r.ast.imports).toEqual([]);
  });

  it('accepts CRLF line ends, tabs and ; separators, with the same positions', () => {
    const r = parse('model m {\r\n\ta = 1;;b = 2 ;\r\n}\r\n', 'w.plan');
    expect(r.diagnostics).toEqual([]);
    const [a, b] = r.ast.declarations[0]!.body.entries;
    expect(shape(r.ast.declarations[0]!.body)).toEqual({ a: { n: 1, raw: '1' }, b: { n: 2, raw: '2' } });
    expect(pos(a!.span)).toBe('2:2-2:7');
    expect(pos(b!.span)).toBe('2:9-2:14');
  });

  it('keywords are not reserved: model, cluster and plan are keys inside a plan', () => {
    const r = parse('plan model { model = model cluster = plan plan = cluster }', 'k.plan');
    expect(r.diagnostics).toEqual([]);
    expect(r.ast.declarations[0]!.name).toBe('model');
    expect(shape(r.ast.declarations[0]!.body)).toEqual({
      model: { ident: 'model' },
      cluster: { ident: 'plan' },
      plan: { ident: 'cluster' },
    });
  });

  it('does not validate the declaration keyword (the checker does)', () => {
    const r = parse('modle m { a = 1 }', 'k.plan');
    expect(r.diagnostics).toEqual([]);
    expect(r.ast.declarations[0]!.keyword).toBe('modle');
  });
});
