/**
 * The training executor (runtime/training/executor.ts) on one WebGPU device against the torch
 * float64 oracle (test/oracle/train.py): tiny GPT-2 (tied head, LayerNorm, GELU, biases) and
 * Llama (RMSNorm, RoPE, GQA, SwiGLU), gpipe and 1f1b over 2 microbatches, recompute none and
 * full: three AdamW steps, each step's loss within 1e-5 relative of the oracle's and every
 * weight after them within 1e-4; the live bytes after each step equal the compiled graph's
 * simulated memory timeline. Skipped, saying why, when /usr/bin/python3 has no torch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/types.js';
import type { Model } from '../../src/model.js';
import { randomWeights } from '../../runtime/reference/model.js';
import { createTrainer, TrainerInputError } from '../../runtime/index.js';
import { BatchError } from '../../runtime/training/batch.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestGpu, type TestGpu } from '../../runtime/testing/gpu.js';
import { mulberry32 } from '../../src/util/random.js';
import { hasTorch, NO_TORCH, oracleOptimizer, runOracle } from '../oracle/run.js';
import { compileTrain as multiCompile, MICRO as MULTI_MICRO, SEQ as MULTI_SEQ } from './multi-cases.js';
import { compileTrain as compile, expectTimeline, MICRO, MICROBATCHES, OPT, SEQ, threeBatches as batches } from './trainer-case.js';

if (!hasTorch) console.warn(NO_TORCH);

let gpu: TestGpu;
beforeAll(async () => {
  gpu = await openTestGpu();
});
afterAll(() => gpu?.close());

const oracleCache = new Map<string, ReturnType<typeof runOracle>>();

describe.skipIf(!hasTorch)('the training executor on one device equals the torch oracle', () => {
  const cases: { model: string; schedule: 'gpipe' | '1f1b'; recompute: 'none' | 'full'; clip?: number; sgd?: boolean }[] = [
    'gpt2_tiny',
    'llama_tiny',
  ].flatMap((model) => [
    ...(['gpipe', '1f1b'] as const).flatMap((schedule) => (['none', 'full'] as const).map((recompute) => ({ model, schedule, recompute }))),
    // grad_clip below the gradients' norm (about 3): every step scaled.
    { model, schedule: '1f1b' as const, recompute: 'full' as const, clip: 0.5 },
    // optimizer = sgd: no optimizer state, p −= lr·(clip·g + wd·p).
    { model, schedule: 'gpipe' as const, recompute: 'none' as const, clip: 0.5, sgd: true },
  ]);
  it.each(cases)(
    '$model, $schedule, recompute $recompute, clip $clip, sgd $sgd: 3 steps',
    async ({ model, schedule, recompute, clip, sgd }) => {
      const c = compile(
        `  model = ${model}  schedule = ${schedule}  recompute = ${recompute}  ${clip ? `grad_clip = ${clip}` : ''}  ${sgd ? 'optimizer = sgd' : ''}\n  batch { global = ${MICRO * MICROBATCHES}  micro = ${MICRO}  seq = ${SEQ} }`,
      );
      const graph = c.graph as Graph;
      // One stage: gpipe runs both forwards before the backwards (two microbatches' activations live at once), 1f1b alternates.
      expect(graph.schedule!.actions[0]).toEqual(schedule === 'gpipe' ? ['0F0', '0F1', '0B0', '0B1'] : ['0F0', '0B0', '0F1', '0B1']);
      const m = graph.model as Model;
      const weights = randomWeights(m, 7, 0.1);
      const three = batches(m.vocab, 11);
      const key = `${model}:${clip}:${sgd}`;
      const opt = sgd ? { ...OPT, kind: 'sgd' as const, lr: 0.05 } : OPT;
      const oracleOpt = sgd ? { ...oracleOptimizer(opt, clip), kind: 'sgd' as const } : oracleOptimizer(opt, clip);
      let want = oracleCache.get(key);
      if (!want) oracleCache.set(key, (want = runOracle(m, weights, { batches: three, optimizer: oracleOpt, steps: 3 })));
      const trainer = await createTrainer(graph, {
        // The graph carries grad_clip (the last grad-norm step's maxNorm): options.clip may repeat it (AdamW) or be left out (SGD).
        ...(clip && !sgd ? { clip } : {}),
        weights,
        optimizer: opt,
        device: { device: gpu.device, description: gpu.description, runner: gpu.runner },
      });
      try {
        for (let s = 0; s < 3; s++) {
          const got = await trainer.step(three[s]!);
          if (process.env['DEBUG_TRAIN'])
            console.log('LOSS', s, got, want.steps[s], Math.abs(got.loss - want.steps[s]!.loss) / want.steps[s]!.loss);
          expect(Math.abs(got.loss - want.steps[s]!.loss) / want.steps[s]!.loss, `step ${s + 1} loss`).toBeLessThan(1e-5);
          expect(Math.abs(got.gradNorm - want.steps[s]!.gradNorm) / want.steps[s]!.gradNorm, `step ${s + 1} grad norm`).toBeLessThan(1e-4);
        }
        const after = await trainer.weights();
        let worst = 0;
        for (const [name, w] of Object.entries(want.weights)) {
          const g = after.get(name)!;
          expect(g, name).toBeDefined();
          for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
          // Every weight moved: the step updated it.
        }
        if (process.env['DEBUG_TRAIN']) console.log('WORST', model, schedule, recompute, clip, worst);
        expect(worst).toBeLessThan(1e-4);
        // The live bytes after every compute step (static: weights, gradients, states, workspace; plus the tracked tensors)
        // equal the per-step simulated timeline, each of the three steps, point for point; its peak is the plan's total.
        expectTimeline(trainer.memoryTimeline(), graph);
        expect(gpu.errors).toEqual([]);
      } finally {
        trainer.close();
      }
    },
  );
});

describe('what the trainer does not run yet is refused, saying what', () => {
  it("the graph carries grad_clip: options.clip, if given, must be the plan's", async () => {
    const body = (extra: string) => `  model = gpt2_tiny  ${extra}\n  batch { global = 4  micro = 2  seq = 16 }`;
    const opts = { weights: new Map(), optimizer: { lr: 1 } };
    const clipped = compile(body('grad_clip = 1')).graph as Graph;
    const last = clipped.programs['stage0']!.phases['step']!.filter((s) => s.op === 'compute' && s.kind === 'grad-norm').at(-1);
    expect(last).toMatchObject({ reads: ['grad.norm'], writes: ['grad.norm'], maxNorm: 1 });
    await expect(createTrainer(clipped, { ...opts, clip: 2 })).rejects.toThrow(/options\.clip = 2, but the plan's grad_clip is 1/);
    // Without options.clip the check passes (the weights are what is wrong here).
    await expect(createTrainer(clipped, opts)).rejects.toThrow(/missing/);
    await expect(createTrainer(compile(body('')).graph as Graph, { ...opts, clip: 1 })).rejects.toThrow(/no grad_clip/);
    await expect(createTrainer(compile(body('')).graph as Graph, { ...opts, clip: 1 })).rejects.toThrow(TrainerInputError);
  });

  it("weights that are not the model's are a TrainerInputError naming the tensor", async () => {
    const graph = compile(`  model = llama_tiny\n  batch { global = 4  micro = 2  seq = 16 }`).graph as Graph;
    const weights = randomWeights(graph.model as Model, 1, 0.1);
    const device = { device: gpu.device, description: gpu.description, runner: gpu.runner };
    const missing = new Map(weights);
    missing.delete('lm_head.weight');
    await expect(createTrainer(graph, { weights: missing, optimizer: { lr: 1 }, device })).rejects.toThrow(/lm_head\.weight.*missing/);
    const short = new Map(weights).set('model.norm.weight', new Float32Array(3));
    await expect(createTrainer(graph, { weights: short, optimizer: { lr: 1 }, device })).rejects.toThrow(TrainerInputError);
    const extra = new Map(weights).set('model.layers.9.mlp.up_proj.weight', new Float32Array(4));
    await expect(createTrainer(graph, { weights: extra, optimizer: { lr: 1 }, device })).rejects.toThrow(/does not have: model\.layers\.9/);
  });
  it('several devices: options.devices must give one per rank', async () => {
    const c = compile(`  model = gpt2_tiny  tensor = 2\n  batch { global = 4  micro = 2  seq = 16 }`);
    const one = [{ device: gpu.device, description: gpu.description }];
    await expect(createTrainer(c.graph as Graph, { weights: new Map(), optimizer: { lr: 1 }, devices: one })).rejects.toThrow(
      TrainerInputError,
    );
    await expect(createTrainer(c.graph as Graph, { weights: new Map(), optimizer: { lr: 1 }, devices: one })).rejects.toThrow(
      /1 devices; the graph has 2 ranks/,
    );
  });
});

describe('the trainer saves what it trained and checks its batches', () => {
  it('save(dir) writes a checkpoint of the current weights (config.json for the model), a wrong batch is a BatchError', async () => {
    const c = compile(`  model = llama_tiny\n  batch { global = ${MICRO * MICROBATCHES}  micro = ${MICRO}  seq = ${SEQ} }`);
    const graph = c.graph as Graph;
    const m = graph.model as Model;
    const weights = randomWeights(m, 3, 0.1);
    const trainer = await createTrainer(graph, {
      weights,
      optimizer: { lr: 0.01 },
      device: { device: gpu.device, description: gpu.description, runner: gpu.runner },
    });
    try {
      await expect(trainer.step([[1, 2, 3]])).rejects.toThrow(BatchError);
      const before = await trainer.weights();
      expect([...before.keys()].sort()).toEqual([...weights.keys()].sort());
      for (const [name, w] of weights) expect(before.get(name), name).toEqual(w);
      await trainer.step(batches(m.vocab, 5)[0]!);
      const dir = mkdtempSync(join(tmpdir(), 'parplan-trainer-'));
      await trainer.save(dir);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config['num_hidden_layers']).toBe(m.layers);
      const after = await trainer.weights();
      const q = 'model.layers.1.self_attn.q_proj.weight';
      expect(after.get(q)).not.toEqual(weights.get(q));
      expect(gpu.errors).toEqual([]);
    } finally {
      trainer.close();
    }
    await expect(trainer.step(batches(m.vocab, 5)[0]!)).rejects.toThrow(/closed/);
  });
});

/**
 * Counts every buffer created on `device` from now until `restore()`: each must be a graph tensor (its instanced label)
 * or a region of `graph.buffers[program]` (the host staging's labelled `rank N staging-…`), at the plan's bytes rounded
 * up to 16; anything else is a stray. `peak` is the most live bytes at once, the runner's `uniforms` region included.
 */
