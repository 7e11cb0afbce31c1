import { describe, expect, it } from 'vitest';
import {
  inFlightChunks,
  inFlightMicrobatches,
  layersInFlight,
  trainActivations,
  trainLayerActivationBytes,
} from '../../src/memory/activations.js';
import { gradients } from '../../src/memory/gradients.js';
import { deviceFootprint, memoryPlan } from '../../src/memory/index.js';
import { optimizer, optimizerBytesPerParam } from '../../src/memory/optimizer.js';
import { countParams } from '../../src/memory/params.js';
import { weights } from '../../src/memory/weights.js';
import { workspace } from '../../src/memory/workspace.js';
import type { ModelSpec, TrainPlan } from '../../src/plan.js';
import { GiB, MiB, gpt2, llama2_7b, modelSpec, trainPlan } from './fixtures.js';

/** Weights + gradients + optimizer of one device. */
function modelStates(plan: TrainPlan, rank = 0): number {
  const b = memoryPlan(plan).devices[rank]!.breakdown;
  return b.weights + b.gradients + b.optimizer;
}

describe('model states (weights, gradients, optimizer)', () => {
  // A model of exactly Ψ = 7.5B parameters: 50 × (4h² + 3hf + 2h) + V·h + h, h = 5000, f = 3000, V = 49899, tied.
  const psi7_5b: ModelSpec = modelSpec('llama', {
    name: 'psi',
    layers: 50,
    hidden: 5000,
    heads: 40,
    kvHeads: 40,
    headDim: 125,
    ffn: 3000,
    vocab: 49899,
    maxSeq: 1024,
    tiedEmbeddings: true,
    dtype: 'fp16',
    norm: 'rmsnorm',
    activation: 'swiglu',
    bias: false,
    positions: 'rope',
  });
  it('the Ψ model has exactly 7.5B parameters', () => {
    expect(50 * (4 * 5000 ** 2 + 3 * 5000 * 3000 + 2 * 5000) + 49899 * 5000 + 5000).toBe(7_500_000_000);
    expect(countParams(psi7_5b)).toBe(7_500_000_000);
  });

  // ZeRO paper Figure 1: Ψ = 7.5B, N_d = 64, K = 12, fp16 weights and gradients.
  const zeroPlan = (zero: 0 | 1 | 2 | 3) =>
    trainPlan(psi7_5b, { data: 64, zero, precision: 'fp16', gradDtype: 'fp16', optimizer: 'adam', seq: 1024 });
  it('ZeRO Figure 1: baseline (2 + 2 + 12)Ψ = 120 GB', () => expect(modelStates(zeroPlan(0))).toBe(16 * 7.5e9));
  it('ZeRO Figure 1: P_os 2Ψ + 2Ψ + 12Ψ/N_d = 31.4 GB', () => expect(modelStates(zeroPlan(1))).toBe(31_406_250_000));
  it('ZeRO Figure 1: P_os+g 2Ψ + 14Ψ/N_d = 16.6 GB', () => expect(modelStates(zeroPlan(2))).toBe(16_640_625_000));
  it('ZeRO Figure 1: P_os+g+p 16Ψ/N_d = 1.9 GB', () => expect(modelStates(zeroPlan(3))).toBe(1_875_000_000));

  it('Megatron: 18 B/param for bf16 + fp32 grads + Adam; 6 + 12/d with the distributed optimizer', () => {
    const P = countParams(llama2_7b);
    expect(modelStates(trainPlan(llama2_7b))).toBe(18 * P);
    const d = 8; // 6,738,415,616 / 8 = 842,301,952 exactly
    expect(modelStates(trainPlan(llama2_7b, { data: d, zero: 1 }))).toBe(6 * P + (12 * P) / d);
  });

  it('fp32 training keeps no master copy: 4 + 4 + 8 = 16 B/param', () => {
    const plan = trainPlan(llama2_7b, { precision: 'fp32' });
    expect(optimizerBytesPerParam(plan).bytes).toBe(8);
    expect(modelStates(plan)).toBe(16 * countParams(llama2_7b));
  });

  it('sgd: momentum 4 (+ fp32 master 4 when 16-bit)', () => {
    expect(optimizerBytesPerParam(trainPlan(gpt2, { optimizer: 'sgd', precision: 'bf16' })).bytes).toBe(8);
    expect(optimizerBytesPerParam(trainPlan(gpt2, { optimizer: 'sgd', precision: 'fp32' })).bytes).toBe(4);
  });

  it('ZeRO shards round up', () => {
    const plan = trainPlan(gpt2, { data: 7, zero: 3, precision: 'bf16' });
    const P = 124_439_808; // 124,439,808 / 7 = 17,777,115.43 → 17,777,116 per replica
    expect(weights(plan, P).bytes).toBe(17_777_116 * 2);
    expect(gradients(plan, P).bytes).toBe(17_777_116 * 4);
    expect(optimizer(plan, P).bytes).toBe(17_777_116 * 12);
  });

  it('each ZeRO stage shards only its own state', () => {
    const P = 1_000_000;
    const z = (zero: 0 | 1 | 2 | 3) => trainPlan(gpt2, { data: 4, zero, precision: 'bf16' });
    expect([0, 1, 2, 3].map((s) => weights(z(s as 0), P).bytes)).toEqual([2e6, 2e6, 2e6, 0.5e6]);
    expect([0, 1, 2, 3].map((s) => gradients(z(s as 0), P).bytes)).toEqual([4e6, 4e6, 1e6, 1e6]);
    expect([0, 1, 2, 3].map((s) => optimizer(z(s as 0), P).bytes)).toEqual([12e6, 3e6, 3e6, 3e6]);
  });

  it('why strings name the numbers', () => {
    const plan = trainPlan(llama2_7b, { data: 8, zero: 3 });
    const f = deviceFootprint(plan, plan.stages[0]!);
    expect(f.why.weights).toContain('6,738,415,616 params / 8 data (ZeRO-3)');
    expect(f.why.weights).toContain('× 2 B (bf16)');
    expect(f.why.optimizer).toContain('12 B (adamw: fp32 master 4 + m 4 + v 4)');
  });
});

