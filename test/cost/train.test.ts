import { describe, expect, it } from 'vitest';
import {
  bubbleFraction,
  dataTraffic,
  EFFICIENCY,
  LATENCY_S,
  layerMatmulParams,
  modelFlopsPerStep,
  modelForwardFlops,
  pipelineTraffic,
  planCost,
  tensorTraffic,
  trainMicrobatchFlops,
  type TrainCost,
} from '../../src/cost/index.js';
import { ratesOf, hardwareOf } from '../../src/cost/rates.js';
import { memoryPlan } from '../../src/memory/index.js';
import type { TrainPlan } from '../../src/plan.js';
import { trainPlan } from '../memory/fixtures.js';
import { TOY_LAYER_PARAMS, toy } from './fixtures.js';

/** H100 SXM: 989 TFLOP/s bf16 × 0.5; NVLink 450 GB/s × 0.8. */
const H100_FLOPS = 989e12 * 0.5;
const NVLINK = 450e9 * 0.8;

function train(plan: TrainPlan): TrainCost {
  const c = planCost(plan, memoryPlan(plan));
  expect(c.known, c.reason ?? '').toBe(true);
  return c.train!;
}

describe('training FLOPs', () => {
  // toy, s = 128, b = 2: tokens per microbatch s·b = 256.
  const plan = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4 });

  it('counts 2 × params × tokens, attention 4s²·(a/t)·d per layer, the output layer, backward 2×', () => {
    expect(layerMatmulParams(plan)).toBe(TOY_LAYER_PARAMS);
    const f = trainMicrobatchFlops(plan, plan.stages[0]!);
    const layers = 2 * 65_664 * 256 * 2; //                    67,239,936
    const attention = 2 * 4 * 128 * 128 * 4 * 16 * 2; //       b · 4s² · a · d · L = 16,777,216
    const output = 2 * 1000 * 64 * 256; //                     2 · V · h · s·b = 32,768,000
    expect(layers + attention + output).toBe(116_785_152);
    expect(f).toEqual({ fp8: 0, fp8Backward: 0, forward: 116_785_152, backward: 233_570_304, recompute: 0, weightGrad: 67_108_864 });
  });

  it('adds the recomputed forward: full → the layers (not the output layer), selective → the attention core', () => {
    const full = trainMicrobatchFlops({ ...plan, recompute: 'full' }, plan.stages[0]!);
    expect(full.recompute).toBe(67_239_936 + 16_777_216);
    const selective = trainMicrobatchFlops({ ...plan, recompute: 'selective' }, plan.stages[0]!);
    expect(selective.recompute).toBe(16_777_216);
  });

  it('shards the layers over tensor ranks and puts the output layer on the last stage only', () => {
    const t2 = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, tensor: 2 });
    // Per rank: q, k, v, o 64 × 32 = 2,048 each; up, gate, down 64 × 128 = 8,192 each; norms 128 (replicated).
    expect(layerMatmulParams(t2)).toBe(4 * 2048 + 3 * 8192 + 128);
    const p2 = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, pipeline: 2 });
    const [s0, s1] = p2.stages.map((s) => trainMicrobatchFlops(p2, s).forward);
    expect(s0).toBe(2 * 65_664 * 256 + 8_388_608); //                42,008,576
    expect(s1).toBe(2 * 65_664 * 256 + 8_388_608 + 32_768_000); //    74,776,576
  });

  it('model FLOPs per step are 3 × forward × global, as Narayanan eq. 3 without the recompute pass', () => {
    // forward of one sequence: 2 · (2 · 65,664 + 1,000 · 64) · 128 + 4 · 128² · 4 · 16 · 2 = 58,392,576.
    expect(modelForwardFlops(toy, 128)).toBe(58_392_576);
    expect(modelFlopsPerStep(plan)).toBe(3 * 58_392_576 * 8);
  });
});

describe('training step time', () => {
  it('one GPU: step = m × compute, MFU = the compute efficiency exactly', () => {
    const t = train(trainPlan(toy, { seq: 128, micro: 2, microbatches: 4 }));
    const step = (4 * 3 * 116_785_152) / H100_FLOPS; // 1,401,421,824 FLOPs at 494.5 TFLOP/s = 2.834 µs
    expect(t.stepSeconds).toBeCloseTo(step, 15);
    expect(t.computeSeconds).toBeCloseTo(step, 15);
    expect(t.commSeconds).toBe(0);
    expect(t.bubbleSeconds).toBe(0);
    expect(t.bubbleFraction).toBe(0);
    expect(t.tokensPerSecond).toBeCloseTo((8 * 128) / step, 3);
    expect(t.mfu).toBeCloseTo(EFFICIENCY.compute, 12);
    expect(t.stages[0]!.flops).toBe(1_401_421_824);
  });

  it('two stages, gpipe: step = (m + p − 1) × the slowest stage’s microbatch (compute + sends)', () => {
    const plan = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, pipeline: 2, schedule: 'gpipe' });
    const t = train(plan);
    // Stage 1 (output layer) is slower: 3 × 74,776,576 FLOPs, and sends one input gradient of
    // s·b·h·2 = 32,768 B back to stage 0 per microbatch.
    const send = 32_768 / NVLINK + LATENCY_S.intraNode;
    const T = (3 * 74_776_576) / H100_FLOPS + send;
    expect(t.slowestStage).toBe(1);
    expect(t.stepSeconds).toBeCloseTo((4 + 2 - 1) * T, 15);
    expect(t.bubbleSeconds).toBeCloseTo(T, 15);
    expect(t.bubbleFraction).toBe(1 / 5);
    expect(t.commSeconds).toBeCloseTo(4 * send, 15);
    expect(t.stages[1]!.traffic).toEqual([
      { group: 'pipeline', link: 'nvlink', bytes: 4 * 32_768, ops: 4, seconds: expect.closeTo(4 * send, 15) },
    ]);
  });
});

