/**
 * Matmul throughput on the current WebGPU adapter (reports only, never asserts).
 *
 * For each shape × kernel variant × weight storage: compile, one warm-up dispatch, then
 * `iters` dispatches recorded into one compute pass and timed from submit to
 * onSubmittedWorkDone (enough iterations for ≥ 0.3 s of GPU time). GFLOP/s = 2·M·N·K·iters / s.
 * The subgroup-matrix (tensor core) variant runs only where the adapter offers it.
 *
 * Usage: npx tsx bench/kernels.ts [--big] [--json out.json]
 *   default shapes suit lavapipe (a CPU, ~3 GFLOP/s); --big adds GPU-sized ones (4096³, decode GEMVs).
 *   On an NVIDIA GPU set PARPLAN_DAWN_FLAGS='enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'
 *   so Dawn exposes shader-f16 and subgroup matrices.
 */
import { writeFileSync } from 'node:fs';
import { emptyBuffer, openTestGpu } from '../runtime/testing/gpu.js';
import { matmulProgram, subgroupMatrixSupport, type MatmulOptions } from '../runtime/kernels/matmul.js';
import { storageBytes, type TensorType } from '../runtime/wgsl/dtype.js';

const args = process.argv.slice(2);
const big = args.includes('--big');
const jsonAt = args.indexOf('--json');
const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] : undefined;

const g = await openTestGpu();
const sg = subgroupMatrixSupport(g.adapter, g.device);
console.log(`adapter: ${g.description}`);
console.log(
  `features: ${[...g.features].filter((f) => /f16|subgroup/.test(f)).join(', ') || 'none of shader-f16/subgroups'}${sg ? `; subgroup matrix ${sg.M}×${sg.N}×${sg.K} (subgroup ${sg.subgroupSize})` : ''}`,
);

interface Shape {
  M: number;
  N: number;
  K: number;
}
const shapes: Shape[] = [
  { M: 256, N: 256, K: 256 },
  { M: 512, N: 512, K: 512 },
  { M: 1, N: 1024, K: 1024 },
  { M: 8, N: 1024, K: 1024 },
];
if (big)
  shapes.push(
    { M: 2048, N: 2048, K: 2048 },
    { M: 4096, N: 4096, K: 4096 },
    { M: 1, N: 4096, K: 4096 },
    { M: 8, N: 4096, K: 4096 },
    { M: 32, N: 4096, K: 4096 },
    { M: 512, N: 4096, K: 4096 },
  );

const types: { tag: string; t: TensorType }[] = [
  { tag: 'f32', t: { format: 'f32' } },
  { tag: 'bf16', t: { format: 'bf16' } },
  { tag: 'f16', t: { format: 'f16' } },
];
if (g.features.has('shader-f16')) types.push({ tag: 'f16n', t: { format: 'f16', native16: true } });

interface Row {
  M: number;
  N: number;
  K: number;
  variant: string;
  weights: string;
  ms: number;
  gflops: number;
}
const rows: Row[] = [];

async function bench(s: Shape, opts: MatmulOptions, label: string, wtag: string): Promise<void> {
  const p = matmulProgram(opts);
  await g.runner.compile(p);
  const A = emptyBuffer(g.device, s.M * s.K * 4);
  const W = emptyBuffer(g.device, storageBytes(opts.w?.format ?? 'f32', s.N * s.K));
  const C = emptyBuffer(g.device, s.M * s.N * 4);
  const run = async (n: number) => {
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) g.runner.encode(pass, p, { A, W, C }, { M: s.M });
    pass.end();
    const t0 = performance.now();
    g.runner.submit(enc);
    await g.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  const first = await run(1); // includes lavapipe's shader compilation
  const one = Math.max(await run(1), 0.01);
  const iters = Math.max(3, Math.min(2000, Math.ceil(300 / one)));
  const ms = (await run(iters)) / iters;
  const gflops = (2 * s.M * s.N * s.K) / (ms * 1e6);
  rows.push({ ...s, variant: label, weights: wtag, ms: +ms.toFixed(4), gflops: +gflops.toFixed(2) });
  console.log(
    `${`${s.M}×${s.N}×${s.K}`.padEnd(16)} ${label.padEnd(16)} ${wtag.padEnd(5)} ${ms.toFixed(3).padStart(10)} ms ${gflops.toFixed(2).padStart(10)} GFLOP/s${first > 5 * one + 50 ? `   (first dispatch ${first.toFixed(0)} ms)` : ''}`,
  );
  for (const b of [A, W, C]) b.destroy();
  g.runner.forgetBindGroups();
}

console.log(`${'M×N×K'.padEnd(16)} ${'variant'.padEnd(16)} ${'w'.padEnd(5)} ${'time'.padStart(13)} ${'rate'.padStart(18)}`);
for (const s of shapes) {
  for (const { tag, t } of types) {
    const base = { N: s.N, K: s.K, w: t };
    if (s.M <= 8) await bench(s, { ...base, variant: 'gemv' }, 'gemv', tag);
    if (s.M <= 8 && tag !== 'f32') continue;
    for (const tile of s.M >= 512 ? (['small', 'medium', 'large'] as const) : (['small'] as const)) {
      if (s.M >= 4096 && tile === 'small') continue;
      await bench(s, { ...base, tile }, `tiled ${tile}`, tag);
    }
    if (sg && tag === 'f16n' && s.M > 8)
      await bench(s, { ...base, variant: 'subgroup-matrix', subgroupMatrix: sg }, 'subgroup-matrix', tag);
  }
}

if (jsonPath)
  writeFileSync(jsonPath, JSON.stringify({ adapter: g.description, features: [...g.features], subgroupMatrix: sg ?? null, rows }, null, 2));
g.close();
process.exit(0);
