/** Inputs found by the TypeScript fuzzer (`bench/fuzz.ts --target ts`) that once threw. */
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeProject } from '../../src/analyze.js';
import { at, project, where } from './helpers.js';

const keys = `import { cluster, model, plan } from 'parplan';
const m = model('m', { arch: 'llama', layers: 2, hidden: 256, heads: 4, ffn: 512, vocab: 1000, max_seq: 128, constructor: 1 });
const c = cluster('c', { gpu: 'L4', gpus: 1, toString: 2 });
export const p = plan('p', { model: m, cluster: c, mode: 'serve', batch: { max_batch: 1, seq: 64, valueOf: 3 } });
`;
const names = `import { cluster, model, plan } from 'parplan';
const m = model('m 2', { arch: 'llama', layers: 2, hidden: 256, heads: 4, ffn: 512, vocab: 1000, max_seq: 128 });
const c = cluster('c', { gpu: 'L4', gpus: 1 });
export const p = plan('p { } plan p2', { model: c, cluster: c, mode: 'serve', batch: { max_batch: 1, seq: 64 } });
export const q = plan(7, { model: c, cluster: c, mode: 'serve', batch: { max_batch: 1, seq: 64 } });
`;
const placeholders = `import { cluster } from 'parplan';
export const c = cluster('c', { gpu: 'L4', gpus: 1, __key0: 1, 'a b': 2 });
`;
const files = project({ 'keys.ts': keys, 'names.ts': names, 'placeholders.ts': placeholders });
afterAll(files.cleanup);

describe('static reader: keys that every JavaScript object has', () => {
  it('`constructor`, `toString`, `valueOf` as option keys are unknown keys (PP2002) at their place, not a crash', async () => {
    const a = await analyzeProject([files.path('keys.ts')]);
    expect(where(a).map((w) => w.replace(files.dir, ''))).toEqual([
      `PP2002 /keys.ts:${at(keys, 'constructor')}`,
      `PP2002 /keys.ts:${at(keys, 'toString')}`,
      `PP2002 /keys.ts:${at(keys, 'valueOf')}`,
    ]);
    expect(a.diagnostics[0]!.help).toContain('valid keys: arch, layers');
  });
});

describe('static reader: names that are not .plan names', () => {
  it('a name with a space, plan text, or a number is PP7004 at the name, not the syntax errors of `plan p { } plan p2 {`', async () => {
    const a = await analyzeProject([files.path('names.ts')]);
    expect(where(a).map((w) => w.replace(files.dir, ''))).toEqual([
      `PP7004 /names.ts:${at(names, 'm 2')}`,
      `PP7004 /names.ts:${at(names, 'p { } plan')}`,
      `PP7004 /names.ts:${at(names, '7,')}`,
    ]);
    expect(a.diagnostics.map((d) => d.message)).toEqual([
      "'name' cannot be 'm 2', which is not a name",
      "'name' cannot be 'p { } plan p2', which is not a name",
      "'name' cannot be a number",
    ]);
    expect(a.diagnostics[0]!.help).toBe("a name is letters, digits and _, not starting with a digit: e.g. 'm_2'");
    expect(a.results).toEqual([]);
  });
});

describe('static reader: a key spelled like the placeholder of a key that is no name', () => {
  it("`__key0` and 'a b' are two unknown keys, each reported by its own name", async () => {
    const a = await analyzeProject([files.path('placeholders.ts')]);
    expect(a.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['PP2002', "unknown key '__key0' in cluster 'c'"],
      ['PP2002', "unknown key 'a b' in cluster 'c'"],
    ]);
  });
});