describe('training activations per layer (Korthikanti et al. 2022, Table 2)', () => {
  // Table 3's 22B model: a = 64, h = 6144, L = 48, t = 8, p = 1, s = 2048, b = 4, gelu f = 4h.
  const k22b = (layers: number, hidden: number, heads: number): ModelSpec =>
    modelSpec('gpt2', {
      name: '22b',
      layers,
      hidden,
      heads,
      kvHeads: heads,
      headDim: hidden / heads,
      ffn: 4 * hidden,
      vocab: 51200,
      maxSeq: 2048,
      tiedEmbeddings: true,
      dtype: 'bf16',
      norm: 'layernorm',
      activation: 'gelu',
      bias: true,
      positions: 'learned',
    });
  const plan22 = (o: Partial<TrainPlan>) => ({
    ...trainPlan(k22b(48, 6144, 64), { tensor: 8, micro: 4, global: 4, seq: 2048, attention: 'standard' }),
    ...o,
  });

  it('22B, tensor parallel only: sbh(10 + 24/t) + 5as²b/t per layer → 59.25 GiB (Figure 1)', () => {
    const plan = plan22({});
    const sbh = 2048 * 4 * 6144;
    const perLayer = sbh * (10 + 24 / 8) + (5 * 64 * 2048 ** 2 * 4) / 8;
    expect(trainLayerActivationBytes(plan)).toBe(perLayer);
    expect(layersInFlight(plan, plan.stages[0]!)).toBe(48);
    expect((48 * trainLayerActivationBytes(plan)) / GiB).toBe(59.25);
  });

  it('22B, SP + selective: sbh·34/t per layer → 9.5625 GiB (Figure 1)', () => {
    const plan = plan22({ sequenceParallel: true, recompute: 'selective' });
    expect(trainLayerActivationBytes(plan)).toBe((2048 * 4 * 6144 * 34) / 8);
    expect((48 * trainLayerActivationBytes(plan)) / GiB).toBe(9.5625);
  });

  it('SP alone keeps the score term: sbh·34/t + 5as²b/t', () => {
    const plan = plan22({ sequenceParallel: true });
    expect(trainLayerActivationBytes(plan)).toBe((2048 * 4 * 6144 * 34) / 8 + (5 * 64 * 2048 ** 2 * 4) / 8);
  });

  it('flash attention drops the score term and saves its fp32 log-sum-exp, 4·a·s·b/t, unless core attention is recomputed', () => {
    expect(trainLayerActivationBytes(plan22({ attention: 'flash' }))).toBe(2048 * 4 * 6144 * 13 + (4 * 64 * 2048 * 4) / 8);
    expect(trainLayerActivationBytes(plan22({ attention: 'flash', recompute: 'selective' }))).toBe(2048 * 4 * 6144 * 13);
  });

  it('full recompute keeps the layer input: 2sbh, ÷ t with SP', () => {
    expect(trainLayerActivationBytes(plan22({ recompute: 'full' }))).toBe(2 * 2048 * 4 * 6144);
    expect(trainLayerActivationBytes(plan22({ recompute: 'full', sequenceParallel: true }))).toBe((2 * 2048 * 4 * 6144) / 8);
  });

  it('SwiGLU: c = 6f/h (gate, up and their product, f-wide each)', () => {
    const plan = trainPlan(llama2_7b, { seq: 4096 });
    // 10sbh replicated + (8sbh + 6sbf)/t, t = 1, + flash's fp32 log-sum-exp 4·a·s·b
    expect(trainLayerActivationBytes(plan)).toBe(18 * 4096 * 4096 + 6 * 4096 * 11008 + 4 * 32 * 4096);
  });

  it('fp32 activations are twice the 16-bit table', () => {
    const plan = trainPlan(gpt2, { precision: 'fp32', micro: 2, seq: 1024, attention: 'standard' });
    const sbh = 1024 * 2 * 768;
    expect(trainLayerActivationBytes(plan)).toBe(2 * (sbh * (10 + 8 + 16) + 5 * 12 * 1024 ** 2 * 2));
  });

  // Figure 1's pipelined models: the interleaved schedule (175B, 530B, v = 3) and 1F1B (1T).
  const big = (layers: number, hidden: number, heads: number): ModelSpec => ({ ...k22b(layers, hidden, heads), name: 'big' });
  const cases = [
    { name: '175B', model: big(96, 12288, 96), p: 8, m: 64, v: 3, base: 66.84375, spSel: 12.3515625 },
    { name: '530B', model: big(105, 20480, 128), p: 35, m: 280, v: 3, base: 114.0234375, spSel: 23.076171875 },
    { name: '1T', model: big(128, 25600, 160), p: 64, m: 512, v: 1, base: 131.25, spSel: 26.5625 },
  ];
  for (const c of cases) {
    it(`${c.name}: first stage (layers × in-flight) matches Figure 1`, () => {
      const mk = (o: Partial<TrainPlan>) => ({
        ...trainPlan(c.model, {
          tensor: 8,
          pipeline: c.p,
          microbatches: c.m,
          micro: 1,
          seq: 2048,
          attention: 'standard',
          schedule: c.v > 1 ? 'interleaved' : '1f1b',
          virtual: c.v,
        }),
        ...o,
      });
      const plain = mk({});
      const held = layersInFlight(plain, plain.stages[0]!);
      expect(held).toBe(c.model.layers * (c.v > 1 ? 1 + (c.p - 1) / (c.p * c.v) : 1));
      expect((held * trainLayerActivationBytes(plain)) / GiB).toBeCloseTo(c.base, 9);
      const sel = mk({ sequenceParallel: true, recompute: 'selective' });
      expect((held * trainLayerActivationBytes(sel)) / GiB).toBeCloseTo(c.spSel, 9);
    });
  }
});

