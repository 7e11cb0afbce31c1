/**
 * Element-wise kernels over `n` f32 values (the uniform field `n`): gelu (tanh
 * approximation, GPT-2's gelu_new), swiglu (silu(gate) · up, Llama) and the residual add.
 * Each has an in-place form, which is what the runtime's buffers plan for (the MLP's
 * `up` is activated in place; the residual stream is added into).
 *
 * | op     | out-of-place bindings | in-place bindings (`inplace: true`) |
 * |--------|-----------------------|-------------------------------------|
 * | gelu   | x, y                  | x (read_write): x = gelu(x)         |
 * | swiglu | gate, up, y           | gate, up (read_write): up = silu(gate)·up |
 * | add    | a, b, y               | a (read_write), b: a = a + b        |
 */
import { ACTIVATIONS, type BindingSpec, declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface ElementwiseOptions {
  inplace?: boolean;
}

const WG = 256;
const UNIFORMS: UniformField[] = u32Fields('n');

function program(op: 'gelu' | 'swiglu' | 'add', inplace: boolean): KernelProgram {
  const ins = op === 'gelu' ? ['x'] : op === 'swiglu' ? ['gate', 'up'] : ['a', 'b'];
  // in place: the last input (gelu: x, swiglu: up) or the first (add: a) is the output
  const target = op === 'add' ? 'a' : ins[ins.length - 1]!;
  const specs: BindingSpec[] = ins.map((name) => ({ name, access: inplace && name === target ? 'read_write' : 'read', type: 'f32' }));
  if (!inplace) specs.push({ name: 'y', access: 'read_write', type: 'f32' });
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  let s = decls;
  s += WG_LINEAR + ACTIVATIONS;
  const expr = op === 'gelu' ? 'gelu_tanh(x[i])' : op === 'swiglu' ? 'silu(gate[i]) * up[i]' : 'a[i] + b[i]';
  const dst = inplace ? target : 'y';
  s += `${main1d(WG)}
  let i = wg_linear(wid, nwg) * ${WG}u + lid;
  if (i < u.n) { ${dst}[i] = ${expr}; }
}
`;
  const name = `${op}${inplace ? '_inplace' : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    dispatch: (d: Dims) => grid1d(Math.ceil(dimU32(d, 'n', name) / WG)),
  });
}

export function geluProgram(o: ElementwiseOptions = {}): KernelProgram {
  return program('gelu', o.inplace === true);
}

export function swigluProgram(o: ElementwiseOptions = {}): KernelProgram {
  return program('swiglu', o.inplace === true);
}

export function addProgram(o: ElementwiseOptions = {}): KernelProgram {
  return program('add', o.inplace === true);
}
