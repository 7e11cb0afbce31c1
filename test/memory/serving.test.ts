import { describe, expect, it } from 'vitest';
import { serveActivations } from '../../src/memory/activations.js';
import { memoryPlan } from '../../src/memory/index.js';
import { kvBytesPerToken, kvCache } from '../../src/memory/kv-cache.js';
import { weights } from '../../src/memory/weights.js';
import { GiB, MiB, gpt2, llama2_7b, llama3_8b, modelSpec, servePlan, tinyllama } from './fixtures.js';

describe('KV cache (vLLM)', () => {
  it('Llama-2-7B, 4096 tokens, batch 1, bf16: exactly 2 GiB', () => {
    const plan = servePlan(llama2_7b, { seq: 4096, maxBatch: 1 });
    // 2 (K, V) × 32 layers × 32 heads × 128 × 2 B × 4096 tokens
    expect(kvCache(plan, plan.stages[0]!).bytes).toBe(2 * 32 * 32 * 128 * 2 * 4096);
    expect(kvCache(plan, plan.stages[0]!).bytes).toBe(2 * GiB);
    expect(kvBytesPerToken(plan, plan.stages[0]!)).toBe(512 * 1024); // 0.5 MiB per token
  });

  it('shards KV heads over tensor ranks and layers over stages', () => {
    const plan = servePlan(llama3_8b, { tensor: 2, pipeline: 2, seq: 8192, maxBatch: 8 });
    // 16 layers per stage, 8 / 2 = 4 KV heads per rank
    expect(kvCache(plan, plan.stages[1]!).bytes).toBe(2 * 16 * 4 * 128 * 2 * 8 * 8192);
  });

  it('replicates KV heads when tensor > kv_heads (TinyLlama TP8: one head per rank)', () => {
    const plan = servePlan(tinyllama, { tensor: 8, seq: 2048, maxBatch: 4 });
    const kv = kvCache(plan, plan.stages[0]!);
    expect(kv.bytes).toBe(2 * 22 * 1 * 64 * 2 * 4 * 2048);
    expect(kv.why).toContain('replicated on 2 tensor ranks');
  });

  it('kv_dtype: fp8 is 1 B, int4 half a byte rounded up', () => {
    const fp8 = servePlan(llama3_8b, { seq: 1000, maxBatch: 3, kvDtype: 'fp8' });
    // 1000 tokens hold ⌈1000 / 16⌉ = 63 whole pages of vLLM's default block_size 16: 1008 slots.
    expect(kvCache(fp8, fp8.stages[0]!).bytes).toBe(2 * 32 * 8 * 128 * 1 * 3 * 1008);
    const odd = servePlan(
      modelSpec('llama', {
        name: 'odd',
        layers: 1,
        kvHeads: 1,
        heads: 1,
        headDim: 1,
        hidden: 1,
        ffn: 1,
        vocab: tinyllama.vocab,
        maxSeq: tinyllama.maxSeq,
      }),
      { seq: 3, maxBatch: 1, kvDtype: 'int4', kvBlock: 1 },
    );
    expect(kvCache(odd, odd.stages[0]!).bytes).toBe(3); // 2 × 3 = 6 elements × ½ B
  });
});

describe('serving weights', () => {
  it('params × bytes(dtype); int4 packs two per byte, rounded up', () => {
    expect(weights(servePlan(llama2_7b), 6_738_415_616).bytes).toBe(2 * 6_738_415_616);
    const q4 = servePlan({ ...gpt2, dtype: 'int4' });
    expect(weights(q4, 124_439_808).bytes).toBe(62_219_904);
    expect(weights(q4, 7).bytes).toBe(4);
    expect(weights(servePlan({ ...gpt2, dtype: 'int8' }), 7).bytes).toBe(7);
  });
});