describe('microbatches in flight', () => {
  const pp = (schedule: TrainPlan['schedule'], m: number, virtual = 1) =>
    trainPlan(llama2_7b, { pipeline: 4, microbatches: m, schedule, virtual });

  it('gpipe holds every microbatch', () => {
    expect([0, 1, 2, 3].map((s) => inFlightMicrobatches(pp('gpipe', 8), s))).toEqual([8, 8, 8, 8]);
  });

  it('1f1b holds min(m, p − stage)', () => {
    expect([0, 1, 2, 3].map((s) => inFlightMicrobatches(pp('1f1b', 8), s))).toEqual([4, 3, 2, 1]);
    expect([0, 1, 2, 3].map((s) => inFlightMicrobatches(pp('1f1b', 2), s))).toEqual([2, 2, 2, 1]);
    const plan = pp('1f1b', 8);
    expect(plan.stages.map((s) => layersInFlight(plan, s))).toEqual([32, 24, 16, 8]);
  });

  it('interleaved holds min(m·v, 2(p − stage − 1) + (v − 1)p + 1) chunks of L/(p·v) layers', () => {
    const plan = pp('interleaved', 8, 2);
    expect([0, 1, 2, 3].map((s) => inFlightChunks(plan, s))).toEqual([11, 9, 7, 5]);
    expect(plan.stages.map((s) => layersInFlight(plan, s))).toEqual([44, 36, 28, 20]); // 4 layers per chunk
    expect(inFlightChunks(pp('interleaved', 4, 2), 0)).toBe(8); // capped at m·v
    expect(inFlightMicrobatches(plan, 0)).toBe(8); // chunk 0 holds 2p microbatches (Megatron's order; see test/schedules)
  });

  it("interleaved stage 0 equals Megatron's L × (1 + (p − 1)/(p·v))", () => {
    for (const [p, v, L] of [
      [2, 2, 32],
      [4, 2, 32],
      [4, 4, 64],
      [8, 3, 96],
      [16, 2, 64],
    ] as const) {
      const model = { ...llama2_7b, layers: L };
      const plan = trainPlan(model, { pipeline: p, virtual: v, schedule: 'interleaved', microbatches: 8 * p });
      expect(layersInFlight(plan, plan.stages[0]!)).toBeCloseTo(L * (1 + (p - 1) / (p * v)), 9);
    }
  });
});

