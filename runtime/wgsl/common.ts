/**
 * WGSL snippets shared by the kernels: the binding declarations and the uniform parameter
 * struct, exact float literals, the linear index of a 2-D dispatch, workgroup reductions
 * and activations.
 */
import type { BindingDecl, UniformField } from '../kernels/types.js';
import { tensorAccessor, type TensorType } from './dtype.js';

/** An f32 WGSL literal that denotes exactly `Math.fround(x)` (finite values only). */
export function f32Lit(x: number): string {
  const f = Math.fround(x);
  if (!Number.isFinite(f)) throw new Error(`f32Lit: ${x} is not a finite f32`);
  const s = String(f);
  return /[.eE]/.test(s) ? `${s}f` : `${s}.0f`;
}

/** A u32 WGSL literal. */
export function u32Lit(x: number): string {
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`u32Lit: ${x} is not a u32`);
  return `${x}u`;
}

/** `struct Params { … }` and `var<uniform> u: Params` at `binding`, or '' when there are no fields. */
function paramsDecl(fields: readonly UniformField[], binding: number): string {
  if (fields.length === 0) return '';
  const body = fields.map((f) => `  ${f.name}: ${f.type},`).join('\n');
  return `struct Params {\n${body}\n}\n@group(0) @binding(${binding}) var<uniform> u: Params;\n`;
}

/** A storage binding of 32-bit scalars or vectors (activations, ids). */
function storageDecl(binding: number, name: string, access: 'read' | 'read_write', type: string): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${type}>;\n`;
}

/**
 * A kernel's storage binding and how the WGSL declares it: an array of `type` (32-bit
 * scalars or vectors: activations, ids), or a stored `tensor` with its accessors
 * (wgsl/dtype.ts; `vec4` adds `<name>_at4`, read_write adds `<name>_set2`).
 */
export type BindingSpec = BindingDecl & ({ type: string } | { tensor: TensorType; vec4?: boolean });

/**
 * The storage bindings numbered by their place in `specs`, then the uniform struct at the
 * next binding: the bind-group layout (`bindings`) and the WGSL declarations (`wgsl`) come
 * from this one list, so their numbers cannot disagree.
 */
export function declareBindings(
  specs: readonly BindingSpec[],
  uniforms: readonly UniformField[],
): { bindings: BindingDecl[]; wgsl: string } {
  let wgsl = '';
  specs.forEach((b, i) => {
    wgsl +=
      'type' in b
        ? storageDecl(i, b.name, b.access, b.type)
        : tensorAccessor(b.name, i, b.tensor, { vec4: b.vec4 === true, write: b.access === 'read_write' });
  });
  wgsl += paramsDecl(uniforms, specs.length);
  return { bindings: specs.map(({ name, access }) => ({ name, access })), wgsl };
}

/**
 * Most workgroups per dispatch dimension (WebGPU's default `maxComputeWorkgroupsPerDimension`).
 * Grids beyond it fold into y; kernels recover the linear workgroup index with `wg_linear`.
 */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/** A 1-D grid of `groups` workgroups folded into (x, y) so neither exceeds the limit; [0, 1, 1] (no dispatch) for none. */
export function grid1d(groups: number): [number, number, number] {
  if (!(groups > 0)) return [0, 1, 1];
  const g = Math.ceil(groups);
  if (g <= MAX_WORKGROUPS_PER_DIM) return [g, 1, 1];
  const y = Math.ceil(g / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(g / y), y, 1];
}

/** The entry point of a `grid1d` kernel with `WG` invocations per workgroup, up to its opening brace: `main(wid, nwg, lid)`. */
export function main1d(WG: number): string {
  return `@compute @workgroup_size(${WG}, 1, 1)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`;
}

/** `fn wg_linear(wid, nwg) -> u32`: the linear workgroup index of a `grid1d` dispatch. */
export const WG_LINEAR = /* wgsl */ `
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }
`;

/**
 * Workgroup tree reductions over `size` (a power of two) invocations, for one f32 per
 * invocation: `fn red_sum(v, lid) -> f32` and `fn red_max(v, lid) -> f32`. Every
 * invocation must call them (they contain barriers) and all get the result.
 */
export function reductions(size: number): string {
  if ((size & (size - 1)) !== 0) throw new Error(`reductions: ${size} is not a power of two`);
  const body = (op: string) => `
  red_buf[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_buf[lid] = ${op}; }
    workgroupBarrier();
  }
  let r = red_buf[0];
  workgroupBarrier();
  return r;`;
  return `
var<workgroup> red_buf: array<f32, ${size}>;
fn red_sum(v: f32, lid: u32) -> f32 {${body('red_buf[lid] + red_buf[lid + s]')}
}
fn red_max(v: f32, lid: u32) -> f32 {${body('max(red_buf[lid], red_buf[lid + s])')}
}
`;
}

/** GELU, tanh approximation (GPT-2's `gelu_new`), and SiLU; tanh's argument is clamped so no platform overflows. */
export const ACTIVATIONS = /* wgsl */ `
fn gelu_tanh(x: f32) -> f32 {
  let t = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(t));
}
fn gelu_tanh4(x: vec4<f32>) -> vec4<f32> {
  let t = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), vec4<f32>(-15.0), vec4<f32>(15.0));
  return 0.5 * x * (1.0 + tanh(t));
}
fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
`;

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
