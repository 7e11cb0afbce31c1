/**
 * Every expert grid over small meshes, both modes: a plan either gets positioned diagnostics
 * (never an internal error) or checks, compiles and simulates cleanly with expert groups that
 * partition each stage's ranks.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { memoryHost } from '../fuzz/mutate.js';
import { compileValid } from '../graph/helpers.js';

const MODELS = `
model moe {
  arch = llama  layers = 4  hidden = 256  heads = 8  kv_heads = 4  ffn = 512  vocab = 1000  max_seq = 512  dtype = bf16
  experts = 8  experts_per_token = 2  expert_ffn = 96  shared_experts = 1  shared_expert_ffn = 64  dense_layers = 1
}
cluster c { gpu = H100_SXM_80GB  nodes = 2  gpus_per_node = 8 }
`;

describe('expert grids over small meshes', () => {
  it('each plan is refused with placed diagnostics or compiles cleanly', () => {
    let compiled = 0;
    let refused = 0;
    for (const mode of ['train', 'serve'] as const)
      for (const tensor of [1, 2, 4])
        for (const data of [1, 2, 4])
          for (const pipeline of [1, 2])
            for (const expert of [1, 2, 3, 4, 8])
              for (const etp of [undefined, 1, 2]) {
                const batch = mode === 'train' ? 'batch { global = 16  seq = 128 }' : 'batch { max_batch = 4  seq = 128 }';
                const sp = mode === 'train' && tensor > 1 ? 'sequence_parallel = true' : '';
                const text = `${MODELS}\nplan p { model = moe  cluster = c  mode = ${mode}  tensor = ${tensor}  data = ${data}  pipeline = ${pipeline}  expert = ${expert}  ${etp === undefined ? '' : `expert_tensor = ${etp}`}  ${sp}\n  ${batch} }\n`;
                const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', text]])) });
                const where = `${mode} t${tensor} d${data} p${pipeline} e${expert} et${etp}`;
                expect(
                  a.diagnostics.filter((d) => d.code === 'PP9001'),
                  where,
                ).toEqual([]);
                const errors = a.diagnostics.filter((d) => d.severity === 'error' && d.code !== 'PP4001');
                if (errors.length > 0) {
                  refused++;
                  for (const d of errors) expect(d.span, `${where} ${d.code}`).toBeDefined();
                  continue;
                }
                const r = a.results[0]!;
                const { graph } = compileValid(r, where);
                // Within each stage, the expert groups partition the stage's tensor × data ranks.
                const ranks = graph.groups.expert!.flat().sort((x, y) => x - y);
                expect(ranks, where).toEqual(graph.devices.map((d) => d.rank));
                expect(graph.groups.expert!.every((g) => g.length === r.plan.experts.expert)).toBe(true);
                compiled++;
              }
    // Both outcomes occur (the counts are whatever the rules give; the loop above checks each plan).
    expect(compiled).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });
});
