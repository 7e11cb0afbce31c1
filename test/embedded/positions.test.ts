/**
 * Diagnostics of embedded plans point into the TypeScript file: exactly (line and column)
 * when the source is read without running it, for a value in a template and in a builder's
 * object literal alike; at run time, exactly inside templates (found from the call site in
 * the stack) and at the call for builder options (objects carry no positions).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeProject } from '../../src/analyze.js';
import { renderText } from '../../src/render/text.js';
import { analyzePlans, cluster, model, plan } from '../../src/index.js';
import { at, project, where } from './helpers.js';

const SOURCE = `import { cluster, model, plan } from 'parplan';

const llama = model('llama3_8b', {
  arch: 'llama', layers: 32, hidden: 4096, heads: 32, kv_heads: 8,
  ffn: 14336, vocab: 128256, max_seq: 8192, dtype: 'bf17',
});
const node = cluster\`node { gpu = H100_SXM_80GB  gpus = 8 }\`;
export const serve = plan\`serve {
  model = \${llama}  cluster = \${node}  mode = serve
  batch { max_batch = 32  max_wait = 5 mz  seq = 4096 }
}\`;
export const train = plan('train', {
  model: llama, cluster: node, mode: 'train',
  tensor: 2, pipeline: 2, data: 2, schedule: '1f1d',
  batch: { global: 256, seq: 4096 },
});
`;

const files = project({ 'pos.ts': SOURCE });
afterAll(files.cleanup);
const file = files.path('pos.ts');

describe('positions from the TypeScript source (parplan check file.ts)', () => {
  it('a bad enum in a builder object, a bad unit in a template, a typo in a builder string: each at its character', async () => {
    const a = await analyzeProject([file]);
    expect(where(a)).toEqual([
      `PP2009 ${file}:${at(SOURCE, "'bf17'", 1)}`,
      `PP2015 ${file}:${at(SOURCE, '5 mz', 2)}`,
      `PP2009 ${file}:${at(SOURCE, "'1f1d'", 1)}`,
    ]);
    // The literal positions, for a reader of this test: line 5, 10 and 14.
    expect(where(a).map((w) => w.slice(w.lastIndexOf('pos.ts:') + 7))).toEqual(['5:53', '10:40', '14:47']);
  });

  it('underlines exactly the bad text in the TypeScript line', async () => {
    const text = renderText(await analyzeProject([file]));
    expect(text).toContain(["  ffn: 14336, vocab: 128256, max_seq: 8192, dtype: 'bf17',", `  |${' '.repeat(53)}^^^^`].join('\n'));
    expect(text).toContain(['  batch { max_batch = 32  max_wait = 5 mz  seq = 4096 }', `   |${' '.repeat(40)}^^`].join('\n'));
    expect(text).toContain("error[PP2009]: 'bf17' is not a valid dtype");
    expect(text).toContain("help: did you mean 'bf16'?");
  });

  it('spans of a declaration: the keyword at the builder, the name in the string', async () => {
    const good = SOURCE.replace("'bf17'", "'bf16'").replace('5 mz', '5 ms').replace("'1f1d'", "'1f1b'");
    const p = project({ 'good.ts': good });
    try {
      const a = await analyzeProject([p.path('good.ts')]);
      expect(a.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      const byName = new Map(a.results.map((r) => [r.plan.name, r.plan]));
      expect(`${byName.get('train')!.span.line}:${byName.get('train')!.span.column}`).toBe(at(good, "plan('train'", 6));
      expect(`${byName.get('serve')!.span.line}:${byName.get('serve')!.span.column}`).toBe(at(good, 'serve {'));
      expect(byName.get('train')!.spans['batch.global']).toMatchObject({ file: p.path('good.ts'), line: 15, column: 20, endColumn: 23 });
    } finally {
      p.cleanup();
    }
  });
});

const HERE = fileURLToPath(import.meta.url);
const THIS = readFileSync(HERE, 'utf8');
const SHOWN = relative(process.cwd(), HERE);

describe('positions at run time (analyzePlans)', () => {
  const llama = model('llama3_8b', {
    arch: 'llama',
    layers: 32,
    hidden: 4096,
    heads: 32,
    kv_heads: 8,
    ffn: 14336,
    vocab: 128256,
    max_seq: 8192,
  });
  const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 });

  it('inside a template: the exact character, found from the call site', () => {
    const bad = plan`bad {
      model = ${llama}  cluster = ${node}  mode = serve
      batch { max_batch = 32  max_wait = 7 mz  seq = 4096 }
    }`;
    const a = analyzePlans([bad]);
    expect(where(a).filter((w) => w.startsWith('PP2015'))).toEqual([`PP2015 ${SHOWN}:${at(THIS, '7 mz  seq', 2)}`]);
    expect(a.sources.get(SHOWN)?.text).toBe(THIS);
  });

  it('builder options: at the call', () => {
    const wrong = plan('wrong', { model: llama, cluster: node, mode: 'serve', tensor: 3, batch: { max_batch: 32, seq: 4096 } });
    const a = analyzePlans([wrong]);
    const here = at(THIS, "plan('wrong'");
    expect(where(a).filter((w) => w.startsWith('PP3001'))).toEqual([`PP3001 ${SHOWN}:${here}`]);
    // The model it refers to is declared at its own call.
    const pp3001 = a.diagnostics.find((d) => d.code === 'PP3001')!;
    expect(pp3001.related?.map((r) => `${r.span.line}:${r.span.column}`)).toEqual([at(THIS, "model('llama3_8b'", 0, 2)]);
  });
});