function countBuffers(device: GPUDevice, graph: Graph, program: string) {
  const region = new Map((graph.buffers![program] ?? []).map((r) => [r.name, r.bytes]));
  // Instanced tensor names ({l}, {m}) → the bytes the graph gives them.
  const tensorBytes = (label: string): number | undefined => {
    const t = graph.tensors.find((x) => new RegExp(`^${x.name.replace(/[.]/g, '\\.').replace(/\{[lm]\}/g, '\\d+')}$`).test(label));
    return t?.bytes;
  };
  const create = device.createBuffer.bind(device);
  const live = new Map<GPUBuffer, number>();
  const out = { strays: [] as string[], sizes: [] as string[], peak: 0, restore: () => void (device.createBuffer = create) };
  device.createBuffer = (d: GPUBufferDescriptor) => {
    const b = create(d);
    const label = (d.label ?? '').replace(/^rank \d+ (?=staging-)/, '');
    const bytes = region.get(label) ?? tensorBytes(label);
    // The kernel runner's first uniform chunk (made on its first use) is the `uniforms` region; a second would be a stray.
    if (label === 'kernels uniforms 0') {
      if (d.size !== region.get('uniforms')) out.sizes.push(`${label}: ${d.size} B, the plan ${region.get('uniforms')} B`);
    } else if (bytes === undefined) out.strays.push(`${label} (${d.size} B)`);
    else {
      // What the device holds is the plan's bytes rounded up to 16 (WebGPU binding alignment), no more.
      if (d.size !== Math.max(16, Math.ceil(bytes / 16) * 16)) out.sizes.push(`${label}: ${d.size} B, the plan ${bytes} B`);
      live.set(b, bytes);
      const destroy = b.destroy.bind(b);
      b.destroy = () => {
        live.delete(b);
        destroy();
      };
      // The runner's uniform pool is the plan's `uniforms` region (the trainer counts it, the runner holds it).
      out.peak = Math.max(out.peak, [...live.values()].reduce((a, x) => a + x, 0) + region.get('uniforms')!);
    }
    return b;
  };
  return out;
}

