/**
 * WGSL matmul throughput on the current adapter: C[M, N] = A[M, K] · Wᵀ at a given
 * size, f32 weights (the register-tiled kernel, large tiles) and, where the adapter
 * offers `chromium-experimental-subgroup-matrix`, f16 weights on tensor cores.
 * Prints one JSON line. Usage: node --import tsx bench/gpu/matmul.ts [--size 8192] [--dawn TOGGLES] [--iters 10]
 */
import { openDevices } from '../../runtime/device.js';
import { KernelRunner, matmulProgram, subgroupMatrixSupport, type KernelProgram } from '../../runtime/kernels/index.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const S = Number(arg('size', '8192'));
const iters = Number(arg('iters', '10'));
const dawn = arg('dawn', '');
const [rd] = await openDevices(1, {
  ...(dawn ? { dawn: dawn.split(' ') } : {}),
  optionalFeatures: ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix' as GPUFeatureName],
});
const device = rd!.device;
const runner = new KernelRunner(device);

async function time(p: KernelProgram, wBytes: number): Promise<number> {
  const usage = GPUBufferUsage.STORAGE;
  const A = device.createBuffer({ size: S * S * 4, usage });
  const W = device.createBuffer({ size: wBytes, usage });
  const C = device.createBuffer({ size: S * S * 4, usage });
  await runner.compile(p);
  const go = async (n: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) runner.encode(pass, p, { A, W, C }, { M: S });
    pass.end();
    runner.submit(enc);
    await device.queue.onSubmittedWorkDone();
  };
  await go(1);
  const t0 = performance.now();
  await go(iters);
  const s = (performance.now() - t0) / 1000 / iters;
  A.destroy();
  W.destroy();
  C.destroy();
  return (2 * S * S * S) / s / 1e12;
}

const out: Record<string, unknown> = { adapter: rd!.description, size: S };
out['f32_tflops'] = await time(matmulProgram({ N: S, K: S, variant: 'tiled', tile: 'large' }), S * S * 4);
const sg = subgroupMatrixSupport(rd!.adapter, device);
if (sg && device.features.has('shader-f16'))
  out['f16_tensor_core_tflops'] = await time(
    matmulProgram({ N: S, K: S, w: { format: 'f16', native16: true }, variant: 'subgroup-matrix', subgroupMatrix: sg }),
    S * S * 2,
  );
else out['f16_tensor_core_tflops'] = null;
console.log(JSON.stringify(out));
process.exit(0);
