/**
 * Opens a WebGPU device for tests and benchmarks: Dawn (npm `webgpu`) on whatever
 * Vulkan adapter is present — Mesa's lavapipe on CI — with every optional feature the
 * kernels use that the adapter offers, and the adapter's own limits (WebGPU's defaults
 * are smaller). Fails loudly when there is no adapter: tests must not skip silently.
 *
 * Environment: PARPLAN_DAWN_FLAGS (`create()` flags separated by `;`, e.g.
 * `enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia` on an NVIDIA GPU,
 * where Dawn hides shader-f16 and subgroup matrices by default).
 */
import { gpu, KERNEL_FEATURES, openDevice } from '../device.js';
import { KernelRunner } from '../kernels/run.js';

export interface TestGpu {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  runner: KernelRunner;
  /** e.g. "llvmpipe: Mesa 25.0.7 …". */
  description: string;
  features: ReadonlySet<string>;
  /** Device errors seen since opening (uncaptured errors and loss); tests assert it stays empty. */
  errors: string[];
  close(): void;
}

/** The runtime's features, and timestamps for the benchmarks' timings. */
export const TEST_FEATURES: readonly string[] = [...KERNEL_FEATURES, 'timestamp-query'];

export interface OpenOptions {
  /** Dawn `create()` flags (default: PARPLAN_DAWN_FLAGS split on `;`, or none). */
  flags?: string[];
  /** Features to request if offered (default TEST_FEATURES); pass [] for a bare device. */
  features?: readonly string[];
}

function envFlags(): string[] {
  const s = process.env['PARPLAN_DAWN_FLAGS'];
  if (!s) return [];
  // "enable-dawn-features=a,b;disable-dawn-features=c": flags separated by ';'
  return s
    .split(';')
    .map((x) => x.trim())
    .filter(Boolean);
}

export async function openTestGpu(opts: OpenOptions = {}): Promise<TestGpu> {
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const g = gpu(opts.flags ?? envFlags());
  const { adapter, device, description } = await openDevice(g, 'test', opts.features ?? TEST_FEATURES);
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    errors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') errors.push(`device lost: ${info.message}`);
  });
  const runner = new KernelRunner(device);
  return {
    gpu: g,
    adapter,
    device,
    runner,
    description,
    features: new Set(device.features),
    errors,
    close() {
      runner.destroy();
      device.destroy();
    },
  };
}

/** A storage buffer holding `data` (size rounded up to 16 bytes; at least 16). */
export function uploadBuffer(device: GPUDevice, data: ArrayBufferView, label = 'data', extraUsage = 0): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buf = device.createBuffer({
    label,
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    mappedAtCreation: true,
  });
  new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buf.unmap();
  return buf;
}

/** An empty storage buffer of at least `bytes` (rounded up to 16). */
export function emptyBuffer(device: GPUDevice, bytes: number, label = 'out'): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(16, Math.ceil(bytes / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
}

/** Copy `bytes` of `buffer` back to the host (waits for all submitted work). */
export async function readBuffer(device: GPUDevice, buffer: GPUBuffer, bytes = buffer.size): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return out;
}