describe('memory is exactly the plan: every buffer the trainer allocates is a graph tensor or a buffer of graph.buffers', () => {
  // examples/runtime/train.plan's batch and grad_clip on one device (the trainer runs tensor = pipeline = data = 1).
  it.each(['gpt2_tiny', 'llama_tiny'])('%s: the allocated bytes peak at the memory plan total', async (model) => {
    const c = compile(`  model = ${model}  schedule = 1f1b  grad_clip = 1.0\n  batch { global = 16  micro = 2  seq = 32 }`);
    const graph = c.graph as Graph;
    const m = graph.model as Model;
    const device = gpu.device;
    const count = countBuffers(device, graph, 'stage0');
    let trainer: Awaited<ReturnType<typeof createTrainer>> | undefined;
    try {
      trainer = await createTrainer(graph, {
        weights: randomWeights(m, 5, 0.1),
        optimizer: { lr: 1e-3 },
        device: { device, description: gpu.description, runner: gpu.runner },
      });
      const rand = mulberry32(3);
      for (let s = 0; s < 2; s++)
        await trainer.step(Array.from({ length: 16 }, () => Array.from({ length: 33 }, () => Math.floor(rand() * m.vocab))));
    } finally {
      count.restore();
    }
    try {
      expect(count.strays).toEqual([]);
      expect(count.sizes).toEqual([]);
      expect(count.peak).toBe(graph.devices[0]!.memory.total);
      expect(Math.max(...trainer.memoryTimeline())).toBe(graph.devices[0]!.memory.total);
      // The trainer's own report of what it allocated: the same peak, the plan's total.
      const plan = graph.devices[0]!.memory.total;
      expect(trainer.memoryReport()).toEqual([{ rank: 0, allocatedBytes: count.peak, planBytes: plan, ratio: 1 }]);
      expect(gpu.errors).toEqual([]);
    } finally {
      trainer.close();
    }
  });

  // Data 2 with ZeRO-1 (optimizer state sharded: the update and the norm cover a slice of the full weight and gradient,
  // bound whole with an element offset, no copy), ZeRO-2 (gradients sharded too: a layer's `gradbuf.X` one buffer for
  // every layer) and ZeRO-3 (weights too: a layer's `gathered.X` likewise), with a 1F1B schedule or a zero-bubble table.
  // One device per rank, each counted on its own.
  const dataParallel = async (model: 'gpt2_tiny' | 'llama_tiny', zero: 1 | 2 | 3, schedule: '1f1b' | 'zb') => {
    const c = multiCompile({ model, tensor: 1, pipeline: 1, data: 2, schedule, zero, recompute: 'none', clip: 0.5 });
    const graph = c.graph as Graph;
    const m = graph.model as Model;
    const gpus = [gpu, await openTestGpu()];
    const counts = graph.devices.map((d) => countBuffers(gpus[d.rank]!.device, graph, d.program));
    let trainer: Awaited<ReturnType<typeof createTrainer>> | undefined;
    try {
      trainer = await createTrainer(graph, {
        weights: randomWeights(m, 5, 0.1),
        optimizer: OPT,
        clip: 0.5,
        devices: gpus.map((g) => ({ device: g.device, description: g.description, runner: g.runner })),
      });
      const rand = mulberry32(3);
      const sequences = 2 * MULTI_MICRO * 2;
      for (let s = 0; s < 2; s++)
        await trainer.step(
          Array.from({ length: sequences }, () => Array.from({ length: MULTI_SEQ + 1 }, () => Math.floor(rand() * m.vocab))),
        );
    } finally {
      for (const k of counts) k.restore();
      if (!trainer) gpus[1]!.close();
    }
    const peaks = graph.devices.map((d, i) => ({
      rank: d.rank,
      strays: counts[i]!.strays,
      sizes: counts[i]!.sizes,
      allocatedPeak: counts[i]!.peak,
      timelinePeak: Math.max(...trainer!.memoryTimeline(d.rank)),
      reported: trainer!.memoryReport().find((r) => r.rank === d.rank)!.allocatedBytes,
      plan: d.memory.total,
    }));
    const errors = gpus.flatMap((g) => g.errors);
    trainer!.close();
    gpus[1]!.close();
    return { peaks, errors };
  };
  it.each([
    { model: 'gpt2_tiny', zero: 1, schedule: '1f1b' },
    { model: 'llama_tiny', zero: 1, schedule: '1f1b' },
    { model: 'gpt2_tiny', zero: 2, schedule: '1f1b' },
    { model: 'llama_tiny', zero: 3, schedule: '1f1b' },
    { model: 'gpt2_tiny', zero: 3, schedule: 'zb' },
    { model: 'llama_tiny', zero: 2, schedule: 'zb' },
  ] as const)(
    '$model, data 2, ZeRO-$zero, $schedule: no stray buffer, every buffer at its plan bytes, the peak the plan total',
    async ({ model, zero, schedule }) => {
      const { peaks, errors } = await dataParallel(model, zero, schedule);
      for (const p of peaks) {
        expect(p.strays, `rank ${p.rank}`).toEqual([]);
        expect(p.sizes, `rank ${p.rank}`).toEqual([]);
        expect(p.timelinePeak, `rank ${p.rank}`).toBe(p.plan);
        expect(p.allocatedPeak, `rank ${p.rank}`).toBe(p.plan);
        expect(p.reported, `rank ${p.rank}: memoryReport()`).toBe(p.plan);
      }
      expect(errors).toEqual([]);
    },
  );
});
