import { describe, expect, it } from 'vitest';
import {
  allReduceBytes,
  dataGroupCrossesNodes,
  linkOf,
  pipelineHopCrossesNodes,
  planCost,
  reduceScatterBytes,
  tensorGroupCrossesNodes,
} from '../../src/cost/index.js';
import { GPUS } from '../../src/facts/gpus.js';
import { memoryPlan } from '../../src/memory/index.js';
import { llama2_7b, servePlan, trainPlan } from '../memory/fixtures.js';

describe('ring collectives', () => {
  it('each rank sends 2(n − 1)/n of an all-reduce and (n − 1)/n of a reduce-scatter or all-gather', () => {
    expect(allReduceBytes(1000, 1)).toBe(0);
    expect(allReduceBytes(1000, 2)).toBe(1000);
    expect(allReduceBytes(1000, 8)).toBe(1750);
    expect(reduceScatterBytes(1000, 1)).toBe(0);
    expect(reduceScatterBytes(1000, 4)).toBe(750);
  });
});

describe('intra- or inter-node: rank = (dataRank·p + stage)·t + tensorRank, node = ⌊rank / gpus_per_node⌋', () => {
  // t = 4, p = 2, d = 2 on nodes of 8: replica 0 is ranks 0-7 (node 0), replica 1 ranks 8-15 (node 1).
  const plan = trainPlan(llama2_7b, { tensor: 4, pipeline: 2, data: 2, microbatches: 4, gpusPerNode: 8 });

  it('a tensor group inside a node uses the GPU link (nvlink); a data group across nodes the network', () => {
    expect(tensorGroupCrossesNodes(plan, 0)).toBe(false);
    expect(pipelineHopCrossesNodes(plan, 0, 1)).toBe(false);
    expect(dataGroupCrossesNodes(plan, 0)).toBe(true); // ranks 0 and 8
    expect(linkOf(plan, false)).toBe('nvlink');
    expect(linkOf(plan, true)).toBe('network');
    const traffic = planCost(plan, memoryPlan(plan)).train!.stages[0]!.traffic;
    expect(traffic.map((r) => [r.group, r.link])).toEqual([
      ['tensor', 'nvlink'],
      ['pipeline', 'nvlink'],
      ['data', 'network'],
    ]);
  });

  it('a pipeline hop between nodes uses the network; a tensor group split over nodes too', () => {
    const pp = trainPlan(llama2_7b, { tensor: 8, pipeline: 2, microbatches: 4, gpusPerNode: 8 });
    expect(tensorGroupCrossesNodes(pp, 1)).toBe(false);
    expect(pipelineHopCrossesNodes(pp, 0, 1)).toBe(true);
    const s0 = planCost(pp, memoryPlan(pp)).train!.stages[0]!;
    expect(s0.bytesByLink.network).toBe(s0.traffic.find((r) => r.group === 'pipeline')!.bytes);
    expect(s0.bytesByLink.nvlink).toBe(s0.traffic.find((r) => r.group === 'tensor')!.bytes);
    // The checker rejects tensor > gpus_per_node (PP3017); the cost model still classifies it.
    const wide = trainPlan(llama2_7b, { tensor: 8, microbatches: 4, gpusPerNode: 4 });
    expect(tensorGroupCrossesNodes(wide, 0)).toBe(true);
  });

  it('uses the catalog link kind within a node: pcie, infinity-fabric', () => {
    const l4 = servePlan(llama2_7b, { tensor: 2, gpu: GPUS.L4!, maxBatch: 4, seq: 2048 });
    expect(planCost(l4, memoryPlan(l4)).serve!.stages[0]!.traffic.map((r) => r.link)).toEqual(['pcie']);
    const mi = servePlan(llama2_7b, { tensor: 2, gpu: GPUS.MI300X!, maxBatch: 4, seq: 2048 });
    const s = planCost(mi, memoryPlan(mi)).serve!.stages[0]!;
    expect(s.traffic.map((r) => r.link)).toEqual(['infinity-fabric']);
    expect(s.bytesByLink.infinityFabric).toBeGreaterThan(0);
  });

  it('scales network time with the cluster’s network bandwidth', () => {
    const slow = { ...plan, cluster: { ...plan.cluster, networkGBs: 25 } };
    const fast = planCost(plan, memoryPlan(plan)).train!.stages[0]!.traffic.find((r) => r.group === 'data')!;
    const half = planCost(slow, memoryPlan(slow)).train!.stages[0]!.traffic.find((r) => r.group === 'data')!;
    expect(half.bytes).toBe(fast.bytes);
    expect(half.seconds! - half.ops * 20e-6).toBeCloseTo(2 * (fast.seconds! - fast.ops * 20e-6), 12);
  });
});