describe('bubble fraction (Narayanan et al. 2021, §2.2)', () => {
  it('is (p − 1)/(m + p − 1) for gpipe and 1f1b, (p − 1)/(v·m + p − 1) interleaved, 0 for one stage', () => {
    expect(bubbleFraction('gpipe', 4, 8)).toBe(3 / 11);
    expect(bubbleFraction('1f1b', 4, 8)).toBe(3 / 11);
    expect(bubbleFraction('interleaved', 4, 8, 2)).toBe(3 / 19);
    expect(bubbleFraction('1f1b', 1, 8)).toBe(0);
    expect(bubbleFraction('1f1b', 8, 1)).toBe(7 / 8);
  });

  it('the plan reports it, and the bubble time is (p − 1)/v microbatch times', () => {
    const plan = trainPlan(toy, {
      seq: 128,
      micro: 1,
      microbatches: 8,
      pipeline: 2,
      schedule: 'interleaved',
      virtual: 2,
      stageLayers: [1, 1],
    });
    const t = train(plan);
    expect(t.bubbleFraction).toBe(1 / 17);
    const T = t.stages[t.slowestStage!]!.microbatchSeconds!;
    expect(t.bubbleSeconds).toBeCloseTo(T / 2, 15);
  });
});

describe('tensor-parallel traffic', () => {
  const base = { seq: 128, micro: 2, microbatches: 4 } as const;
  // One activation: s·b·h·2 B = 128 · 2 · 64 · 2 = 32,768 B.
  const S = 32_768;

  it('is nothing for t = 1', () => {
    const plan = trainPlan(toy, base);
    expect(tensorTraffic(plan, plan.stages[0]!).list(ratesOf(hardwareOf(plan)))).toEqual([]);
    expect(train(plan).stages[0]!.traffic).toEqual([]);
  });

  it('is 4 all-reduces per layer of 2(t − 1)/t × s·b·h·bytes per microbatch', () => {
    const t2 = trainPlan(toy, { ...base, tensor: 2 });
    const rates = ratesOf(hardwareOf(t2));
    const [row] = tensorTraffic(t2, t2.stages[0]!).list(rates);
    expect(row).toEqual({ group: 'tensor', link: 'nvlink', bytes: 2 * 4 * ((2 * 1) / 2) * S, ops: 8, seconds: expect.any(Number) });
    expect(row!.bytes).toBe(262_144);
    expect(row!.seconds).toBeCloseTo(262_144 / NVLINK + 8 * LATENCY_S.intraNode, 15);
    const t4 = trainPlan(toy, { ...base, tensor: 4 });
    expect(tensorTraffic(t4, t4.stages[0]!).list(rates)[0]!.bytes).toBe(2 * 4 * ((2 * 3) / 4) * S); // 393,216
    // Per step: × m microbatches.
    const step = train(t2).stages[0]!.traffic.find((r) => r.group === 'tensor')!;
    expect(step.bytes).toBe(4 * 262_144);
  });

  it('sequence parallelism moves the same bytes in twice the operations; full recompute adds 2 per layer', () => {
    const rates = ratesOf(hardwareOf(trainPlan(toy, base)));
    const sp = trainPlan(toy, { ...base, tensor: 2, sequenceParallel: true });
    expect(tensorTraffic(sp, sp.stages[0]!).list(rates)[0]).toMatchObject({ bytes: 262_144, ops: 16 });
    const full = trainPlan(toy, { ...base, tensor: 2, recompute: 'full' });
    expect(tensorTraffic(full, full.stages[0]!).list(rates)[0]).toMatchObject({ bytes: 2 * 6 * S, ops: 12 });
  });
});

