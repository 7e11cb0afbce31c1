/**
 * HSDP (shard_group < data) lowered: the data axis' shard and replicate sub-groups in the graph
 * (FSDP2's 2-D DeviceMesh (replicate, shard), shard the faster), ZeRO's shards over the shard
 * group, the collectives on them, and the simulation charging each on the link its group spans
 * as the cost model prices it (src/cost/train.ts hsdpTraffic).
 */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { checkProgram } from '../../src/check/index.js';
import { ratesFor } from '../../src/compile.js';
import { planCost } from '../../src/cost/index.js';
import { checkGroups, simulate } from '../../src/graph/simulate.js';
import { isCollective, type Graph, type Step } from '../../src/graph/types.js';
import { lower } from '../../src/lower/index.js';
import { memoryPlan } from '../../src/memory/index.js';
import { hsdpGroupsAlong } from '../../src/mesh.js';
import type { CheckedPlan } from '../../src/plan.js';
import { validateGraph } from '../graph/helpers.js';

// A small vocabulary: the cost model spreads the embedding's and head's parameters over the
// layers' collectives, the graph gathers the layers' alone; 1000 × 1024 of 50 M parameters.
const TEXT = `
model m {
  arch = llama  layers = 4  hidden = 1024  heads = 8  kv_heads = 8  ffn = 4096  vocab = 128  max_seq = 2048  dtype = bf16
}
cluster two_nodes { gpu = H100_SXM_80GB  nodes = 2  gpus_per_node = 4 }
`;

function checked(body: string): CheckedPlan {
  const { ast, diagnostics } = parse(`${TEXT}\nplan p {\n${body}\n}\n`, 'hsdp.plan');
  const r = checkProgram([ast], ast);
  const errors = [...diagnostics, ...r.diagnostics].filter((d) => d.severity === 'error');
  if (errors.length > 0 || r.plans.length !== 1) throw new Error(errors.map((d) => `${d.code} ${d.message}`).join('; '));
  return r.plans[0]!;
}

const hsdp = (zero: number, micro = 1) =>
  checked(`model = m  cluster = two_nodes  mode = train  data = 8  zero = ${zero}  shard_group = 4
  batch { global = ${8 * micro}  micro = ${micro}  seq = 2048 }`);

function collectives(g: Graph): Extract<Step, { axis: string }>[] {
  const steps = [...Object.values(g.blocks).flat(), ...Object.values(g.programs).flatMap((p) => Object.values(p.phases).flat())];
  return steps.filter(isCollective);
}

/** Seconds the simulation spends on the links of one kind: the step with every other rate infinite. */
function linkSeconds(plan: CheckedPlan, g: Graph, link: 'intra' | 'inter'): number {
  const r = ratesFor(plan);
  const rates =
    link === 'intra'
      ? { ...r, flops: Infinity, memory: Infinity, interNode: Infinity, interNodeLatency: 0 }
      : { ...r, flops: Infinity, memory: Infinity, intraNode: Infinity, intraNodeLatency: 0 };
  return simulate(g, { rates }).makespan;
}

