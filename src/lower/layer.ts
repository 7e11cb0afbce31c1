/**
 * One transformer layer as a block template, with tensor parallelism applied
 * (Megatron-LM): column-parallel QKV and MLP-up, row-parallel output projection and
 * MLP-down, an all-reduce after each row-parallel layer in forward and after each
 * column-parallel layer in backward; with sequence parallelism each all-reduce
 * becomes a reduce-scatter, and an all-gather precedes each column-parallel layer.
 * FLOPs are per device (2 × multiply-adds), with T tokens per pass, from the cost model's
 * per-layer count (src/cost/flops.ts `layerFlops`), so that graph and estimate agree.
 */
import { decodeDims, layerFlops, prefillDims, trainDims, type Dims } from '../cost/flops.js';
import { bytesPerElement } from '../facts/dtypes.js';
import type { Pass, Step } from '../graph/types.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { layerParams } from '../memory/params.js';
import { shardLayer, uniformLayer } from '../model.js';

const W = (name: string) => `layers.{l}.${name}`;

function compute(
  kind: Extract<Step, { op: 'compute' }>['kind'],
  pass: Pass,
  reads: string[],
  writes: string[],
  flops: number,
  extra: { alloc?: string[]; free?: string[] } = {},
): Step {
  return { op: 'compute', kind, pass, reads, writes, flops: Math.round(flops), ...extra };
}

/** The forward of one layer (also used, with pass = 'recompute', for full recomputation). */
function forwardSteps(
  plan: CheckedPlan,
  dims: Dims,
  pass: Pass,
  opts: { sp: boolean; hiddenBytes: number; kv?: 'write' | 'read'; alloc?: string[]; free?: string[] },
): Step[] {
  const t = plan.mesh.tensor;
  const f = layerFlops(plan, dims);
  const layer = uniformLayer(plan.model, 'lowering');
  const rope = plan.model.positions === 'rope';
  const steps: Step[] = [];
  const collective = (op: 'all-reduce' | 'reduce-scatter' | 'all-gather', tensor: string) => {
    if (t > 1) steps.push({ op, axis: 'tensor', tensor, bytes: opts.hiddenBytes });
  };
  steps.push(
    compute('norm', pass, ['hidden', W('attn_norm.weight')], ['x'], f.norm / (opts.sp ? t : 1), opts.alloc ? { alloc: opts.alloc } : {}),
  );
  if (opts.sp) collective('all-gather', 'x');
  steps.push(compute('qkv', pass, ['x', W('attn.q.weight'), W('attn.k.weight'), W('attn.v.weight')], ['q', 'k', 'v'], f.qkv));
  if (rope) steps.push(compute('rope', pass, ['q', 'k'], ['q', 'k'], f.rope));
  const attnReads = opts.kv === 'read' ? ['q', 'k', 'v', 'kv.{l}'] : ['q', 'k', 'v'];
  const attnWrites = opts.kv ? ['attn', 'kv.{l}'] : ['attn'];
  steps.push(compute('attention', pass, attnReads, attnWrites, f.attention));
  steps.push(compute('out-proj', pass, ['attn', W('attn.o.weight')], ['y'], f.outProj));
  collective(opts.sp ? 'reduce-scatter' : 'all-reduce', 'y');
  steps.push(compute('residual', pass, ['hidden', 'y'], ['hidden'], f.residual / (opts.sp ? t : 1)));
  steps.push(compute('norm', pass, ['hidden', W('mlp_norm.weight')], ['x'], f.norm / (opts.sp ? t : 1)));
  if (opts.sp) collective('all-gather', 'x');
  const up = layer.mlp.activation === 'swiglu' ? [W('mlp.gate.weight'), W('mlp.up.weight')] : [W('mlp.up.weight')];
  steps.push(compute('mlp-up', pass, ['x', ...up], ['u'], f.mlpUp));
  steps.push(compute('mlp-act', pass, ['u'], ['u'], f.act));
  steps.push(compute('mlp-down', pass, ['u', W('mlp.down.weight')], ['y'], f.mlpDown));
  collective(opts.sp ? 'reduce-scatter' : 'all-reduce', 'y');
  steps.push(compute('residual', pass, ['hidden', 'y'], ['hidden'], f.residual / (opts.sp ? t : 1), opts.free ? { free: opts.free } : {}));
  return steps;
}

