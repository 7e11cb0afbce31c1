/**
 * Builder values at run time: what analyzePlans checks (the plans given, and what they
 * reference), values that cannot be written as a plan (PP7002, PP7004), templates that
 * are not one declaration (PP7003), imports inside planFile, and values with no source
 * to point at (a made-up source, so the renderers still show the line).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { analyze, analyzePlans, cluster, isEmbedded, model, plan, planFile, renderText } from '../../src/index.js';
import { h100Node as node, llama3_8b as llama, project } from './helpers.js';

const batch = { max_batch: 32, seq: 4096 } as const;

describe('analyzePlans', () => {
  it('checks the plans given; models and clusters come along by reference', () => {
    const a = analyzePlans([plan('chat', { model: llama, cluster: node, mode: 'serve', tensor: 2, data: 4, batch })]);
    expect(a.results.map((r) => [r.plan.name, r.plan.model.name, r.plan.cluster.name, r.fits])).toEqual([
      ['chat', 'llama3_8b', 'node', true],
    ]);
    expect(a.diagnostics).toEqual([]);
  });

  it('models and clusters may be given too: the result is the same, nothing is reported twice', () => {
    const chat = plan('chat', { model: llama, cluster: node, mode: 'serve', tensor: 2, data: 4, batch });
    const bad = model('bad', { arch: 'llama', layers: 0, hidden: 64, heads: 4, ffn: 128, vocab: 100, max_seq: 64 });
    const a = analyzePlans([llama, node, chat, bad]);
    expect(a.results.map((r) => r.plan.name)).toEqual(['chat']);
    expect(a.diagnostics.map((d) => d.code)).toEqual(['PP2008']);
  });

  it('reads options when the builder is called, not later', () => {
    const options = { model: llama, cluster: node, mode: 'serve' as const, tensor: 2, data: 4, batch };
    const p = plan('snap', options);
    options.tensor = 3;
    expect(analyzePlans([p]).results[0]!.plan.mesh.tensor).toBe(2);
  });

  it('two declarations of one name are a PP2005, as in a file', () => {
    const other = model('llama3_8b', { arch: 'gpt2', layers: 2, hidden: 64, heads: 4, vocab: 100, max_seq: 64 });
    const a = plan('a', { model: llama, cluster: node, mode: 'serve', tensor: 2, data: 4, batch });
    const b = plan('b', { model: other, cluster: node, mode: 'serve', batch });
    expect(analyzePlans([a, b]).diagnostics.map((d) => d.code)).toContain('PP2005');
  });

  it('--plan: only the named plan; PP6003 with did-you-mean for a name not given', () => {
    const a = plan('alpha', { model: llama, cluster: node, mode: 'serve', tensor: 2, data: 4, batch });
    const b = plan('beta', { model: llama, cluster: node, mode: 'serve', tensor: 2, data: 4, batch });
    expect(analyzePlans([a, b], { plan: 'beta' }).results.map((r) => r.plan.name)).toEqual(['beta']);
    const missing = analyzePlans([a, b], { plan: 'alpah' }).diagnostics;
    expect(missing.map((d) => [d.code, d.help])).toEqual([['PP6003', "did you mean 'alpha'?"]]);
  });

  it('refuses values that builders did not make', () => {
    expect(isEmbedded(llama)).toBe(true);
    expect(isEmbedded({ kind: 'model', name: 'x' })).toBe(false);
    expect(() => analyzePlans([{ kind: 'plan', name: 'x' } as never])).toThrow(TypeError);
  });
});

describe('values no plan can hold', () => {
  it('PP7004: a function or null as an option; the plan is then not checked', () => {
    const bad = cluster('bad', { gpu: 'L4', gpus: 1, network: (() => 1) as never });
    const a = analyzePlans([plan('p', { model: llama, cluster: bad, mode: 'serve', batch })]);
    expect(a.diagnostics.map((d) => [d.code, d.severity, d.message])).toEqual([['PP7004', 'error', "'network' cannot be a function"]]);
    expect(a.results).toEqual([]);
  });

  it('PP7002: an object interpolated into a template, at the interpolation', () => {
    const p = plan`p { model = ${llama}  cluster = ${{ gpus: 8 } as never}  mode = serve  batch { max_batch = 1  seq = 64 } }`;
    const a = analyzePlans([p]);
    expect(a.diagnostics.map((d) => [d.code, d.message])).toEqual([['PP7002', 'cannot interpolate an object into plan text']]);
    expect(a.diagnostics[0]!.span?.column).toBeGreaterThan(1);
  });

  it('PP7002: a planFile value interpolated (it has no one name)', () => {
    const file = planFile`cluster c { gpu = L4  gpus = 1 }`;
    const p = plan`p { model = ${llama}  cluster = ${file as never}  mode = serve  batch { max_batch = 1  seq = 64 } }`;
    expect(analyzePlans([p]).diagnostics.map((d) => d.message)).toEqual(['cannot interpolate a planFile value into plan text']);
  });

  it('PP7003: a plan template with two plans, or a model', () => {
    const two = plan`a { } plan b { }`;
    const m = plan`model x { arch = llama }`;
    const a = analyzePlans([two, m]);
    expect(a.diagnostics.map((d) => d.message)).toEqual([
      'a plan template must declare one plan, found 2 declarations',
      "a plan template must declare one plan, found model 'x'",
    ]);
  });
});

describe('planFile', () => {
  const files = project({
    'models/tiny.plan': 'model tiny { arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32 }\n',
  });
  afterAll(files.cleanup);

  it('imports .plan files, and interpolated values become declarations of the program', () => {
    // An absolute path here, because the template is in this test file and the model in a temporary folder
    // (outside this repository, hence the root).
    const all = planFile`
      import "${files.path('models/tiny.plan')}"
      plan small { model = tiny  cluster = ${node}  mode = serve  batch { max_batch = 4  seq = 64 } }
    `;
    const a = analyzePlans([all], { root: files.path('.') });
    expect(a.diagnostics.map((d) => d.code)).toEqual(['PP3010']);
    expect(a.results.map((r) => [r.plan.name, r.plan.model.name, r.plan.cluster.name])).toEqual([['small', 'tiny', 'node']]);
    expect(a.sources.has(files.path('models/tiny.plan'))).toBe(true);
  });

  it('PP2012 for an import that is not there, at the path in the template', () => {
    const all = planFile`import "no/such.plan"`;
    const a = analyzePlans([all]);
    expect(a.diagnostics.map((d) => [d.code, d.message])).toEqual([['PP2012', "cannot import 'no/such.plan': no such file"]]);
    expect(a.diagnostics[0]!.span?.file).toBe('test/embedded/runtime.test.ts');
  });
});

describe('a value with no source to point at', () => {
  it('gets a made-up source of its .plan text, which the renderer shows', () => {
    // Built with a function the stack does not attribute to a file: no call site.
    const make = new Function('plan', 'return plan("anon", { mode: "serve" })') as (f: typeof plan) => ReturnType<typeof plan>;
    const p = make(plan);
    const a = analyzePlans([p]);
    const files = [...new Set(a.diagnostics.map((d) => d.span?.file))];
    expect(files).toEqual(['<embedded plan 1>']);
    expect(a.sources.get('<embedded plan 1>')?.text).toContain('plan anon {');
    expect(renderText(a)).toContain("error[PP2003]: plan 'anon' is missing required key 'model'");
  });
});

describe('analyze() (sync, .plan files only) given TypeScript', () => {
  it('PP7005 names the file and what reads it, instead of parsing it as .plan text', () => {
    const a = analyze(['examples/embedded/service.ts']);
    expect(a.diagnostics.map((d) => [d.code, d.file, d.message])).toEqual([
      [
        'PP7005',
        'examples/embedded/service.ts',
        "'examples/embedded/service.ts' is TypeScript, and analyze() reads .plan files only (analyzeProject() reads both)",
      ],
    ]);
  });
});
