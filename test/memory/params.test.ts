import { describe, expect, it } from 'vitest';
import { countParams, deviceParams, layerParams, paramsOnDevice } from '../../src/memory/params.js';
import { layerAt } from '../../src/model.js';
import type { CheckedPlan } from '../../src/plan.js';
import { gpt2, llama2_7b, llama3_8b, servePlan, tinyllama, trainPlan } from './fixtures.js';

/** Σ over every stage and tensor rank of one data replica. */
function sumOverDevices(plan: CheckedPlan): number {
  let sum = 0;
  for (const stage of plan.stages) for (let r = 0; r < plan.mesh.tensor; r++) sum += paramsOnDevice(plan, stage, r);
  return sum;
}

describe('countParams equals Hugging Face', () => {
  it('Llama-2-7B', () => expect(countParams(llama2_7b)).toBe(6_738_415_616));
  it('TinyLlama-1.1B', () => expect(countParams(tinyllama)).toBe(1_100_048_384));
  it('Llama-3-8B', () => expect(countParams(llama3_8b)).toBe(8_030_261_248));
  it('GPT-2 (124M)', () => expect(countParams(gpt2)).toBe(124_439_808));

  it('Llama-2-7B by hand', () => {
    const h = 4096;
    const perLayer = 4 * h * h /* q k v o */ + 3 * h * 11008 /* gate up down */ + 2 * h; /* norms */
    expect(perLayer).toBe(202_383_360);
    expect(countParams(llama2_7b)).toBe(32 * perLayer + 2 * 32000 * h + h);
  });

  it('GPT-2 by hand: biases, layernorm, learned positions, tied output', () => {
    const h = 768;
    const attn = 4 * h * h + 4 * h; // c_attn (3h×h + 3h) + c_proj (h×h + h)
    const mlp = 2 * h * 3072 + 3072 + h; // c_fc + c_proj with biases
    const norms = 2 * 2 * h;
    expect(attn + mlp + norms).toBe(7_087_872);
    expect(countParams(gpt2)).toBe(12 * 7_087_872 + 50257 * h + 1024 * h + 2 * h);
  });

  it('GQA layer: k and v use kv_heads × head_dim', () => {
    const l = layerParams(tinyllama, layerAt(tinyllama, 0));
    expect(l.k).toBe(2048 * 4 * 64);
    expect(l.q).toBe(2048 * 2048);
    expect(l.total).toBe(2048 * 2048 * 2 + 2 * 2048 * 256 + 3 * 2048 * 5632 + 2 * 2048);
  });
});