describe('HSDP: shard and replicate sub-groups of data', () => {
  it('splits each data group into consecutive shard groups and strided replicate groups', () => {
    const mesh = { tensor: 2, context: 1, pipeline: 1, data: 6 };
    // data coordinate = replicate × 3 + shard; rank = data × 2 + tensor rank.
    expect(hsdpGroupsAlong(mesh, 3, 'shard')).toEqual([
      [0, 2, 4],
      [1, 3, 5],
      [6, 8, 10],
      [7, 9, 11],
    ]);
    expect(hsdpGroupsAlong(mesh, 3, 'replicate')).toEqual([
      [0, 6],
      [1, 7],
      [2, 8],
      [3, 9],
      [4, 10],
      [5, 11],
    ]);
  });

  it('the graph names the groups, each device its group in them, and shards ZeRO state over the shard group', () => {
    const plan = hsdp(3);
    const g = lower(plan, memoryPlan(plan));
    expect(validateGraph(g), JSON.stringify(validateGraph.errors)).toBe(true);
    expect(checkGroups(g)).toEqual([]);
    expect(g.mesh.hsdp).toEqual({ shard: 4, replicate: 2 });
    // Shard groups within a node, replicate groups across the two.
    expect(g.groups.data_shard).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(g.groups.data_replicate).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(g.devices[6]!.groups).toMatchObject({ data: 0, data_shard: 1, data_replicate: 2 });
    const q = g.tensors.find((t) => t.name === 'layers.{l}.attn.q.weight')!;
    expect(q.shards).toEqual([{ dim: -1, parts: 4, over: 'data_shard' }]);
    expect(q.bytes).toBe((1024 * 1024 * 2) / 4);
    // No collective runs over the whole data axis.
    const colls = collectives(g);
    expect(colls.filter((s) => s.axis === 'data')).toEqual([]);
    const layerBytes = g.blocks['layer.forward']!.find(isCollective)!.bytes;
    // bf16 weights, fp32 gradients (grad_dtype's default).
    expect(plan.mode === 'train' && plan.gradDtype).toBe('fp32');
    const gradBytes = 2 * layerBytes;
    // ZeRO-3's per-layer collectives run beside the compute (docs/graph.md "Overlapped collectives").
    expect(g.blocks['layer.forward']!.filter(isCollective)).toEqual([
      { op: 'all-gather', axis: 'data_shard', tensor: 'layers.{l}.*', bytes: layerBytes, overlap: true },
    ]);
    expect(g.blocks['layer.backward']!.filter(isCollective)).toEqual([
      { op: 'all-gather', axis: 'data_shard', tensor: 'layers.{l}.*', bytes: layerBytes, overlap: true },
      { op: 'reduce-scatter', axis: 'data_shard', tensor: 'grad.layers.{l}.*', bytes: gradBytes, overlap: true },
      { op: 'all-reduce', axis: 'data_replicate', tensor: 'grad.layers.{l}.*', bytes: gradBytes / 4, overlap: true },
    ]);
  });

  it('zero = 1: the step reduce-scatters within the shard group, all-reduces the shard across it, gathers within it', () => {
    const plan = hsdp(1);
    const g = lower(plan, memoryPlan(plan));
    expect(validateGraph(g), JSON.stringify(validateGraph.errors)).toBe(true);
    // Each layer's gradients in the last backward (DDP's buckets, overlapsGradSync), then the rest, then the gather.
    const perLayer = ['reduce-scatter data_shard', 'all-reduce data_replicate'];
    expect(collectives(g).map((s) => `${s.op} ${s.axis}`)).toEqual([
      ...perLayer,
      ...perLayer,
      ...perLayer,
      ...perLayer,
      ...perLayer,
      'all-gather data_shard',
    ]);
  });

  for (const zero of [1, 2, 3])
    it(`zero = ${zero}: the simulation charges each link what the cost model prices on it`, () => {
      const plan = hsdp(zero);
      const memory = memoryPlan(plan);
      const g = lower(plan, memory);
      const traffic = planCost(plan, memory).train!.stages[0]!.traffic;
      const seconds = (link: string) =>
        traffic.filter((t) => t.group === 'data' && t.link === link).reduce((a, t) => a + (t.seconds ?? 0), 0);
      const nvlink = seconds('nvlink');
      const network = seconds('network');
      expect(network).toBeGreaterThan(0);
      // Within 2%: the same bytes and operations per link (zero 1/2 reduce layer by layer, as the cost model counts);
      // ZeRO-3 within 0.2%; with the per-layer buckets of zero 1/2 a residual ~1.5% is not traced yet.
      const tolerance = zero === 3 ? 0.01 : 0.02;
      expect(Math.abs(linkSeconds(plan, g, 'inter') / network - 1)).toBeLessThan(tolerance);
      expect(Math.abs(linkSeconds(plan, g, 'intra') / nvlink - 1)).toBeLessThan(tolerance);
    });

  for (const [micro, bound] of [
    [1, 'communication-bound'],
    [8, 'compute-bound'],
  ] as const)
    it(`zero = 3, ${bound}: the per-layer collectives run beside the compute, not after it`, () => {
      const plan = hsdp(3, micro);
      const g = lower(plan, memoryPlan(plan));
      const r = ratesFor(plan);
      const compute = simulate(g, {
        rates: { ...r, intraNode: Infinity, interNode: Infinity, intraNodeLatency: 0, interNodeLatency: 0 },
      }).makespan;
      const comm = simulate(g, { rates: { ...r, flops: Infinity, memory: Infinity } }).makespan;
      const step = simulate(g, { rates: r }).makespan;
      expect(micro === 1 ? comm > compute : compute > 3 * comm).toBe(true);
      // Never faster than the busier stream; the other mostly hidden (the first gather and the last
      // layer's reduce-scatter and all-reduce stay exposed: they have no compute beside them).
      expect(step).toBeGreaterThanOrEqual(Math.max(compute, comm) * (1 - 1e-12));
      expect(step).toBeLessThan(Math.max(compute, comm) + 0.5 * Math.min(compute, comm));
    });
});
