/**
 * Golden outputs: `parplan check --format json` and `parplan compile -o -` (and `--emit ts`
 * for the runtime examples) for every example, byte for byte. A refactor must leave them
 * unchanged; a deliberate change is reviewed once with `UPDATE=1 npx vitest run test/golden`.
 * Stored gzipped (the Megatron 1T graph is 21 MB of JSON); a mismatch names the first
 * differing JSON path.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';

const DIR = join(import.meta.dirname, 'data');
const UPDATE = process.env.UPDATE === '1';

/** Every example the CLI reads: passing, misfit, models, runtime, service and embedded TypeScript. */
const CHECKED = [
  'examples/gpt2-t4-serve.plan',
  'examples/gpt3-175b-a100-train.plan',
  'examples/llama2-70b-a100-serve.plan',
  'examples/llama2-70b-h100-train.plan',
  'examples/llama2-70b-mi300x-serve.plan',
  'examples/llama2-7b-a10g-serve.plan',
  'examples/llama3-8b-h100.plan',
  'examples/llama3-8b-l4-tp2-serve.plan',
  'examples/megatron-1t-a100-train.plan',
  'examples/tinyllama-4090-train.plan',
  'examples/llama3-8b-fsdp2-train.plan',
  'examples/gpt-1.5b-a100-interleaved-layout-train.plan',
  'examples/deepseek-v3-h100-train.plan',
  'examples/deepseek-v3-h200-serve.plan',
  'examples/gemma2-9b-l4-serve.plan',
  'examples/mistral-7b-h100-32k-serve.plan',
  'examples/mixtral-8x7b-h100-serve.plan',
  'examples/qwen3-30b-a3b-h100-serve.plan',
  'examples/llama3-8b-h100-hsdp-train.plan',
  'examples/gpt2-10b-v100-offload-train.plan',
  'examples/llama3-8b-h100-128k-context-train.plan',
  'examples/models/gpt.plan',
  'examples/models/llama.plan',
  'examples/models/moe.plan',
  'examples/models/window.plan',
  'examples/runtime/tiny.plan',
  'examples/runtime/train.plan',
  'examples/service/plan.plan',
  'examples/misfit/llama2-70b-one-a100.plan',
  'examples/misfit/llama2-7b-full-finetune-a100-40gb.plan',
  'examples/misfit/llama3-8b-l4-kv-cache.plan',
  'examples/misfit/stages-gap.plan',
  'examples/misfit/tensor-does-not-divide.plan',
  'examples/misfit/typos.plan',
  'examples/embedded/models.ts',
];
/** Examples that compile (every plan in them valid and fitting). */
const COMPILED = CHECKED.filter((f) => !f.includes('/misfit/') && !f.startsWith('examples/models/'));
/** Serving plans for the runtime: also the typed module `--emit ts` writes. */
const EMIT_TS: [string, string][] = [
  ['examples/runtime/tiny.plan', 'gpt2_tiny_1'],
  ['examples/service/plan.plan', 'tiny_service'],
];

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({ NO_COLOR: '1' }, join(import.meta.dirname, '../..'));
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

function goldenName(kind: string, file: string, suffix: string): string {
  return join(DIR, kind, file.replace(/^examples\//, '').replace(/[/.]/g, '_') + suffix);
}

/** The first JSON path where two documents differ (a readable failure for a 21 MB graph). */
function firstDifference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null))
    return `${path}: ${JSON.stringify(a)?.slice(0, 200)} ≠ ${JSON.stringify(b)?.slice(0, 200)}`;
  if (typeof a !== 'object' || a === null)
    return a === b ? undefined : `${path}: ${JSON.stringify(a)?.slice(0, 200)} ≠ ${JSON.stringify(b)?.slice(0, 200)}`;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.join() !== kb.join()) return `${path}: keys [${ka.join(', ')}] ≠ [${kb.join(', ')}]`;
  for (const k of ka) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

function compareGolden(path: string, actual: string, json: boolean): void {
  if (UPDATE || !existsSync(path)) {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, gzipSync(actual, { level: 9 }));
    if (!UPDATE) throw new Error(`golden ${path} was missing and has been written: review and commit it`);
    return;
  }
  const expected = gunzipSync(readFileSync(path)).toString('utf8');
  if (expected === actual) return;
  const where = json ? firstDifference(JSON.parse(actual), JSON.parse(expected)) : undefined;
  const firstLine = actual.split('\n').findIndex((l, i) => l !== expected.split('\n')[i]);
  expect.fail(`${path} differs (${where ?? `line ${firstLine + 1}`}); after review, UPDATE=1 npx vitest run test/golden`);
}

describe('golden outputs of every example', () => {
  for (const file of CHECKED) {
    it(`check --format json ${file}`, async () => {
      const r = await cli(['check', file, '--format', 'json']);
      expect(r.err).toBe('');
      compareGolden(goldenName('check', file, '.json.gz'), `exit ${r.code}\n${r.out}`, false);
    });
  }
  for (const file of COMPILED) {
    it(`compile -o - ${file}`, async () => {
      const r = await cli(['compile', file, '-o', '-']);
      expect(r.code, r.err).toBe(0);
      compareGolden(goldenName('graph', file, '.json.gz'), r.out, true);
    });
  }
  for (const [file, plan] of EMIT_TS) {
    it(`compile --emit ts ${file} --plan ${plan}`, async () => {
      const r = await cli(['compile', file, '--plan', plan, '--emit', 'ts', '-o', '-']);
      expect(r.code, r.err).toBe(0);
      compareGolden(goldenName('ts', `${file}_${plan}`, '.gen.ts.gz'), r.out, false);
    });
  }
});
