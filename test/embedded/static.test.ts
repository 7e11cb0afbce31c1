/**
 * Reading plans from TypeScript without running it: what the static reader can evaluate
 * (literals, `as const` objects, spreads, constants here and imported, re-exports,
 * destructuring, arithmetic), how it recognizes parplan's builders, and the warning it
 * gives, naming the expression, for what it cannot evaluate.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeProject } from '../../src/analyze.js';
import { MODEL, READER_FORMS } from '../fuzz/ts-corpus.js';
import { at, project, where } from './helpers.js';

const files = project({
  ...READER_FORMS,
  'imported-model.ts': `
import { plan, cluster } from 'parplan';
import { llama } from './models.js';
export const chat = plan('chat', { model: llama, cluster: cluster('one', { gpu: 'A100_80GB', gpus: 1 }), mode: 'serve', batch: { max_batch: 8, seq: 4096 } });
`,
  'models.ts': `import { model } from 'parplan';\nexport const llama = model('llama3_8b', ${MODEL});\n`,
  'unknown.ts': `
import { cluster, model, plan } from 'parplan';
import { SOMETHING } from 'some-package';
const llama = model('llama3_8b', ${MODEL});
const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: Number(process.env.GPUS) });
export const a = plan('a', { model: llama, cluster: node, mode: 'serve', batch: { max_batch: 8, seq: 4096 } });
export const b = plan('b', { model: llama, cluster: cluster('c', { gpu: 'L4', gpus: 1 }), mode: 'serve', tensor: SOMETHING, batch: { max_batch: 8, seq: 4096 } });
export function make(tp: number) {
  return plan\`made { model = \${llama}  cluster = one  mode = serve  tensor = \${tp}  batch { max_batch = 8  seq = 64 } }\`;
}
let later = 2;
later = 3;
export const c = plan('c2', { model: llama, cluster: cluster('d', { gpu: 'L4', gpus: 2 }), mode: 'serve', tensor: later, batch: { max_batch: 8, seq: 64 } });
`,
  'self.ts': `
import { plan } from 'parplan';
export const loop = plan\`loop { model = \${loop}  mode = serve }\`;
`,
  'not-parplan.ts': `
// mentions parplan, but its plan() is its own
function plan(name: string, o: object) { return { name, o }; }
export const x = plan('x', { tensor: 3 });
`,
  'bad-values.ts': `
import { cluster, model, plan, planFile } from 'parplan';
const llama = model('llama3_8b', ${MODEL});
const node = cluster('node', { gpu: 'L4', gpus: 1, network: null });
export const t = plan\`t { model = \${llama}  cluster = \${{ gpus: 1 }}  mode = serve  batch { max_batch = 1  seq = 64 } }\`;
export const two = plan\`a { } plan b { }\`;
export const m = plan\`model x { arch = llama }\`;
export const f = planFile\`plan p { model = \${llama}  cluster = \${node}  mode = serve  batch { max_batch = 1  seq = 64 } }\`;
`,
});
afterAll(files.cleanup);

const check = (...names: string[]) => analyzeProject(names.map(files.path));

describe('what the static reader evaluates', () => {
  it('as const objects, spreads, imported and re-exported constants, destructuring, shorthand, computed keys, arithmetic', async () => {
    const a = await check('const.ts');
    expect(where(a)).toEqual([]);
    const chat = a.results[0]!.plan;
    expect(chat.name).toBe('chat');
    expect(chat.mesh).toEqual({ tensor: 2, context: 1, pipeline: 1, data: 4 });
    expect(chat.cluster.gpus).toBe(8);
    expect(chat.model.layers).toBe(32);
    expect(chat.mode === 'serve' && chat.batch.seq).toBe(4096);
  });

  it('a namespace import and templates with interpolated numbers, strings and declarations', async () => {
    const a = await check('namespace.ts');
    expect(where(a)).toEqual([]);
    expect(a.results.map((r) => [r.plan.name, r.plan.mesh.data, r.fits])).toEqual([['chat', 4, true]]);
  });

  it('a model imported from another file is checked with the plan, its spans in its own file', async () => {
    const a = await check('imported-model.ts');
    expect(a.results.map((r) => r.plan.model.name)).toEqual(['llama3_8b']);
    expect(a.results[0]!.plan.model.span.file).toBe(files.path('models.ts'));
    expect(a.sources.has(files.path('models.ts'))).toBe(true);
    // Its own file's plans would be checked when it is checked; it has none.
    expect(a.results).toHaveLength(1);
  });

  it('ignores a function that is not parplan`s, even when named plan', async () => {
    const a = await check('not-parplan.ts');
    expect(a.diagnostics).toEqual([]);
    expect(a.results).toEqual([]);
  });
});

describe('what it cannot evaluate: PP7001, a warning that names the expression', () => {
  it('a call, a value from a package, a parameter, a let: each named, and what depends on it is not checked', async () => {
    const a = await check('unknown.ts');
    const text = a.sources.get(files.path('unknown.ts'))!.text;
    const f = files.path('unknown.ts');
    expect(where(a)).toEqual([
      `PP7001 ${f}:${at(text, 'Number(process.env.GPUS)')}`,
      `PP7001 ${f}:${at(text, 'SOMETHING,')}`,
      `PP7001 ${f}:${at(text, 'tp}')}`,
      `PP7001 ${f}:${at(text, 'later,')}`,
    ]);
    expect(a.diagnostics.map((d) => d.message)).toEqual([
      "cannot evaluate 'Number(process.env.GPUS)' statically",
      "cannot evaluate 'SOMETHING' statically",
      "cannot evaluate 'tp' statically",
      "cannot evaluate 'later' statically",
    ]);
    expect(a.diagnostics.every((d) => d.severity === 'warning')).toBe(true);
    expect(a.diagnostics[0]!.help).toBe(
      "cluster 'node' is not checked: use literals, constants or `as const` objects here, or check it at run time with analyzePlans()",
    );
    // Plan 'a' uses the cluster that could not be read, so it is not checked (and reports no 'no cluster named node').
    expect(a.results).toEqual([]);
  });
});

describe('a declaration that references itself', () => {
  it('is PP7001 at the reference, not a hang or a silent skip', async () => {
    const a = await check('self.ts');
    const text = a.sources.get(files.path('self.ts'))!.text;
    expect(where(a)).toEqual([`PP7001 ${files.path('self.ts')}:${at(text, 'loop}')}`]);
    expect(a.diagnostics[0]!.message).toBe("cannot evaluate 'loop' statically");
  });
});

describe('values no plan can hold', () => {
  it('PP7004 for null, PP7002 for an object in a template, PP7003 for a template that is not one declaration of its kind', async () => {
    const a = await check('bad-values.ts');
    const text = a.sources.get(files.path('bad-values.ts'))!.text;
    const f = files.path('bad-values.ts');
    expect(where(a)).toEqual([
      `PP7004 ${f}:${at(text, 'null')}`,
      `PP7002 ${f}:${at(text, '{ gpus: 1 }')}`,
      `PP7003 ${f}:${at(text, 'plan`a')}`,
      `PP7003 ${f}:${at(text, 'plan`model')}`,
    ]);
    expect(a.diagnostics.map((d) => d.message)).toEqual([
      "'network' cannot be null",
      'cannot interpolate an object into plan text',
      'a plan template must declare one plan, found 2 declarations',
      "a plan template must declare one plan, found model 'x'",
    ]);
    // The planFile's plan uses the cluster with a null: not checked either.
    expect(a.results).toEqual([]);
  });

  it('a template with a syntax error is left out alone: the other plans of the file are checked', async () => {
    const p = project({
      'two.ts': `import { cluster, model, plan } from 'parplan';
const llama = model('llama3_8b', ${MODEL});
const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 });
export const broken = plan\`broken { model = \${llama}  cluster = \${node}  mode = serve  batch { max_batch = 32  seq: 4096 } }\`;
export const fine = plan('fine', { model: llama, cluster: node, mode: 'serve', tensor: 2, data: 4, batch: { max_batch: 32, seq: 4096 } });
`,
    });
    try {
      const a = await analyzeProject([p.path('two.ts')]);
      expect(a.diagnostics.map((d) => d.code)).toEqual(['PP1001']);
      expect(a.results.map((r) => r.plan.name)).toEqual(['fine']);
    } finally {
      p.cleanup();
    }
  });
});
