import { describe, expect, it } from 'vitest';
import { decodeBytes, decodeFlops, planCost, prefillFlops, weightReadBytes, type ServeCost } from '../../src/cost/index.js';
import { GPUS } from '../../src/facts/gpus.js';
import { memoryPlan } from '../../src/memory/index.js';
import type { ServePlan } from '../../src/plan.js';
import { llama2_7b, llama3_8b, servePlan } from '../memory/fixtures.js';
import { toy } from './fixtures.js';

/** H100 SXM: 989 TFLOP/s × 0.5; 3,350 GB/s × 0.8. */
const H100_FLOPS = 989e12 * 0.5;
const H100_BW = 3350e9 * 0.8;

function serve(plan: ServePlan): ServeCost {
  const c = planCost(plan, memoryPlan(plan));
  expect(c.known, c.reason ?? '').toBe(true);
  return c.serve!;
}

describe('serving, by hand (toy model on one H100, max_batch 8, seq 1024)', () => {
  const plan = servePlan(toy, { maxBatch: 8, seq: 1024 });
  const stage = plan.stages[0]!;

  it('reads the layers and the output layer (not the embedding table) and the KV cache at seq/2', () => {
    // (2 · 65,664 + 1,000 · 64) params × 2 B = 390,656 B; KV per token 2 · 2 layers · 4 heads · 16 · 2 B = 512 B.
    expect(weightReadBytes(plan, stage)).toBe(390_656);
    expect(decodeBytes(plan, stage, 8, 512)).toBe(390_656 + 8 * 512 * 512);
    // 8 · (2 · (131,328 + 64,000) + 4 · 512 · 4 · 16 · 2) = 8 · 652,800.
    expect(decodeFlops(plan, stage, 8, 512)).toBe(5_222_400);
  });

  it('decode is memory-bound: TPOT = bytes / bandwidth; the batching gain is B · TPOT(1) / TPOT(B)', () => {
    const v = serve(plan);
    // A roofline per op: every matmul and the attention core are memory-bound; the norms read no
    // weights here (their gains are counted with the QKV step's bytes), so their FLOPs take compute
    // time: 2 norms × 2 FLOPs × B × 64 per layer, 2 layers.
    const norms = (B: number) => (2 * 2 * 2 * B * 64) / H100_FLOPS;
    const tpot = 2_487_808 / H100_BW + norms(8);
    const tpot1 = (390_656 + 512 * 512) / H100_BW + norms(1);
    expect(v.averageContext).toBe(512);
    expect(v.decodeBound).toBe('memory');
    expect(v.tpotSeconds).toBeCloseTo(tpot, 15);
    expect(v.decodeTokensPerSecond).toBeCloseTo(8 / tpot, 3);
    expect(v.batch1TpotSeconds).toBeCloseTo(tpot1, 15);
    expect(v.batch1TokensPerSecond).toBeCloseTo(1 / tpot1, 3);
    expect(v.batchingGain).toBeCloseTo((8 * tpot1) / tpot, 10);
  });

  it('prefill counts causal attention (average context P/2) and only the last token’s logits', () => {
    // 2 · 65,664 · 1,024 · 2 + 4 · 1,024 · 512 · 4 · 16 · 2 + 2 · 64,000.
    expect(prefillFlops(plan, stage, 1024)).toBe(268_959_744 + 268_435_456 + 128_000);
    const v = serve(plan);
    // Op by op: every layer op is compute-bound at 1,024 tokens; the one-row output layer (2 · 64,000
    // FLOPs on 128,000 B of weights) is memory-bound.
    expect(v.prefillSeconds).toBeCloseTo((537_523_200 - 128_000) / H100_FLOPS + 128_000 / H100_BW, 15);
  });

  it('chunked prefill reads the weights once per chunk', () => {
    const chunked = servePlan(toy, { maxBatch: 8, seq: 1024, maxPrefillTokens: 256 });
    const v = serve(chunked);
    expect(v.prefillChunks).toBe(4);
    expect(v.stages[0]!.prefillBytes).toBe(4 * 390_656);
  });

  it('data replicas multiply tokens/s, not TPOT', () => {
    const one = serve(servePlan(llama3_8b, { maxBatch: 16, seq: 4096 }));
    const two = serve(servePlan(llama3_8b, { maxBatch: 16, seq: 4096, data: 2 }));
    expect(two.tpotSeconds).toBe(one.tpotSeconds);
    expect(two.decodeTokensPerSecond).toBeCloseTo(2 * one.decodeTokensPerSecond!, 6);
  });
});

describe('serving: decode is memory-bound and batching helps, up to max_batch', () => {
  it('Llama-2-7B at batch 1 on an A100 is memory-bound: ~13.5 GB of weights per token', () => {
    const v = serve(servePlan(llama2_7b, { maxBatch: 32, seq: 4096, gpu: GPUS.A100_80GB! }));
    const batch1 = servePlan(llama2_7b, { maxBatch: 1, seq: 4096, gpu: GPUS.A100_80GB! });
    expect(serve(batch1).decodeBound).toBe('memory');
    // ≈ 13.5e9 B / (2,039 GB/s × 0.8) ≈ 8.3 ms plus the KV cache of one sequence.
    expect(v.batch1TpotSeconds!).toBeGreaterThan(0.008);
    expect(v.batch1TpotSeconds!).toBeLessThan(0.01);
    expect(v.batchingGain!).toBeGreaterThan(1);
    expect(v.batchingGain!).toBeLessThanOrEqual(32);
  });

  it('the gain lies in (1, max_batch] across GPUs, meshes and batch sizes', () => {
    for (const gpu of [GPUS.A10G!, GPUS.H100_SXM_80GB!, GPUS.MI300X!]) {
      for (const [tensor, pipeline] of [
        [1, 1],
        [2, 1],
        [2, 2],
      ] as const) {
        for (const maxBatch of [2, 16, 256]) {
          const v = serve(servePlan(llama3_8b, { gpu, tensor, pipeline, maxBatch, seq: 2048 }));
          expect(v.batchingGain!).toBeGreaterThan(1);
          expect(v.batchingGain!).toBeLessThanOrEqual(maxBatch + 1e-9);
          expect(v.prefillSeconds!).toBeGreaterThan(0);
        }
      }
    }
  });

  it('tensor parallelism adds 2 all-reduces per layer of B·h·e bytes, pipeline a send per stage boundary', () => {
    const plan = servePlan(llama3_8b, { tensor: 2, pipeline: 2, maxBatch: 32, seq: 4096 });
    const v = serve(plan);
    // Stage 0: 16 layers × 2 × 2(2 − 1)/2 × 32 · 4,096 · 2 B = 8,388,608, + the embedding's all-reduce 262,144;
    // then 32 · 4,096 · 2 = 262,144 to stage 1.
    expect(v.stages[0]!.traffic).toMatchObject([
      { group: 'tensor', link: 'nvlink', bytes: 8_388_608 + 262_144, ops: 33 },
      { group: 'pipeline', link: 'nvlink', bytes: 262_144, ops: 1 },
    ]);
    // Stage 1: its layers' all-reduces and the logits' all-gather, 32 rows × 128,256 × 4 B × (2 − 1)/2;
    // the sampled tokens (32 × 8 B) go back to stage 0.
    expect(v.stages[1]!.traffic).toMatchObject([
      { group: 'tensor', bytes: 8_388_608 + 8_208_384, ops: 33 },
      { group: 'pipeline', bytes: 256, ops: 1 },
    ]);
    expect(v.tpotSeconds).toBeCloseTo(v.stages[0]!.decodeSeconds! + v.stages[1]!.decodeSeconds!, 15);
  });
});
