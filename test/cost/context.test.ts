/**
 * Context parallelism in the cost model: each rank computes 1/c of a sequence's FLOPs (its s/c
 * tokens, attending over the whole sequence, load-balanced), and its KV exchange is charged on
 * the context group's link at (c − 1)/c of the whole sequence's K and V per gather.
 */
import { describe, expect, it } from 'vitest';
import { contextTraffic } from '../../src/cost/context.js';
import { layerFlops, trainDims, trainMicrobatchFlops } from '../../src/cost/flops.js';
import { hardwareOf, ratesOf } from '../../src/cost/rates.js';
import { llama3_8b, trainPlan } from '../memory/fixtures.js';

describe('context parallelism: cost', () => {
  it('FLOPs per rank are 1/c of the sequence (attention included: s/c queries over s keys)', () => {
    const s = 65536;
    const one = trainPlan(llama3_8b, { seq: s, data: 8, recompute: 'full' });
    for (const c of [2, 4, 8]) {
      const cp = trainPlan(llama3_8b, { seq: s, context: c, data: 8 / c, recompute: 'full' });
      const a = trainMicrobatchFlops(one, one.stages[0]!);
      const b = trainMicrobatchFlops(cp, cp.stages[0]!);
      expect(b.forward * c).toBeCloseTo(a.forward, -3);
      expect(b.recompute * c).toBeCloseTo(a.recompute, -3);
      expect(layerFlops(cp, trainDims(cp)).attention * c).toBeCloseTo(layerFlops(one, trainDims(one)).attention, -3);
    }
  });

  it('charges (c − 1)/c · KV per gather: 3 per layer, 4 with recomputation (Llama-3-8B, s = 65536, c = 4)', () => {
    const kv = 2 * 65536 * 8 * 128 * 2; // the whole sequence's K and V of 8 KV heads, bf16
    for (const [recompute, n] of [
      ['none', 3],
      ['full', 4],
    ] as const) {
      const plan = trainPlan(llama3_8b, { seq: 65536, context: 4, data: 2, recompute, contextComm: 'all_gather' });
      const rows = contextTraffic(plan, plan.stages[0]!).list(ratesOf(hardwareOf(plan)));
      expect(rows.length).toBe(1);
      expect(rows[0]!.group).toBe('context');
      expect(rows[0]!.link).toBe('nvlink');
      expect(rows[0]!.bytes).toBe(32 * n * (3 / 4) * kv);
      expect(rows[0]!.ops).toBe(32 * n);
    }
  });
});
