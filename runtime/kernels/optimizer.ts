/**
 * Optimizer steps and the global gradient norm, all on the device (no host round trip):
 *
 * - `sumSquaresProgram`: partials[w] = Σ x[offset + i]² over workgroup w's chunk of CHUNK = 4096 of
 *   the n elements (256 invocations, a tree reduction: a fixed order). Bindings x, partials; uniforms n,
 *   offset (default 0).
 * - `reduceSumProgram({ accumulate })`: out[0] (+)= Σ x[0 … n) in one workgroup: sums the partials
 *   of each gradient buffer into one f32 total (accumulate over the buffers a rank owns).
 *   Bindings x, out; uniform n. The executor all-reduces the total over every rank.
 * - `clipFactorProgram`: from the global Σ g², clip = [min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖] as
 *   torch.nn.utils.clip_grad_norm_. Bindings sumsq, clip; uniform maxNorm. Without maxNorm (no
 *   grad_clip) clip = [1, ‖g‖]: the optimizer unscaled, the norm still reported.
 * - `adamwProgram` / `sgdProgram`: one step over n parameters, the gradient multiplied by
 *   clip[0] first. AdamW as torch.optim.AdamW: p −= lr·wd·p; m = β₁m + (1−β₁)g;
 *   v = β₂v + (1−β₂)g²; p −= (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps). SGD: p −= lr·(g + wd·p).
 *   Weights f32 (precision fp32): bindings param (f32), grad, state, clip, with state [2, n] = m, v
 *   (SGD: no state binding). With a 16-bit weight copy (`master`: precision bf16): bindings
 *   weight (the bf16/f16 copy, written rounded to nearest even from the new master), grad,
 *   state, clip, with state [3, n] = master, m, v (SGD: [1, n] = master). Uniforms n and the
 *   hyper-parameters; `adamwDims(h, step)` gives them, bias corrections computed in f64 on the host.
 *   One invocation per pair of elements (a 16-bit copy is written a whole word at a time).
 *
 * The element offsets `offset` (sumSquares), `paramOffset` and `gradOffset` (the optimizers; default 0)
 * let a kernel work on a slice of a whole bound buffer — ZeRO-1/2's shard of a full weight or gradient —
 * without a copy: a storage binding's byte offset must be a multiple of 256, a shard's start need not be.
 * The state is always the slice's own ([sections, n] from element 0). A 16-bit weight's paramOffset must
 * be even (its elements are written a word at a time).
 */
import { WEBGPU_SUM_SQUARES_CHUNK } from '../../src/memory/webgpu-train.js';
import { DTYPE_HELPERS, enables, featuresFor, typeTag, type TensorType } from '../wgsl/dtype.js';
import { type BindingSpec, declareBindings, grid1d, main1d, reductions, WG_LINEAR } from '../wgsl/common.js';
import { ceilDiv, dimU32, kernelProgram, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

const WG = 256;
/** Elements per workgroup of sumSquares: the memory plan sizes `grad.partials` by it (16 per invocation). */
export const SUM_SQUARES_CHUNK = WEBGPU_SUM_SQUARES_CHUNK;
if (SUM_SQUARES_CHUNK % WG !== 0)
  throw new Error('internal error: SUM_SQUARES_CHUNK is not a multiple of the workgroup (this is a bug in parplan)');

/** partials[w] = Σ x[offset + i]² over chunk w of i ∈ [0, n). Bindings x, partials; uniforms n, offset (default 0). */
export function sumSquaresProgram(): KernelProgram {
  const uniforms = u32Fields('n', 'offset');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'x', access: 'read', type: 'f32' },
      { name: 'partials', access: 'read_write', type: 'f32' },
    ],
    uniforms,
  );
  const s = `${decls}${WG_LINEAR}${reductions(WG)}${main1d(WG)}
  let w = wg_linear(wid, nwg);
  let i0 = w * ${SUM_SQUARES_CHUNK}u;
  let i1 = min(i0 + ${SUM_SQUARES_CHUNK}u, u.n);
  var acc = 0.0;
  for (var i = i0 + lid; i < i1; i += ${WG}u) { let v = x[u.offset + i]; acc += v * v; }
  let total = red_sum(acc, lid);
  if (lid == 0u) { partials[w] = total; }
}
`;
  const name = 'sum_squares';
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms,
    fixed: { offset: 0 },
    workgroupStorageBytes: 4 * WG,
    dispatch: (d: Dims) => grid1d(ceilDiv(dimU32(d, 'n', name), SUM_SQUARES_CHUNK)),
  });
}

