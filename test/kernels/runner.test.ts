/**
 * KernelRunner: many dispatches with different parameters recorded into one pass (each
 * must see its own uniform values), de-duplication of equal parameters, a pool that
 * overflows into a second chunk, clear errors for a missing buffer, a missing dims field
 * or a feature the device lacks, and the pipeline cache.
 */
import { describe, expect, it } from 'vitest';
import { emptyBuffer, readBuffer, uploadBuffer } from '../../runtime/testing/gpu.js';
import { addProgram } from '../../runtime/kernels/elementwise.js';
import { kernels } from '../../runtime/kernels/index.js';
import { matmulProgram } from '../../runtime/kernels/matmul.js';
import { KernelRunner } from '../../runtime/kernels/run.js';
import type { KernelProgram } from '../../runtime/kernels/types.js';
import { testGpu } from './util.js';

describe('KernelRunner', async () => {
  const g = await testGpu();

  async function chain(runner: KernelRunner, count: number): Promise<void> {
    // out_i[j] = a[j] + b[j] for j < n_i, with n_i = i + 1: every dispatch has its own n
    const n = count + 4;
    const a = uploadBuffer(
      g.device,
      Float32Array.from({ length: n }, (_, j) => j),
    );
    const b = uploadBuffer(g.device, new Float32Array(n).fill(100));
    const outs = Array.from({ length: count }, () => uploadBuffer(g.device, new Float32Array(n).fill(-1)));
    const p = addProgram();
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    outs.forEach((y, i) => runner.encode(pass, p, { a, b, y }, { n: i + 1 }));
    pass.end();
    runner.submit(enc);
    for (const [i, y] of outs.entries()) {
      const got = Array.from(new Float32Array(await readBuffer(g.device, y, n * 4)));
      const want = Array.from({ length: n }, (_, j) => (j < i + 1 ? j + 100 : -1));
      expect(got, `dispatch ${i}`).toEqual(want);
    }
    for (const x of [a, b, ...outs]) x.destroy();
  }

  it('each dispatch in one pass sees its own parameters', async () => {
    const runner = new KernelRunner(g.device);
    await chain(runner, 40);
    expect(runner.uniformBytes).toBe(65536);
    // a second step after reset reuses the pool
    await chain(runner, 40);
    expect(runner.uniformBytes).toBe(65536);
    runner.destroy();
  });

  it('a full pool grows by a chunk instead of overwriting parameters', async () => {
    const runner = new KernelRunner(g.device, { uniformPoolBytes: 512 });
    await chain(runner, 7);
    expect(runner.uniformBytes).toBeGreaterThan(512);
    runner.destroy();
  });

  it('equal parameters share one slot (a decode step over many layers needs few)', async () => {
    const runner = new KernelRunner(g.device, { uniformPoolBytes: 256 });
    const a = uploadBuffer(g.device, new Float32Array(8).fill(1));
    const b = uploadBuffer(g.device, new Float32Array(8).fill(2));
    const y = emptyBuffer(g.device, 32);
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < 100; i++) runner.encode(pass, addProgram(), { a, b, y }, { n: 8 });
    pass.end();
    runner.submit(enc);
    expect(runner.uniformBytes).toBe(256);
    expect(Array.from(new Float32Array(await readBuffer(g.device, y)))).toEqual(new Array(8).fill(3));
    runner.destroy();
  });

  it('clear errors: missing buffer, missing or bad dims, missing feature', async () => {
    const runner = new KernelRunner(g.device);
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    const a = emptyBuffer(g.device, 16);
    expect(() => runner.encode(pass, addProgram(), { a, b: a }, { n: 1 })).toThrow(/no buffer for binding 'y'/);
    expect(() => runner.encode(pass, addProgram(), { a, b: a, y: a }, {})).toThrow(/dims\.n/);
    expect(() => runner.encode(pass, addProgram(), { a, b: a, y: a }, { n: -1 })).toThrow(/dims\.n/);
    const needs: KernelProgram = {
      ...addProgram(),
      name: 'needs-sgmat',
      cacheKey: 'needs-sgmat',
      features: ['chromium-experimental-subgroup-matrix' as GPUFeatureName],
    };
    if (!g.device.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName)) {
      expect(() => runner.pipeline(needs)).toThrow(/needs the device feature/);
    }
    pass.end();
    enc.finish();
    a.destroy();
    runner.destroy();
  });

  it('pipelines are cached per device by cache key; WGSL errors are reported with the kernel name', async () => {
    const runner = new KernelRunner(g.device);
    const p1 = matmulProgram({ N: 5, K: 7 });
    const p2 = matmulProgram({ N: 5, K: 7 });
    expect(p1.cacheKey).toBe(p2.cacheKey);
    expect(await runner.compile(p1)).toBe(await runner.compile(p2));
    expect(matmulProgram({ N: 5, K: 8 }).cacheKey).not.toBe(p1.cacheKey);
    const broken: KernelProgram = { ...addProgram(), name: 'broken', cacheKey: 'broken', wgsl: 'fn main( {' };
    await expect(runner.compile(broken)).rejects.toThrow(/kernel broken failed to compile/);
    runner.destroy();
  });

  it('the registry covers every op, each factory returning a consistent program', () => {
    const programs: KernelProgram[] = [
      kernels.matmul({ N: 3, K: 3 }),
      kernels.layernorm({ cols: 4, eps: 1e-5 }),
      kernels.rmsnorm({ cols: 4, eps: 1e-6 }),
      kernels.gelu(),
      kernels.swiglu({ inplace: true }),
      kernels.geglu({ inplace: true }),
      kernels.softcap({ c: 30 }),
      kernels.scale({ c: 2, inplace: true }),
      kernels.add(),
      kernels.rope({ heads: 2, headDim: 4, maxSeq: 8 }),
      kernels.softmax(),
      kernels.kvWrite({ slots: 1, maxSeq: 4, kvHeads: 1, headDim: 2 }),
      kernels.attention({ slots: 1, maxSeq: 4, kvHeads: 1, headDim: 2, heads: 2 }),
      kernels.embedding({ hidden: 4, vocab: 3 }),
      kernels.argmax({ cols: 3 }),
      kernels.router({ hidden: 4, experts: 4, topK: 2, normTopK: true, w: { format: 'bf16' } }),
      kernels.expertMatmul({ N: 3, K: 4, lda: 4, aOff: 0, ldc: 6, cOff: 3, e0: 2, held: 2, w: { format: 'f16' } }),
      kernels.expertSwiglu({ ffn: 3 }),
      kernels.combine({ hidden: 4, topK: 2 }),
      // training
      kernels.matmulGradInput({ N: 3, K: 5, w: { format: 'bf16' } }),
      kernels.matmulGradWeight({ N: 3, K: 5, wLayout: 'kn' }),
      kernels.biasGrad({ N: 3 }),
      kernels.layernorm({ cols: 4, eps: 1e-5, saveStats: true }),
      kernels.rmsnorm({ cols: 4, eps: 1e-5, saveStats: true }),
      kernels.normBackward('layernorm', { cols: 4, accumulate: true }),
      kernels.normBackward('rmsnorm', { cols: 4, weight: { format: 'bf16' }, offset: 1 }),
      kernels.normGradWeight('layernorm', { cols: 4 }),
      kernels.normGradWeight('rmsnorm', { cols: 4 }),
      kernels.geluBackward(),
      kernels.swigluBackward({ inplace: true }),
      kernels.gegluBackward(),
      kernels.rope({ heads: 2, headDim: 4, maxSeq: 8, inverse: true }),
      kernels.attentionTrain({ seq: 4, heads: 2, kvHeads: 1, headDim: 2 }),
      kernels.attentionBackwardPre({ seq: 4, heads: 2, kvHeads: 1, headDim: 2 }),
      kernels.attentionBackwardDq({ seq: 4, heads: 2, kvHeads: 1, headDim: 2, window: 2 }),
      kernels.attentionBackwardDkv({ seq: 4, heads: 2, kvHeads: 1, headDim: 2 }),
      kernels.embeddingBackward({ hidden: 4, rows: 3, rowBase: 3 }),
      kernels.crossEntropyStats({ cols: 5, vocabBase: 5, vocab: 9 }),
      kernels.crossEntropyCombine({ ranks: 2 }),
      kernels.crossEntropyGrad({ cols: 5 }),
      kernels.sumSquares(),
      kernels.reduceSum({ accumulate: true }),
      kernels.clipFactor({ maxNorm: 1 }),
      kernels.adamw(),
      kernels.adamw({ master: { format: 'bf16' } }),
      kernels.sgd({ master: { format: 'bf16' } }),
    ];
    for (const p of programs) {
      for (const [i, b] of p.bindings.entries()) {
        expect(p.wgsl, `${p.name}: binding ${b.name}`).toMatch(new RegExp(`@binding\\(${i}\\) var<storage, ${b.access}> ${b.name}:`));
      }
      if (p.uniforms.length > 0) expect(p.wgsl).toContain(`@binding(${p.bindings.length}) var<uniform> u: Params`);
      for (const k of Object.keys(p.fixed))
        expect(
          p.uniforms.map((f) => f.name),
          `${p.name}: fixed ${k}`,
        ).toContain(k);
      expect(p.entryPoint).toBe('main');
    }
    expect(Object.keys(kernels).sort()).toEqual(
      [
        'add',
        'argmax',
        'attention',
        'combine',
        'embedding',
        'expertMatmul',
        'expertSwiglu',
        'geglu',
        'gelu',
        'kvWrite',
        'layernorm',
        'matmul',
        'rmsnorm',
        'rope',
        'router',
        'scale',
        'softcap',
        'softmax',
        'swiglu',
        // training
        'adamw',
        'attentionBackwardDkv',
        'attentionBackwardDq',
        'attentionBackwardPre',
        'attentionTrain',
        'biasGrad',
        'clipFactor',
        'crossEntropyCombine',
        'crossEntropyGrad',
        'crossEntropyStats',
        'embeddingBackward',
        'gegluBackward',
        'geluBackward',
        'matmulGradInput',
        'matmulGradWeight',
        'normBackward',
        'normGradWeight',
        'reduceSum',
        'sgd',
        'sumSquares',
        'swigluBackward',
      ].sort(),
    );
  });
});
