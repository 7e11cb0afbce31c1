/**
 * engine = webgpu, training: a graph whose every step names exactly the tensors it binds (issue
 * 16's contract; docs/graph.md "Training on engine = webgpu"). Next to the generic lowering
 * (index.ts lowerTrain), whose coarse names the published figures and golden outputs use.
 *
 * Forward steps write the saved parts `act.{l}.mb{m}.<part>` (allocated by the step that writes
 * them, freed by the backward step that last reads them); backward steps read the parts they need
 * and write every gradient they produce; recompute = full re-creates the parts in `recompute`
 * steps at the start of each layer's backward. Data-parallel collectives, the global-norm clip and
 * the optimizer are one step per parameter tensor (per layer through block templates). ZeRO-3
 * gathers each tensor into `gathered.<name>` (a buffer reused by every layer); ZeRO-2/3 write a
 * microbatch's gradients into `gradbuf.<name>` and reduce-scatter them into the shard `grad.<name>`.
 * The reused buffers (the residual stream, gradients in flight, staging) are `graph.buffers`
 * (src/memory/webgpu-train.ts, which sizes them and the tracked tensors alike).
 */
import { layerFlops, trainDims } from '../cost/flops.js';
import type { GraphTensor, Program, Shard, Step } from '../graph/types.js';
import {
  webgpuFinalParts,
  webgpuOptimizerCopies,
  webgpuSavedParts,
  webgpuTrainDims,
  webgpuTrainRegions,
  webgpuWgradParts,
  WEBGPU_ELEMENT_BYTES,
  elementsOf,
  type SavedPart,
} from '../memory/index.js';
import { splitsBackward } from '../memory/activations.js';
import { zeroDegree } from '../memory/zero.js';
import { uniformLayer } from '../model.js';
import type { TrainPlan } from '../plan.js';
import { scheduleFor } from '../schedules/index.js';
import { splitTiedEmbeddings } from './mesh.js';
import { graphSchedule, pipelineSteps } from './pipeline.js';
import { shardBytesOf, shardsOfWeight, weightSpecs } from './tensors.js';

type Compute = Extract<Step, { op: 'compute' }>;
type Kind = Compute['kind'];
type Pass = Compute['pass'];

/** A layer's saved part for microbatch m: `act.{l}.mb{m}.q`. */
export const act = (part: string) => `act.{l}.mb{m}.${part}`;
/** The final norm's saved part for microbatch m. */
export const finalAct = (part: string) => `act.final.mb{m}.${part}`;
/** What a zero-bubble I writes for its W. */
export const wgradAct = (part: string) => `wgrad.{l}.mb{m}.${part}`;
export const LOGITS = 'logits.mb{m}';
export const TOKENS = 'tokens.mb{m}';
export const LABELS = 'labels.mb{m}';
/** The bucket that sums tied embeddings' gradients split over the first and last stage. */
export const TIED_BUCKET = 'grad.tied_embedding';

function step(
  kind: Kind,
  pass: Pass,
  reads: string[],
  writes: string[],
  flops: number,
  extra: { alloc?: string[]; free?: string[]; maxNorm?: number } = {},
): Step {
  return {
    op: 'compute',
    kind,
    pass,
    reads,
    writes,
    flops: Math.round(flops),
    ...(extra.alloc?.length ? { alloc: extra.alloc } : {}),
    ...(extra.free?.length ? { free: extra.free } : {}),
    ...(extra.maxNorm !== undefined ? { maxNorm: extra.maxNorm } : {}),
  };
}

interface Names {
  plan: TrainPlan;
  t: number;
  zero3: boolean;
  zero2: boolean;
  /** A weight as a step reads it: the gathered copy under ZeRO-3. */
  w: (name: string) => string;
  /** Where a microbatch's gradient of a weight goes: the full buffer under ZeRO-2/3, else the accumulated gradient. */
  g: (name: string) => string;
  /** Every layer tensor's name (`layers.{l}.…`) and its elements per rank (tensor-split, before ZeRO). */
  layerTensors: { name: string; elements: number }[];
}

