import { describe, expect, it } from 'vitest';
import { memoryPlan } from '../../src/memory/index.js';
import { webgpuLayout } from '../../src/memory/webgpu.js';
import { llama3_8b, servePlan } from './fixtures.js';

describe("the webgpu engine's buffers", () => {
  it('one device: f32 buffers for T = max(prefill, batch) tokens, logits, the RoPE table, a readback buffer for the logits, uniforms', () => {
    const plan = servePlan(llama3_8b, { maxBatch: 8, seq: 1024, maxPrefillTokens: 512, engine: 'webgpu' });
    const T = 512;
    const h = 4096;
    const regions = Object.fromEntries(webgpuLayout(plan, plan.stages[0]!).map((r) => [r.name, r.bytes]));
    expect(regions).toEqual({
      tokens: T * 4,
      positions: T * 4,
      slots: T * 4,
      hidden: T * h * 4,
      x: T * h * 4,
      q: T * 32 * 128 * 4,
      k: T * 8 * 128 * 4,
      v: T * 8 * 128 * 4,
      attn: T * 32 * 128 * 4,
      y: T * h * 4,
      up: T * 14336 * 4,
      gate: T * 14336 * 4,
      logits: 8 * 128256 * 4,
      next: 8 * 4,
      rope: 8192 * 128 * 4,
      'staging-read': 8 * 128256 * 4,
      uniforms: 65536,
    });
    const dev = memoryPlan(plan).devices[0]!;
    const sum = Object.entries(regions)
      .filter(([k]) => k !== 'uniforms' && k !== 'staging-read')
      .reduce((a, [, v]) => a + v, 0);
    expect(dev.breakdown.activations).toBe(sum);
    expect(dev.breakdown.workspace).toBe(65536 + 8 * 128256 * 4);
  });

  it('tensor parallel: staging buffers to read back and upload through the host', () => {
    const plan = servePlan(llama3_8b, { maxBatch: 64, seq: 1024, maxPrefillTokens: 32, tensor: 2, engine: 'webgpu' });
    const regions = Object.fromEntries(webgpuLayout(plan, plan.stages[0]!).map((r) => [r.name, r.bytes]));
    // T = max(32, 64) = 64; the read staging also holds a rank's logits (64 × 64128 × 4 > 64 × 4096 × 4).
    expect(regions['staging-read']).toBe(64 * 64128 * 4);
    expect(regions['staging-write']).toBe(64 * 4096 * 4);
  });
});