/** out[0] (+)= Σ x[0 … n), one workgroup. Bindings x, out; uniform n. */
export function reduceSumProgram(o: { accumulate?: boolean } = {}): KernelProgram {
  const acc = o.accumulate === true;
  const uniforms = u32Fields('n');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'x', access: 'read', type: 'f32' },
      { name: 'out', access: 'read_write', type: 'f32' },
    ],
    uniforms,
  );
  const s = `${decls}${reductions(WG)}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(local_invocation_index) lid: u32) {
  var a = 0.0;
  for (var i = lid; i < u.n; i += ${WG}u) { a += x[i]; }
  let total = red_sum(a, lid);
  if (lid == 0u) { out[0] ${acc ? '+=' : '='} total; }
}
`;
  const name = `reduce_sum${acc ? '_acc' : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms,
    workgroupStorageBytes: 4 * WG,
    dispatch: (d: Dims) => {
      dimU32(d, 'n', name);
      return [1, 1, 1];
    },
  });
}

/** clip = [min(1, maxNorm / (√sumsq + 1e-6)), √sumsq]. Bindings sumsq, clip; uniform maxNorm. */
export function clipFactorProgram(o: { maxNorm?: number } = {}): KernelProgram {
  // No maxNorm (a plan without grad_clip): scale 1, the norm still reported.
  const clips = o.maxNorm !== undefined;
  if (clips && !(o.maxNorm! > 0 && Number.isFinite(o.maxNorm))) throw new Error(`clipFactor: maxNorm must be > 0, got ${o.maxNorm}`);
  const uniforms: UniformField[] = [{ name: 'maxNorm', type: 'f32' }];
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'sumsq', access: 'read', type: 'f32' },
      { name: 'clip', access: 'read_write', type: 'f32' },
    ],
    uniforms,
  );
  const s = `${decls}
@compute @workgroup_size(1, 1, 1)
fn main() {
  let norm = sqrt(sumsq[0]);
  // Unclipped, the uniform is still read (0 · maxNorm) so that both variants bind the same layout.
  clip[0] = ${clips ? 'min(1.0, u.maxNorm / (norm + 1e-6))' : '1.0 + 0.0 * u.maxNorm'};
  clip[1] = norm;
}
`;
  return kernelProgram(clips ? 'clip_factor' : 'clip_factor_none', s, {
    workgroupSize: 1,
    bindings,
    uniforms,
    fixed: { maxNorm: o.maxNorm ?? 0 },
    dispatch: () => [1, 1, 1],
  });
}

export interface OptimizerOptions {
  /** The 16-bit weight copy written from an f32 master held in `state` (precision bf16); absent: f32 weights updated in place. */
  master?: TensorType;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

const ADAMW_UNIFORMS: UniformField[] = [
  ...u32Fields('n', 'paramOffset', 'gradOffset'),
  ...['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'stepSize', 'bc2sqrt'].map((name) => ({ name, type: 'f32' as const })),
];
const SGD_UNIFORMS: UniformField[] = [
  ...u32Fields('n', 'paramOffset', 'gradOffset'),
  { name: 'lr', type: 'f32' },
  { name: 'weightDecay', type: 'f32' },
];

/** The dims of an AdamW dispatch at step t ≥ 1 (bias corrections in f64, as torch computes them in Python floats). */
export function adamwDims(h: AdamWHyper, step: number, n: number): Dims {
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamw: step must be an integer ≥ 1, got ${step}`);
  return { n, ...h, stepSize: h.lr / (1 - h.beta1 ** step), bc2sqrt: Math.sqrt(1 - h.beta2 ** step) };
}

