/**
 * Context parallelism over small meshes: every plan checks, compiles and simulates cleanly; the
 * context groups partition the ranks next to the tensor groups; and the bytes the graph's steps
 * move over the context group are the bytes the cost model charges to its `context` row.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import type { PlanCost } from '../../src/cost/types.js';
import type { Graph, Step } from '../../src/graph/types.js';
import { memoryHost } from '../fuzz/mutate.js';
import { compileValid } from '../graph/helpers.js';

const MODELS = `
model tiny {
  arch = llama  layers = 4  hidden = 256  heads = 8  kv_heads = 4  ffn = 512  vocab = 1000  max_seq = 1024  dtype = bf16
}
cluster c { gpu = H100_SXM_80GB  nodes = 4  gpus_per_node = 8 }
`;

function check(text: string) {
  const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', text]])) });
  return a;
}

/** Bytes one rank of `program` sends over the context group in one training step, read off the graph's steps. */
function graphContextBytes(graph: Graph, program: string, c: number): number {
  const sent = (s: Step): number => {
    if (!('axis' in s) || s.axis !== 'context') return 0;
    const share = ((c - 1) / c) * s.bytes;
    return s.op === 'all-reduce' ? 2 * share : share;
  };
  let total = 0;
  for (const s of graph.programs[program]!.phases['step']!) {
    if (s.op === 'block') {
      const n = s.layers[1] - s.layers[0] + 1;
      for (const b of graph.blocks[s.block]!) total += n * sent(b);
    } else total += sent(s);
  }
  return total;
}

describe('context parallelism over small meshes', () => {
  it('each plan compiles and simulates; context groups sit next to tensor groups; graph bytes = cost bytes', () => {
    let compiled = 0;
    let refused = 0;
    for (const tensor of [1, 2])
      for (const context of [2, 4])
        for (const pipeline of [1, 2])
          for (const data of [1, 2])
            for (const zero of [0, 1, 3])
              for (const comm of ['p2p', 'all_gather', 'a2a'])
                for (const recompute of ['none', 'full']) {
                  const where = `t${tensor} c${context} p${pipeline} d${data} z${zero} ${comm} ${recompute}`;
                  const text = `${MODELS}\nplan p { model = tiny  cluster = c  mode = train  tensor = ${tensor}  context = ${context}  pipeline = ${pipeline}  data = ${data}  zero = ${zero}  recompute = ${recompute}  context_comm = ${comm}\n  batch { global = 8  seq = 1024 } }\n`;
                  const a = check(text);
                  const errors = a.diagnostics.filter((d) => d.severity === 'error');
                  // a2a splits each tensor rank's 4/t KV heads over the context ranks (PP3058 when it cannot).
                  if (comm === 'a2a' && (4 / tensor) % context !== 0) {
                    expect(
                      errors.map((d) => d.code),
                      where,
                    ).toEqual(['PP3058']);
                    refused++;
                    continue;
                  }
                  expect(errors, where).toEqual([]);
                  const r = a.results[0]!;
                  const { graph } = compileValid(r, where);
                  // A context group: `context` ranks `tensor` apart (tensor fastest, then context).
                  for (const g of graph.groups.context) {
                    expect(g.length, where).toBe(context);
                    g.forEach((rank, i) => expect(rank - g[0]!, where).toBe(i * tensor));
                  }
                  expect(
                    graph.groups.context
                      .flat()
                      .sort((x, y) => x - y)
                      .join(),
                  ).toBe(graph.devices.map((d) => d.rank).join());
                  // The cost model's context row (per step, bytes rounded up) against the graph's steps. At
                  // zero = 3 the graph gathers the layers' weights only, the cost model the stage's
                  // (embedding and output layer too): a difference over data as much as over context.
                  if (zero === 3) {
                    compiled++;
                    continue;
                  }
                  const cost = graph.cost as PlanCost & { train: { stages: { traffic: { group: string; bytes: number }[] }[] } };
                  for (const stage of r.plan.stages) {
                    const row = cost.train.stages[stage.index]!.traffic.filter((x) => x.group === 'context').reduce(
                      (s, x) => s + x.bytes,
                      0,
                    );
                    const want = graphContextBytes(graph, `stage${stage.index}`, context);
                    expect(want, where).toBeGreaterThan(0);
                    expect(Math.abs(row - want), `${where} stage ${stage.index}: cost ${row} vs graph ${want}`).toBeLessThanOrEqual(2);
                  }
                  compiled++;
                }
    expect(compiled + refused).toBe(2 * 2 * 2 * 2 * 3 * 3 * 2);
    expect(refused).toBe(2 * 2 * 3 * 2); // a2a with tensor 2, context 4: every pipeline, data, zero, recompute
  });
});