function namesOf(plan: TrainPlan): Names {
  const dz = zeroDegree(plan);
  const zero3 = plan.zero >= 3 && dz > 1;
  const zero2 = plan.zero >= 2 && dz > 1;
  const layerTensors = weightSpecs(plan)
    .filter((s) => s.scope === 'layer')
    .map((s) => ({ name: s.name, elements: shardBytesOf(s, plan, 1, 'fp32') / 4 }));
  return {
    plan,
    t: plan.mesh.tensor,
    zero3,
    zero2,
    w: (name) => (zero3 ? `gathered.${name}` : name),
    g: (name) => (zero2 ? `gradbuf.${name}` : `grad.${name}`),
    layerTensors,
  };
}

const L = (name: string) => `layers.{l}.${name}`;

/** A norm's weights (gain, and bias for LayerNorm). */
function normWeights(plan: TrainPlan, prefix: string): string[] {
  return plan.model.norm === 'layernorm' ? [`${prefix}.weight`, `${prefix}.bias`] : [`${prefix}.weight`];
}

function linear(name: string, bias: boolean): string[] {
  return bias ? [L(`${name}.weight`), L(`${name}.bias`)] : [L(`${name}.weight`)];
}

interface LayerWeights {
  ln1: string[];
  ln2: string[];
  qkv: string[];
  o: string[];
  up: string[];
  down: string[];
}

function layerWeightNames(plan: TrainPlan): LayerWeights {
  const bias = plan.model.bias;
  const qkvBias = bias || plan.model.qkvBias === true;
  const gated = webgpuTrainDims(plan).gated;
  return {
    ln1: normWeights(plan, L('attn_norm')),
    ln2: normWeights(plan, L('mlp_norm')),
    qkv: [...linear('attn.q', qkvBias), ...linear('attn.k', qkvBias), ...linear('attn.v', qkvBias)],
    o: linear('attn.o', bias),
    up: gated ? [...linear('mlp.gate', bias), ...linear('mlp.up', bias)] : linear('mlp.up', bias),
    down: linear('mlp.down', bias),
  };
}

/** A tensor-parallel all-reduce of a reused buffer (nothing with tensor = 1). */
function allReduce(n: Names, tensor: string, bytes: number, reduce?: 'max'): Step[] {
  return n.t > 1 ? [{ op: 'all-reduce', axis: 'tensor', tensor, bytes, ...(reduce ? { reduce } : {}) }] : [];
}

/** ZeRO-3: each of these weights gathered over data into its `gathered.` buffer. */
function gather(n: Names, weights: string[], elements: (w: string) => number): Step[] {
  if (!n.zero3) return [];
  const e = n.plan.precision === 'fp32' ? 4 : 2;
  return weights.map((w) => ({ op: 'all-gather', axis: 'data', tensor: w, into: `gathered.${w}`, bytes: elements(w) * e }) as Step);
}

/** ZeRO-2/3: each of these gradients' full buffers reduce-scattered (summed) into their shards. */
function scatter(n: Names, weights: string[], elements: (w: string) => number): Step[] {
  if (!n.zero2) return [];
  return weights.map(
    (w) => ({ op: 'reduce-scatter', axis: 'data', tensor: `gradbuf.${w}`, into: `grad.${w}`, bytes: elements(w) * 4 }) as Step,
  );
}

/** Elements per rank of any weight, by name (layer tensors by template, stage tensors by name). */
function elementsTable(plan: TrainPlan): (w: string) => number {
  const table = new Map(weightSpecs(plan).map((s) => [s.name, shardBytesOf(s, plan, 1, 'fp32') / 4]));
  return (w) => {
    const x = table.get(w);
    if (x === undefined) throw new Error(`internal error: no weight '${w}' in the graph's tensors (this is a bug in parplan)`);
    return x;
  };
}

