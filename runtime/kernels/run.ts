/**
 * Compiles kernel programs (one pipeline per device and cache key), binds buffers and
 * the uniform parameters, and records dispatches into a compute pass — without
 * submitting or reading back: the executor records a whole step into one command
 * encoder and submits it with `runner.submit(encoder)`.
 *
 * Uniform parameters live in a pool (64 KiB by default, the memory model's
 * `WEBGPU_UNIFORM_POOL_BYTES`) of slots aligned to `minUniformBufferOffsetAlignment`.
 * Each recorded dispatch takes a slot, identical parameter values share one (a decode
 * step over 32 layers has a handful of distinct values), and the values reach the GPU
 * in one `writeBuffer` per pool chunk at `flush()`. Protocol:
 *
 *   const enc = device.createCommandEncoder();
 *   const pass = enc.beginComputePass();
 *   runner.encode(pass, program, { A, W, C }, { M: 7 });   // any number of times
 *   pass.end();
 *   runner.submit(enc);        // = flush(); queue.submit([enc.finish()]); reset()
 *
 * Whoever submits by hand must call `flush()` before and `reset()` after the submit.
 * (Queue writes are ordered with submits, so rewinding the pool after a submit is safe
 * even while that work still runs.) If one submit needs more slots than the pool has,
 * another chunk is allocated (see `uniformBytes`).
 */
import type { Dims, KernelProgram } from './types.js';

export type BufferArg = GPUBuffer | GPUBufferBinding;

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

interface Chunk {
  buffer: GPUBuffer;
  mirror: ArrayBuffer;
  used: number;
}

const pipelineCache = new WeakMap<GPUDevice, Map<string, Compiled>>();
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;

function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) {
    id = nextBufferId++;
    bufferIds.set(b, id);
  }
  return id;
}

export interface RunnerOptions {
  /** Bytes per uniform pool chunk (default 65 536). */
  uniformPoolBytes?: number;
  label?: string;
}

export class KernelRunner {
  readonly device: GPUDevice;
  private readonly chunkBytes: number;
  private readonly slotAlign: number;
  private readonly chunks: Chunk[] = [];
  /** Parameter bytes (as a key) → where they are in the pool, since the last reset. */
  private readonly slots = new Map<string, { chunk: number; offset: number; size: number }>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly label: string;

  constructor(device: GPUDevice, opts: RunnerOptions = {}) {
    this.device = device;
    this.slotAlign = device.limits.minUniformBufferOffsetAlignment;
    this.chunkBytes = Math.max(this.slotAlign, opts.uniformPoolBytes ?? 64 * 1024);
    this.label = opts.label ?? 'kernels';
  }

  /** Bytes of uniform pool allocated so far (one chunk unless a submit needed more). */
  get uniformBytes(): number {
    return this.chunks.length * this.chunkBytes;
  }

  private cache(): Map<string, Compiled> {
    let m = pipelineCache.get(this.device);
    if (!m) {
      m = new Map();
      pipelineCache.set(this.device, m);
    }
    return m;
  }

  private checkSupported(p: KernelProgram): void {
    for (const f of p.features) {
      if (!this.device.features.has(f))
        throw new Error(`${p.name} needs the device feature '${f}', which this device was not created with`);
    }
    const limit = this.device.limits.maxComputeWorkgroupStorageSize;
    if (p.workgroupStorageBytes > limit) {
      throw new Error(
        `${p.name} needs ${p.workgroupStorageBytes} bytes of workgroup memory; the device allows ${limit} (request the adapter's maxComputeWorkgroupStorageSize)`,
      );
    }
    const inv = p.workgroupSize[0] * p.workgroupSize[1] * p.workgroupSize[2];
    if (inv > this.device.limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(
        `${p.name} has ${inv} invocations per workgroup; the device allows ${this.device.limits.maxComputeInvocationsPerWorkgroup}`,
      );
    }
  }

