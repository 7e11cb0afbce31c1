/**
 * precision = bf16 on the training executor (runtime/training/executor.ts): bf16 weights that the
 * forward and backward read, fp32 gradients, an fp32 master in `optim.X` that the optimizer steps
 * and rounds (to nearest even) into the weight. Against the torch oracle's `mixed: "bf16"`
 * (test/oracle/train.py: the same rounding of the same masters, everything else in float64),
 * which is itself checked first against its own float64 gradients at the rounded weights.
 *
 * Tolerances, from the arithmetic: the loss and the gradients are the float64 oracle's at the
 * same bf16 weights up to f32 rounding (as for fp32 weights: loss 1e-5 relative, masters 1e-4);
 * the bf16 weights are the masters rounded, so they equal the oracle's except where the two
 * masters (f32 and f64, ~1e-7 apart) straddle a rounding midpoint — there one bf16 ulp (2⁻⁸
 * relative) — and each equals its own master rounded to nearest even exactly.
 * Skipped, saying why, when /usr/bin/python3 has no torch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/types.js';
import type { Model } from '../../src/model.js';
import { randomWeights } from '../../runtime/reference/model.js';
import { createTrainer, TrainerInputError } from '../../runtime/index.js';
import { openTestGpu, type TestGpu } from '../../runtime/testing/gpu.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../../runtime/weights/convert.js';
import { hasTorch, NO_TORCH, oracleOptimizer, runOracle, type OracleResult } from '../oracle/run.js';
import { BATCH, compileTrain, expectTimeline, OPT, threeBatches } from './trainer-case.js';

if (!hasTorch) console.warn(NO_TORCH);

const bf16 = (x: number) => bf16BitsToF32(f32ToBf16Bits(x));

let gpu: TestGpu;
beforeAll(async () => {
  gpu = await openTestGpu();
});
afterAll(() => gpu?.close());

describe.skipIf(!hasTorch)('the oracle’s mixed bf16 mode', () => {
  it('steps the master with the gradient at the rounded weights (one SGD step, against its own float64 gradients)', () => {
    const c = compileTrain(`  model = llama_tiny  precision = bf16\n  ${BATCH}`);
    const m = c.graph.model as Model;
    const weights = randomWeights(m, 5, 0.1);
    const rounded = new Map([...weights].map(([n, w]) => [n, w.map(bf16)]));
    const [batch] = threeBatches(m.vocab, 3);
    const sgd = { kind: 'sgd' as const, lr: 0.5, weight_decay: 0, clip: null };
    const plain = runOracle(m, rounded, { batch: batch!, optimizer: sgd, steps: 1, grads: true });
    const mixed = runOracle(m, weights, { batch: batch!, optimizer: sgd, steps: 1, mixed: 'bf16' });
    expect(mixed.steps[0]!.loss).toBe(plain.steps[0]!.loss);
    let moved = 0;
    for (const [name, w] of weights) {
      const g = plain.grads![name]!;
      const got = mixed.masters![name]!;
      for (let i = 0; i < w.length; i++) {
        expect(got[i]).toBeCloseTo(w[i]! - 0.5 * g[i]!, 14);
        expect(mixed.weights[name]![i]).toBe(bf16(got[i]!));
        if (bf16(got[i]!) !== bf16(w[i]!)) moved++;
      }
    }
    expect(moved).toBeGreaterThan(100);
  });
});

describe('precision = bf16: the optimizer kind read from the graph counts the master apart', () => {
  it('AdamW keeps [master, m, v], SGD [master]: the other kind is a TrainerInputError', async () => {
    const adamw = compileTrain(`  model = gpt2_tiny  precision = bf16\n  ${BATCH}`).graph as Graph;
    const sgd = compileTrain(`  model = gpt2_tiny  precision = bf16  optimizer = sgd\n  ${BATCH}`).graph as Graph;
    expect(adamw.tensors.find((t) => t.name === 'optim.layers.{l}.attn.q.weight')!.shape[0]).toBe(3);
    expect(sgd.tensors.find((t) => t.name === 'optim.layers.{l}.attn.q.weight')!.shape[0]).toBe(1);
    const opts = { weights: new Map(), optimizer: { lr: 1 } };
    await expect(createTrainer(adamw, { ...opts, optimizer: { lr: 1, kind: 'sgd' } })).rejects.toThrow(/optimizer is adamw/);
    await expect(createTrainer(sgd, opts)).rejects.toThrow(/optimizer is sgd/);
    await expect(createTrainer(sgd, opts)).rejects.toThrow(TrainerInputError);
  });
});

const oracle = new Map<string, OracleResult>();

describe.skipIf(!hasTorch)('precision = bf16 (bf16 weights, fp32 master) on one device equals the torch oracle', () => {
  const cases: { model: string; schedule: string; recompute: 'none' | 'full'; clip?: number; sgd?: boolean }[] = [
    'gpt2_tiny',
    'llama_tiny',
  ].flatMap((model) => [
    { model, schedule: 'gpipe', recompute: 'none' as const },
    { model, schedule: '1f1b', recompute: 'full' as const, clip: 0.5 },
    { model, schedule: 'gpipe', recompute: 'none' as const, clip: 0.5, sgd: true },
    // A zero-bubble table (I and W steps) with 16-bit weights.
    { model, schedule: 'actions = ["0F0 0I0 0F1 0I1 0W0 0W1"]', recompute: 'none' as const },
  ]);
  it.each(cases)(
    '$model, $schedule, recompute $recompute, clip $clip, sgd $sgd: 3 steps',
    async ({ model, schedule, recompute, clip, sgd }) => {
      const sched = schedule.startsWith('actions') ? schedule : `schedule = ${schedule}`;
      const c = compileTrain(
        `  model = ${model}  precision = bf16  ${sched}  recompute = ${recompute}  ${clip ? `grad_clip = ${clip}` : ''}  ${sgd ? 'optimizer = sgd' : ''}\n  ${BATCH}`,
      );
      const graph = c.graph as Graph;
      expect(graph.tensors.find((t) => t.name === 'layers.{l}.attn.q.weight')!.dtype).toBe('bf16');
      const m = graph.model as Model;
      const weights = randomWeights(m, 7, 0.1);
      const three = threeBatches(m.vocab, 11);
      const opt = sgd ? { ...OPT, kind: 'sgd' as const, lr: 0.05 } : OPT;
      const oracleOpt = sgd ? { ...oracleOptimizer(opt, clip), kind: 'sgd' as const } : oracleOptimizer(opt, clip);
      const key = `${model}:${clip}:${sgd}`;
      let want = oracle.get(key);
      if (!want) oracle.set(key, (want = runOracle(m, weights, { batches: three, optimizer: oracleOpt, steps: 3, mixed: 'bf16' })));
      const trainer = await createTrainer(graph, {
        ...(clip ? { clip } : {}),
        weights,
        optimizer: opt,
        device: { device: gpu.device, description: gpu.description, runner: gpu.runner },
      });
      try {
        // Before any step: the weights are the given values rounded, the masters the values themselves.
        const w0 = await trainer.weights();
        const m0 = await trainer.masterWeights();
        for (const [name, w] of weights) {
          expect(m0.get(name), name).toEqual(w);
          expect(w0.get(name), name).toEqual(w.map(bf16));
        }
        for (let s = 0; s < 3; s++) {
          const got = await trainer.step(three[s]!);
          const rel = Math.abs(got.loss - want.steps[s]!.loss) / want.steps[s]!.loss;
          if (process.env['DEBUG_TRAIN']) console.log('LOSS', model, schedule, s, rel);
          expect(rel, `step ${s + 1} loss`).toBeLessThan(1e-5);
          expect(Math.abs(got.gradNorm - want.steps[s]!.gradNorm) / want.steps[s]!.gradNorm, `step ${s + 1} grad norm`).toBeLessThan(1e-4);
        }
        const masters = await trainer.masterWeights();
        const after = await trainer.weights();
        let worst = 0;
        let flips = 0;
        let total = 0;
        for (const [name, w] of Object.entries(want.masters!)) {
          const gm = masters.get(name)!;
          const gw = after.get(name)!;
          for (let i = 0; i < w.length; i++) {
            worst = Math.max(worst, Math.abs(gm[i]! - w[i]!));
            // The weight is its own master rounded to nearest even, exactly.
            expect(gw[i], `${name}[${i}]`).toBe(bf16(gm[i]!));
            total++;
            if (gw[i] !== want.weights[name]![i]) {
              flips++;
              // Only where the two masters round differently: within the masters' tolerance of a midpoint, one ulp apart.
              expect(bf16(w[i]! - 1e-4) !== bf16(w[i]! + 1e-4), `${name}[${i}] differs from the oracle's away from a midpoint`).toBe(true);
            }
          }
        }
        if (process.env['DEBUG_TRAIN']) console.log('WORST', model, schedule, recompute, clip, sgd, worst, flips, total);
        expect(worst).toBeLessThan(1e-4);
        expect(flips / total).toBeLessThan(1e-3);
        expectTimeline(trainer.memoryTimeline(), graph);
        expect(gpu.errors).toEqual([]);
      } finally {
        trainer.close();
      }
    },
  );
});