describe('paramsOnDevice (Megatron sharding)', () => {
  it('Llama-3-8B TP2: one rank by hand', () => {
    const plan = servePlan(llama3_8b, { tensor: 2 });
    const h = 4096;
    const layer = h * 2048 /* q: 16 heads */ + 2 * h * 512 /* k, v: 4 KV heads */ + 2048 * h /* o */ + 3 * h * 7168 + 2 * h;
    expect(layer).toBe(109_060_096);
    const expected = 32 * layer + (128256 / 2) * h * 2 /* embedding + output shards */ + h; /* final norm */
    expect(expected).toBe(4_015_263_744);
    expect(paramsOnDevice(plan, 0, 0)).toBe(expected);
    expect(paramsOnDevice(plan, 0, 1)).toBe(expected);
  });

  it('untied, pipeline only: the stages sum to the total', () => {
    const plan = trainPlan(llama2_7b, { pipeline: 4 });
    expect(sumOverDevices(plan)).toBe(countParams(llama2_7b));
    // first stage: 8 layers + embedding; last: 8 layers + final norm + output
    expect(paramsOnDevice(plan, 0)).toBe(8 * 202_383_360 + 32000 * 4096);
    expect(paramsOnDevice(plan, 1)).toBe(8 * 202_383_360);
    expect(paramsOnDevice(plan, 3)).toBe(8 * 202_383_360 + 4096 + 32000 * 4096);
  });

  it('uneven explicit stages still sum to the total', () => {
    const plan = trainPlan(llama2_7b, { pipeline: 3, stageLayers: [10, 12, 10] });
    expect(sumOverDevices(plan)).toBe(countParams(llama2_7b));
  });

  it('tensor parallel: the sum exceeds the total by the replicated norms, (t − 1) times', () => {
    const plan = trainPlan(llama2_7b, { tensor: 4, pipeline: 2 });
    const replicated = 32 * 2 * 4096 + 4096; // two rmsnorms per layer + final norm
    expect(replicated).toBe(266_240);
    expect(sumOverDevices(plan)).toBe(countParams(llama2_7b) + 3 * replicated);
  });

  it('Llama-3-8B TP8 (8 KV heads, no replication)', () => {
    const plan = servePlan(llama3_8b, { tensor: 8 });
    expect(plan.derived.kvHeadsPerRank).toBe(1);
    expect(sumOverDevices(plan)).toBe(countParams(llama3_8b) + 7 * 266_240);
  });

  it('GQA with KV replication (TinyLlama, 4 KV heads, TP8): the sum exceeds the total by the replicated K/V', () => {
    const plan = servePlan(tinyllama, { tensor: 8 });
    expect(plan.derived.kvHeadsPerRank).toBe(1);
    expect(plan.derived.kvReplication).toBe(2);
    const kvPerRank = 2 * 2048 * 1 * 64; // k and v, one head each
    const kvTrue = 2 * 2048 * 4 * 64; // the model's k and v
    const extraKv = 22 * (8 * kvPerRank - kvTrue);
    expect(extraKv).toBe(23_068_672);
    const extraNorms = 7 * (22 * 2 * 2048 + 2048);
    expect(sumOverDevices(plan)).toBe(countParams(tinyllama) + extraKv + extraNorms);
  });

  it('tied embeddings, pipeline 1: counted once', () => {
    const plan = trainPlan(gpt2);
    expect(sumOverDevices(plan)).toBe(countParams(gpt2));
    const p = deviceParams(plan, plan.stages[0]!);
    expect(p.output).toBe(0);
    expect(p.embedding).toBe(50257 * 768);
    expect(p.positions).toBe(1024 * 768);
  });

  it('tied embeddings, pipeline 2: the last stage holds its own copy (Megatron)', () => {
    const plan = trainPlan(gpt2, { pipeline: 2 });
    expect(sumOverDevices(plan)).toBe(countParams(gpt2) + 50257 * 768);
    const last = deviceParams(plan, plan.stages[1]!);
    expect(last.output).toBe(50257 * 768);
    expect(last.positions).toBe(0);
    expect(last.finalNorm).toBe(2 * 768);
  });

  it('GPT-2 TP2: vocab padding, replicated row-parallel biases, norms and positions', () => {
    const plan = trainPlan(gpt2, { tensor: 2 });
    expect(plan.derived.vocabPadded).toBe(50258);
    const h = 768;
    const padding = (50258 - 50257) * h; // one padded embedding row (tied: the embedding only)
    const replicatedPerRank =
      12 * (2 * 2 * h /* layernorms */ + h /* o bias */ + h) /* MLP down bias */ + 2 * h /* final norm */ + 1024 * h; /* positions */
    expect(sumOverDevices(plan)).toBe(countParams(gpt2) + padding + 1 * replicatedPerRank);
    // one rank's layer: column-parallel weights and biases halved, row-parallel biases whole
    const l = deviceParams(plan, plan.stages[0]!).layer;
    expect(l.q).toBe(h * 384 + 384);
    expect(l.o).toBe(384 * h + h);
    expect(l.up).toBe(h * 1536 + 1536);
    expect(l.down).toBe(1536 * h + h);
    expect(l.gate).toBe(0);
  });

  it('the same on every tensor rank', () => {
    const plan = trainPlan(llama3_8b, { tensor: 8, pipeline: 4 });
    for (const stage of plan.stages) {
      const first = paramsOnDevice(plan, stage, 0);
      for (let r = 1; r < 8; r++) expect(paramsOnDevice(plan, stage, r)).toBe(first);
    }
  });

  it('largest module on the device', () => {
    const plan = trainPlan(llama2_7b);
    expect(deviceParams(plan, plan.stages[0]!).largestModule).toBe(32000 * 4096);
    const pp = trainPlan(llama2_7b, { pipeline: 4 });
    expect(deviceParams(pp, pp.stages[1]!).largestModule).toBe(4096 * 11008); // an MLP projection
  });
});
