/**
 * Zero-bubble W steps on one device (runtime/training/executor.ts): hand-written tables with I
 * (`backward-input`) and W (`backward-weight`) actions — the W of both microbatches after both
 * I's, ZB-H1's order on one stage (F I F I W W), and a W between the next F and I — on the tiny
 * GPT-2 (biases, tied head) and Llama (GQA, SwiGLU: q | k | v and gate | up kept in one `wgrad…`
 * tensor each), recompute none
 * and full, against the torch float64 oracle (test/oracle/train.py, which knows nothing of the
 * split: the gradient is the same sum): three AdamW steps, each loss within 1e-5 relative, every
 * weight within 1e-4; the live bytes equal the compiled graph's per-step simulated timeline, in which the
 * `wgrad…` tensors and the kept matmul inputs live from each I to its W. Pipeline = 1 here; several
 * stages are the multi-device executor's. Skipped, saying why, when /usr/bin/python3 has no torch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/types.js';
import type { Model } from '../../src/model.js';
import { randomWeights } from '../../runtime/reference/model.js';
import { createTrainer } from '../../runtime/index.js';
import { openTestGpu, type TestGpu } from '../../runtime/testing/gpu.js';
import { hasTorch, NO_TORCH, oracleOptimizer, runOracle, type OracleResult } from '../oracle/run.js';
import { BATCH, compileTrain, expectTimeline, MICROBATCHES, OPT, threeBatches } from './trainer-case.js';

if (!hasTorch) console.warn(NO_TORCH);

let gpu: TestGpu;
beforeAll(async () => {
  gpu = await openTestGpu();
});
afterAll(() => gpu?.close());

const TABLES = {
  'I I W W': '0F0 0F1 0I0 0I1 0W0 0W1',
  'ZB-H1 (F I F I W W)': '0F0 0I0 0F1 0I1 0W0 0W1',
  // A W between the next microbatch's F and I: its scratch (the layer backward's gradient buffers) idle there too.
  'F I F W I W': '0F0 0I0 0F1 0W0 0I1 0W1',
} as const;

const oracle = new Map<string, OracleResult>();

describe.skipIf(!hasTorch)('zero-bubble tables (I and W actions) on one device equal the torch oracle', () => {
  const cases = (['gpt2_tiny', 'llama_tiny'] as const).flatMap((model) =>
    (Object.keys(TABLES) as (keyof typeof TABLES)[]).flatMap((table) =>
      (['none', 'full'] as const).map((recompute) => ({ model, table, recompute })),
    ),
  );
  it.each(cases)('$model, $table, recompute $recompute: 3 AdamW steps', async ({ model, table, recompute }) => {
    const c = compileTrain(`  model = ${model}  recompute = ${recompute}  actions = ["${TABLES[table]}"]\n  ${BATCH}`);
    const graph = c.graph as Graph;
    expect(graph.schedule!.actions[0]).toEqual(TABLES[table].split(' '));
    // The table's W steps are in the program (as blocks), not folded into the backward.
    const steps = graph.programs['stage0']!.phases['step']!;
    expect(steps.filter((s) => s.op === 'block' && s.block === 'layer.backward-weight')).toHaveLength(MICROBATCHES);
    const m = graph.model as Model;
    const weights = randomWeights(m, 7, 0.1);
    const three = threeBatches(m.vocab, 11);
    let want = oracle.get(model);
    if (!want) oracle.set(model, (want = runOracle(m, weights, { batches: three, optimizer: oracleOptimizer(OPT), steps: 3 })));
    const trainer = await createTrainer(graph, {
      weights,
      optimizer: OPT,
      device: { device: gpu.device, description: gpu.description, runner: gpu.runner },
    });
    try {
      for (let s = 0; s < 3; s++) {
        const got = await trainer.step(three[s]!);
        expect(Math.abs(got.loss - want.steps[s]!.loss) / want.steps[s]!.loss, `step ${s + 1} loss`).toBeLessThan(1e-5);
        expect(Math.abs(got.gradNorm - want.steps[s]!.gradNorm) / want.steps[s]!.gradNorm, `step ${s + 1} grad norm`).toBeLessThan(1e-4);
      }
      const after = await trainer.weights();
      let worst = 0;
      for (const [name, w] of Object.entries(want.weights)) {
        const g = after.get(name);
        expect(g, name).toBeDefined();
        for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g![i]! - w[i]!));
      }
      if (process.env['DEBUG_TRAIN']) console.log('WORST', model, table, recompute, worst);
      expect(worst).toBeLessThan(1e-4);
      expectTimeline(trainer.memoryTimeline(), graph);
      expect(gpu.errors).toEqual([]);
    } finally {
      trainer.close();
    }
  });
});