function optimizer(kind: 'adamw' | 'sgd', o: OptimizerOptions): KernelProgram {
  const mt = o.master;
  if (mt && mt.format === 'f32')
    throw new Error(`${kind}: an f32 master copy needs a 16-bit weight format, got f32 (update f32 weights in place)`);
  const adam = kind === 'adamw';
  const specs: BindingSpec[] = [
    mt ? { name: 'weight', access: 'read_write', tensor: mt } : { name: 'param', access: 'read_write', type: 'f32' },
    { name: 'grad', access: 'read', type: 'f32' },
  ];
  if (adam || mt) specs.push({ name: 'state', access: 'read_write', type: 'f32' });
  specs.push({ name: 'clip', access: 'read', type: 'f32' });
  const uniforms = adam ? ADAMW_UNIFORMS : SGD_UNIFORMS;
  const { bindings, wgsl: decls } = declareBindings(specs, uniforms);
  // state sections: [master,] m, v (the slice's own, from 0); the weight and gradient at their offsets in whole buffers
  const P = mt ? 'state[i]' : 'param[u.paramOffset + i]';
  const G = 'grad[u.gradOffset + i]';
  const mOff = mt ? 'N' : '0u';
  const vOff = mt ? '2u * N' : 'N';
  const update = adam
    ? `  let g = ${G} * cf;
  var p = ${P} * (1.0 - u.lr * u.weightDecay);
  let m = u.beta1 * state[${mOff} + i] + (1.0 - u.beta1) * g;
  let v = u.beta2 * state[${vOff} + i] + (1.0 - u.beta2) * g * g;
  state[${mOff} + i] = m;
  state[${vOff} + i] = v;
  p -= u.stepSize * m / (sqrt(v) / u.bc2sqrt + u.eps);
  ${P} = p;
  return p;`
    : `  let p = ${P} - u.lr * (${G} * cf + u.weightDecay * ${P});
  ${P} = p;
  return p;`;
  const s = `${enables([mt])}${decls}${DTYPE_HELPERS}${WG_LINEAR}
fn step_one(i: u32, cf: f32) -> f32 {
  let N = u.n;
${update}
}
${main1d(WG)}
  let w = wg_linear(wid, nwg) * ${WG}u + lid;
  let N = u.n;
  let i0 = 2u * w;
  if (i0 >= N) { return; }
  let cf = clip[0];
  let p0 = step_one(i0, cf);
  // An odd n's last word of a 16-bit weight: its other half (the next slice's or padding) is written back as it was.
  var p1 = ${mt ? 'weight_at(u.paramOffset + i0 + 1u)' : '0.0'};
  if (i0 + 1u < N) { p1 = step_one(i0 + 1u, cf); }
${mt ? '  weight_set2((u.paramOffset >> 1u) + w, vec2<f32>(p0, p1));\n' : ''}}
`;
  const name = `${kind}${mt ? `_master_${typeTag(mt)}` : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms,
    features: featuresFor([mt]),
    fixed: { paramOffset: 0, gradOffset: 0 },
    dispatch: (d: Dims) => {
      const off = d['paramOffset'] ?? 0;
      if (mt && off % 2 !== 0)
        throw new Error(`${name}: a 16-bit weight's paramOffset must be even (written a word at a time), got ${off}`);
      return grid1d(ceilDiv(dimU32(d, 'n', name), 2 * WG));
    },
  });
}

/** torch.optim.AdamW. Bindings param | weight, grad, state, clip; dims from `adamwDims` (+ paramOffset, gradOffset). */
export function adamwProgram(o: OptimizerOptions = {}): KernelProgram {
  return optimizer('adamw', o);
}

/** torch.optim.SGD (no momentum). Bindings param | weight, grad, [state], clip; uniforms n, paramOffset, gradOffset, lr, weightDecay. */
export function sgdProgram(o: OptimizerOptions = {}): KernelProgram {
  return optimizer('sgd', o);
}
