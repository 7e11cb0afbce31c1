/**
 * Helpers for the kernel tests: one device per test file (lavapipe on CI), seeded
 * random data, running a program once and reading its output, and tolerance checks
 * that report the worst element.
 */
import { expect } from 'vitest';
import { emptyBuffer, openTestGpu, readBuffer, uploadBuffer, type TestGpu } from '../../runtime/testing/gpu.js';
import type { BufferArg } from '../../runtime/kernels/run.js';
import type { Dims, KernelProgram } from '../../runtime/kernels/types.js';
import type { TensorType } from '../../runtime/wgsl/dtype.js';

let shared: Promise<TestGpu> | undefined;

/** The test device (opened once per file; fails with the reason when there is no adapter). */
export function testGpu(): Promise<TestGpu> {
  shared ??= openTestGpu();
  return shared;
}

/** The seeded PRNG (uniform floats in [0, 1)), and n values ~ N(0, scale²) as f32. */
export { mulberry32 as rng, normalArray as normal } from '../../src/util/random.js';

/** n uniform values in [lo, hi), as f32. */
export function uniform(r: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Every storage type the adapter can read: f32, bf16 and f16 packed, and f16 native with shader-f16. */
export function tensorTypes(g: TestGpu): { tag: string; t: TensorType }[] {
  const out: { tag: string; t: TensorType }[] = [
    { tag: 'f32', t: { format: 'f32' } },
    { tag: 'bf16 (packed)', t: { format: 'bf16' } },
    { tag: 'f16 (packed)', t: { format: 'f16' } },
  ];
  if (g.features.has('shader-f16')) out.push({ tag: 'f16 (shader-f16)', t: { format: 'f16', native16: true } });
  return out;
}

export type Input = ArrayBufferView | { bytes: number };

/**
 * Compile `program`, bind inputs (typed arrays are uploaded; `{ bytes }` makes an empty
 * buffer), dispatch once with `dims`, and read back the named outputs as raw bytes.
 */
export async function runOnce(
  g: TestGpu,
  program: KernelProgram,
  inputs: Record<string, Input | GPUBuffer>,
  dims: Dims,
  outputs: string[],
): Promise<Record<string, ArrayBuffer>> {
  await g.runner.compile(program);
  const bufs: Record<string, BufferArg> = {};
  const made: GPUBuffer[] = [];
  for (const [name, v] of Object.entries(inputs)) {
    if (v instanceof Object && 'bytes' in v && typeof v.bytes === 'number') {
      const b = emptyBuffer(g.device, v.bytes, name);
      made.push(b);
      bufs[name] = b;
    } else if (ArrayBuffer.isView(v)) {
      const b = uploadBuffer(g.device, v, name);
      made.push(b);
      bufs[name] = b;
    } else {
      bufs[name] = v as GPUBuffer;
    }
  }
  const enc = g.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  g.runner.encode(pass, program, bufs, dims);
  pass.end();
  g.runner.submit(enc);
  const out: Record<string, ArrayBuffer> = {};
  for (const name of outputs) {
    const b = bufs[name];
    if (!b || !('size' in b)) throw new Error(`runOnce: no buffer '${name}' to read`);
    out[name] = await readBuffer(g.device, b as GPUBuffer);
  }
  for (const b of made) b.destroy();
  g.runner.forgetBindGroups();
  expect(g.errors, 'device errors').toEqual([]);
  return out;
}

export function f32s(b: ArrayBuffer, n?: number): Float32Array {
  return new Float32Array(b, 0, n ?? b.byteLength / 4);
}

export function u32s(b: ArrayBuffer, n?: number): Uint32Array {
  return new Uint32Array(b, 0, n ?? b.byteLength / 4);
}

/**
 * Assert |got[i] − want[i]| ≤ tol(i) for every i (NaN fails), reporting the worst element
 * relative to its tolerance.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number, label: string): void {
  expect(got.length, `${label}: length`).toBeGreaterThanOrEqual(want.length);
  let worst = -1;
  let worstRatio = 0;
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    const t = tol(i);
    const ratio = Number.isNaN(err) ? Infinity : err / t;
    if (ratio > 1) bad++;
    if (ratio > worstRatio || worst < 0) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (process.env['KERNEL_TOL_REPORT']) console.info(`[tol] ${label}: worst |err|/tol = ${worstRatio.toExponential(2)}`);
  if (bad > 0) {
    const i = worst;
    throw new Error(
      `${label}: ${bad}/${want.length} elements out of tolerance; worst [${i}] got ${got[i]} want ${want[i]} (|err| ${Math.abs(got[i]! - want[i]!).toExponential(3)} > tol ${tol(i).toExponential(3)})`,
    );
  }
}

/** The f32 unit roundoff. */
export const U32 = 2 ** -24;
