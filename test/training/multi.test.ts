/**
 * The training executor across several devices (runtime/training/executor.ts, one interpreter per rank, host
 * communication runtime/training/comm.ts) against the torch float64 oracle (test/oracle/train.py): tiny GPT-2 (tied
 * head split over the pipeline's ends, learned positions, biases) and Llama (RoPE, GQA, SwiGLU), a covering set of
 * tensor 1/2 × pipeline 1/2 × data 1/2 with gpipe, 1f1b, interleaved (virtual 2) and hand-written ZB-H1 tables with W
 * actions (data 2 on one stage and on tensor 2 × pipeline 2), ZeRO 0–3, recompute none/full:
 * three AdamW steps, each loss within 1e-5 relative of the oracle's and every weight after them within 1e-4; each
 * device's live bytes equal its per-step simulated memory timeline. bench/train-matrix.ts runs the full matrix.
 * Mutations (TrainingExecutor.mutation, test-only) must fail: a dropped data-parallel all-reduce, a microbatch's
 * gradients not accumulated, a send of the wrong microbatch. Skipped, saying why, when /usr/bin/python3 has no torch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainingExecutor } from '../../runtime/training/executor.js';
import { openTestGpu, type TestGpu } from '../../runtime/testing/gpu.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTorch, NO_TORCH, runOracleDir } from '../oracle/run.js';
import { Comm, sumAll } from '../../runtime/training/comm.js';
import type { Graph } from '../../src/graph/types.js';
import { actionsOf, compileTrain, LAYOUTS, microbatchesOf, trainCase, type CaseResult, type Layout } from './multi-cases.js';

if (!hasTorch) console.warn(NO_TORCH);

let gpu: TestGpu;
beforeAll(async () => {
  gpu = await openTestGpu();
});
afterAll(() => gpu?.close());

describe.skipIf(!hasTorch)('the training executor on several devices equals the torch oracle', () => {
  it.each(LAYOUTS)('$model t$tensor p$pipeline d$data $schedule zero $zero recompute $recompute', async (layout: Layout) => {
    // A zb layout runs its hand-written table, W actions included.
    const table = actionsOf(layout);
    if (table) {
      const actions = (compileTrain(layout).graph as Graph).schedule!.actions;
      expect(actions.map((a) => a.join(' '))).toEqual(table);
      expect(actions.flat().filter((a) => /^\dW\d$/.test(a))).toHaveLength(layout.pipeline * microbatchesOf(layout));
    }
    const r = await trainCase(layout, { device: gpu.device, description: gpu.description });
    expect(r.error, r.error).toBeUndefined();
    for (const [s, e] of r.lossErrors.entries()) expect(e, `step ${s + 1} loss`).toBeLessThan(1e-5);
    for (const [s, e] of r.normErrors.entries()) expect(e, `step ${s + 1} grad norm`).toBeLessThan(1e-4);
    expect(r.weightError).toBeLessThan(1e-4);
    expect(r.memory, r.memory.join('; ')).toEqual([]);
    expect(gpu.errors).toEqual([]);
  });
});

describe.skipIf(!hasTorch)('the trainer opens one device (a new adapter) per rank by default', () => {
  it('llama, tensor 2 × pipeline 2, 1f1b: four devices, the oracle losses and weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-multi-'));
    const r = await trainCase(
      { model: 'llama_tiny', tensor: 2, pipeline: 2, data: 1, schedule: '1f1b', zero: 3, recompute: 'none' },
      undefined,
      dir,
    );
    expect(r.error, r.error).toBeUndefined();
    for (const e of r.lossErrors) expect(e).toBeLessThan(1e-5);
    expect(r.weightError).toBeLessThan(1e-4);
    expect(r.memory).toEqual([]);
    // save() gathers every rank's shards back to full Hugging Face tensors: the oracle reads them (zero steps) as trained.
    const saved = runOracleDir(dir, { batches: [], optimizer: { lr: 0 }, steps: 0 });
    expect(Object.keys(saved.weights).sort()).toEqual([...r.weights!.keys()].sort());
    for (const [name, w] of Object.entries(saved.weights)) expect(w, name).toEqual([...r.weights!.get(name)!]);
  });
});

/** A case's result equals the oracle's (what the mutations must break). */
const agrees = (r: CaseResult) =>
  r.error === undefined && r.lossErrors.every((e) => e < 1e-5) && r.weightError < 1e-4 && r.memory.length === 0;