/** The blocks of one (uniform) layer: forward, backward (or I and W), and the per-layer sync, norm and optimizer steps. */
function layerBlocksOf(n: Names): Record<string, Step[]> {
  const { plan } = n;
  const d = webgpuTrainDims(plan);
  const W = layerWeightNames(plan);
  const all = [...W.ln1, ...W.qkv, ...W.o, ...W.ln2, ...W.up, ...W.down];
  const elements = elementsTable(plan);
  const f = layerFlops(plan, trainDims(plan), plan.derived.layers[0]!);
  const hBytes = d.T * d.h * WEBGPU_ELEMENT_BYTES;
  const rope = plan.model.positions === 'rope';
  const full = plan.recompute === 'full';
  const ln = (p: string) => [`${p}.rstd`, ...(d.layernorm ? [`${p}.mean`] : []), `${p}.out`].map(act);
  const mlpPre = d.gated ? [act('gate'), act('up')] : [act('up')];

  // The forward into saved parts (recompute = none) or the recompute pass that re-creates them.
  const saving = (pass: Pass, input: string): Step[] => {
    const ln1 = ln('ln1');
    const first = pass === 'forward' ? [act('x'), ...ln1] : ln1;
    return [
      step('norm', pass, [input, ...W.ln1.map(n.w)], first, f.norm, { alloc: first }),
      step('qkv', pass, [act('ln1.out'), ...W.qkv.map(n.w)], [act('q'), act('k'), act('v')], f.qkv, {
        alloc: [act('q'), act('k'), act('v')],
      }),
      ...(rope ? [step('rope', pass, [act('q'), act('k'), 'rope', 'positions'], [act('q'), act('k')], f.rope)] : []),
      step('attention', pass, [act('q'), act('k'), act('v')], [act('attn.out'), act('attn.lse')], f.attention, {
        alloc: [act('attn.out'), act('attn.lse')],
      }),
      step('out-proj', pass, [act('attn.out'), ...W.o.map(n.w)], ['y'], f.outProj),
      ...allReduce(n, 'y', hBytes),
      ...(pass === 'forward'
        ? [step('residual', pass, ['hidden', 'y'], ['hidden', act('h1')], f.residual / 2, { alloc: [act('h1')] })]
        : [step('residual', pass, [act('x'), 'y'], [act('h1')], f.residual / 2, { alloc: [act('h1')] })]),
      step('norm', pass, [act('h1'), ...W.ln2.map(n.w)], ln('ln2'), f.norm, { alloc: ln('ln2') }),
      step('mlp-up', pass, [act('ln2.out'), ...W.up.map(n.w)], mlpPre, f.mlpUp, { alloc: mlpPre }),
      step('mlp-act', pass, mlpPre, [act('mlp.act')], f.act, { alloc: [act('mlp.act')] }),
    ];
  };
  const forward: Step[] = [...gather(n, all, elements)];
  if (!full) {
    forward.push(
      ...saving('forward', 'hidden'),
      step('mlp-down', 'forward', [act('mlp.act'), ...W.down.map(n.w)], ['y'], f.mlpDown),
      ...allReduce(n, 'y', hBytes),
      step('residual', 'forward', ['hidden', 'y'], ['hidden'], f.residual / 2),
    );
  } else {
    // recompute = full: only the layer input is saved; the rest lives in one layer's buffers.
    const qkv = ['q', 'k', 'v'];
    const pre = d.gated ? ['gate', 'up'] : ['up'];
    forward.push(
      step('norm', 'forward', ['hidden', ...W.ln1.map(n.w)], [act('x'), 'x'], f.norm, { alloc: [act('x')] }),
      step('qkv', 'forward', ['x', ...W.qkv.map(n.w)], qkv, f.qkv),
      ...(rope ? [step('rope', 'forward', ['q', 'k', 'rope', 'positions'], ['q', 'k'], f.rope)] : []),
      step('attention', 'forward', ['q', 'k', 'v'], ['attn'], f.attention),
      step('out-proj', 'forward', ['attn', ...W.o.map(n.w)], ['y'], f.outProj),
      ...allReduce(n, 'y', hBytes),
      step('residual', 'forward', ['hidden', 'y'], ['hidden'], f.residual / 2),
      step('norm', 'forward', ['hidden', ...W.ln2.map(n.w)], ['x'], f.norm),
      step('mlp-up', 'forward', ['x', ...W.up.map(n.w)], pre, f.mlpUp),
      step('mlp-act', 'forward', pre, ['up'], f.act),
      step('mlp-down', 'forward', ['up', ...W.down.map(n.w)], ['y'], f.mlpDown),
      ...allReduce(n, 'y', hBytes),
      step('residual', 'forward', ['hidden', 'y'], ['hidden'], f.residual / 2),
    );
  }

  const grads = (ws: string[]) => ws.map(n.g);
  const gradUp = d.gated ? ['grad.gate', 'grad.up'] : ['grad.up'];
  const lnFree = (p: string) => [`${p}.rstd`, ...(d.layernorm ? [`${p}.mean`] : [])].map(act);
  const backward = (split: boolean): { input: Step[]; weight: Step[] } => {
    const pass: Pass = split ? 'backward-input' : 'backward';
    const input: Step[] = [];
    if (n.zero3 && plan.reshardAfterForward) input.push(...gather(n, all, elements));
    if (full) input.push(...saving('recompute', act('x')));
    const wg = split ? webgpuWgradParts(plan).map((p) => wgradAct(p.part)) : [];
    // The matmul steps: with a zero-bubble split, I writes the output gradient W needs and keeps the input.
    input.push(
      split
        ? step('mlp-down', pass, ['grad.hidden', ...W.down.map(n.w)], ['grad.up', wgradAct('ddown')], f.mlpDown, { alloc: wg })
        : step('mlp-down', pass, ['grad.hidden', ...W.down.map(n.w), act('mlp.act')], ['grad.up', ...grads(W.down)], 2 * f.mlpDown, {
            free: [act('mlp.act')],
          }),
      step('mlp-act', pass, ['grad.up', ...mlpPre], gradUp, f.act, { free: mlpPre }),
      split
        ? step('mlp-up', pass, [...gradUp, ...W.up.map(n.w)], ['grad.x', wgradAct('dup')], f.mlpUp)
        : step('mlp-up', pass, [...gradUp, act('ln2.out'), ...W.up.map(n.w)], ['grad.x', ...grads(W.up)], 2 * f.mlpUp, {
            free: [act('ln2.out')],
          }),
      ...allReduce(n, 'grad.x', hBytes),
      step(
        'norm',
        pass,
        ['grad.x', 'grad.hidden', act('h1'), ...lnFree('ln2'), ...W.ln2.map(n.w)],
        ['grad.hidden', ...grads(W.ln2)],
        f.norm,
        {
          free: [act('h1'), ...lnFree('ln2')],
        },
      ),
      split
        ? step('out-proj', pass, ['grad.hidden', ...W.o.map(n.w)], ['grad.attn', wgradAct('do')], f.outProj)
        : step('out-proj', pass, ['grad.hidden', act('attn.out'), ...W.o.map(n.w)], ['grad.attn', ...grads(W.o)], 2 * f.outProj),
      step(
        'attention',
        pass,
        ['grad.attn', act('q'), act('k'), act('v'), act('attn.out'), act('attn.lse')],
        ['attn.delta', 'grad.q', 'grad.k', 'grad.v'],
        2 * f.attention,
        { free: [act('q'), act('k'), act('v'), ...(split ? [] : [act('attn.out')]), act('attn.lse')] },
      ),
      ...(rope ? [step('rope', pass, ['grad.q', 'grad.k', 'rope', 'positions'], ['grad.q', 'grad.k'], f.rope)] : []),
      split
        ? step('qkv', pass, ['grad.q', 'grad.k', 'grad.v', ...W.qkv.map(n.w)], ['grad.x', wgradAct('dqkv')], f.qkv)
        : step('qkv', pass, ['grad.q', 'grad.k', 'grad.v', act('ln1.out'), ...W.qkv.map(n.w)], ['grad.x', ...grads(W.qkv)], 2 * f.qkv, {
            free: [act('ln1.out')],
          }),
      ...allReduce(n, 'grad.x', hBytes),
      step(
        'norm',
        pass,
        ['grad.x', 'grad.hidden', act('x'), ...lnFree('ln1'), ...W.ln1.map(n.w)],
        ['grad.hidden', ...grads(W.ln1)],
        f.norm,
        {
          free: [act('x'), ...lnFree('ln1')],
        },
      ),
    );
    const weight: Step[] = [];
    const norms = [...W.ln1, ...W.ln2];
    if (split) {
      const wpass: Pass = 'backward-weight';
      weight.push(
        step('mlp-down', wpass, [wgradAct('ddown'), act('mlp.act')], grads(W.down), f.mlpDown, {
          free: [wgradAct('ddown'), act('mlp.act')],
        }),
        step('mlp-up', wpass, [wgradAct('dup'), act('ln2.out')], grads(W.up), f.mlpUp, { free: [wgradAct('dup'), act('ln2.out')] }),
        step('out-proj', wpass, [wgradAct('do'), act('attn.out')], grads(W.o), f.outProj, { free: [wgradAct('do'), act('attn.out')] }),
        step('qkv', wpass, [wgradAct('dqkv'), act('ln1.out')], grads(W.qkv), f.qkv, { free: [wgradAct('dqkv'), act('ln1.out')] }),
        ...scatter(
          n,
          all.filter((w) => !norms.includes(w)),
          elements,
        ),
      );
      // The norms' gradients are whole after the I: reduce-scattered there, so no layer's wait for its W (one layer's gradbuf).
      input.push(...scatter(n, norms, elements));
    } else input.push(...scatter(n, all, elements));
    return { input, weight };
  };
  const blocks: Record<string, Step[]> = { 'layer.forward': forward, 'layer.backward': backward(false).input };
  if (splitsBackward(plan)) {
    const s = backward(true);
    blocks['layer.backward-input'] = s.input;
    blocks['layer.backward-weight'] = s.weight;
  }
  // After every microbatch: data-parallel sync, the clip's sum of squares, the optimizer, ZeRO-1/2's gather.
  if (plan.zero === 0 && plan.mesh.data > 1)
    blocks['layer.grad-sync'] = all.map((w) => ({ op: 'all-reduce', axis: 'data', tensor: `grad.${w}`, bytes: elements(w) * 4 }) as Step);
  if (plan.zero === 1 && plan.mesh.data > 1)
    blocks['layer.grad-sync'] = all.map(
      (w) => ({ op: 'reduce-scatter', axis: 'data', tensor: `grad.${w}`, bytes: elements(w) * 4 }) as Step,
    );
  // The global norm is computed with or without grad_clip: the step reports it (and clips with grad_clip).
  blocks['layer.grad-norm'] = [
    step(
      'grad-norm',
      'forward',
      all.map((w) => `grad.${w}`),
      ['grad.norm'],
      2 * sum(all.map(elements)),
    ),
  ];
  blocks['layer.optimizer'] = all.map((w) => optimizerStep(n, w, elements(w)));
  if ((plan.zero === 1 || plan.zero === 2) && plan.mesh.data > 1)
    blocks['layer.weight-sync'] = all.map(
      (w) => ({ op: 'all-gather', axis: 'data', tensor: w, bytes: elements(w) * (plan.precision === 'fp32' ? 4 : 2) }) as Step,
    );
  return blocks;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** One parameter tensor's update: reads its gradient (and the clip scale), its state and itself; writes itself, its state, and zeroes its gradient. */
function optimizerStep(n: Names, w: string, elements: number): Step {
  const { plan } = n;
  const state = webgpuOptimizerCopies(plan) > 0 ? [`optim.${w}`] : [];
  const shard = plan.zero >= 1 && zeroDegree(plan) > 1 ? Math.ceil(elements / zeroDegree(plan)) : elements;
  return step(
    'optimizer',
    'forward',
    [`grad.${w}`, ...state, w, 'grad.norm'],
    [w, ...state, `grad.${w}`],
    (plan.optimizer === 'sgd' ? 4 : 10) * shard,
  );
}

/** Every tensor of a webgpu training graph. */
export function webgpuTrainTensors(plan: TrainPlan): GraphTensor[] {
  const n = namesOf(plan);
  const dz = zeroDegree(plan);
  const copies = webgpuOptimizerCopies(plan);
  const weightDtype = plan.precision;
  const out: GraphTensor[] = [];
  for (const w of weightSpecs(plan)) {
    const z = (stage: number) => (plan.zero >= stage && dz > 1 ? dz : 1);
    const common = { scope: w.scope, owners: w.owners, ...(w.layers ? { layers: w.layers } : {}) };
    out.push({
      name: w.name,
      role: 'weight',
      ...common,
      shape: w.shape,
      dtype: weightDtype,
      shards: shardsOfWeight(w, plan, z(3)),
      bytes: shardBytesOf(w, plan, z(3), weightDtype),
    });
    out.push({
      name: `grad.${w.name}`,
      role: 'gradient',
      ...common,
      shape: w.shape,
      dtype: 'fp32',
      shards: shardsOfWeight(w, plan, z(2)),
      bytes: shardBytesOf(w, plan, z(2), 'fp32'),
    });
    if (copies > 0)
      out.push({
        name: `optim.${w.name}`,
        role: 'optimizer',
        ...common,
        shape: [copies, ...w.shape],
        dtype: 'fp32',
        shards: shardsOfWeight(w, plan, z(1)),
        bytes: copies * shardBytesOf(w, plan, z(1), 'fp32'),
      });
    // The reused full-size buffers (workspace; graph.buffers sizes the region that holds one layer's).
    if (n.zero3)
      out.push({
        name: `gathered.${w.name}`,
        role: 'weight',
        ...common,
        shape: w.shape,
        dtype: weightDtype,
        shards: shardsOfWeight(w, plan, 1),
        bytes: shardBytesOf(w, plan, 1, weightDtype),
      });
    if (n.zero2)
      out.push({
        name: `gradbuf.${w.name}`,
        role: 'gradient',
        ...common,
        shape: w.shape,
        dtype: 'fp32',
        shards: shardsOfWeight(w, plan, 1),
        bytes: shardBytesOf(w, plan, 1, 'fp32'),
      });
  }
  if (splitTiedEmbeddings(plan)) {
    const p = plan.mesh.pipeline;
    const e = out.find((x) => x.name === 'grad.embedding.weight')!;
    out.push({ ...e, name: TIED_BUCKET, owners: [0, p - 1], members: ['grad.embedding.weight', 'grad.output.weight'] });
  }
  const all = Array.from({ length: plan.mesh.pipeline }, (_, i) => i);
  const last = [plan.mesh.pipeline - 1];
  const d = webgpuTrainDims(plan);
  const t = plan.mesh.tensor;
  const layer = uniformLayer(plan.model, 'training on the WebGPU runtime');
  const kvParts = Math.min(t, layer.attention.kvHeads);
  // A part's global shape and split: its per-rank width × the tensor ranks that split it.
  const tensorSplit = (p: SavedPart): { shape: number[]; shards: Shard[] } => {
    if (t === 1 || p.shape.length < 2) return p.part === 'attn.lse' && t > 1 ? split(p, t) : { shape: p.shape, shards: [] };
    if (['q', 'attn.out', 'attn.lse', 'gate', 'up', 'mlp.act', 'dup'].includes(p.part)) return split(p, t);
    if (p.part === 'k' || p.part === 'v') return split(p, kvParts);
    if (p.part === 'dqkv') return split(p, t);
    return { shape: p.shape, shards: [] };
  };
  function split(p: SavedPart, parts: number): { shape: number[]; shards: Shard[] } {
    const shape = [...p.shape];
    shape[shape.length - 1]! *= parts;
    return { shape, shards: [{ dim: shape.length - 1, parts, over: 'tensor', ...(parts < t ? { replicas: t / parts } : {}) }] };
  }
  const tracked = (
    name: string,
    p: SavedPart,
    scope: 'layer' | 'stage',
    owners: number[],
    role: GraphTensor['role'] = 'activation',
  ): GraphTensor => ({
    name,
    role,
    scope,
    ...tensorSplit(p),
    dtype: 'fp32',
    bytes: elementsOf(p.shape) * WEBGPU_ELEMENT_BYTES,
    owners,
  });
  for (const p of webgpuSavedParts(plan)) out.push(tracked(act(p.part), p, 'layer', all));
  if (splitsBackward(plan)) for (const p of webgpuWgradParts(plan)) out.push(tracked(wgradAct(p.part), p, 'layer', all));
  for (const p of webgpuFinalParts(plan)) out.push(tracked(finalAct(p.part), p, 'stage', last));
  out.push({
    name: LOGITS,
    role: 'logits',
    scope: 'stage',
    shape: [d.T, d.vLoc * t],
    dtype: 'fp32',
    shards: t > 1 ? [{ dim: 1, parts: t, over: 'tensor' }] : [],
    bytes: d.T * d.vLoc * 4,
    owners: last,
  });
  // Token ids and next-token labels (u32; the graph's dtype for 4-byte integers is fp32's size), [micro, seq]: the
  // executor needs the sequence length (attention is causal within each sequence of the microbatch).
  const ids = [plan.batch.micro, plan.batch.seq];
  out.push({ name: TOKENS, role: 'input', scope: 'stage', shape: ids, dtype: 'fp32', shards: [], bytes: 4 * d.T, owners: [0] });
  out.push({ name: LABELS, role: 'input', scope: 'stage', shape: ids, dtype: 'fp32', shards: [], bytes: 4 * d.T, owners: last });
  return out;
}

/** The graph's blocks and programs for a webgpu training plan (pipeline schedule from src/lower/pipeline.ts). */
export function lowerWebgpuTrain(plan: TrainPlan, stages: { index: number; rank: number; firstLayer: number; lastLayer: number }[]) {
  const n = namesOf(plan);
  const table = scheduleFor(plan);
  const d = webgpuTrainDims(plan);
  const elements = elementsTable(plan);
  const hBytes = d.T * d.h * WEBGPU_ELEMENT_BYTES;
  const p = plan.mesh.pipeline;
  const tiedHere = plan.model.tiedEmbeddings && p === 1;
  const head = tiedHere ? 'embedding.weight' : 'output.weight';
  const embedW = ['embedding.weight', ...(plan.model.positions === 'learned' ? ['positions.weight'] : [])];
  // Learned positions index their table by each token's position (the `positions` buffer, filled at load).
  const learnedPos = plan.model.positions === 'learned' ? ['positions'] : [];
  const finalW = normWeights(plan, 'final_norm');
  const headFlops = 2 * d.T * d.h * d.vLoc;
  const finals = webgpuFinalParts(plan).map((x) => finalAct(x.part));
  const finalStats = finals.filter((x) => x !== finalAct('out'));
  const input = {
    plan,
    table,
    stages,
    // The activations sent between stages are f32 (`hidden`, `grad.hidden`) whatever the weights' precision.
    boundaryBytes: hBytes,
    embedForward: [
      ...gather(n, embedW, elements),
      step('embedding', 'forward', [TOKENS, ...embedW.map(n.w), ...learnedPos], ['hidden'], d.T * d.h, { alloc: [TOKENS] }),
      // Vocabulary-parallel embedding: each rank adds the rows it holds.
      ...allReduce(n, 'hidden', hBytes),
    ],
    embedBackward: [
      ...gather(n, embedW, elements).filter(() => plan.reshardAfterForward),
      step('embedding', 'backward', ['grad.hidden', TOKENS, ...learnedPos], embedW.map(n.g), d.T * d.h, { free: [TOKENS] }),
      ...scatter(n, embedW, elements),
    ],
    headForward: [
      ...gather(n, [...finalW, head], elements),
      step('final-norm', 'forward', ['hidden', ...finalW.map(n.w)], finals, 5 * d.T * d.h, { alloc: finals }),
      step('head', 'forward', [finalAct('out'), n.w(head)], [LOGITS], headFlops, { alloc: [LOGITS] }),
      // Vocabulary-parallel cross-entropy: row maxima, then sums of exps and the target logits, all-reduced over tensor.
      step('loss', 'forward', [LOGITS], ['loss.stats'], d.T * d.vLoc),
      ...allReduce(n, 'loss.stats', 4 * d.T, 'max'),
      step('loss', 'forward', [LOGITS, 'loss.stats', LABELS], ['loss.stats'], 3 * d.T * d.vLoc, { alloc: [LABELS] }),
      ...allReduce(n, 'loss.stats', 8 * d.T),
      // The loss of each row, and dlogits = (softmax − onehot) / global tokens written over the logits.
      step('loss', 'forward', [LOGITS, 'loss.stats', LABELS], [LOGITS, 'loss'], 3 * d.T * d.vLoc, { free: [LABELS] }),
    ],
    headBackward: [
      ...gather(n, [...finalW, head], elements).filter(() => plan.reshardAfterForward),
      step('head', 'backward', [LOGITS, finalAct('out'), n.w(head)], ['grad.x', n.g(head)], 2 * headFlops, { free: [LOGITS] }),
      ...allReduce(n, 'grad.x', hBytes),
      step('final-norm', 'backward', ['grad.x', ...finalStats, ...finalW.map(n.w)], ['grad.hidden', ...finalW.map(n.g)], 5 * d.T * d.h, {
        free: finals,
      }),
      ...scatter(n, [...finalW, head], elements),
    ],
  };
  const blocks = layerBlocksOf(n);
  const programs: Record<string, Program> = {};
  for (const stage of plan.stages) {
    const ranges = stages
      .filter((v) => v.rank === stage.index && v.lastLayer >= v.firstLayer)
      .map((v) => [v.firstLayer, v.lastLayer] as [number, number]);
    const steps = [...pipelineSteps(input, stage.index), ...syncSteps(n, stage, ranges, blocks, elements)];
    programs[`stage${stage.index}`] = { id: `stage${stage.index}`, stage: stage.index, phases: { step: steps } };
  }
  return {
    blocks,
    programs,
    schedule: graphSchedule(plan, table),
    buffers: Object.fromEntries(
      plan.stages.map((st) => [
        `stage${st.index}`,
        webgpuTrainRegions(plan, st).map((r) => ({ name: r.name, category: r.category, bytes: r.bytes })),
      ]),
    ),
  };
}

/** The stage tensors a stage holds (embedding, positions, final norm, output layer). */
function stageTensors(plan: TrainPlan, stage: TrainPlan['stages'][number]): string[] {
  return weightSpecs(plan)
    .filter((s) => s.scope === 'stage' && s.owners.includes(stage.index))
    .map((s) => s.name);
}

/** After the schedule: tied-embedding sum, data-parallel sync, the global norm and clip scale, the optimizer, ZeRO-1/2's gather. */
function syncSteps(
  n: Names,
  stage: TrainPlan['stages'][number],
  ranges: [number, number][],
  blocks: Record<string, Step[]>,
  elements: (w: string) => number,
): Step[] {
  const { plan } = n;
  const steps: Step[] = [];
  const own = stageTensors(plan, stage);
  const runLayers = (block: string): Step[] => (blocks[block] ? ranges.map((r) => ({ op: 'block', block, layers: r }) as Step) : []);
  const dz = zeroDegree(plan);
  if (splitTiedEmbeddings(plan) && (stage.hasEmbedding || stage.hasOutput)) {
    const rows = elements(stage.hasEmbedding ? 'embedding.weight' : 'output.weight');
    const shard = plan.zero >= 2 && dz > 1 ? Math.ceil(rows / dz) : rows;
    steps.push({ op: 'all-reduce', axis: 'embedding', tensor: TIED_BUCKET, bytes: shard * 4 });
  }
  const dataOp = plan.zero === 0 ? 'all-reduce' : plan.zero === 1 ? 'reduce-scatter' : undefined;
  if (dataOp && plan.mesh.data > 1) {
    steps.push(...runLayers('layer.grad-sync'));
    for (const w of own) steps.push({ op: dataOp, axis: 'data', tensor: `grad.${w}`, bytes: elements(w) * 4 });
  }
  {
    // Sum of squares of what this rank owns, all-reduced over every rank, then [scale, norm]: the scale is
    // min(1, grad_clip / (norm + 1e-6)) with grad_clip (the last step's maxNorm), 1 without; the norm is the step's report.
    steps.push(...runLayers('layer.grad-norm'));
    if (own.length > 0)
      steps.push(
        step(
          'grad-norm',
          'forward',
          own.map((w) => `grad.${w}`),
          ['grad.norm'],
          2 * sum(own.map(elements)),
        ),
      );
    const axes: ('tensor' | 'pipeline' | 'data')[] = ['tensor', 'pipeline', ...(plan.zero >= 1 ? (['data'] as const) : [])];
    for (const axis of axes) if (plan.mesh[axis] > 1) steps.push({ op: 'all-reduce', axis, tensor: 'grad.norm', bytes: 4 });
    steps.push(
      step('grad-norm', 'forward', ['grad.norm'], ['grad.norm'], 4, plan.gradClip !== undefined ? { maxNorm: plan.gradClip } : {}),
    );
  }
  steps.push(...runLayers('layer.optimizer'));
  for (const w of own) steps.push(optimizerStep(n, w, elements(w)));
  if ((plan.zero === 1 || plan.zero === 2) && plan.mesh.data > 1) {
    steps.push(...runLayers('layer.weight-sync'));
    for (const w of own)
      steps.push({ op: 'all-gather', axis: 'data', tensor: w, bytes: elements(w) * (plan.precision === 'fp32' ? 4 : 2) });
  }
  return steps;
}
