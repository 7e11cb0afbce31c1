/**
 * One GPUDevice per rank of the plan, each from its own adapter (Dawn gives one
 * device per adapter); several ranks may share one physical GPU, as on CI. `openDevice`
 * is the one opener: the tests' (runtime/testing/gpu.ts) uses it too.
 */
import { create, globals } from 'webgpu';

export interface RankDevice {
  rank: number;
  device: GPUDevice;
  adapter: GPUAdapter;
  /** e.g. "llvmpipe: Mesa 25.0.7" or "NVIDIA H200". */
  description: string;
  features: ReadonlySet<string>;
  limits: GPUSupportedLimits;
}

export interface DeviceOptions {
  /** Dawn toggles, e.g. `enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia` on an NVIDIA GPU. */
  dawn?: string[];
  /** Request these features when the adapter offers them. */
  optionalFeatures?: GPUFeatureName[];
}

/** One Dawn instance per set of toggles, kept: the runtime and the test opener share them. */
const instances = new Map<string, GPU>();

/** The `navigator.gpu` of Dawn; WebGPU's enums (GPUBufferUsage …) become globals. */
export function gpu(dawn: string[] = []): GPU {
  const key = dawn.join('\n');
  let g = instances.get(key);
  if (!g) {
    Object.assign(globalThis, globals);
    g = create(dawn);
    instances.set(key, g);
  }
  return g;
}

/** Features the kernels can use, requested when the adapter offers them. */
export const KERNEL_FEATURES: readonly GPUFeatureName[] = [
  'shader-f16',
  'subgroups',
  'chromium-experimental-subgroup-matrix' as GPUFeatureName,
];

const NO_ADAPTER =
  'no WebGPU adapter: Dawn found no Vulkan device. Install a Vulkan driver — on Debian bookworm, ' +
  "mesa-vulkan-drivers and libvulkan1 from bookworm-backports (lavapipe, a CPU implementation; see .ci/run) — and check 'vulkaninfo --summary'.";

/**
 * A device on a new adapter of `g`, with the `wanted` features the adapter offers and the
 * adapter's own limits (WebGPU's defaults are smaller). Throws when there is no adapter.
 */
export async function openDevice(g: GPU, label: string, wanted: readonly string[]): Promise<Omit<RankDevice, 'rank'>> {
  const adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER);
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    label,
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[],
    requiredLimits: {
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info;
  return {
    device,
    adapter,
    description: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter',
    features: new Set(device.features),
    limits: device.limits,
  };
}

export async function openDevices(count: number, opts: DeviceOptions = {}): Promise<RankDevice[]> {
  const g = gpu(opts.dawn);
  const out: RankDevice[] = [];
  for (let rank = 0; rank < count; rank++)
    out.push({ rank, ...(await openDevice(g, `rank ${rank}`, opts.optionalFeatures ?? KERNEL_FEATURES)) });
  return out;
}
