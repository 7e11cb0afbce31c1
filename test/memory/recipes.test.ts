/**
 * Issue 14's recipes in the memory model: precision = amp_* (PyTorch autocast, FSDP2), recompute =
 * selective_op (torchtitan's per-op policy) and full with recompute_method / recompute_layers.
 * The eager per-layer bytes are checked against torch's own autograd (saved_tensors.py, torch's
 * saved-tensor hooks); the rest against hand arithmetic from the cited code.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { recomputeWorkspaceBytes, trainActivations, trainLayerActivationBytes } from '../../src/memory/activations.js';
import { deviceFootprint } from '../../src/memory/index.js';
import { GRAD_SCALER_BYTES } from '../../src/memory/optimizer.js';
import { countParams } from '../../src/memory/params.js';
import { eagerLayerBytesPerToken, selectiveOpBytesPerToken } from '../../src/memory/recipes.js';
import { gpt2, llama3_8b, modelSpec, trainPlan } from './fixtures.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./saved_tensors.py', import.meta.url));
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`skipping the saved-tensor oracle: ${PYTHON} cannot import torch`);

describe('eager layer activations against torch autograd (attention core excluded)', () => {
  const [h, a, g, d, f, s] = [64, 4, 2, 16, 96, 8];
  const tiny = modelSpec('llama', { name: 'tiny', layers: 2, hidden: h, heads: a, kvHeads: g, headDim: d, ffn: f, vocab: 128, maxSeq: s });
  // The formula's SDPA terms (q, k, v, output, fp32 log-sum-exp), which the oracle leaves out.
  const sdpa = 2 * (2 * a * d + 2 * g * d) + 4 * a;
  const oracle = (mode: string) => {
    const r = spawnSync(PYTHON, [SCRIPT, mode, ...[h, a, g, d, f, s].map(String)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const got = JSON.parse(r.stdout) as { per_token: number; mean_inputs_per_token: number };
    // torch 1.13's mean() keeps its input; releases since save only its size (derivatives.yaml mean.dim).
    return got.per_token - got.mean_inputs_per_token;
  };

  it.skipIf(!hasTorch)('autocast over fp32 parameters (amp_bf16, no ZeRO-3): fp32 norms, a bf16 cast per projection', () => {
    const plan = trainPlan(tiny, { seq: s, amp: true });
    expect(eagerLayerBytesPerToken(plan, plan.derived.layers[0]!) - sdpa).toBe(oracle('autocast'));
  });

  it.skipIf(!hasTorch)('bf16 parameters without autocast (FSDP2 MixedPrecisionPolicy, amp_bf16 with ZeRO-3)', () => {
    const plan = trainPlan(tiny, { seq: s, amp: true, zero: 3, data: 2 });
    expect(eagerLayerBytesPerToken(plan, plan.derived.layers[0]!) - sdpa).toBe(oracle('bf16'));
  });
});

describe('recompute = selective_op (torchtitan activation_checkpoint.py: mm outputs but every second)', () => {
  it("Llama-3-8B: input + q, v, gate, down + SDPA = 15.5h + 4a B/token (the anchors' worked example, 15.5 sbh)", () => {
    const plan = trainPlan(llama3_8b, { seq: 8192, amp: true, zero: 3, data: 8, recompute: 'selective_op' });
    const op = selectiveOpBytesPerToken(plan, plan.derived.layers[0]!);
    expect(op.saved).toEqual(['q_proj', 'v_proj', 'gate_proj', 'down_proj', 'sdpa']);
    // 2h input + 2h q + 2·(h/4) v + 2f gate + 2h down + 2h SDPA output + 4a LSE
    expect(op.bytes).toBe(2 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 14336 + 2 * 4096 + 2 * 4096 + 4 * 32);
    expect(op.bytes).toBe(15.5 * 4096 + 4 * 32);
    expect(trainLayerActivationBytes(plan)).toBe(8192 * op.bytes);
  });

  it('GPT-2: every linear has a bias (addmm), so every output is saved', () => {
    const plan = trainPlan(gpt2, { seq: 1024, recompute: 'selective_op', precision: 'fp16' });
    const op = selectiveOpBytesPerToken(plan, plan.derived.layers[0]!);
    expect(op.saved).toEqual(['c_attn', 'o_proj', 'fc', 'down_proj', 'sdpa']);
    const h = 768;
    expect(op.bytes).toBe(2 * h + 2 * 3 * h + 2 * h + 2 * 4 * h + 2 * h + 2 * h + 4 * 12);
  });

  it('its recompute workspace is one layer without recompute, less what it saved', () => {
    const plan = trainPlan(llama3_8b, { seq: 8192, amp: true, zero: 3, data: 8, recompute: 'selective_op' });
    const f = plan.derived.layers[0]!;
    const none = 8192 * eagerLayerBytesPerToken({ ...plan, recompute: 'none' }, f);
    expect(recomputeWorkspaceBytes(plan, f, 32)).toBe(none - 8192 * selectiveOpBytesPerToken(plan, f).bytes);
  });
});

describe('recompute = full with recompute_method / recompute_layers (Megatron)', () => {
  const base = { seq: 2048, micro: 1 } as const;
  const sbh = 2048 * 4096;
  it('uniform N keeps the input of each group of N layers; block N recomputes the first N layers', () => {
    const none = trainLayerActivationBytes(trainPlan(llama3_8b, base));
    const u4 = trainPlan(llama3_8b, { ...base, recompute: 'full', recomputeLayers: 4 });
    expect(trainLayerActivationBytes(u4, u4.derived.layers[0]!, 32)).toBe((8 * 2 * sbh) / 32);
    const b4 = trainPlan(llama3_8b, { ...base, recompute: 'full', recomputeMethod: 'block', recomputeLayers: 4 });
    expect(trainLayerActivationBytes(b4, b4.derived.layers[0]!, 32)).toBe((4 * 2 * sbh + 28 * none) / 32);
  });

  it('the stage adds the recomputed group (uniform: N layers; block: one) once', () => {
    const none = trainLayerActivationBytes(trainPlan(llama3_8b, base));
    const u1 = trainPlan(llama3_8b, { ...base, recompute: 'full' });
    const u4 = trainPlan(llama3_8b, { ...base, recompute: 'full', recomputeLayers: 4 });
    const stage = u1.stages[0]!;
    expect(trainActivations(u4, stage).bytes - trainActivations(u1, stage).bytes).toBe(3 * none - (32 - 8) * 2 * sbh);
  });
});

describe('precision = amp_*: model states', () => {
  const psi = countParams(llama3_8b);
  const emb = 128256 * 4096;
  it('autocast: fp32 weights + the bf16 cast cache of every linear (not the embedding), fp32 grads, m + v', () => {
    const plan = trainPlan(llama3_8b, { seq: 1024, amp: true });
    const b = deviceFootprint(plan, plan.stages[0]!).breakdown;
    expect(b.weights).toBe(4 * psi + 2 * (psi - emb - 4096));
    expect(b.gradients).toBe(4 * psi);
    expect(b.optimizer).toBe(8 * psi);
  });

  it('amp_fp16 adds the GradScaler state; ZeRO-3 (FSDP2) shards the fp32 parameters and keeps no cast cache', () => {
    const fp16 = trainPlan(llama3_8b, { seq: 1024, amp: true, precision: 'fp16' });
    expect(deviceFootprint(fp16, fp16.stages[0]!).breakdown.optimizer).toBe(8 * psi + GRAD_SCALER_BYTES);
    const fsdp = trainPlan(llama3_8b, { seq: 1024, amp: true, zero: 3, data: 8 });
    const b = deviceFootprint(fsdp, fsdp.stages[0]!).breakdown;
    expect(b.weights).toBe(4 * Math.ceil(psi / 8));
    // FSDP2 buffers: root (embedding, final norm, output) gathered + the output's bf16 gradient, two blocks gathered, one block's bf16 grads + fp32 reduce-scatter input.
    const block = (psi - 2 * emb - 4096) / 32;
    expect(b.workspace).toBe(256 * 2 ** 20 + 2 * (2 * emb + 4096 + emb) + 2 * 2 * block + 6 * block);
  });
});
