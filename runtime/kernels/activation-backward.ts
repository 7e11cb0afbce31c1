/**
 * Backward of the MLP activations, element-wise over `n` f32 values, from the saved
 * pre-activations (`up`, and `gate` for the gated forms):
 *
 * | op             | bindings                      | computes |
 * |----------------|-------------------------------|----------|
 * | geluBackward   | x, dy, dx (or x, dy ← dx)     | dx = dy·gelu′(x), gelu′ of the tanh approximation (gelu_new) |
 * | swigluBackward | gate, up, dy, dgate, dup (or gate ← dgate, up ← dup) | y = silu(g)·u: dg = dy·u·σ(g)(1 + g(1 − σ(g))), du = dy·silu(g) |
 * | gegluBackward  | the same                      | y = gelu_tanh(g)·u: dg = dy·u·gelu′(g), du = dy·gelu_tanh(g) |
 *
 * `inplace` writes the gradients over buffers that are dead afterwards (GELU: dy; the gated
 * forms: the saved gate and up), so the backward needs no extra [T, f] buffer.
 * The residual add needs no kernel: its backward passes dY through to both branches (the
 * executor keeps one gradient buffer for the residual stream and the branches' dX add into it,
 * e.g. with the matmul's `residual` epilogue or a norm backward's `accumulate`).
 */
import { ACTIVATIONS, type BindingSpec, declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface ActivationBackwardOptions {
  inplace?: boolean;
}

const WG = 256;
const UNIFORMS: UniformField[] = u32Fields('n');

/** gelu′ (tanh approximation), clamped as gelu_tanh is. */
const GRADS = /* wgsl */ `
fn gelu_tanh_grad(x: f32) -> f32 {
  let t = tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
`;

function program(op: 'gelu' | 'swiglu' | 'geglu', inplace: boolean): KernelProgram {
  const specs: BindingSpec[] =
    op === 'gelu'
      ? [
          { name: 'x', access: 'read', type: 'f32' },
          { name: 'dy', access: inplace ? 'read_write' : 'read', type: 'f32' },
          ...(inplace ? [] : [{ name: 'dx', access: 'read_write' as const, type: 'f32' }]),
        ]
      : [
          { name: 'gate', access: inplace ? 'read_write' : 'read', type: 'f32' },
          { name: 'up', access: inplace ? 'read_write' : 'read', type: 'f32' },
          { name: 'dy', access: 'read', type: 'f32' },
          ...(inplace
            ? []
            : [
                { name: 'dgate', access: 'read_write' as const, type: 'f32' },
                { name: 'dup', access: 'read_write' as const, type: 'f32' },
              ]),
        ];
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  let body: string;
  if (op === 'gelu') body = `${inplace ? 'dy' : 'dx'}[i] = dy[i] * gelu_tanh_grad(x[i]);`;
  else {
    const [a, da] = op === 'swiglu' ? ['g * s', 's * (1.0 + g * (1.0 - s))'] : ['gelu_tanh(g)', 'gelu_tanh_grad(g)'];
    body = `let g = gate[i];
    let v = up[i];
    let d = dy[i];
    ${op === 'swiglu' ? 'let s = sigmoid(g);' : ''}
    ${inplace ? 'gate' : 'dgate'}[i] = d * v * (${da});
    ${inplace ? 'up' : 'dup'}[i] = d * ${a};`;
  }
  const s = `${decls}${WG_LINEAR}${ACTIVATIONS}${GRADS}${main1d(WG)}
  let i = wg_linear(wid, nwg) * ${WG}u + lid;
  if (i < u.n) {
    ${body}
  }
}
`;
  const name = `${op}_backward${inplace ? '_inplace' : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    dispatch: (d: Dims) => grid1d(Math.ceil(dimU32(d, 'n', name) / WG)),
  });
}

export function geluBackwardProgram(o: ActivationBackwardOptions = {}): KernelProgram {
  return program('gelu', o.inplace === true);
}

export function swigluBackwardProgram(o: ActivationBackwardOptions = {}): KernelProgram {
  return program('swiglu', o.inplace === true);
}

export function gegluBackwardProgram(o: ActivationBackwardOptions = {}): KernelProgram {
  return program('geglu', o.inplace === true);
}
