/**
 * The generated modules type-check with the TypeScript compiler (`noEmit`), and the
 * runtime's types turn misuse into type errors: a tuple of more prompts than the
 * plan's max_batch, a training graph given to createRuntime, too many new tokens.
 * 'parplan/runtime' resolves to runtime/index.ts through `paths`, as a user's
 * installed package resolves to its declarations.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { moduleOf } from './helpers.js';

const ROOT = resolve('.');

const CONSUMERS: Record<string, string> = {
  // A service using its plans rightly; and a graph read from JSON, on which every check passes.
  'good.ts': `
import { readFileSync } from 'node:fs';
import { createRuntime, type Graph, type GenerateResult, type TextGenerateResult } from 'parplan/runtime';
import { graph, planName, type MaxBatch, type PlanRuntime, type Seq } from './gpt2_tiny_1.gen.js';
import { graph as service } from './tiny_service.gen.js';
import { graph as parallel } from './llama_tiny_t2p2d2.gen.js';

const rt: PlanRuntime = await createRuntime(graph, { weights: 'random:1' });
const logits: Float32Array[] = await rt.forward([[1, 2, 3], [4], [5], [6], [7], [8], [9], [10]]);
const prompts: number[][] = Array.from({ length: 100 }, () => [1]);
await rt.forward(prompts);
const result: GenerateResult = await rt.generate([1, 2, 3], { maxNewTokens: 63 });
const text: TextGenerateResult = await rt.generate('Hello', { maxNewTokens: 8, stop: ['\\n'], sampling: { temperature: 0.7, seed: 1 } });
const n: number = 1000;
await rt.generate([1], { maxNewTokens: n, stop: [0] });
const batch: MaxBatch = 8;
const seq: Seq = 64;
const name: 'gpt2_tiny_1' = planName;
await (await createRuntime(service, { weights: 'random:1' })).generate([1], { maxNewTokens: 8 });
await (await createRuntime(parallel, { weights: 'random:1' })).forward([[1]]);

const fromJson = JSON.parse(readFileSync('g.json', 'utf8')) as Graph;
const plain = await createRuntime(fromJson, { weights: 'random:1' });
await plain.forward([[1], [2], [3], [4], [5], [6], [7], [8], [9], [10], [11], [12]]);
await plain.generate([1], { maxNewTokens: 100000 });
await rt.close();
export { logits, result, text, batch, seq, name };
`,
  'too-many-prompts.ts': `
import { createRuntime } from 'parplan/runtime';
import { graph } from './gpt2_tiny_1.gen.js';
const rt = await createRuntime(graph, { weights: 'random:1' });
await rt.forward([[1], [2], [3], [4], [5], [6], [7], [8], [9]]);
`,
  'training-plan.ts': `
import { createRuntime } from 'parplan/runtime';
import { graph } from './train_8b.gen.js';
await createRuntime(graph, { weights: 'random:1' });
`,
  'generic-engine.ts': `
import { createRuntime } from 'parplan/runtime';
import { graph } from './serve_8b.gen.js';
await createRuntime(graph, { weights: 'random:1' });
`,
  'too-many-tokens.ts': `
import { createRuntime } from 'parplan/runtime';
import { graph } from './gpt2_tiny_1.gen.js';
const rt = await createRuntime(graph, { weights: 'random:1' });
await rt.generate([1], { maxNewTokens: 64 });
await rt.generate([1], { maxNewTokens: 1000 });
`,
};

interface Found {
  file: string;
  line: number;
  code: number;
  message: string;
}

let found: Found[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-typecheck-'));
  const modules: [string, string][] = [
    ['examples/runtime/tiny.plan', 'gpt2_tiny_1'],
    ['examples/runtime/tiny.plan', 'llama_tiny_t2p2d2'],
    ['examples/service/plan.plan', 'tiny_service'],
    ['examples/llama3-8b-h100.plan', 'serve_8b'],
    ['examples/llama3-8b-h100.plan', 'train_8b'],
  ];
  for (const [file, name] of modules) writeFileSync(join(dir, `${name}.gen.ts`), await moduleOf(file, name));
  for (const [name, text] of Object.entries(CONSUMERS)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');

  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: true,
    declaration: false,
    rootDir: undefined,
    outDir: undefined,
    typeRoots: [join(ROOT, 'node_modules/@types'), join(ROOT, 'node_modules')],
    paths: { 'parplan/runtime': [join(ROOT, 'runtime/index.ts')] },
  };
  const program = ts.createProgram(
    [...Object.keys(CONSUMERS), ...modules.map(([, n]) => `${n}.gen.ts`)].map((f) => join(dir, f)),
    options,
  );
  found = ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file ? d.file.fileName.replace(`${dir}/`, '') : '',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    code: d.code,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}, 120_000);

const errorsIn = (file: string) => found.filter((d) => d.file === file);

describe('generated modules with the TypeScript compiler', () => {
  it('the generated modules, the runtime and a consumer that uses the plans rightly type-check', () => {
    // Files outside the temporary directory (runtime/) are type-checked by tsconfig.test.json.
    expect(found.filter((d) => d.file.endsWith('.gen.ts') || d.file === 'good.ts')).toEqual([]);
  });

  it("a tuple of more prompts than the plan's max_batch: TS2345 naming both", () => {
    const [e, ...more] = errorsIn('too-many-prompts.ts');
    expect(more).toEqual([]);
    expect(e).toMatchObject({ line: 5, code: 2345 });
    expect(e!.message).toContain(`"parplan: a batch of 9 prompts; plan 'gpt2_tiny_1' has max_batch = 8"`);
  });

  it('a training graph given to createRuntime: TS2345, a training plan', () => {
    const [e, ...more] = errorsIn('training-plan.ts');
    expect(more).toEqual([]);
    expect(e).toMatchObject({ line: 4, code: 2345 });
    expect(e!.message).toContain(
      `"parplan: plan 'train_8b' is a training plan; createRuntime runs serving plans (mode = serve, engine = webgpu)"`,
    );
  });

  it('a serving graph compiled for the generic engine given to createRuntime: TS2345, engine = webgpu', () => {
    const [e, ...more] = errorsIn('generic-engine.ts');
    expect(more).toEqual([]);
    expect(e).toMatchObject({ line: 4, code: 2345 });
    expect(e!.message).toContain(`"parplan: plan 'serve_8b' was not compiled for engine = webgpu`);
  });

  it('maxNewTokens that leave no room for a prompt within seq: TS2322, each', () => {
    const errors = errorsIn('too-many-tokens.ts');
    expect(errors.map((e) => [e.line, e.code])).toEqual([
      [5, 2322],
      [6, 2322],
    ]);
    expect(errors[0]!.message).toContain(
      `maxNewTokens = 64; plan 'gpt2_tiny_1' has seq = 64 for the prompt (at least 1 token) and the new tokens together`,
    );
    expect(errors[1]!.message).toContain('maxNewTokens = 1000;');
  });
});
