/**
 * The kernel program interface: what every factory in `runtime/kernels/` returns.
 *
 * A factory takes the *static* description of an operation (sizes fixed by the model,
 * storage formats, fused epilogues) and returns a `KernelProgram`: the WGSL text, a
 * cache key that identifies it (two programs with the same key have the same WGSL and
 * bindings), the workgroup size, the storage bindings in `@binding` order, and the
 * fields of a small uniform struct for the sizes, split into `fixed` values (static sizes
 * such as a matmul's N and K, set by the factory) and *dynamic* ones (token counts, rows)
 * passed as `dims` with each dispatch. Only what shapes the code — storage formats,
 * vector alignment, tile sizes, head size — is baked into the WGSL, so programs for
 * different shapes usually share a pipeline. `dispatch(dims)` gives the workgroup grid
 * for given dynamic sizes (and throws if they are out of range).
 *
 * WGSL convention: everything is in `@group(0)`; storage buffers take bindings
 * 0 … n−1 in the order of `bindings`; the uniform struct `Params` (fields in the
 * order of `uniforms`, all 32-bit scalars) is `var<uniform> u` at binding n; the entry
 * point is `main`. `declareBindings` (wgsl/common.ts) makes `bindings` and those WGSL
 * declarations from one list; `kernelProgram` (below) makes the object. `KernelRunner`
 * (run.ts) builds the explicit bind-group layout from this description, so an unused
 * binding is still bound and validated.
 */

export type BindingAccess = 'read' | 'read_write';

export interface BindingDecl {
  /** The key of this buffer in the runner's `buffers` argument (and the WGSL variable name). */
  readonly name: string;
  readonly access: BindingAccess;
}

export interface UniformField {
  readonly name: string;
  readonly type: 'u32' | 'i32' | 'f32';
}

/** Values of a program's uniform fields (and whatever `dispatch` reads), by name. */
export type Dims = Readonly<Record<string, number>>;

export interface KernelProgram {
  /** Short human name, e.g. `matmul_tiled_bf16_nk`. */
  readonly name: string;
  /** Identifies the WGSL and the binding layout; pipelines are cached per device by it. */
  readonly cacheKey: string;
  readonly wgsl: string;
  readonly entryPoint: 'main';
  readonly workgroupSize: readonly [number, number, number];
  readonly bindings: readonly BindingDecl[];
  readonly uniforms: readonly UniformField[];
  /**
   * Uniform values fixed when the program was made (static sizes such as N and K of a
   * matmul). They are uniforms rather than WGSL constants so that one pipeline serves every
   * shape with the same alignment — on lavapipe each distinct shader costs seconds of LLVM
   * compilation at its first dispatch. The runner merges `dims` over them.
   */
  readonly fixed: Dims;
  /** Device features the WGSL needs (e.g. `shader-f16`). */
  readonly features: readonly GPUFeatureName[];
  /** `var<workgroup>` bytes the shader declares (compared with the device's limit). */
  readonly workgroupStorageBytes: number;
  /** The workgroup grid for these dynamic sizes. */
  dispatch(dims: Dims): [number, number, number];
}

/** A value of `dims`, checked: a non-negative integer below 2³². */
export function dimU32(dims: Dims, name: string, program: string): number {
  const v = dims[name];
  if (v === undefined || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new Error(`${program}: dims.${name} must be a u32, got ${String(v)}`);
  }
  return v;
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Throws unless `v` is a positive integer (static sizes given to factories). */
export function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
  return v;
}

/** Uniform fields of type u32, in this order (most of a kernel's `uniforms`). */
export function u32Fields(...names: string[]): UniformField[] {
  return names.map((name) => ({ name, type: 'u32' }));
}

/**
 * What a factory states about its program besides its name and WGSL; `kernelProgram` fills
 * in the rest. Left out: the cache key is the name, a number is a 1-D workgroup, no fixed
 * uniforms, no features, no workgroup memory.
 */
export interface ProgramParts {
  readonly cacheKey?: string;
  readonly workgroupSize: number | readonly [number, number, number];
  readonly bindings: readonly BindingDecl[];
  readonly uniforms: readonly UniformField[];
  readonly fixed?: Dims;
  readonly features?: readonly GPUFeatureName[];
  readonly workgroupStorageBytes?: number;
  readonly dispatch: (dims: Dims) => [number, number, number];
}

/** The program object every factory returns (entry point `main`, the WGSL convention above). */
export function kernelProgram(name: string, wgsl: string, p: ProgramParts): KernelProgram {
  const wg = p.workgroupSize;
  return {
    name,
    cacheKey: p.cacheKey ?? name,
    wgsl,
    entryPoint: 'main',
    workgroupSize: typeof wg === 'number' ? [wg, 1, 1] : wg,
    bindings: p.bindings,
    uniforms: p.uniforms,
    fixed: p.fixed ?? {},
    features: p.features ?? [],
    workgroupStorageBytes: p.workgroupStorageBytes ?? 0,
    dispatch: p.dispatch,
  };
}
