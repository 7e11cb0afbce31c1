/**
 * FLOPs and bytes of MoE, MLA and sliding-window layers against hand computations and the
 * independent active-parameter counts of test/models/reference-counts.json.
 */
import { describe, expect, it } from 'vitest';
import { attentionFlops, decodeDims, decodeFlops, layerFlops, modelForwardFlops, prefillDims } from '../../src/cost/flops.js';
import { touchedFraction, weightReadBytes } from '../../src/cost/serve.js';
import { normParams } from '../../src/memory/params.js';
import { modelOf, REFERENCE } from '../models/configs.js';
import { servePlan, span, trainPlan } from '../memory/fixtures.js';

const mixtral = { ...modelOf('Mixtral-8x7B-v0.1.json'), span };
const dsv3 = { ...modelOf('DeepSeek-V3.json'), span };
const gemma2 = { ...modelOf('gemma-2-9b.json'), span };

describe('model FLOPs count active parameters', () => {
  for (const file of ['Mixtral-8x7B-v0.1.json', 'Qwen3-30B-A3B.json', 'DeepSeek-V3.json', 'gpt-oss-20b.json', 'Qwen1.5-MoE-A2.7B.json']) {
    it(`${file}: 2 · (active params without the input embedding − final norm) · s + attention`, () => {
      const m = modelOf(file);
      const ref = REFERENCE.models[file]!.active_params_without_input_embedding as number;
      // The lookup of the input embedding costs nothing; the reference counts the final norm, Megatron's formula not.
      const params = ref - normParams(m);
      const s = 1; // one token: attention over itself, 2 · heads · (qk + v) per layer
      const attention = (() => {
        let sum = 0;
        for (let l = 0; l < m.layers; l++) {
          const a = (m.overrides?.find((o) => o.first <= l && l <= o.last)?.attention ?? m.layer.attention) as typeof m.layer.attention;
          const qk = a.kind === 'gqa' ? a.headDim : a.qkNopeHeadDim + a.qkRopeHeadDim;
          const v = a.kind === 'gqa' ? a.headDim : a.vHeadDim;
          sum += 2 * a.heads * (qk + v);
        }
        return sum;
      })();
      expect(modelForwardFlops(m, s)).toBe(2 * params + attention);
    });
  }

  it('Mixtral: 12.75B active without the input embedding, not 46.7B', () => {
    expect(modelForwardFlops(mixtral, 1)).toBeLessThan(2 * 13e9);
  });
});

describe('per-device layer FLOPs', () => {
  it('Mixtral decode of 4 tokens, tensor 2: each token through 2 experts of half width', () => {
    const plan = servePlan(mixtral, { tensor: 2, seq: 4096 });
    const f = layerFlops(plan, decodeDims(4, 1000));
    const h = 4096;
    expect(f.mlpUp + f.mlpDown).toBe(2 * 4 * 2 * (3 * h * 7168));
    expect(f.router).toBe(2 * 4 * 8 * h);
    expect(f.attention).toBe(4 * 4 * 1000 * 16 * 128);
  });

  it('MLA attention: 2 · T · ctx · heads/t · (qk_nope + qk_rope + v_head_dim)', () => {
    const plan = servePlan(dsv3, { tensor: 8, seq: 4096 });
    expect(attentionFlops(plan, 10, 300, plan.derived.layers[0]!)).toBe(2 * 10 * 300 * 16 * (128 + 64 + 128));
  });

  it('a sliding window caps the context: decode min(ctx, W), prefill W − W²/(2P)', () => {
    const plan = servePlan(gemma2, { seq: 8192 });
    const sliding = plan.derived.layers.find((f) => f.layer.attention.kind === 'gqa' && f.layer.attention.window === 4096)!;
    const full = plan.derived.layers.find((f) => f.layer.attention.kind === 'gqa' && f.layer.attention.window === undefined)!;
    expect(layerFlops(plan, decodeDims(1, 6000), sliding).attention).toBe(4 * 1 * 4096 * 16 * 256);
    expect(layerFlops(plan, decodeDims(1, 6000), full).attention).toBe(4 * 1 * 6000 * 16 * 256);
    // Prefill of P = 8192: token j attends min(j, 4096) keys; on average 4096 − 4096² / (2 · 8192) = 3072.
    expect(layerFlops(plan, prefillDims(8192, 8192), sliding).attention).toBe(4 * 8192 * 3072 * 16 * 256);
    // A decode step of Gemma-2's 21 sliding + 21 full layers.
    const one = decodeFlops(plan, plan.stages[0]!, 1, 6000) - decodeFlops(plan, plan.stages[0]!, 1, 0);
    expect(one).toBe(21 * 4 * 4096 * 16 * 256 + 21 * 4 * 6000 * 16 * 256);
  });

  it('training: capacity_factor pads the routed tokens', () => {
    const plan = trainPlan(mixtral, { seq: 4096, capacityFactor: 1.5 });
    const f = layerFlops(plan, { T: 4096, ctx: 4096, seqs: 1, windowed: (w) => w });
    expect(f.mlpUp + f.mlpDown).toBe(2 * 4096 * 1.5 * 2 * 3 * 4096 * 14336);
  });
});

describe('decode reads the experts the batch touches', () => {
  it('E · (1 − (1 − k/E)^B): DeepSeek-V3 at B = 64 touches 222.4 of 256 experts (anchors §1.6)', () => {
    const plan = servePlan(dsv3, { tensor: 32, seq: 4096, experts: { tensor: 1, expert: 32 } });
    expect(256 * touchedFraction(plan, 256, 8, 64)).toBeCloseTo(222.4, 1);
    // Per expert rank (EP = 32): 6.95 of its 8 experts.
    expect(8 * touchedFraction(plan, 256, 8, 64)).toBeCloseTo(6.95, 2);
  });

  it('the expert group gathers the tokens of expert × expert_tensor / tensor data replicas', () => {
    const plan = servePlan(mixtral, { tensor: 1, data: 8, seq: 4096, experts: { tensor: 1, expert: 8 } });
    expect(touchedFraction(plan, 8, 2, 1)).toBeCloseTo(1 - 0.75 ** 8, 12);
  });

  it('Mixtral on one GPU, batch 1: 2 of 8 experts read per layer', () => {
    const plan = servePlan(mixtral, { seq: 4096 });
    const h = 4096;
    const expertBytes = 2 * 3 * h * 14336;
    const layer = 2 * (h * 4096 + 2 * h * 1024 + 4096 * h + 8 * h + 2 * h); // attention, router, norms
    const output = 2 * 32000 * h;
    expect(weightReadBytes(plan, plan.stages[0]!, 1)).toBe(32 * (layer + 2 * expertBytes) + output);
    expect(weightReadBytes(plan, plan.stages[0]!)).toBe(32 * (layer + 8 * expertBytes) + output);
  });

  it('quantized weights are read at their stored size', () => {
    const oss = { ...modelOf('gpt-oss-20b.json'), span };
    const plan = servePlan(oss, { seq: 4096 });
    // Every expert touched (no batch given): all weights as stored but the input embedding and the final norm.
    expect(weightReadBytes(plan, plan.stages[0]!)).toBe(13_761_264_768 - 2 * 201_088 * 2880 - 2 * 2880);
  });
});
