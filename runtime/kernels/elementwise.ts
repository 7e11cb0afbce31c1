/**
 * Element-wise kernels over `n` f32 values (the uniform field `n`): gelu (tanh
 * approximation, GPT-2's gelu_new), swiglu (silu(gate) · up, Llama), geglu
 * (gelu_tanh(gate) · up, Gemma's gelu_pytorch_tanh), the residual add, and two with a
 * constant `c` (a fixed uniform): softcap (c · tanh(x / c), Gemma-2's final logits) and
 * scale (x · c, Gemma's embedding normalizer). Each has an in-place form, which is what the
 * runtime's buffers plan for (the MLP's `up` is activated in place; the residual stream is
 * added into; the logits are capped and the embeddings scaled where they lie).
 *
 * | op      | out-of-place bindings | in-place bindings (`inplace: true`) |
 * |---------|-----------------------|-------------------------------------|
 * | gelu    | x, y                  | x (read_write): x = gelu(x)         |
 * | swiglu  | gate, up, y           | gate, up (read_write): up = silu(gate)·up |
 * | geglu   | gate, up, y           | gate, up (read_write): up = gelu_tanh(gate)·up |
 * | add     | a, b, y               | a (read_write), b: a = a + b        |
 * | softcap | x, y                  | x (read_write): x = c·tanh(x / c)   |
 * | scale   | x, y                  | x (read_write): x = x·c             |
 */
import { ACTIVATIONS, type BindingSpec, declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface ElementwiseOptions {
  inplace?: boolean;
}

/** softcap's cap and scale's factor. */
export interface ConstantOptions extends ElementwiseOptions {
  c: number;
}

const WG = 256;
const UNIFORMS: UniformField[] = u32Fields('n');
const UNIFORMS_C: UniformField[] = [...u32Fields('n'), { name: 'c', type: 'f32' }];

type Op = 'gelu' | 'swiglu' | 'geglu' | 'add' | 'softcap' | 'scale';

const EXPR: Record<Op, string> = {
  gelu: 'gelu_tanh(x[i])',
  swiglu: 'silu(gate[i]) * up[i]',
  geglu: 'gelu_tanh(gate[i]) * up[i]',
  add: 'a[i] + b[i]',
  // tanh saturates to ±1 in f32 beyond ±9; clamped, as gelu_tanh does, for drivers whose tanh overflows
  softcap: 'u.c * tanh(clamp(x[i] / u.c, -15.0, 15.0))',
  scale: 'x[i] * u.c',
};

function program(op: Op, inplace: boolean, c?: number): KernelProgram {
  const ins = op === 'swiglu' || op === 'geglu' ? ['gate', 'up'] : op === 'add' ? ['a', 'b'] : ['x'];
  const withC = op === 'softcap' || op === 'scale';
  if (withC && !(Number.isFinite(c) && (op === 'scale' || c! > 0)))
    throw new Error(`${op}: c must be ${op === 'scale' ? 'finite' : '> 0'}, got ${c}`);
  const uniforms = withC ? UNIFORMS_C : UNIFORMS;
  // in place: the last input (gelu: x, swiglu: up) or the first (add: a) is the output
  const target = op === 'add' ? 'a' : ins[ins.length - 1]!;
  const specs: BindingSpec[] = ins.map((name) => ({ name, access: inplace && name === target ? 'read_write' : 'read', type: 'f32' }));
  if (!inplace) specs.push({ name: 'y', access: 'read_write', type: 'f32' });
  const { bindings, wgsl: decls } = declareBindings(specs, uniforms);
  let s = decls;
  s += WG_LINEAR + ACTIVATIONS;
  const expr = EXPR[op];
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
    uniforms,
    ...(withC ? { fixed: { c: c! } } : {}),
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

export function gegluProgram(o: ElementwiseOptions = {}): KernelProgram {
  return program('geglu', o.inplace === true);
}

export function softcapProgram(o: ConstantOptions): KernelProgram {
  return program('softcap', o.inplace === true, o.c);
}

export function scaleProgram(o: ConstantOptions): KernelProgram {
  return program('scale', o.inplace === true, o.c);
}
