/** The cluster's `network` key: inter-node bandwidth per GPU, GB/s, default 50. */
import { describe, expect, it } from 'vitest';
import { analyzeText } from '../fuzz/mutate.js';

const PATH = '/net.plan';

const plan = (clusterBody: string) => `
model m { arch = llama  layers = 4  hidden = 512  heads = 8  ffn = 1024  vocab = 1000  max_seq = 1024 }
cluster c { gpu = H100_SXM_80GB  nodes = 2  gpus_per_node = 8  ${clusterBody} }
plan p {
  model = m  cluster = c  mode = train
  tensor = 8  data = 2
  batch { global = 8  micro = 1  seq = 1024 }
}
`;

function check(clusterBody: string) {
  return analyzeText(plan(clusterBody), PATH);
}

describe('cluster network', () => {
  it('defaults to 50 GB/s (400 Gb/s InfiniBand per GPU)', () => {
    const a = check('');
    expect(a.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(a.results[0]!.plan.cluster.networkGBs).toBe(50);
    expect(a.results[0]!.cost.hardware.networkGBs).toBe(50);
  });

  it('is read from the cluster, and the data-parallel sync across nodes slows with it', () => {
    const fast = check('network = 100').results[0]!;
    const slow = check('network = 12.5').results[0]!;
    expect(fast.plan.cluster.networkGBs).toBe(100);
    expect(slow.plan.cluster.networkGBs).toBe(12.5);
    const data = (r: typeof fast) => r.cost.train!.stages[0]!.traffic.find((t) => t.group === 'data')!;
    expect(data(fast).link).toBe('network');
    expect(data(slow).seconds!).toBeGreaterThan(data(fast).seconds!);
  });

  it('rejects a negative bandwidth and a unit', () => {
    expect(check('network = -1').diagnostics.map((d) => d.code)).toContain('PP2008');
    expect(check('network = 50 GB').diagnostics.map((d) => d.code)).toContain('PP2007');
  });
});
