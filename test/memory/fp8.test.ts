/**
 * fp8 training (plan key `fp8`): the bytes each recipe adds or saves against the same plan
 * without fp8, worked out here by hand from Llama-3-8B's shapes (h 4096, 32 heads × 128, 8 KV
 * heads, ffn 14336, 32 layers) and the rules docs/memory.md cites (TransformerEngine's memory
 * doc and recipes, torchao's Float8Linear), not from src/memory's formulas.
 */
import { describe, expect, it } from 'vitest';
import { EFFICIENCY } from '../../src/cost/constants.js';
import { trainMicrobatchFlops } from '../../src/cost/flops.js';
import { hardwareOf, ratesOf } from '../../src/cost/rates.js';
import { GPUS } from '../../src/facts/gpus.js';
import { deviceFootprint } from '../../src/memory/index.js';
import { llama3_8b, trainPlan } from './fixtures.js';

// One layer's linear weights: q 4096×4096, k and v 4096×1024 each, o 4096×4096, gate/up/down 3 × 4096×14336.
const LINEAR_PER_LAYER = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096 + 3 * 4096 * 14336;
const LAYERS = 32;
// Megatron's modules per layer: linear_qkv, linear_proj, linear_fc1 (gate+up), linear_fc2.
const MODULES = 4 * LAYERS;
// te_delayed with history 1: amax histories (1 × 3 fwd, 1 × 2 bwd) + scale and scale_inv (5 each), fp32.
const DELAYED_STATE = 4 * (5 + 10);

const S = 4096;
const at = (o: Parameters<typeof trainPlan>[1] = {}) => trainPlan(llama3_8b, { data: 8, zero: 1, seq: S, micro: 1, ...o });
const foot = (p: ReturnType<typeof at>) => deviceFootprint(p, p.stages[0]!, 0).breakdown;

describe('fp8 = te_* (TransformerEngine, Megatron-LM): weights', () => {
  it('keeps an fp8 weight and its transpose on Hopper: +2 B per linear parameter, plus the delayed-scaling state', () => {
    expect(LINEAR_PER_LAYER).toBe(218_103_808);
    const d = foot(at({ fp8: 'te_delayed' })).weights - foot(at()).weights;
    expect(d).toBe(2 * LINEAR_PER_LAYER * LAYERS + MODULES * DELAYED_STATE);
  });
  it('keeps one fp8 copy on Blackwell (any GEMM layout), two MXFP8 copies with E8M0 scales per 32', () => {
    const b200 = GPUS.B200_180GB!;
    expect(foot(at({ fp8: 'te_current', gpu: b200 })).weights - foot(at({ gpu: b200 })).weights).toBe(
      LINEAR_PER_LAYER * LAYERS + MODULES * 40,
    );
    expect(foot(at({ fp8: 'te_mxfp8', gpu: b200 })).weights - foot(at({ gpu: b200 })).weights).toBe(
      Math.ceil(LINEAR_PER_LAYER * LAYERS * 2 * (1 + 1 / 32)),
    );
  });
});

describe('fp8 = te_* : saved activations', () => {
  it('saves the q/k/v, MLP and down-projection inputs in 1 byte; flash keeps its bf16 output, so the out-projection copy is extra', () => {
    // Per layer (tensor 1, no SP): −sbh (q/k/v input) − sbh (MLP input) + sb·a·d (fp8 copy of flash's output) − sb·f (down input).
    const perLayer = -S * 4096 - S * 4096 + S * 32 * 128 - S * 14336;
    const d = foot(at({ fp8: 'te_delayed' })).activations - foot(at()).activations;
    expect(d).toBe(perLayer * LAYERS);
    // Standard attention does not keep the output for itself: the fp8 copy replaces the bf16 one.
    const std = foot(at({ fp8: 'te_delayed', attention: 'standard' })).activations - foot(at({ attention: 'standard' })).activations;
    expect(std).toBe((-S * 4096 - S * 4096 - S * 32 * 128 - S * 14336) * LAYERS);
  });
  it('adds 1/32 B of scales per saved fp8 element with MXFP8, and changes nothing under full recompute', () => {
    const b200 = GPUS.B200_180GB!;
    const saved = S * 4096 * 2 + S * 32 * 128 + S * 14336;
    const perLayer = -S * 4096 - S * 4096 + S * 32 * 128 - S * 14336 + saved / 32;
    expect(foot(at({ fp8: 'te_mxfp8', gpu: b200 })).activations - foot(at({ gpu: b200 })).activations).toBe(perLayer * LAYERS);
    expect(foot(at({ fp8: 'te_delayed', recompute: 'full' })).activations).toBe(foot(at({ recompute: 'full' })).activations);
  });
});

describe('fp8 = torchao_* (Float8Linear under FSDP2)', () => {
  const fsdp = (o: Parameters<typeof trainPlan>[1] = {}) => at({ zero: 3, amp: true, recompute: 'selective_op', ...o });
  it('saves bf16 inputs and weights: weights, gradients, optimizer and activations as without fp8', () => {
    for (const fp8 of ['torchao_tensorwise', 'torchao_rowwise'] as const) {
      const a = foot(fsdp({ fp8 }));
      const b = foot(fsdp());
      expect([a.weights, a.gradients, a.optimizer, a.activations]).toEqual([b.weights, b.gradients, b.optimizer, b.activations]);
    }
  });
  it('gathers the blocks in fp8 with tensorwise scaling: 1 B instead of 2 for the two gathered blocks; rowwise gathers bf16', () => {
    // A block: its linears and two RMSNorm weights (h each).
    const block = LINEAR_PER_LAYER + 2 * 4096;
    expect(foot(fsdp()).workspace - foot(fsdp({ fp8: 'torchao_tensorwise' })).workspace).toBe(2 * block);
    expect(foot(fsdp({ fp8: 'torchao_rowwise' })).workspace).toBe(foot(fsdp()).workspace);
  });
});

describe('fp8 cost', () => {
  it("runs the layers' linear GEMMs (forward, dgrad, wgrad) at the GPU's fp8 rate", () => {
    const p = at({ fp8: 'te_delayed' });
    const f = trainMicrobatchFlops(p, p.stages[0]!);
    expect(f.fp8).toBe(3 * 2 * S * LINEAR_PER_LAYER * LAYERS);
    expect(ratesOf(hardwareOf(p)).fp8).toBe(1979e12 * EFFICIENCY.compute);
    expect(ratesOf(hardwareOf(at())).fp8).toBeUndefined();
    expect(trainMicrobatchFlops(at(), at().stages[0]!).fp8).toBe(0);
  });
});