describe('training activations per stage', () => {
  it('Llama-2-7B, t = 1, p = 1, flash, no recompute: layers + embedding + output', () => {
    const plan = trainPlan(llama2_7b, { seq: 4096 });
    const s = 4096,
      b = 1,
      h = 4096;
    const perLayer = 18 * s * b * h + 6 * s * b * 11008 + 4 * 32 * s * b; // 573,046,784 with flash's log-sum-exp
    const embedding = 8 * s * b + s * b * h; // token ids + dropout mask
    const output = 4 * s * b * h + 4 * s * b * 32000; // norm + output-layer inputs, fp32 logits
    expect(trainActivations(plan, plan.stages[0]!).bytes).toBe(32 * perLayer + embedding + output);
    expect(32 * perLayer + embedding + output).toBe(18_945_703_936);
  });

  it('t = 2 with SP, p = 2, 1f1b m = 4, full recompute', () => {
    const plan = trainPlan(llama2_7b, { tensor: 2, pipeline: 2, microbatches: 4, sequenceParallel: true, recompute: 'full', seq: 4096 });
    const sbh = 4096 * 4096;
    // Recomputing one layer in backward needs its activations again, once per stage: sbh(18 + c)/t + 4asb/t (flash LSE).
    const one = (sbh * (18 + (6 * 11008) / 4096)) / 2 + (4 * 32 * 4096) / 2;
    // stage 0: 16 layers × 2 microbatches × 2sbh/2, + 2 × (8sb + sbh/2) + one layer recomputed
    expect(trainActivations(plan, plan.stages[0]!).bytes).toBe(16 * 2 * sbh + 2 * (8 * 4096 + sbh / 2) + one);
    // stage 1: 16 layers × 1 × sbh, + the larger of the output (4sbh/2 + 4·s·b·(32000/2)) and one layer
    // recomputed: the recompute comes after the loss's backward has freed the logits.
    const output = 2 * sbh + 4 * 4096 * 16000;
    expect(trainActivations(plan, plan.stages[1]!).bytes).toBe(16 * sbh + Math.max(output, one));
  });
});

describe('workspace', () => {
  it('plan workspace, plus 4 B × the largest module under ZeRO-3 (DeepSpeed)', () => {
    const plain = trainPlan(llama2_7b, { data: 8, zero: 2 });
    expect(workspace(plain, 131_072_000).bytes).toBe(256 * MiB);
    const z3 = trainPlan(llama2_7b, { data: 8, zero: 3 });
    const f = deviceFootprint(z3, z3.stages[0]!);
    expect(f.breakdown.workspace).toBe(256 * MiB + 4 * 32000 * 4096); // the embedding is the largest module
    expect(f.breakdown.workspace).toBe(792_723_456);
    expect(f.breakdown.kvCache).toBe(0);
  });
});
