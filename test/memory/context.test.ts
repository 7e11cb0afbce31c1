/**
 * Context parallelism in the memory model (docs/memory.md "Context parallelism"): activations and
 * logits at s/c, model states sharded over data × context, and one layer's exchange buffers, with
 * the expected bytes worked out by hand from the formulas' sources, not from the code.
 */
import { describe, expect, it } from 'vitest';
import { contextAttentionTransient, trainActivations } from '../../src/memory/activations.js';
import { memoryPlan } from '../../src/memory/index.js';
import { llama3_8b, trainPlan } from './fixtures.js';

describe('context parallelism: memory', () => {
  it("a context rank's saved activations and logits are those of a sequence c times shorter", () => {
    for (const recompute of ['none', 'selective', 'full'] as const)
      for (const c of [2, 4, 8]) {
        const s = 131072;
        // Stage 0 of two: no output layer, so the exchange buffers add in full (on the last stage they
        // come after the logits are freed: max(output, workspace + exchange)).
        const cp = trainPlan(llama3_8b, { context: c, seq: s, recompute, data: 8 / c, pipeline: 2, microbatches: 2 });
        const short = trainPlan(llama3_8b, { seq: s / c, recompute, data: 8, pipeline: 2, microbatches: 2 });
        const stage = cp.stages[0]!;
        expect(stage.hasOutput).toBe(false);
        const transient = contextAttentionTransient(cp);
        expect(transient).toBeGreaterThan(0);
        expect(trainActivations(cp, stage).bytes - transient, `${recompute} c${c}`).toBe(trainActivations(short, stage).bytes);
      }
  });

  it("one layer's exchange buffers, by context_comm (Llama-3-8B: g = 8, A = 32, d = 128, bf16, s = 131072, c = 4)", () => {
    const plan = (comm: 'p2p' | 'all_gather' | 'a2a') => trainPlan(llama3_8b, { context: 4, seq: 131072, contextComm: comm, data: 2 });
    const s = 131072;
    const sl = s / 4;
    // Forward: the whole sequence's K and V (2·s·g·d·2 B) and the fp32 output/LSE accumulator 4·s'·A·(d + 1).
    const fullKv = 2 * s * 8 * 128 * 2; // 536,870,912
    const acc = 4 * sl * 32 * 129; // 541,065,216
    const dq = 4 * sl * 32 * 128; // 536,870,912
    // p2p backward: KV and dKV chunks double-buffered, 4 × 2·s'·g·d·2 B, and the fp32 dq.
    expect(contextAttentionTransient(plan('p2p'))).toBe(Math.max(fullKv + acc, 4 * (2 * sl * 8 * 128 * 2) + dq));
    expect(contextAttentionTransient(plan('p2p'))).toBe(1_077_936_128);
    // all_gather backward: K,V gathered again and the whole sequence's dK,dV.
    expect(contextAttentionTransient(plan('all_gather'))).toBe(2 * fullKv + dq);
    expect(contextAttentionTransient(plan('all_gather'))).toBe(1_610_612_736);
    // a2a: q, k, v, out re-laid (s'·(2A + 2g)·d·2 B) and their gradients.
    expect(contextAttentionTransient(plan('a2a'))).toBe(2 * sl * (2 * 32 + 2 * 8) * 128 * 2);
    expect(contextAttentionTransient(trainPlan(llama3_8b, { seq: s }))).toBe(0);
  });

  it('ZeRO shards over data × context: data 2 × context 4 holds what data 8 does', () => {
    for (const zero of [1, 2, 3] as const) {
      const cp = memoryPlan(trainPlan(llama3_8b, { context: 4, data: 2, zero, seq: 8192 })).devices[0]!.breakdown;
      const dp = memoryPlan(trainPlan(llama3_8b, { data: 8, zero, seq: 8192 })).devices[0]!.breakdown;
      expect([cp.weights, cp.gradients, cp.optimizer], `zero ${zero}`).toEqual([dp.weights, dp.gradients, dp.optimizer]);
    }
    // ZeRO with data = 1 still shards over the context ranks.
    const alone = memoryPlan(trainPlan(llama3_8b, { context: 8, zero: 1, seq: 8192 })).devices[0]!.breakdown;
    const dp8 = memoryPlan(trainPlan(llama3_8b, { data: 8, zero: 1, seq: 8192 })).devices[0]!.breakdown;
    expect(alone.optimizer).toBe(dp8.optimizer);
  });

  it('lists every device in rank order, tensor fastest then context, each with its context rank', () => {
    const m = memoryPlan(trainPlan(llama3_8b, { tensor: 2, context: 2, pipeline: 2, data: 2, seq: 8192 }));
    expect(m.devices.length).toBe(16);
    expect(m.devices.slice(0, 5).map((d) => [d.tensorRank, d.contextRank, d.stage, d.dataRank])).toEqual([
      [0, 0, 0, 0],
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [1, 1, 0, 0],
      [0, 0, 1, 0],
    ]);
    m.devices.forEach((d, i) => expect(d.rank).toBe(i));
  });
});
