/**
 * Bounded fuzzing of the front end (parse, check, memory, fit), and of the static TypeScript
 * reader, fmt, the exporters and the search (test/fuzz/targets.ts); `bench/fuzz.ts` runs more.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze.js';
import { KEYS } from '../src/facts/keys.js';
import { BATCH_KNOBS, corpus, fuzzOnce, memoryHost, MODEL_KNOBS, mutate, mutateKnobs, PLAN_KNOBS, rng } from './fuzz/mutate.js';
import { tokens } from './fuzz/mutate-ts.js';
import { fuzzExportOnce, fuzzFmtOnce, fuzzSuggestOnce, fuzzTsOnce, tsWorkspace, type Outcome } from './fuzz/targets.js';
import { tsCorpus } from './fuzz/ts-corpus.js';
import { fuzzHttp } from './fuzz/http.js';
import { fuzzHugeOnce, fuzzImportsOnce, importsWorkspace } from './fuzz/hostile.js';
import { configCorpus, fuzzHfConfigOnce, mutateConfig } from './fuzz/hfconfig.js';

/** Seeds 1..count through one target: the failures (at most 5), and how many cases reached the part under test. */
async function sweep(count: number, once: (seed: number) => Outcome | Promise<Outcome>): Promise<{ failures: string[]; reached: number }> {
  const failures: string[] = [];
  let reached = 0;
  for (let seed = 1; seed <= count && failures.length < 5; seed++) {
    const r = await once(seed);
    if (r.reached) reached++;
    if (r.problems.length > 0) failures.push(`seed ${seed} (${r.path}): ${r.problems.join('; ')}\n--- text ---\n${r.text}`);
  }
  return { failures, reached };
}

