/**
 * Memory of MoE and MLA models per rank, against hand computations from the module shapes
 * (Mixtral-8x7B, Qwen3-30B-A3B, DeepSeek-V3 configs in examples/configs).
 */
import { describe, expect, it } from 'vitest';
import { moeRoutedBytes, serveActivations, trainLayerActivationBytes } from '../../src/memory/activations.js';
import { deviceFootprint } from '../../src/memory/index.js';
import { deviceParams } from '../../src/memory/params.js';
import { modelOf } from '../models/configs.js';
import { servePlan, span, trainPlan } from './fixtures.js';

const mixtral = { ...modelOf('Mixtral-8x7B-v0.1.json'), span };
const qwen3moe = { ...modelOf('Qwen3-30B-A3B.json'), span };
const dsv3 = { ...modelOf('DeepSeek-V3.json'), span };

// Mixtral-8x7B: h 4096, 32 heads, 8 KV heads of 128, experts 8 × (3 × 4096 × 14336), top-2, vocab 32000, 32 layers.
const h = 4096;
const expert = 3 * h * 14336;

describe('MoE weights per rank follow the expert grid', () => {
  it('Mixtral, tensor 2 × data 4, expert 8, expert_tensor 1: one whole expert per rank', () => {
    const plan = servePlan(mixtral, { tensor: 2, data: 4, seq: 4096, maxBatch: 32, experts: { tensor: 1, expert: 8 } });
    const attention = h * 16 * 128 + 2 * h * 4 * 128 + 16 * 128 * h; // q, k, v, o of 16 heads / 4 KV heads
    const layer = attention + 1 * expert + 8 * h /* router, whole */ + 2 * h; /* norms */
    const total = 32 * layer + 2 * 16000 * h + h;
    expect(total).toBe(6_440_620_032);
    const p = deviceParams(plan, plan.stages[0]!);
    expect(p.total).toBe(total);
    expect(p.routed).toBe(32 * expert);
    expect(deviceFootprint(plan, plan.stages[0]!).breakdown.weights).toBe(2 * total);
  });

  it('Mixtral, tensor 2, no expert parallelism: every expert, half its width (expert_tensor = tensor)', () => {
    const plan = servePlan(mixtral, { tensor: 2, seq: 4096 });
    expect(deviceParams(plan, plan.stages[0]!).routed).toBe(32 * 8 * (expert / 2));
  });

  it('expert gradients and optimizer states shard over the expert data replicas (ZeRO-1/2)', () => {
    // tensor 2 × data 32 = 64 ranks regrouped as expert_tensor 1 × expert 8 × expert data 8.
    const plan = trainPlan(mixtral, { tensor: 2, data: 32, seq: 4096, zero: 2, experts: { tensor: 1, expert: 8 } });
    expect(plan.experts.data).toBe(8);
    const p = deviceParams(plan, plan.stages[0]!);
    const dense = p.total - p.routed;
    const f = deviceFootprint(plan, plan.stages[0]!);
    expect(f.breakdown.gradients).toBe((Math.ceil(dense / 32) + Math.ceil(p.routed / 8)) * 4);
    expect(f.breakdown.optimizer).toBe((Math.ceil(dense / 32) + Math.ceil(p.routed / 8)) * 12);
    expect(f.why.optimizer).toContain('expert data');
  });
});

describe('MoE training activations (derived: R = k·T routed copies per rank)', () => {
  it('Qwen3-30B-A3B, s 4096, b 1, t 1: 2·R·(2h + 3f_e) = 419,430,400 B routed per layer (anchors §1.4)', () => {
    const plan = trainPlan(qwen3moe, { seq: 4096, micro: 1 });
    const f = plan.derived.layers[0]!;
    const R = 8 * 4096;
    expect(moeRoutedBytes(plan, f)).toEqual({ routed: 2 * R * (2 * 2048 + 3 * 768), logits: 4 * 4096 * 128 });
    expect(moeRoutedBytes(plan, f).routed).toBe(419_430_400);
    // Korthikanti's attention and norm terms (sbh · 18 at t = 1), no dense MLP, then the routed experts and fp32 logits.
    const sbh = 4096 * 2048;
    // + flash attention's fp32 log-sum-exp, 4·a·s·b (a = 32), saved unless core attention is recomputed.
    expect(trainLayerActivationBytes(plan, f)).toBe(sbh * 18 + 419_430_400 + 4 * 4096 * 128 + 4 * 32 * 4096);
  });

  it('capacity_factor pads each expert to its capacity: R = cf·k·T', () => {
    const plan = trainPlan(qwen3moe, { seq: 4096, micro: 1, capacityFactor: 1.25 });
    expect(moeRoutedBytes(plan, plan.derived.layers[0]!).routed).toBe(2 * 1.25 * 8 * 4096 * (2 * 2048 + 3 * 768));
  });
});

describe('serving activations of MoE and MLA layers', () => {
  it('Mixtral prefill peak: the routed copies k·(2h + 3f_e/et) + fp32 router logits per token', () => {
    const plan = servePlan(mixtral, { tensor: 2, data: 4, seq: 4096, maxBatch: 32, experts: { tensor: 1, expert: 8 } });
    const T = 4096;
    const mlp = 2 * (2 * h + 3 * 14336) + 2 * 8; // 4 B logits per expert = 2 elements of 2 B
    expect(serveActivations(plan, plan.stages[0]!).bytes).toBe(2 * T * (2 * h + mlp) + 32 * 16000 * 4);
  });

  it('DeepSeek-V3 dense layers 0–2 and MoE layers 3–60 take the larger peak', () => {
    const plan = servePlan(dsv3, { tensor: 8, seq: 4096, maxBatch: 1, experts: { tensor: 1, expert: 8 } });
    const T = 4096;
    const H = 7168;
    // MLA attention per token per rank: 16 heads × (2·192 + 2·128) + q_lora 1536 + kv_lora 512 + rope 64.
    const attention = 16 * (2 * 192 + 2 * 128) + 1536 + 512 + 64;
    const denseMlp = 3 * (18432 / 8);
    const moeMlp = 8 * (2 * H + 3 * 2048) + 3 * 1 * (2048 / 8) + 2 * 256;
    expect(moeMlp).toBeGreaterThan(Math.max(attention, denseMlp));
    expect(serveActivations(plan, plan.stages[0]!).bytes).toBe(2 * T * (2 * H + moeMlp) + 1 * (129_280 / 8) * 4);
  });
});

describe('MLA training activations (derived)', () => {
  it('DeepSeek-V3 dense layer, t = 8: Q, expanded K, V and output split over t, the latents whole', () => {
    const plan = trainPlan(dsv3, { tensor: 8, seq: 4096, micro: 1 });
    const f = plan.derived.layers[0]!; // layers 0–2: MLA + dense MLP
    const H = 7168;
    const sbh = 4096 * H;
    // Per token, 2 B each: Q and K at 128 heads × 192, V and output at 128 × 128 (split); q, kv latents and rope key (whole).
    const split = (2 * 128 * (2 * 192 + 2 * 128)) / H;
    const whole = (2 * (1536 + 512 + 64)) / H;
    const c = (6 * 18432) / H;
    // + flash attention's fp32 log-sum-exp, 4·a·s·b/t (a = 128).
    expect(trainLayerActivationBytes(plan, f)).toBeCloseTo(sbh * (10 + whole + (split + c) / 8) + (4 * 128 * 4096) / 8, 3);
  });
});
