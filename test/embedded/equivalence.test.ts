/**
 * One checker, three ways in: a `.plan` file, builders and templates run in this process
 * (`analyzePlans`), and TypeScript read without running it (`parplan check file.ts`). The
 * same plans must give the same JSON report, plans and diagnostics alike, but for file
 * names and positions.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { analyze, analyzeProject } from '../../src/analyze.js';
import { analyzePlans, cluster, model, plan, planFile } from '../../src/index.js';
import { h100Node, llama3_8b, placeless, project } from './helpers.js';

const PLAN_TEXT = `
model llama3_8b {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8
  ffn = 14336  vocab = 128256  max_seq = 8192
}
cluster node {
  gpu = H100_SXM_80GB
  gpus = 8
}
plan chat {
  model = llama3_8b  cluster = node  mode = serve
  tensor = 2  data = 2
  batch { max_batch = 32  max_wait = 5 ms  seq = 4096 }
  reserve = 10%  workspace = 512 MiB
  traffic { rate = 10  prompt = 512  output = 64  requests = 300 }
  slo { ttft_p99 = 500 ms  max_rejected = 1% }
}
plan finetune {
  model = llama3_8b  cluster = node  mode = train
  tensor = 2  pipeline = 2  data = 2  zero = 1
  stages = [0..15, 16..31]
  batch { global = 256  micro = 1  seq = 4096 }
  recompute = selective
  adapter { rank = 16  alpha = 32  targets = ["q_proj", "v_proj"]  dropout = 0.05 }
}
`;

/** The same declarations as builder calls, as a user writes them (the static reader gets this text). */
const BUILDERS_TS = `import { cluster, model, plan } from 'parplan';
export const llama = model('llama3_8b', { arch: 'llama', layers: 32, hidden: 4096, heads: 32, kv_heads: 8, ffn: 14336, vocab: 128256, max_seq: 8192 });
export const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 });
export const chat = plan('chat', {
  model: llama, cluster: node, mode: 'serve', tensor: 2, data: 2,
  batch: { max_batch: 32, max_wait: '5 ms', seq: 4096 },
  reserve: '10%', workspace: '512 MiB',
  traffic: { rate: 10, prompt: 512, output: 64, requests: 300 },
  slo: { ttft_p99: '500 ms', max_rejected: '1%' },
});
export const finetune = plan('finetune', {
  model: llama, cluster: node, mode: 'train', tensor: 2, pipeline: 2, data: 2, zero: 1,
  stages: ['0..15', '16..31'],
  batch: { global: 256, micro: 1, seq: 4096 },
  recompute: 'selective',
  adapter: { rank: 16, alpha: 32, targets: ['q_proj', 'v_proj'], dropout: 0.05 },
});
`;

const files = project({
  'plans.plan': PLAN_TEXT,
  'builders.ts': BUILDERS_TS,
  'file.ts': `import { planFile } from 'parplan';\nexport const all = planFile\`${PLAN_TEXT}\`;\n`,
});
afterAll(files.cleanup);

const expected = placeless(analyze([files.path('plans.plan')]));

describe('the same plans as .plan text, builders and templates', () => {
  it('the .plan text has two plans and a warning (idle GPUs), so there is something to compare', () => {
    const e = expected as { plans: { latency?: { slo: unknown[] } }[]; diagnostics: { code: string }[] };
    expect(e.plans).toHaveLength(2);
    expect(e.diagnostics.map((d) => d.code)).toEqual(['PP3010']);
    // The serving plan's traffic and slo blocks: the latency prediction is compared too.
    expect(e.plans[0]!.latency?.slo).toHaveLength(2);
  });

  it('builders run here', () => {
    const llama = llama3_8b;
    const node = h100Node;
    const chat = plan('chat', {
      model: llama,
      cluster: node,
      mode: 'serve',
      tensor: 2,
      data: 2,
      batch: { max_batch: 32, max_wait: '5 ms', seq: 4096 },
      reserve: '10%',
      workspace: '512 MiB',
      traffic: { rate: 10, prompt: 512, output: 64, requests: 300 },
      slo: { ttft_p99: '500 ms', max_rejected: '1%' },
    });
    const finetune = plan('finetune', {
      model: llama,
      cluster: node,
      mode: 'train',
      tensor: 2,
      pipeline: 2,
      data: 2,
      zero: 1,
      stages: ['0..15', '16..31'],
      batch: { global: 256, micro: 1, seq: 4096 },
      recompute: 'selective',
      adapter: { rank: 16, alpha: 32, targets: ['q_proj', 'v_proj'], dropout: 0.05 },
    });
    expect(placeless(analyzePlans([chat, finetune]))).toEqual(expected);
  });

  it('templates run here, one per declaration, referencing each other by value', () => {
    const llama = model`llama3_8b {
      arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8
      ffn = 14336  vocab = 128256  max_seq = 8192
    }`;
    const node = cluster`node { gpu = H100_SXM_80GB  gpus = ${8} }`;
    const chat = plan`chat {
      model = ${llama}  cluster = ${node}  mode = serve
      tensor = 2  data = 2
      batch { max_batch = 32  max_wait = ${'5 ms'}  seq = 4096 }
      reserve = 10%  workspace = 512 MiB
      traffic { rate = 10  prompt = 512  output = 64  requests = 300 }
      slo { ttft_p99 = 500 ms  max_rejected = 1% }
    }`;
    const finetune = plan`plan finetune {
      model = ${llama}  cluster = ${node}  mode = train
      tensor = 2  pipeline = 2  data = 2  zero = 1
      stages = [0..15, 16..31]
      batch { global = 256  micro = 1  seq = 4096 }
      recompute = selective
      adapter { rank = 16  alpha = 32  targets = ["q_proj", "v_proj"]  dropout = 0.05 }
    }`;
    expect([llama.name, node.name, chat.name, finetune.name]).toEqual(['llama3_8b', 'node', 'chat', 'finetune']);
    expect(placeless(analyzePlans([chat, finetune]))).toEqual(expected);
  });

  it('a planFile template run here', () => {
    // The tag gets what a literal template of PLAN_TEXT gives it (one string, no values).
    const all = planFile(Object.assign([PLAN_TEXT], { raw: [PLAN_TEXT] }));
    expect(all.names).toEqual(['llama3_8b', 'node', 'chat', 'finetune']);
    expect(placeless(analyzePlans([all]))).toEqual(expected);
  });

  it('builders read from TypeScript source without running it', async () => {
    expect(placeless(await analyzeProject([files.path('builders.ts')]))).toEqual(expected);
  });

  it('a planFile template read from TypeScript source', async () => {
    expect(placeless(await analyzeProject([files.path('file.ts')]))).toEqual(expected);
  });

  it('plans checked from TypeScript name the TypeScript file', async () => {
    const a = await analyzeProject([files.path('builders.ts')]);
    expect(a.results.map((r) => r.plan.file)).toEqual([files.path('builders.ts'), files.path('builders.ts')]);
    expect(a.sources.get(files.path('builders.ts'))?.text).toBe(BUILDERS_TS);
  });
});