  private layoutFor(p: KernelProgram): GPUBindGroupLayout {
    const entries: GPUBindGroupLayoutEntry[] = p.bindings.map((b, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (p.uniforms.length > 0)
      entries.push({ binding: p.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    return this.device.createBindGroupLayout({ label: p.name, entries });
  }

  /** The pipeline of `p`, created synchronously on first use (errors surface as uncaptured errors; use `compile` to see them). */
  pipeline(p: KernelProgram): GPUComputePipeline {
    return this.compiled(p).pipeline;
  }

  private compiled(p: KernelProgram): Compiled {
    const cache = this.cache();
    const hit = cache.get(p.cacheKey);
    if (hit) return hit;
    this.checkSupported(p);
    const layout = this.layoutFor(p);
    const module = this.device.createShaderModule({ label: p.name, code: p.wgsl });
    const pipeline = this.device.createComputePipeline({
      label: p.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: p.entryPoint },
    });
    const c = { pipeline, layout };
    cache.set(p.cacheKey, c);
    return c;
  }

  /**
   * Compile `p` now and reject with the WGSL compiler's messages if it fails (startup and
   * tests; `encode` would otherwise compile lazily and report errors asynchronously).
   */
  async compile(p: KernelProgram): Promise<GPUComputePipeline> {
    const cache = this.cache();
    const hit = cache.get(p.cacheKey);
    if (hit) return hit.pipeline;
    this.checkSupported(p);
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('internal');
    const layout = this.layoutFor(p);
    const module = this.device.createShaderModule({ label: p.name, code: p.wgsl });
    let pipeline: GPUComputePipeline | undefined;
    let failure: unknown;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label: p.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: p.entryPoint },
      });
    } catch (e) {
      failure = e;
    }
    const internal = await this.device.popErrorScope();
    const validation = await this.device.popErrorScope();
    const err = failure ?? validation ?? internal;
    if (err !== undefined && err !== null) {
      const info = await module.getCompilationInfo();
      const msgs = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
      const what = err instanceof Error ? err.message : (err as GPUError).message;
      throw new Error(`kernel ${p.name} failed to compile: ${what}\n${msgs}`);
    }
    const c = { pipeline: pipeline!, layout };
    cache.set(p.cacheKey, c);
    return c.pipeline;
  }

  private uniformSlot(p: KernelProgram, dynamic: Dims): { chunk: number; offset: number; size: number } {
    const dims = { ...p.fixed, ...dynamic };
    const size = Math.ceil((p.uniforms.length * 4) / 16) * 16;
    const data = new ArrayBuffer(size);
    const view = new DataView(data);
    p.uniforms.forEach((f, i) => {
      const v = dims[f.name];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`${p.name}: missing or non-finite dims.${f.name}`);
      if (f.type === 'f32') view.setFloat32(i * 4, v, true);
      else if (f.type === 'i32') {
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new Error(`${p.name}: dims.${f.name} = ${v} is not an i32`);
        view.setInt32(i * 4, v, true);
      } else {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${p.name}: dims.${f.name} = ${v} is not a u32`);
        view.setUint32(i * 4, v, true);
      }
    });
    const key = `${size}:${Array.from(new Uint32Array(data)).join(',')}`;
    const hit = this.slots.get(key);
    if (hit) return hit;
    const slotBytes = Math.ceil(size / this.slotAlign) * this.slotAlign;
    let ci = this.chunks.findIndex((c) => c.used + slotBytes <= this.chunkBytes);
    if (ci < 0) {
      const bytes = Math.max(this.chunkBytes, slotBytes);
      this.chunks.push({
        buffer: this.device.createBuffer({
          label: `${this.label} uniforms ${this.chunks.length}`,
          size: bytes,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        mirror: new ArrayBuffer(bytes),
        used: 0,
      });
      ci = this.chunks.length - 1;
    }
    const chunk = this.chunks[ci]!;
    new Uint8Array(chunk.mirror, chunk.used, size).set(new Uint8Array(data));
    const slot = { chunk: ci, offset: chunk.used, size };
    chunk.used += slotBytes;
    this.slots.set(key, slot);
    return slot;
  }

  /** Record one dispatch of `p` into `pass`. `buffers` maps each binding name to a buffer or a range of one. */
  encode(pass: GPUComputePassEncoder, p: KernelProgram, buffers: Readonly<Record<string, BufferArg>>, dims: Dims = {}): void {
    const grid = p.dispatch(dims);
    const c = this.compiled(p);
    const entries: GPUBindGroupEntry[] = [];
    const keyParts: string[] = [p.cacheKey];
    p.bindings.forEach((b, i) => {
      const arg = buffers[b.name];
      if (arg === undefined) throw new Error(`${p.name}: no buffer for binding '${b.name}'`);
      const binding: GPUBufferBinding = 'buffer' in arg ? arg : { buffer: arg };
      entries.push({ binding: i, resource: binding });
      keyParts.push(`${bufferId(binding.buffer)}@${binding.offset ?? 0}+${binding.size ?? 'all'}`);
    });
    if (p.uniforms.length > 0) {
      const s = this.uniformSlot(p, dims);
      const chunk = this.chunks[s.chunk]!;
      entries.push({ binding: p.bindings.length, resource: { buffer: chunk.buffer, offset: s.offset, size: s.size } });
      keyParts.push(`u${bufferId(chunk.buffer)}@${s.offset}`);
    }
    const key = keyParts.join('|');
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size >= 4096) this.bindGroups.clear();
      bg = this.device.createBindGroup({ label: p.name, layout: c.layout, entries });
      this.bindGroups.set(key, bg);
    }
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
  }

  /** Upload the uniform parameters recorded since the last reset. */
  flush(): void {
    for (const c of this.chunks) {
      if (c.used > 0) this.device.queue.writeBuffer(c.buffer, 0, c.mirror, 0, c.used);
    }
  }

  /** Rewind the uniform pool (after the submit that used it). */
  reset(): void {
    for (const c of this.chunks) c.used = 0;
    this.slots.clear();
  }

  /** flush(), submit the encoder's (or the given) command buffers, reset(). */
  submit(work: GPUCommandEncoder | readonly GPUCommandBuffer[]): void {
    const cbs = Array.isArray(work) ? work : [(work as GPUCommandEncoder).finish()];
    this.flush();
    this.device.queue.submit(cbs);
    this.reset();
  }

  /** Forget cached bind groups (call after destroying buffers that were bound). */
  forgetBindGroups(): void {
    this.bindGroups.clear();
  }

  destroy(): void {
    for (const c of this.chunks) c.buffer.destroy();
    this.chunks.length = 0;
    this.slots.clear();
    this.bindGroups.clear();
  }
}