describe.skipIf(!hasTorch)('a broken executor is caught', () => {
  const mutated = async (mutation: typeof TrainingExecutor.mutation, layout: Layout) => {
    TrainingExecutor.mutation = mutation;
    try {
      return await trainCase(layout, { device: gpu.device, description: gpu.description });
    } finally {
      TrainingExecutor.mutation = undefined;
    }
  };
  const dp: Layout = { model: 'gpt2_tiny', tensor: 1, pipeline: 1, data: 2, schedule: '1f1b', zero: 0, recompute: 'none' };
  const pp: Layout = { model: 'llama_tiny', tensor: 1, pipeline: 2, data: 1, schedule: '1f1b', zero: 0, recompute: 'none' };

  it('the layouts agree unbroken', async () => {
    expect(agrees(await trainCase(dp, { device: gpu.device, description: gpu.description }))).toBe(true);
  });
  it('a dropped data-parallel gradient all-reduce: the replicas step apart, the weights differ from the oracle', async () => {
    const r = await mutated('drop-data-all-reduce', dp);
    expect(r.error).toBeUndefined();
    expect(r.weightError).toBeGreaterThan(1e-4);
  });
  it("a microbatch's gradients not accumulated: the weights differ", async () => {
    const r = await mutated('skip-microbatch-grad', pp);
    expect(agrees(r)).toBe(false);
    expect(r.weightError).toBeGreaterThan(1e-4);
  });
  it('a send of the wrong microbatch: an internal error (the receiver would wait forever), not a hang or a wrong loss', async () => {
    const r = await mutated('wrong-microbatch-send', pp);
    expect(r.error).toMatch(/internal error: .*(wait for each other forever|twice)/);
  });
});

describe('the communication layer turns a mismatch into an internal error, never a hang', () => {
  it('every rank waiting (a recv nobody sends) is reported, naming what each waits for', async () => {
    const comm = new Comm();
    comm.begin(2);
    const a = comm.recv(0, 1, 'hidden.s1', 0);
    const b = comm.recv(1, 0, 'grad.hidden.s1', 0);
    await expect(a).rejects.toThrow(/internal error: the training ranks wait for each other forever.*rank 0 waits for recv hidden\.s1/);
    await expect(b).rejects.toThrow(/rank 1 waits for recv grad\.hidden\.s1/);
  });
  it('a rank that ends while its peer waits: the peer is released with the error', async () => {
    const comm = new Comm();
    comm.begin(2);
    const a = comm.collective(0, [0, 1], 'all-reduce over data of grad.x', new Float32Array([1]), sumAll);
    comm.done();
    await expect(a).rejects.toThrow(/wait for each other forever.*all-reduce over data of grad\.x/);
  });
  it('members entering different collectives is an internal error', async () => {
    const comm = new Comm();
    comm.begin(2);
    void comm.collective(0, [0, 1], 'all-reduce over tensor of y', new Float32Array([1]), sumAll).catch(() => {});
    expect(() => comm.collective(1, [0, 1], 'all-reduce over tensor of grad.x', new Float32Array([1]), sumAll)).toThrow(
      /internal error: collective 0 of ranks \[0,1\] entered as 'all-reduce over tensor of y' and as 'all-reduce over tensor of grad\.x'/,
    );
  });
  it('a message nobody receives is reported when the step ends; the next step starts clean', () => {
    const comm = new Comm();
    comm.begin(2);
    comm.send(0, 1, 'hidden.s1', 1, new Float32Array([1]));
    comm.done();
    comm.done();
    expect(() => comm.finish()).toThrow(/internal error: a training step left messages or collectives unmatched \(0>1:hidden\.s1:mb1\)/);
    comm.begin(2);
    expect(() => comm.finish()).not.toThrow();
  });
  it('a matched collective sums in member order and a matched send arrives', async () => {
    const comm = new Comm();
    comm.begin(2);
    const a = comm.collective(0, [0, 1], 'x', new Float32Array([1, 2]), sumAll);
    const b = comm.collective(1, [0, 1], 'x', new Float32Array([10, 20]), sumAll);
    expect([...(await a)]).toEqual([11, 22]);
    expect([...(await b)]).toEqual([11, 22]);
    comm.send(0, 1, 'hidden.s1', 3, new Float32Array([5]));
    expect([...(await comm.recv(1, 0, 'hidden.s1', 3))]).toEqual([5]);
  });
});
