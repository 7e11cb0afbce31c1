/**
 * One GPUDevice per rank of the plan, each from its own adapter (Dawn gives one
 * device per adapter); several ranks may share one physical GPU, as on CI.
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

let gpuSingleton: { key: string; gpu: GPU } | undefined;

/** The `navigator.gpu` of Dawn; WebGPU's enums (GPUBufferUsage …) become globals. */
export function gpu(dawn: string[] = []): GPU {
  const key = dawn.join('\n');
  if (!gpuSingleton || gpuSingleton.key !== key) {
    Object.assign(globalThis, globals);
    gpuSingleton = { key, gpu: create(dawn) };
  }
  return gpuSingleton.gpu;
}

export async function openDevices(count: number, opts: DeviceOptions = {}): Promise<RankDevice[]> {
  const g = gpu(opts.dawn);
  const out: RankDevice[] = [];
  for (let rank = 0; rank < count; rank++) {
    const adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter: install a Vulkan driver (on Debian: mesa-vulkan-drivers from bookworm-backports for a software GPU)');
    const wanted = (opts.optionalFeatures ?? ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix' as GPUFeatureName]).filter((f) => adapter.features.has(f));
    const l = adapter.limits;
    const device = await adapter.requestDevice({
      label: `rank ${rank}`,
      requiredFeatures: wanted,
      requiredLimits: {
        maxBufferSize: l.maxBufferSize,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
    });
    const info = adapter.info;
    out.push({
      rank,
      device,
      adapter,
      description: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter',
      features: new Set(device.features),
      limits: device.limits,
    });
  }
  return out;
}