/** Training: `layer.forward`, `layer.backward` (with recomputation as the plan says). */
export function trainBlocks(plan: TrainPlan): Record<string, Step[]> {
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel && t > 1;
  const dims = trainDims(plan);
  const e = bytesPerElement(plan.precision);
  const hiddenBytes = dims.T * plan.model.hidden * e;
  const act = 'act.{l}.mb{m}';
  const zero3 = plan.zero >= 3 && plan.mesh.data > 1;
  // ZeRO-3 gathers each layer's weights before use and reduce-scatters its gradients after.
  const layerShard = layerParams(plan.model, shardLayer(uniformLayer(plan.model, 'lowering'), t)).total;
  const gatherBytes = layerShard * e;
  const forward: Step[] = [];
  if (zero3) forward.push({ op: 'all-gather', axis: 'data', tensor: W('*'), bytes: gatherBytes });
  forward.push(...forwardSteps(plan, dims, 'forward', { sp, hiddenBytes, alloc: [act] }));

  // Backward: gradients flow in reverse; the conjugate collectives of forward.
  const f = layerFlops(plan, dims);
  const backward: Step[] = [];
  if (zero3) backward.push({ op: 'all-gather', axis: 'data', tensor: W('*'), bytes: gatherBytes });
  if (plan.recompute === 'full') backward.push(...forwardSteps(plan, dims, 'recompute', { sp, hiddenBytes }));
  if (plan.recompute === 'selective') backward.push(compute('attention', 'recompute', ['q', 'k', 'v'], ['attn'], f.attention));
  const collective = (op: 'all-reduce' | 'reduce-scatter' | 'all-gather', tensor: string) => {
    if (t > 1) backward.push({ op, axis: 'tensor', tensor, bytes: hiddenBytes });
  };
  // Each matmul's backward = input gradient + weight gradient, each as costly as its forward.
  if (sp) collective('all-gather', 'grad.y');
  backward.push(
    compute('mlp-down', 'backward', ['grad.y', W('mlp.down.weight'), act], ['grad.u', `grad.${W('mlp.down.weight')}`], 2 * f.mlpDown),
  );
  backward.push(compute('mlp-act', 'backward', ['grad.u', act], ['grad.u'], f.act));
  backward.push(compute('mlp-up', 'backward', ['grad.u', act], ['grad.x', `grad.${W('mlp.up.weight')}`], 2 * f.mlpUp));
  collective(sp ? 'reduce-scatter' : 'all-reduce', 'grad.x');
  backward.push(compute('norm', 'backward', ['grad.x', act], ['grad.hidden', `grad.${W('mlp_norm.weight')}`], f.norm));
  if (sp) collective('all-gather', 'grad.hidden');
  backward.push(
    compute('out-proj', 'backward', ['grad.hidden', W('attn.o.weight'), act], ['grad.attn', `grad.${W('attn.o.weight')}`], 2 * f.outProj),
  );
  backward.push(compute('attention', 'backward', ['grad.attn', act], ['grad.q', 'grad.k', 'grad.v'], 2 * f.attention));
  backward.push(compute('qkv', 'backward', ['grad.q', 'grad.k', 'grad.v', act], ['grad.x', `grad.${W('attn.q.weight')}`], 2 * f.qkv));
  collective(sp ? 'reduce-scatter' : 'all-reduce', 'grad.x');
  backward.push(compute('norm', 'backward', ['grad.x', act], ['grad.hidden', `grad.${W('attn_norm.weight')}`], f.norm, { free: [act] }));
  if (zero3)
    backward.push({ op: 'reduce-scatter', axis: 'data', tensor: `grad.${W('*')}`, bytes: layerShard * bytesPerElement(plan.gradDtype) });
  return { 'layer.forward': forward, 'layer.backward': backward };
}

/** Serving: `layer.prefill` (fills the KV cache) and `layer.decode` (one token per sequence). */
export function serveBlocks(plan: CheckedPlan & { mode: 'serve' }, prefillScratch: string): Record<string, Step[]> {
  const e = Math.max(2, bytesPerElement(plan.model.dtype));
  const T = plan.batch.maxPrefillTokens;
  // Prompts of seq tokens, prefilled causally; each decode token attends to the whole cache (seq).
  const prefill = prefillDims(T, plan.batch.seq);
  const decode = decodeDims(plan.batch.maxBatch, plan.batch.seq);
  const h = plan.model.hidden;
  return {
    'layer.prefill': forwardSteps(plan, prefill, 'forward', {
      sp: false,
      hiddenBytes: T * h * e,
      kv: 'write',
      alloc: [prefillScratch],
      free: [prefillScratch],
    }),
    'layer.decode': forwardSteps(plan, decode, 'forward', { sp: false, hiddenBytes: plan.batch.maxBatch * h * e, kv: 'read' }),
  };
}
