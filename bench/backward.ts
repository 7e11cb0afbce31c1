/**
 * Throughput of the training kernels that dominate a step on the current WebGPU adapter
 * (reports only, never asserts): the linear-layer gradients dX (the forward matmul) and dW,
 * the attention forward-with-lse and backward, and the fused cross-entropy.
 *
 * Each: compile, one warm-up dispatch, then `iters` dispatches in one pass timed from submit
 * to onSubmittedWorkDone (≥ 0.3 s of work). GFLOP/s counts 2 flops per multiply-add
 * (attention: 4·d per visible (query, key) pair forward, 8·d backward).
 *
 * Usage: npx tsx bench/backward.ts [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { emptyBuffer, openTestGpu } from '../runtime/testing/gpu.js';
import { matmulGradInputProgram, matmulGradWeightProgram } from '../runtime/kernels/linear-backward.js';
import { matmulProgram } from '../runtime/kernels/matmul.js';
import {
  attentionBackwardDkvProgram,
  attentionBackwardDqProgram,
  attentionBackwardPreProgram,
  attentionTrainProgram,
} from '../runtime/kernels/attention-backward.js';
import { crossEntropyGradProgram, crossEntropyStatsProgram } from '../runtime/kernels/cross-entropy.js';
import type { Dims, KernelProgram } from '../runtime/kernels/types.js';

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] : undefined;

const g = await openTestGpu();
console.log(`adapter: ${g.description}`);
const rows: { kernel: string; shape: string; ms: number; gflops: number }[] = [];

async function bench(
  label: string,
  shape: string,
  p: KernelProgram,
  sizes: Record<string, number>,
  dims: Dims,
  flops: number,
): Promise<void> {
  await g.runner.compile(p);
  const bufs = Object.fromEntries(Object.entries(sizes).map(([name, bytes]) => [name, emptyBuffer(g.device, Math.max(4, bytes))]));
  const run = async (n: number) => {
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) g.runner.encode(pass, p, bufs, dims);
    pass.end();
    const t0 = performance.now();
    g.runner.submit(enc);
    await g.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run(1);
  const one = Math.max(await run(1), 0.01);
  const iters = Math.max(2, Math.min(1000, Math.ceil(300 / one)));
  const ms = (await run(iters)) / iters;
  const gflops = flops / (ms * 1e6);
  rows.push({ kernel: label, shape, ms: +ms.toFixed(4), gflops: +gflops.toFixed(2) });
  console.log(`${label.padEnd(26)} ${shape.padEnd(28)} ${ms.toFixed(3).padStart(10)} ms ${gflops.toFixed(2).padStart(8)} GFLOP/s`);
  for (const b of Object.values(bufs)) b.destroy();
  g.runner.forgetBindGroups();
}

// linear layers: T tokens, N outputs, K inputs (a tiny model's MLP and a vocabulary head)
for (const { T, N, K } of [
  { T: 256, N: 256, K: 256 },
  { T: 256, N: 4096, K: 64 },
]) {
  const shape = `T ${T} N ${N} K ${K}`;
  const f = 2 * T * N * K;
  await bench('forward matmul', shape, matmulProgram({ N, K }), { A: T * K * 4, W: N * K * 4, C: T * N * 4 }, { M: T }, f);
  await bench('dX (matmulGradInput)', shape, matmulGradInputProgram({ N, K }), { A: T * N * 4, W: N * K * 4, C: T * K * 4 }, { M: T }, f);
  await bench('dW (matmulGradWeight)', shape, matmulGradWeightProgram({ N, K }), { dY: T * N * 4, X: T * K * 4, dW: N * K * 4 }, { T }, f);
}

// attention: B sequences of seq tokens
{
  const [B, seq, H, KVH, D] = [4, 128, 4, 2, 16];
  const T = B * seq;
  const o = { seq, heads: H, kvHeads: KVH, headDim: D };
  const pairs = B * H * ((seq * (seq + 1)) / 2);
  const shape = `T ${T} seq ${seq} h ${H}/${KVH} d ${D}`;
  const q = T * H * D * 4;
  const kv = T * KVH * D * 4;
  await bench('attentionTrain', shape, attentionTrainProgram(o), { q, k: kv, v: kv, out: q, lse: T * H * 4 }, { T }, 4 * D * pairs);
  await bench('attentionBackwardPre', shape, attentionBackwardPreProgram(o), { dO: q, out: q, delta: T * H * 4 }, { T }, 2 * T * H * D);
  const common = { q, k: kv, v: kv, lse: T * H * 4, delta: T * H * 4, dO: q };
  await bench('attentionBackwardDq', shape, attentionBackwardDqProgram(o), { ...common, dq: q }, { T }, 6 * D * pairs);
  await bench('attentionBackwardDkv', shape, attentionBackwardDkvProgram(o), { ...common, dk: kv, dv: kv }, { T }, 8 * D * pairs);
}

// cross-entropy over a GPT-2-sized vocabulary
{
  const [T, cols] = [256, 50257];
  const shape = `T ${T} vocab ${cols}`;
  await bench('crossEntropyStats', shape, crossEntropyStatsProgram({ cols }), { logits: T * cols * 4, stats: T * 8 }, { T }, 3 * T * cols);
  await bench(
    'crossEntropyGrad',
    shape,
    crossEntropyGradProgram({ cols }),
    { logits: T * cols * 4, labels: T * 4, stats: T * 8, loss: T * 4 },
    { T, scale: 1 / T },
    3 * T * cols,
  );
}

if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ adapter: g.description, rows }, null, 2));
g.close();
process.exit(0);