describe('fuzz: mutated plans', () => {
  const files = corpus();
  it('sets every key of the model, plan and batch blocks in some mutant', () => {
    // Keys the corpus sets already, or whose values are names or blocks the knobs cannot vary.
    const structural = new Set(['model.name', 'plan.model', 'plan.cluster', 'plan.batch']);
    const knobs = { model: MODEL_KNOBS, plan: PLAN_KNOBS, batch: BATCH_KNOBS };
    const unset = (['model', 'plan', 'batch'] as const).flatMap((kind) =>
      Object.keys(KEYS[kind])
        .filter((key) => !structural.has(`${kind}.${key}`))
        .filter((key) => !knobs[kind].some((k) => new RegExp(`(^|\\s)${key} =`).test(k)))
        .map((key) => `${kind}.${key}`),
    );
    expect(unset).toEqual([]);
  });
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

describe('fuzz: the new surfaces (replay a seed with bench/fuzz.ts --target T --seed N --count 1 --show)', () => {
  const plans = corpus();
  it('the TypeScript mutator edits tokens, and the knob mutator keeps plans parseable', () => {
    const [project] = tsCorpus();
    const text = project!.get('service.ts')!;
    expect(tokens(text).length).toBeGreaterThan(100);
    const r = rng(2);
    const knobbed = mutateKnobs(plans.get('/ex/llama3-8b-h100.plan')!, r);
    expect(knobbed).not.toBe(plans.get('/ex/llama3-8b-h100.plan'));
  });
  it('static TypeScript reader: never throws, every diagnostic placed and renderable (150 mutants)', async () => {
    const ws = tsWorkspace(tsCorpus());
    try {
      const { failures, reached } = await sweep(150, (seed) => fuzzTsOnce(ws, seed));
      expect(failures).toEqual([]);
      expect(reached).toBeGreaterThan(20);
    } finally {
      ws.cleanup();
    }
  });
  it('fmt: no internal error, idempotent (400 mutants)', async () => {
    const { failures, reached } = await sweep(400, (seed) => fuzzFmtOnce(plans, seed));
    expect(failures).toEqual([]);
    expect(reached).toBeGreaterThan(100);
  });
  it('export: every engine on every plan that checks, no throw or internal error (400 mutants)', async () => {
    const { failures, reached } = await sweep(400, (seed) => fuzzExportOnce(plans, seed));
    expect(failures).toEqual([]);
    expect(reached).toBeGreaterThan(80);
  });
  it('suggest: the search and the pinned plan on small clusters (30 mutants)', async () => {
    const { failures, reached } = await sweep(30, (seed) => fuzzSuggestOnce(plans, seed));
    expect(failures).toEqual([]);
    expect(reached).toBeGreaterThan(5);
  });
});

describe('fuzz: Hugging Face configs (replay with bench/fuzz.ts --target hfconfig --seed N --count 1 --show)', () => {
  const configs = configCorpus();
  it('has every example config, and the mutator changes them', () => {
    expect(configs.size).toBeGreaterThanOrEqual(13);
    const r = rng(3);
    const t = configs.get('gpt2.json')!;
    expect([0, 1, 2, 3, 4, 5].some(() => mutateConfig(t, r) !== t)).toBe(true);
  });
  it('hf_config and parplan import: never throw, every diagnostic placed and renderable, an import is the same model (400 mutants)', async () => {
    const { failures, reached } = await sweep(400, (seed) => fuzzHfConfigOnce(configs, seed));
    expect(failures).toEqual([]);
    expect(reached).toBeGreaterThan(50);
  });
});

describe('fuzz regressions: keys that every JavaScript object has', () => {
  const run = (text: string) => analyze(['/r.plan'], { host: memoryHost(new Map([['/r.plan', text]])) });
  for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    it(`\`${key} = 1\` in a model, cluster, plan and batch block is an unknown key (PP2002), not a crash`, () => {
      const a = run(`model m { arch = llama  layers = 2  hidden = 256  heads = 4  ffn = 512  vocab = 1000  max_seq = 128  ${key} = 1 }
cluster c { gpu = L4  gpus = 1  ${key} = 1 }
plan p { model = m  cluster = c  mode = serve  ${key} = 1  batch { max_batch = 1  seq = 64  ${key} = 1 } }`);
      expect(a.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([
        ['PP2002', 1],
        ['PP2002', 2],
        ['PP2002', 3],
        ['PP2002', 3],
      ]);
    });
  }
});

describe('fuzz regressions: a declaration keyword that is a name every JavaScript object has', () => {
  it('`toString p { … }` is an unknown keyword (PP2001), not a plan', () => {
    const a = analyze(['/r.plan'], { host: memoryHost(new Map([['/r.plan', 'toString p { mode = serve }\nconstructor q { }\n']])) });
    expect(a.diagnostics.map((d) => [d.code, d.span?.line, d.span?.column])).toEqual([
      ['PP2001', 1, 1],
      ['PP2001', 2, 1],
    ]);
    expect(a.results).toEqual([]);
  });
});

describe('fuzz regressions: inputs that once made the checker loop for minutes', () => {
  const run = (text: string) => analyze(['/r.plan'], { host: memoryHost(new Map([['/r.plan', text]])) });
  const model = (layers: number) =>
    `model m { arch = gpt2  layers = ${layers}  hidden = 25600  heads = 160  vocab = 51200  max_seq = 2048 }`;
  it('a misfit on a huge cluster: the fix search tries a few deeper pipelines, not every one', () => {
    // At the key bounds (layers ≤ 10,000, GPUs ≤ 262,144) since these were set.
    const a = run(`${model(9999)}
cluster c { gpu = A100_80GB  nodes = 256  gpus_per_node = 1024 }
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

describe('fuzz: the HTTP server (replay with bench/fuzz.ts --target http --seed N --count 1)', () => {
  it('hostile clients: no 500, no malformed answer, no hang, nothing left open; then a shutdown within its drain (600 cases)', async () => {
    const r = await fuzzHttp({ count: 600, concurrency: 32 });
    expect(r.failures).toEqual([]);
    expect(r.slowestMs).toBeLessThan(5000);
    expect(r.shutdownMs).toBeLessThan(1500);
    // The run reached the server's answers and its timeouts, not only the parser.
    expect(r.statuses[200]).toBeGreaterThan(30);
    expect(r.statuses[408]).toBeGreaterThan(10);
  }, 30_000);
});

describe('fuzz: hostile paths and inputs (test/fuzz/hostile.ts)', () => {
  it('import paths into, out of and around a repository: no exception, no hang, every refusal placed (300 cases)', async () => {
    const ws = importsWorkspace();
    try {
      const { failures } = await sweep(300, (seed) => fuzzImportsOnce(ws, seed));
      expect(failures).toEqual([]);
    } finally {
      ws.cleanup();
    }
  }, 60_000);

  it('large and deep inputs up to 256 KiB: no exception, time and memory bounded (24 cases)', async () => {
    const { failures } = await sweep(24, (seed) => fuzzHugeOnce(seed, 256 * 1024));
    expect(failures).toEqual([]);
  }, 120_000);
});

describe('fuzz: graph JSON (issue 13, item 10; bench/fuzz.ts --target graph runs 100,000)', () => {
  it('the validator never throws, names every problem by its path, and takes under 5 s (2,000 mutants)', async () => {
    const { fuzzGraphOnce, graphCorpus } = await import('./fuzz/graph.js');
    const graphs = graphCorpus();
    let accepted = 0;
    const { failures, reached } = await sweep(2000, (seed) => {
      const r = fuzzGraphOnce(graphs, seed);
      if (r.accepted) accepted++;
      return r;
    });
    expect(failures).toEqual([]);
    expect(reached).toBeGreaterThan(1500);
    // Most mutants are refused; some (a changed flop count, a wait time) are still servable.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(1000);
  });
  it('accepted mutants run: createRuntime and a generation, or a typed error (6 mutants, WebGPU)', { timeout: 180_000 }, async () => {
    const { fuzzGraphOnce, graphCorpus, runtimeOnce } = await import('./fuzz/graph.js');
    const graphs = graphCorpus();
    const failures: string[] = [];
    let ran = 0;
    for (let seed = 1; ran < 6 && seed < 500; seed++) {
      if (!fuzzGraphOnce(graphs, seed).accepted) continue;
      ran++;
      const r = await runtimeOnce(graphs, seed);
      if (r.problems.length > 0) failures.push(`seed ${seed}: ${r.problems.join('; ')}`);
    }
    expect(ran).toBe(6);
    expect(failures).toEqual([]);
  });
});
