/**
 * LoRA / QLoRA memory: adapter parameter counts against a torch oracle (test/memory/lora_oracle.py:
 * the Hugging Face module tree in plain torch, PEFT's target matching, lora_A/lora_B), the adapter
 * branch's saved activations against what torch's autograd actually saves, bitsandbytes NF4 sizes
 * against the QLoRA paper's bits per parameter, and the frozen base's categories.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { adapterParams, deviceFootprint, layerAdapterActivationBytes, nf4Bytes, modelAdapterParams } from '../../src/memory/index.js';
import { countParams } from '../../src/memory/params.js';
import { trainMicrobatchFlops } from '../../src/cost/flops.js';
import { syncParams } from '../../src/lower/data.js';
import type { TrainPlan } from '../../src/plan.js';
import { checkedPlans } from '../export/helpers.js';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`skipping the LoRA torch oracle: ${PYTHON} cannot import torch (Debian: apt-get install python3-torch)`);

type Case = Record<string, unknown>;
type Answer = { trainable: number; saved?: number[] };

/** Every case asked of the oracle, answered in one process (importing torch takes seconds). */
const answers = new Map<string, Answer>();
function oracleAll(cases: Case[]): void {
  const r = spawnSync(PYTHON, ['test/memory/lora_oracle.py'], { input: JSON.stringify(cases), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  (JSON.parse(r.stdout) as Answer[]).forEach((a, i) => answers.set(JSON.stringify(cases[i]), a));
}
function oracle(c: Case): Answer {
  const a = answers.get(JSON.stringify(c));
  if (!a) throw new Error(`oracle case not asked: ${JSON.stringify(c)}`);
  return a;
}

/** The one plan of `text`, checked. */
function plan(text: string): TrainPlan {
  const file = join(mkdtempSync(join(tmpdir(), 'parplan-lora-')), 'p.plan');
  writeFileSync(file, text);
  const p = checkedPlans(file)[0]!;
  if (p.mode !== 'train') throw new Error('not a training plan');
  return p;
}

const MODELS = `
model small { arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 96  vocab = 100  max_seq = 64  dtype = fp32 }
model small_nf4 { arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 96  vocab = 100  max_seq = 64
  quantization = nf4  quant_double = true }
model small_gpt2 { arch = gpt2  layers = 2  hidden = 64  heads = 4  ffn = 256  vocab = 100  max_seq = 64  dtype = fp32 }
cluster one { gpu = H100_SXM_80GB  gpus = 1 }
cluster four { gpu = H100_SXM_80GB  gpus = 4 }
`;
const lora = (model: string, adapter: string, extra = '', batch = 'global = 4  micro = 2  seq = 10') =>
  plan(
    `${MODELS}\nplan p {\n  model = ${model}  cluster = ${extra.includes('tensor') || extra.includes('data') ? 'four' : 'one'}  mode = train  ${extra}\n  adapter { ${adapter} }\n  batch { ${batch} }\n}\n`,
  );

const paramCase = (model: string, targets: string[], rank: number): Case => {
  const gpt2 = model === 'small_gpt2';
  return {
    arch: gpt2 ? 'gpt2' : 'llama',
    layers: 2,
    hidden: 64,
    heads: 4,
    kv_heads: gpt2 ? 4 : 2,
    ffn: gpt2 ? 256 : 96,
    vocab: 100,
    targets,
    rank,
  };
};
const savedCase = (dropout: number): Case => ({
  arch: 'llama',
  layers: 1,
  hidden: 64,
  heads: 4,
  kv_heads: 2,
  ffn: 96,
  vocab: 100,
  targets: ['v_proj'],
  rank: 8,
  saved: { din: 64, dout: 32, tokens: 10, dropout },
});

describe.skipIf(!hasTorch)('adapter parameters against torch', () => {
  const cases: [string, string, string[], number][] = [
    ['small', 'PEFT default (q_proj, v_proj)', ['q_proj', 'v_proj'], 8],
    ['small', 'all-linear', ['all-linear'], 16],
    ['small', 'MLP only', ['gate_proj', 'up_proj', 'down_proj'], 4],
    ['small_gpt2', 'gpt2 c_attn + c_proj (both c_proj modules)', ['c_attn', 'c_proj'], 8],
    ['small_gpt2', 'gpt2 all-linear', ['all-linear'], 2],
  ];
  beforeAll(() => oracleAll([...cases.map(([m, , t, r]) => paramCase(m, t, r)), savedCase(0), savedCase(0.1)]));
  for (const [model, what, targets, rank] of cases)
    it(`${model}: ${what}, rank ${rank}`, () => {
      const text = what.startsWith('PEFT default')
        ? `rank = ${rank}`
        : `rank = ${rank}  targets = [${targets.map((t) => `"${t}"`).join(', ')}]`;
      const p = lora(model, text);
      const want = oracle(paramCase(model, targets, rank)).trainable;
      expect(modelAdapterParams(p)).toBe(want);
      expect(adapterParams(p, p.stages[0]!)).toBe(want);
    });

  it("the adapter branch saves what torch's autograd saves: A's output, and with dropout the dropped input and its mask", () => {
    // One adapted v_proj (64 → 32 under kv_heads = 2) of one layer, T = seq × micro = 10 × 1 tokens.
    for (const dropout of [0, 0.1]) {
      const p = lora('small', `rank = 8  targets = ["v_proj"]  dropout = ${dropout}`, '', 'global = 2  micro = 1  seq = 10');
      const saved = oracle(savedCase(dropout)).saved!;
      // Element counts from torch; bytes as parplan counts them: fp32 activations, CUDA's one-byte dropout mask.
      expect(saved).toEqual(dropout > 0 ? [80, 640, 640] : [80]);
      const [aOut, ...drop] = saved;
      const want = aOut! * 4 + (drop.length > 0 ? drop[0]! * 4 + drop[1]! * 1 : 0);
      expect(layerAdapterActivationBytes(p, p.model.layer)).toBe(want);
    }
  });
});

describe('LoRA memory categories', () => {
  it('the frozen base has no gradients or optimizer states; the adapters have both', () => {
    const p = lora('small', 'rank = 8', 'precision = fp32');
    const f = deviceFootprint(p, p.stages[0]!);
    const A = adapterParams(p, p.stages[0]!);
    expect(A).toBe(2 * (8 * (64 + 64) + 8 * (64 + 32)));
    // fp32 base (model dtype) and fp32 adapters; fp32 gradients; Adam m + v, no master copy in fp32.
    expect(f.breakdown.weights).toBe(countParams(p.model) * 4 + A * 4);
    expect(f.breakdown.gradients).toBe(A * 4);
    expect(f.breakdown.optimizer).toBe(A * 8);
  });

  it('ZeRO shards the adapter states over data replicas; ZeRO-3 the frozen base too', () => {
    const zero1 = lora('small', 'rank = 8', 'data = 4  zero = 1  precision = fp32', 'global = 8  micro = 2  seq = 10');
    const zero3 = lora('small', 'rank = 8', 'data = 4  zero = 3  precision = fp32', 'global = 8  micro = 2  seq = 10');
    const A = adapterParams(zero1, zero1.stages[0]!);
    const f1 = deviceFootprint(zero1, zero1.stages[0]!);
    const f3 = deviceFootprint(zero3, zero3.stages[0]!);
    expect(f1.breakdown.optimizer).toBe(Math.ceil(A / 4) * 8);
    expect(f1.breakdown.gradients).toBe(A * 4);
    expect(f3.breakdown.weights).toBe(Math.ceil((countParams(zero3.model) * 4) / 4) + Math.ceil(A / 4) * 4);
  });

  it('tensor parallelism splits each adapter as its base linear (column-parallel B rows, row-parallel A columns)', () => {
    const t1 = lora('small', 'rank = 8  targets = ["q_proj", "o_proj"]');
    const t2 = lora('small', 'rank = 8  targets = ["q_proj", "o_proj"]', 'tensor = 2', 'global = 4  micro = 2  seq = 10');
    // q_proj 64 → 64: A whole (8·64), B half (32·8); o_proj 64 → 64: A half (8·32), B whole (64·8).
    expect(adapterParams(t1, t1.stages[0]!)).toBe(2 * (8 * 128 + 8 * 128));
    expect(adapterParams(t2, t2.stages[0]!)).toBe(2 * (8 * (64 + 32) + 8 * (32 + 64)));
  });

  it('QLoRA: the base in nf4, embeddings and the output layer in dtype; the DP sync carries the adapters only', () => {
    const p = lora('small_nf4', 'rank = 8  targets = ["all-linear"]', 'data = 4', 'global = 8  micro = 2  seq = 10');
    const f = deviceFootprint(p, p.stages[0]!);
    const A = adapterParams(p, p.stages[0]!);
    const linears = 2 * [64 * 64, 64 * 32, 64 * 32, 64 * 64, 64 * 96, 64 * 96, 96 * 64].reduce((s, n) => s + nf4Bytes(n, 64, true), 0);
    const rest = countParams(p.model) - 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 96);
    expect(f.breakdown.weights).toBe(linears + rest * 2 + A * 2);
    expect(syncParams(p, p.stages[0]!)).toEqual({ dense: A, experts: 0 });
  });
});

describe('NF4 storage (bitsandbytes quantize_4bit)', () => {
  // QLoRA paper §3, Double Quantization: 32/64 = 0.5 bits of absmax per parameter at blocksize 64,
  // 8/64 + 32/(64·256) = 0.127 bits with double quantization.
  it('4.5 bits per weight without double quantization, 4.127 with it', () => {
    const n = 64 * 256 * 1000;
    expect((nf4Bytes(n, 64, false) * 8) / n).toBe(4.5);
    expect((nf4Bytes(n, 64, true) * 8) / n).toBeCloseTo(4 + 8 / 64 + 32 / (64 * 256), 12);
  });
});

describe('LoRA training FLOPs', () => {
  it('backward: input gradients through the frozen base, both gradients for adapters (Megatron count)', () => {
    const full = plan(
      `${MODELS}\nplan p {\n  model = small  cluster = one  mode = train\n  batch { global = 4  micro = 2  seq = 10 }\n}\n`,
    );
    const p = lora('small', 'rank = 8');
    const a = trainMicrobatchFlops(full, full.stages[0]!);
    const b = trainMicrobatchFlops(p, p.stages[0]!);
    const T = 20;
    const adapterFwd = 2 * T * adapterParams(p, p.stages[0]!);
    expect(b.forward).toBe(a.forward + adapterFwd);
    // Full: backward = 2 × forward. LoRA: once the base's forward (input gradients), twice attention's core and the adapters'.
    const attention = 2 * 2 * 2 * T * 10 * 4 * 16; // layers × 2 (QKᵀ, AV) × 2·T·ctx·heads·head_dim, Megatron's full s × s
    expect(b.backward).toBe(a.forward + attention + 2 * adapterFwd);
  });
});
