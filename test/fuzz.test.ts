/** Bounded fuzzing of the whole front end (parse, check, memory, fit); `bench/fuzz.ts` runs 100k. */
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze.js';
import { corpus, fuzzOnce, memoryHost, mutate, rng } from './fuzz/mutate.js';

describe('fuzz: mutated plans', () => {
  const files = corpus();
  it('has a corpus', () => expect(files.size).toBeGreaterThanOrEqual(15));
  it('the mutator changes text', () => {
    const r = rng(1);
    const t = files.values().next().value!;
    expect([0, 1, 2, 3, 4, 5].some(() => mutate(t, r) !== t)).toBe(true);
  });
  it('never throws, and every diagnostic has a position (1,500 mutants)', () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 1500 && failures.length < 5; seed++) {
      const r = fuzzOnce(files, seed);
      if (r.problems.length > 0) failures.push(`seed ${seed} (${r.path}): ${r.problems.join('; ')}\n--- text ---\n${r.text}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('fuzz regressions: inputs that once made the checker loop for minutes', () => {
  const run = (text: string) => analyze(['/r.plan'], { host: memoryHost(new Map([['/r.plan', text]])) });
  const model = (layers: number) => `model m { arch = gpt2  layers = ${layers}  hidden = 25600  heads = 160  vocab = 51200  max_seq = 2048 }`;
  it('a misfit on a huge cluster: the fix search tries a few deeper pipelines, not every one', () => {
    const a = run(`${model(77756)}
cluster c { gpu = A100_80GB  nodes = 384  gpus_per_node = 1024 }
plan p { model = m  cluster = c  mode = train  tensor = 8  pipeline = 64  data = 6  batch { global = 3072  seq = 2048 } }`);
    expect(a.diagnostics.map((d) => d.code)).toContain('PP4001');
  });
  it('a GPU count beyond any cluster is out of range, not a loop over every tensor degree', () => {
    const a = run(`${model(8)}
cluster c { gpu = H100_SXM_80GB  gpus = 999999999999999999993 }
plan p { model = m  cluster = c  mode = serve  tensor = 3  batch { max_batch = 1  seq = 16 } }`);
    expect(a.diagnostics.map((d) => d.code)).toContain('PP2008');
  });
});
