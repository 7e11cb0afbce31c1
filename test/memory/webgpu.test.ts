import { describe, expect, it } from 'vitest';
import { memoryPlan } from '../../src/memory/index.js';
import { webgpuLayout } from '../../src/memory/webgpu.js';
import { llama3_8b, servePlan } from './fixtures.js';

describe('the webgpu engine\'s buffers', () => {
  it('one device: f32 arena for T = max(prefill, batch) tokens, logits, uniforms; no staging', () => {
    const plan = servePlan(llama3_8b, { maxBatch: 8, seq: 1024, maxPrefillTokens: 512, engine: 'webgpu' });
    const T = 512;
    const h = 4096;
    const attn = (32 + 2 * 8) * 128 + 32 * 128; // q, k, v + attention output per token
    const mlp = 3 * 14336; // gate, up, product
    const regions = Object.fromEntries(webgpuLayout(plan, plan.stages[0]!).map((r) => [r.name, r.bytes]));
    expect(regions).toEqual({
      ids: 3 * T * 4,
      hidden: T * h * 4,
      x: T * h * 4,
      shared: Math.max(attn, mlp) * T * 4,
      logits: 8 * (128256 * 4 + 4),
      uniforms: 65536,
    });
    const dev = memoryPlan(plan).devices[0]!;
    expect(dev.breakdown.activations).toBe(3 * T * 4 + 2 * T * h * 4 + mlp * T * 4 + 8 * (128256 * 4 + 4));
    expect(dev.breakdown.workspace).toBe(65536);
  });

  it('tensor parallel: staging buffers to read back and upload through the host', () => {
    const plan = servePlan(llama3_8b, { maxBatch: 64, seq: 1024, maxPrefillTokens: 32, tensor: 2, engine: 'webgpu' });
    const regions = Object.fromEntries(webgpuLayout(plan, plan.stages[0]!).map((r) => [r.name, r.bytes]));
    // T = max(32, 64) = 64; the read staging also holds a rank's logits (64 × 64128 × 4 > 64 × 4096 × 4).
    expect(regions['staging-read']).toBe(64 * 64128 * 4);
    expect(regions['staging-write']).toBe(64 * 4096 * 4);
  });
});