describe('pipeline and data-parallel traffic', () => {
  it('pipeline: each stage sends s·b·h·bytes forward and backward per microbatch (÷ t with SP)', () => {
    const plan = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, pipeline: 2 });
    const rates = ratesOf(hardwareOf(plan));
    expect(pipelineTraffic(plan, plan.stages[0]!).list(rates)).toMatchObject([{ group: 'pipeline', bytes: 32_768, ops: 1 }]);
    const sp = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, pipeline: 2, tensor: 2, sequenceParallel: true });
    expect(pipelineTraffic(sp, sp.stages[1]!).list(rates)).toMatchObject([{ bytes: 16_384, ops: 1 }]);
    // Interleaved, v = 2: stage 0 sends both chunks forward and its second chunk backward (to stage 1).
    const il = trainPlan(toy, {
      seq: 128,
      micro: 1,
      microbatches: 4,
      pipeline: 2,
      schedule: 'interleaved',
      virtual: 2,
      stageLayers: [1, 1],
    });
    expect(pipelineTraffic(il, il.stages[0]!).list(rates)).toMatchObject([{ bytes: 3 * 16_384, ops: 3 }]);
  });

  it('data: ZeRO-0 all-reduces gradients, ZeRO-1 reduce-scatters them and all-gathers weights, ZeRO-3 per microbatch', () => {
    // One device holds 2 · 65,664 + 1,000 · 64 (embedding) + 64 (final norm) + 1,000 · 64 (output) = 259,392 params:
    // G = 259,392 × 4 B (fp32 grads) = 1,037,568, W = 259,392 × 2 B (bf16) = 518,784; d = 2, (d − 1)/d = 1/2.
    const opts = { seq: 128, micro: 2, microbatches: 4, data: 2 } as const;
    const bytes = (zero: 0 | 1 | 2 | 3) => {
      const plan = trainPlan(toy, { ...opts, zero });
      return train(plan).stages[0]!.traffic.find((r) => r.group === 'data')!.bytes;
    };
    expect(bytes(0)).toBe(1_037_568); //                       2 · 1/2 · G
    expect(bytes(1)).toBe((1_037_568 + 518_784) / 2); //        1/2 · (G + W)
    expect(bytes(2)).toBe(4 * (1_037_568 / 2) + 518_784 / 2); // per microbatch G/2, per step W/2
    expect(bytes(3)).toBe(4 * (518_784 + 1_037_568 / 2)); //    per microbatch 2 · W/2 + G/2
    const plan = trainPlan(toy, { ...opts, zero: 1 });
    const split = dataTraffic(plan, plan.stages[0]!, 259_392);
    const rates = ratesOf(hardwareOf(plan));
    expect(split.perMicrobatch.list(rates)).toEqual([]);
    expect(split.perStep.list(rates)[0]!.bytes).toBe(778_176);
  });

  it('per-step data traffic hides behind the last backward pass: only the excess is exposed', () => {
    const plan = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, data: 2 });
    const t = train(plan);
    // One all-reduce per layer in the last backward and one for the rest (DDP's buckets, overlapsGradSync): a latency each.
    const sync = 1_037_568 / NVLINK + (plan.stages[0]!.layers + 1) * LATENCY_S.intraNode;
    const backward = (2 * 116_785_152) / H100_FLOPS;
    expect(t.commSeconds).toBeCloseTo(Math.max(0, sync - backward), 15);
    expect(t.stepSeconds).toBeCloseTo((4 * 3 * 116_785_152) / H100_FLOPS + Math.max(0, sync - backward), 15);
  });
});

describe('HSDP and reshard_after_forward (data traffic)', () => {
  // 16 data ranks on 2 nodes of 8: shard groups of 8 within a node, 2 replicas across nodes.
  const params = 259_392;
  const G = params * 4; // fp32 gradients
  const W = params * 2; // bf16 weights
  const split = (o: Partial<TrainPlan>) => {
    const plan: TrainPlan = { ...trainPlan(toy, { seq: 128, micro: 1, microbatches: 1, data: 16, gpusPerNode: 8 }), ...o };
    const s = dataTraffic(plan, plan.stages[0]!, params);
    const rates = ratesOf(hardwareOf(plan));
    const byLink = (rows: ReturnType<typeof s.perMicrobatch.list>) => Object.fromEntries(rows.map((r) => [r.link, r.bytes]));
    return { mb: byLink(s.perMicrobatch.list(rates)), step: byLink(s.perStep.list(rates)) };
  };

  it('ZeRO-2: reduce-scatter within the node, all-reduce of the G/8 shard across the 2 nodes, all-gather within', () => {
    const t = split({ zero: 2, shardGroup: 8 });
    expect(t.mb).toEqual({ nvlink: Math.ceil((7 / 8) * G), network: Math.ceil(2 * (1 / 2) * (G / 8)) });
    expect(t.step).toEqual({ nvlink: Math.ceil((7 / 8) * W) });
  });

  it('ZeRO-2 without a shard group: everything over the 16 ranks, across nodes', () => {
    const t = split({ zero: 2 });
    expect(t.mb).toEqual({ network: Math.ceil((15 / 16) * G) });
  });

  it('ZeRO-3, reshard_after_forward = false: one all-gather per layer instead of two', () => {
    const kept = split({ zero: 3, shardGroup: 8, reshardAfterForward: false });
    const resharded = split({ zero: 3, shardGroup: 8 });
    // What goes: the backward pass's all-gathers, (7/8)·W over the stage's layers.
    expect(Math.abs(resharded.mb.nvlink! - kept.mb.nvlink! - (7 / 8) * W)).toBeLessThanOrEqual(1);
    expect(kept.mb.network).toBe(resharded.mb.network);
  });
});