describe('serving activations: one prefill step through one layer, plus logits', () => {
  it('Llama-3-8B TP2, flash: e·T·(2h + max(attention, mlp)) + logits', () => {
    const plan = servePlan(llama3_8b, { tensor: 2, maxBatch: 32, seq: 8192 });
    const T = 8192;
    const attention = (16 + 2 * 4) * 128 + 16 * 128; // q, k, v + attention output = 5,120
    const mlp = 3 * 7168; // gate, up, product = 21,504
    const prefill = 2 * T * (2 * 4096 + Math.max(attention, mlp));
    const logits = 32 * (128256 / 2) * 4;
    expect(serveActivations(plan, plan.stages[0]!).bytes).toBe(prefill + logits);
    expect(prefill + logits).toBe(494_747_648);
  });

  it('standard attention adds fp32 scores heads/t × T × min(T, seq) to the attention phase', () => {
    const plan = servePlan(llama3_8b, { tensor: 2, maxBatch: 32, seq: 8192, attention: 'standard' });
    const T = 8192;
    const attention = 2 * T * 5120 + 4 * 16 * T * T;
    expect(serveActivations(plan, plan.stages[0]!).bytes).toBe(2 * T * 8192 + attention + 32 * 64128 * 4);
    // several short sequences in one prefill step: each attends within its own seq tokens
    const short = servePlan(llama3_8b, { seq: 1024, maxPrefillTokens: 4096, attention: 'standard' });
    const T2 = 4096;
    const attention2 = 2 * T2 * ((32 + 2 * 8) * 128 + 32 * 128) + 4 * 32 * T2 * 1024; // scores: T × min(T, seq)
    expect(attention2).toBeGreaterThan(2 * T2 * 3 * 14336); // the attention phase is the peak
    expect(serveActivations(short, short.stages[0]!).bytes).toBe(2 * T2 * 2 * 4096 + attention2 + 1 * 128256 * 4);
  });

  it('gelu, fp32, int8: element size at least 2 B', () => {
    const fp32 = servePlan(gpt2, { seq: 1024, maxBatch: 2, pipeline: 2 });
    // first stage: no logits; gelu mlp = 2f; attention = 4h → mlp wins
    expect(serveActivations(fp32, fp32.stages[0]!).bytes).toBe(4 * 1024 * (2 * 768 + 2 * 3072));
    expect(serveActivations(fp32, fp32.stages[1]!).bytes).toBe(4 * 1024 * (2 * 768 + 2 * 3072) + 2 * 50257 * 4);
    const int8 = servePlan({ ...gpt2, dtype: 'int8' }, { seq: 1024, pipeline: 2 });
    expect(serveActivations(int8, int8.stages[0]!).bytes).toBe(2 * 1024 * (2 * 768 + 2 * 3072));
  });
});

describe('worked example (docs/memory.md): Llama-3-8B, serve, TP2 on 2 × H100 SXM 80GB', () => {
  const plan = servePlan(llama3_8b, { tensor: 2, maxBatch: 32, seq: 8192 });
  const m = memoryPlan(plan);

  it('two identical devices', () => {
    expect(m.params).toBe(8_030_261_248);
    expect(m.devices).toHaveLength(2);
    expect(m.devices[1]!.breakdown).toEqual(m.devices[0]!.breakdown);
  });

  it('the numbers in the docs', () => {
    const d = m.devices[0]!;
    expect(d.params).toBe(4_015_263_744);
    expect(d.breakdown).toEqual({
      weights: 8_030_527_488,
      gradients: 0,
      optimizer: 0,
      activations: 494_747_648,
      kvCache: 17_179_869_184,
      workspace: 256 * MiB,
    });
    expect(d.totalBytes).toBe(25_973_579_776);
    expect(d.capacityBytes).toBe(81559 * MiB);
    expect(d.capacityBytes).toBe(85_520_809_984);
    expect(d.usableBytes).toBe(76_968_728_985); // ⌊85,520,809,984 × 0.9⌋
    expect(d.why.weights).toBe('weights: 4,015,263,744 params × 2 B (bf16) = 8,030,527,488 B (7.48 GiB)');
  });

  it('standard attention at the same settings', () => {
    const std = memoryPlan(servePlan(llama3_8b, { tensor: 2, maxBatch: 32, seq: 8192, attention: 'standard' }));
    expect(std.devices[0]!.breakdown.activations).toBe(4_521_279_488);
    expect(std.devices[0]!.totalBytes).toBe(30_000_111_616);
  });
});
