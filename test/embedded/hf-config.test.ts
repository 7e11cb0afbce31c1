/**
 * `model('q', { hf_config: '…' })`: the TypeScript builders take a Hugging Face config as the
 * `.plan` key does, at run time (analyzePlans) and in the static reader (parplan check on a
 * .ts file): the path relative to the calling file, confined as imports are, its diagnostics
 * inside the config. Parameter counts compare with test/models/reference-counts.json (the
 * independent reference).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeProject } from '../../src/analyze.js';
import { analyzePlans } from '../../src/analyze-values.js';
import { cluster, model, plan } from '../../src/index.js';
import { countParams } from '../../src/memory/params.js';
import { project } from './helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
const reference = (config: string): number =>
  (
    JSON.parse(readFileSync(join(REPO, 'test', 'models', 'reference-counts.json'), 'utf8')) as {
      models: Record<string, { total_params: number }>;
    }
  ).models[config]!.total_params;
const QWEN3 = readFileSync(join(REPO, 'examples', 'configs', 'Qwen3-8B.json'), 'utf8');

describe('hf_config in the TypeScript builders', () => {
  it('at run time: the config is read relative to the calling file', () => {
    const qwen = model('qwen3_8b', { hf_config: '../../examples/configs/Qwen3-8B.json', max_seq: 8192 });
    const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 1 });
    const serve = plan('serve', { model: qwen, cluster: node, mode: 'serve', batch: { max_batch: 4, seq: 4096 } });
    const a = analyzePlans([serve]);
    expect(a.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
    expect(a.diagnostics.map((d) => d.code)).toContain('PP2024'); // max_seq overrides max_position_embeddings
    expect(countParams(a.results[0]!.plan.model)).toBe(reference('Qwen3-8B.json'));
  });

  const files = project({
    'config.json': QWEN3,
    'bad.json': QWEN3.replace('"hidden_size": 4096', '"hidden_size": "4096"'),
    'app.ts': `import { cluster, model, plan } from 'parplan';
const qwen = model('qwen3_8b', { hf_config: 'config.json' });
const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 1 });
export const serve = plan('serve', { model: qwen, cluster: node, mode: 'serve', batch: { max_batch: 4, seq: 4096 } });
`,
    'bad.ts': `import { model } from 'parplan';
export const broken = model('broken', { hf_config: 'bad.json' });
export const outside = model('outside', { hf_config: '/proc/self/environ' });
`,
  });
  afterAll(() => files.cleanup());

  it('in the static reader: parplan check on a .ts file reads the config', async () => {
    const a = await analyzeProject([files.path('app.ts')]);
    expect(a.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
    expect(a.results).toHaveLength(1);
    expect(countParams(a.results[0]!.plan.model)).toBe(reference('Qwen3-8B.json'));
  });

  it('in the static reader: a bad field points into the config, a refused path at the string', async () => {
    const a = await analyzeProject([files.path('bad.ts')]);
    const wrong = a.diagnostics.find((d) => d.code === 'PP2021')!;
    expect(wrong.span!.file).toBe(files.path('bad.json'));
    expect(a.sources.get(files.path('bad.json'))!.text.slice(wrong.span!.start, wrong.span!.end)).toBe('"4096"');
    const refused = a.diagnostics.find((d) => d.code === 'PP2018')!;
    expect(refused.span!.file).toBe(files.path('bad.ts'));
  });
});
