/**
 * Transformer layers as block templates, with tensor parallelism applied (Megatron-LM):
 * column-parallel QKV and MLP-up, row-parallel output projection and MLP-down, an all-reduce
 * after each row-parallel layer in forward and after each column-parallel layer in backward;
 * with sequence parallelism each all-reduce becomes a reduce-scatter, and an all-gather
 * precedes each column-parallel layer. FLOPs are per device (2 × multiply-adds), with T
 * tokens per pass, from the cost model's per-layer count (src/cost/flops.ts `layerFlops`), so
 * that graph and estimate agree.
 *
 * A model whose layers differ (MoE after leading dense layers, sliding-window and global
 * attention, MLA) gets one block template per distinct layer structure (`layerBlocks`); the
 * programs instance each over its runs of layers (`blockRuns`). A MoE layer's MLP is
 * Megatron-Core's all-to-all token dispatcher: the router on the rank's own tokens, an
 * all-to-all over the expert group (dispatch), an all-gather over the expert-tensor group,
 * the rank's experts, a reduce-scatter, an all-to-all back (combine); backward runs the
 * conjugates (docs/language.md "Expert parallelism", docs/graph.md).
 */
import { contextAttentionBytes } from '../cost/context.js';
import { decodeDims, layerFlops, matmulBackward, prefillDims, routedPerToken, trainDims, type Dims } from '../cost/flops.js';
import { AVERAGE_CONTEXT_FRACTION } from '../cost/constants.js';
import { layerStepBytes } from '../cost/serve.js';
import { bytesPerElement } from '../facts/dtypes.js';
import { isCollective, type Axis, type Pass, type Step } from '../graph/types.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { layerAdapterParams } from '../memory/adapter.js';
import { gatheredBytesPerParam } from '../memory/fp8.js';
import { selectiveOpRecomputed } from '../memory/recipes.js';
import { splitsBackward } from '../memory/activations.js';
import { layerParams } from '../memory/params.js';
import { castCacheParams, hasCastCache, rankLayerBytes } from '../memory/weights.js';
import { deviceParams } from '../memory/params.js';
import { describeLayer, gatedMlp, layerRuns, sameLayer, shardLayer, type LayerSpec, type MoeMlp } from '../model.js';
import { hsdpShardGroup } from './mesh.js';

const W = (name: string) => `layers.{l}.${name}`;

/** A compute step; FLOPs and bytes rounded to whole numbers (the graph's integers). */
export function compute(
  kind: Extract<Step, { op: 'compute' }>['kind'],
  pass: Pass,
  reads: string[],
  writes: string[],
  flops: number,
  extra: { alloc?: string[]; free?: string[]; bytes?: number } = {},
): Step {
  const { bytes, ...rest } = extra;
  // Serving steps carry the bytes they read (the roofline's memory term); a step that reads none leaves it out.
  return { op: 'compute', kind, pass, reads, writes, flops: Math.round(flops), ...rest, ...(bytes ? { bytes: Math.round(bytes) } : {}) };
}

/** One distinct layer structure of the model and the suffix of its blocks' names ('' for the model's default layer). */
export interface LayerBlock {
  layer: LayerSpec;
  suffix: string;
}

/** `layer.forward`, or `layer.forward.mla-dense` for a layer structure other than the default. */
export function blockName(phase: string, suffix: string): string {
  return suffix ? `layer.${phase}.${suffix}` : `layer.${phase}`;
}

function tag(layer: LayerSpec): string {
  const a = layer.attention;
  const att = a.kind === 'mla' ? 'mla' : a.window !== undefined ? `window${a.window}` : 'full';
  return `${att}-${layer.mlp.kind}`;
}

/** The distinct layer structures of the model, the default layer first (its blocks keep the plain names). */
export function layerBlocks(plan: CheckedPlan): LayerBlock[] {
  const out: LayerBlock[] = [{ layer: plan.model.layer, suffix: '' }];
  for (const r of layerRuns(plan.model)) {
    if (out.some((b) => sameLayer(b.layer, r.layer))) continue;
    let suffix = tag(r.layer);
    if (out.some((b) => b.suffix === suffix)) suffix = `${suffix}-${out.length}`;
    out.push({ layer: r.layer, suffix });
  }
  return out;
}

/**
 * The blocks that run layers first … last in `phase`, in layer order: one per run of alike layers; with
 * recompute_method = block, the chunk's layers past its first recompute_layers run the kept blocks.
 */
export function blockRunsOf(
  plan: CheckedPlan,
  phase: string,
  first: number,
  last: number,
  blocks: readonly LayerBlock[] = layerBlocks(plan),
): { block: string; first: number; last: number }[] {
  const runs = (a: number, b: number, variant: (suffix: string) => string = (s) => s) =>
    b < a // an empty virtual stage of a layout
      ? []
      : layerRuns(plan.model, a, b).map((r) => {
          const suffix = blocks.find((x) => sameLayer(x.layer, r.layer))!.suffix;
          return { block: blockName(phase, variant(suffix)), first: r.first, last: r.last };
        });
  const g = uniformGroup(plan);
  if (g > 1 && last > first) {
    // recompute_method = uniform: each group's first layer keeps the group's input, the others nothing.
    const out: { block: string; first: number; last: number }[] = [];
    for (let a = first; a <= last; a += g) out.push(...runs(a, a), ...runs(a + 1, Math.min(a + g - 1, last), groupedSuffix));
    return out;
  }
  const n = recomputedPerChunk(plan);
  return n > last - first ? runs(first, last) : [...runs(first, first + n - 1), ...runs(first + n, last, keptSuffix)];
}

/** The block steps that run layers first … last in `phase`: one per run of alike layers (reversed for backward). */
export function blockRuns(
  plan: CheckedPlan,
  phase: string,
  first: number,
  last: number,
  extra: { microbatch?: number; reverse?: boolean } = {},
): Step[] {
  const steps: Step[] = blockRunsOf(plan, phase, first, last).map((r) => ({
    op: 'block',
    block: r.block,
    layers: [r.first, r.last],
    ...extra,
  }));
  return extra.reverse ? steps.reverse() : steps;
}

/**
 * Layers of each chunk (a stage's share of layers, ÷ virtual) that recompute = full recomputes:
 * with recompute_method = block the first recompute_layers (Megatron transformer_block.py
 * `_checkpointed_forward`, method 'block'); the others keep all their activations. Every layer otherwise.
 */
export function recomputedPerChunk(plan: CheckedPlan): number {
  return plan.mode === 'train' && plan.recompute === 'full' && plan.recomputeMethod === 'block' ? plan.recomputeLayers : Infinity;
}

/**
 * Layers per checkpointed group of recompute = full with recompute_method = uniform (Megatron
 * transformer_block.py `_checkpointed_forward`, method 'uniform': one checkpoint per
 * recompute_layers layers, a group's backward recomputing them all); 1 otherwise.
 */
export function uniformGroup(plan: CheckedPlan): number {
  return plan.mode === 'train' && plan.recompute === 'full' && plan.recomputeMethod === 'uniform' ? plan.recomputeLayers : 1;
}

/** Whether some chunk has layers inside a uniform group, past its first (their blocks, named with groupedSuffix). */
export function groupsLayers(plan: TrainPlan): boolean {
  const g = uniformGroup(plan);
  return g > 1 && plan.stages.some((st) => (st.chunks ? st.chunks.some((c) => c.layers > 1) : st.layers / plan.virtual > 1));
}

/** The block-name suffix of a uniform group's later layers (`layer.backward.grouped`, `layer.backward.mla-dense-grouped`). */
function groupedSuffix(suffix: string): string {
  return suffix ? `${suffix}-grouped` : 'grouped';
}

/**
 * A uniform group's later layer: its forward saves nothing (the group's first layer kept the
 * input) and its backward rebuilds its activations in the recompute workspace, which holds the
 * whole group's (memory/activations.ts recomputeWorkspaceBytes): `act` becomes RECOMPUTE.
 */
function withoutCheckpoint(steps: { forward: Step[]; backward: Step[] }, act: string): { forward: Step[]; backward: Step[] } {
  const strip = (s: Step): Step => {
    if (s.op !== 'compute') return s;
    const { alloc, free, ...rest } = s;
    const a = alloc?.filter((n) => n !== act);
    const f = free?.filter((n) => n !== act);
    const swap = (names: string[]) => names.map((n) => (n === act ? RECOMPUTE : n));
    return { ...rest, reads: swap(s.reads), writes: swap(s.writes), ...(a?.length ? { alloc: a } : {}), ...(f?.length ? { free: f } : {}) };
  };
  return { forward: steps.forward.map(strip), backward: steps.backward.map(strip) };
}

/** Whether some chunk has layers that recompute_method = block leaves un-recomputed (their blocks, named with keptSuffix). */
export function keepsLayers(plan: TrainPlan): boolean {
  const n = recomputedPerChunk(plan);
  return plan.stages.some((st) => (st.chunks ? st.chunks.some((c) => c.layers > n) : st.layers / plan.virtual > n));
}

/** The block-name suffix of a layer structure's un-recomputed variant (`layer.backward.kept`, `layer.backward.mla-dense-kept`). */
function keptSuffix(suffix: string): string {
  return suffix ? `${suffix}-kept` : 'kept';
}

/**
 * Autocast's 16-bit copies of a layer's weights (memory/weights.ts castCacheParams): made by the layer's first
 * forward, a cache hit for every later microbatch's (allocating it again is no new memory), released at the end of
 * the step (the autocast region exits and the last backward has released what the linears saved).
 */
export const CAST = 'cast.{l}';
/** Autocast's 16-bit copy of the output layer, as CAST. */
export const CAST_OUTPUT = 'cast.output';

/**
 * Bytes of the cast cache tensors (one layer's, the output layer's), when the graph allocates them: precision = amp_*
 * without FSDP2 or LoRA (hasCastCache), layers alike, and the output layer's copy on the last stage only. Otherwise
 * undefined, and the simulation counts the cache as static, where the memory plan's weights have it.
 */
export function castCacheBytes(plan: TrainPlan): { layer: number; head: number } | undefined {
  if (!hasCastCache(plan) || layerBlocks(plan).length > 1) return undefined;
  const e = bytesPerElement(plan.precision);
  const per = new Set<number>();
  let head = 0;
  for (const st of plan.stages) {
    const c = castCacheParams(plan, deviceParams(plan, st));
    if (st.layers > 0) per.add(c.layers / st.layers);
    if (c.head > 0 && !st.hasOutput) return undefined;
    if (st.hasOutput) head = c.head;
  }
  const layer = [...per];
  if (layer.length !== 1 || !Number.isInteger(layer[0])) return undefined;
  return { layer: layer[0]! * e, head: head * e };
}

/** The bytes of autocast's cast cache that the graph allocates on a device of `stage` (0 where castCacheBytes is undefined). */
export function castCacheAllocated(
  plan: TrainPlan,
  stage: { layers: number; hasOutput: boolean },
  c: ReturnType<typeof castCacheBytes> = castCacheBytes(plan),
): number {
  return c ? stage.layers * c.layer + (stage.hasOutput ? c.head : 0) : 0;
}

/** The saved activations of a layer that recompute_method = block does not recompute (all of them, as without recompute). */
export const KEPT_ACT = 'act-kept.{l}.mb{m}';

/** The per-op FLOPs of one layer on one device: layerFlops' fields, a MoE layer's split into its steps. */
export interface LayerOpFlops extends ReturnType<typeof layerFlops> {
  /** MoE: the routed experts on this rank (layerFlops' mlpUp, mlpDown and their part of act). */
  expertUp: number;
  expertAct: number;
  expertDown: number;
}

/** Tokens one rank routes in a MoE layer: its 1/t share of the pass's T tokens (each token is routed once). */
export function routedTokens(plan: CheckedPlan, T: number): number {
  return Math.ceil(T / plan.mesh.tensor);
}

/**
 * FLOPs of one layer's forward on one device, from the cost model's `layerFlops` with the layer's
 * per-rank facts (plan.derived.layers). A MoE layer's routed experts become the expert steps and
 * its shared experts the mlp steps (layerFlops' `shared`, split 2:1 or 1:1 between up and down
 * as the projections are).
 */
export function layerOpFlops(plan: CheckedPlan, layer: LayerSpec, dims: Dims): LayerOpFlops {
  const facts = plan.derived.layers.find((f) => sameLayer(f.layer, layer));
  if (!facts) throw new Error(`lowering: layer structure '${describeLayer(layer)}' has no per-rank facts`);
  const f = layerFlops(plan, dims, facts);
  const m = shardLayer(layer, plan.mesh.tensor).mlp;
  if (m.kind === 'dense') return { ...f, expertUp: 0, expertAct: 0, expertDown: 0 };
  const routed = routedPerToken(plan, m.topK) * m.expertFfn;
  const sharedWidth = m.sharedExperts * m.sharedFfn;
  const upShare = gatedMlp(m.activation) ? 2 / 3 : 1 / 2;
  const act = (w: number) => (routed + sharedWidth > 0 ? (f.act * w) / (routed + sharedWidth) : 0);
  return {
    ...f,
    expertUp: f.mlpUp,
    expertDown: f.mlpDown,
    expertAct: act(routed),
    mlpUp: f.shared * upShare,
    mlpDown: f.shared * (1 - upShare),
    act: act(sharedWidth),
  };
}

type LayerStepBytes = ReturnType<typeof layerStepBytes>;

interface Opts {
  sp: boolean;
  /** Bytes per activation element. */
  elem: number;
  kv?: 'write' | 'read';
  alloc?: string[];
  free?: string[];
  /** Serving: the bytes each step reads from memory (src/cost/serve.ts `layerStepBytes`). */
  bytes?: LayerStepBytes;
}

/** The weights the QKV step reads: q, k, v (each with its bias, where the model has them) for grouped-query attention; MLA's down and up projections. */
function qkvWeights(plan: CheckedPlan, layer: LayerSpec): string[] {
  const a = layer.attention;
  const bias = plan.model.bias || plan.model.qkvBias === true;
  if (a.kind === 'gqa') return [...linear('attn.q', bias), ...linear('attn.k', bias), ...linear('attn.v', bias)];
  const q = a.qLoraRank > 0 ? [W('attn.q_a.weight'), W('attn.q_b.weight')] : [W('attn.q.weight')];
  return [...q, W('attn.kv_a.weight'), W('attn.kv_b.weight')];
}

/** The forward of one layer (also used, with pass = 'recompute', for full recomputation). */
function forwardSteps(plan: CheckedPlan, layer: LayerSpec, dims: Dims, pass: Pass, opts: Opts): Step[] {
  const t = plan.mesh.tensor;
  const f = layerOpFlops(plan, layer, dims);
  const rope = plan.model.positions === 'rope';
  const hiddenBytes = dims.T * plan.model.hidden * opts.elem;
  const steps: Step[] = [];
  const collective = (op: 'all-reduce' | 'reduce-scatter' | 'all-gather', tensor: string) => {
    if (t > 1) steps.push({ op, axis: 'tensor', tensor, bytes: hiddenBytes });
  };
  // A step reads every weight it binds: biases next to their weights, a LayerNorm's bias next to its gain.
  const norm = (prefix: string) =>
    plan.model.norm === 'layernorm' ? [W(`${prefix}.weight`), W(`${prefix}.bias`)] : [W(`${prefix}.weight`)];
  steps.push(
    compute('norm', pass, ['hidden', ...norm('attn_norm')], ['x'], f.norm / (opts.sp ? t : 1), opts.alloc ? { alloc: opts.alloc } : {}),
  );
  if (opts.sp) collective('all-gather', 'x');
  const rb = opts.bytes;
  steps.push(compute('qkv', pass, ['x', ...qkvWeights(plan, layer)], ['q', 'k', 'v'], f.qkv, { bytes: rb?.qkv }));
  if (plan.model.qkNorm && layer.attention.kind === 'gqa') {
    // Qwen3: each head of q and k RMS-normed over head_dim before RoPE (4 FLOPs per element).
    const a = shardLayer(layer, t).attention as typeof layer.attention;
    for (const [x, heads] of [
      ['q', a.heads],
      ['k', a.kvHeads],
    ] as const)
      steps.push(compute('norm', pass, [x, W(`attn.${x}_norm.weight`)], [x], 4 * dims.T * heads * a.headDim));
  }
  if (rope) steps.push(compute('rope', pass, ['q', 'k'], ['q', 'k'], f.rope));
  const attnReads = opts.kv === 'read' ? ['q', 'k', 'v', 'kv.{l}'] : ['q', 'k', 'v'];
  const attnWrites = opts.kv ? ['attn', 'kv.{l}'] : ['attn'];
  const cp = contextSteps(plan, layer);
  steps.push(...cp.before);
  steps.push(compute('attention', pass, attnReads, attnWrites, f.attention, { bytes: rb?.attention }));
  steps.push(...cp.after);
  steps.push(compute('out-proj', pass, ['attn', ...linear('attn.o', plan.model.bias)], ['y'], f.outProj, { bytes: rb?.outProj }));
  collective(opts.sp ? 'reduce-scatter' : 'all-reduce', 'y');
  // Gemma-2/3 (four norms per layer): each sublayer's summed output is normed in place before the residual add.
  const postNorm = (plan.model.normsPerLayer ?? 2) === 4;
  if (postNorm) steps.push(compute('norm', pass, ['y', ...norm('attn_post_norm')], ['y'], f.norm / (opts.sp ? t : 1)));
  steps.push(compute('residual', pass, ['hidden', 'y'], ['hidden'], f.residual / (opts.sp ? t : 1)));
  steps.push(compute('norm', pass, ['hidden', ...norm('mlp_norm')], ['x'], f.norm / (opts.sp ? t : 1)));
  const end = opts.free ? { free: opts.free } : {};
  if (layer.mlp.kind === 'moe') {
    steps.push(...moeForward(plan, layer.mlp, dims, pass, f, opts));
    return steps;
  }
  if (opts.sp) collective('all-gather', 'x');
  // A gated MLP's two column-parallel projections write gate and up; the activation leaves silu(gate)·up in up.
  const gated = gatedMlp(layer.mlp.activation);
  const bias = plan.model.bias;
  const up = gated ? [...linear('mlp.gate', bias), ...linear('mlp.up', bias)] : linear('mlp.up', bias);
  steps.push(compute('mlp-up', pass, ['x', ...up], gated ? ['gate', 'up'] : ['up'], f.mlpUp, { bytes: rb?.mlpUp }));
  steps.push(compute('mlp-act', pass, gated ? ['gate', 'up'] : ['up'], ['up'], f.act));
  steps.push(compute('mlp-down', pass, ['up', ...linear('mlp.down', bias)], ['y'], f.mlpDown, { bytes: rb?.mlpDown }));
  collective(opts.sp ? 'reduce-scatter' : 'all-reduce', 'y');
  if (postNorm) steps.push(compute('norm', pass, ['y', ...norm('mlp_post_norm')], ['y'], f.norm / (opts.sp ? t : 1)));
  steps.push(compute('residual', pass, ['hidden', 'y'], ['hidden'], f.residual / (opts.sp ? t : 1), end));
  return steps;
}

/** A linear layer's weight, and its bias when it has one. */
function linear(name: string, bias: boolean): string[] {
  return bias ? [W(`${name}.weight`), W(`${name}.bias`)] : [W(`${name}.weight`)];
}

/**
 * The bytes of a MoE layer's collectives on one rank: each of its Tr routed tokens goes to k
 * experts, so an all-to-all carries Tr·k·h·bytes (the (E−1)/E that leave the rank are charged by
 * the simulation and the cost model: anchors §1.5, derived for uniform routing); the expert-tensor
 * all-gather and reduce-scatter carry the tokens of all its `expert_tensor` ranks.
 */
export function moeBytes(
  plan: CheckedPlan,
  mlp: MoeMlp,
  T: number,
  elem: number,
): { dispatch: number; expertTensor: number; tensor: number } {
  // Training with a capacity factor pads each expert's share to capacity: the all-to-alls carry the padding too.
  const dispatch = Math.ceil(routedTokens(plan, T) * routedPerToken(plan, mlp.topK)) * plan.model.hidden * elem;
  return { dispatch, expertTensor: plan.experts.tensor * dispatch, tensor: T * plan.model.hidden * elem };
}

/** The routed-expert weights one rank reads (its experts' shard) and the shared experts' (tensor-split). */
function expertWeights(mlp: MoeMlp): { up: string[]; down: string; sharedUp: string[]; sharedDown: string } {
  const gated = gatedMlp(mlp.activation);
  return {
    up: gated ? [W('mlp.experts.gate.weight'), W('mlp.experts.up.weight')] : [W('mlp.experts.up.weight')],
    down: W('mlp.experts.down.weight'),
    sharedUp: gated ? [W('mlp.shared.gate.weight'), W('mlp.shared.up.weight')] : [W('mlp.shared.up.weight')],
    sharedDown: W('mlp.shared.down.weight'),
  };
}

/**
 * A MoE MLP's forward after its norm. Tokens: with sequence parallelism each tensor rank already
 * holds its own T/t; otherwise the tensor ranks hold the same T tokens, each routes its 1/t slice
 * and an all-gather over the tensor group restores them all at the end. The shared experts are a
 * tensor-split MLP on all T tokens (all-gathered first under sequence parallelism), their output
 * reduce-scattered onto the slices.
 */
function moeForward(plan: CheckedPlan, mlp: MoeMlp, dims: Dims, pass: Pass, f: LayerOpFlops, opts: Opts): Step[] {
  const t = plan.mesh.tensor;
  const { expert: ep, tensor: etp } = plan.experts;
  const b = moeBytes(plan, mlp, dims.T, opts.elem);
  const w = expertWeights(mlp);
  const steps: Step[] = [];
  const coll = collectiveOver(steps);
  const residualReads = ['hidden', 'y'];
  if (mlp.sharedExperts > 0) {
    if (opts.sp) coll('all-gather', 'tensor', 'x', b.tensor, t);
    steps.push(compute('mlp-up', pass, ['x', ...w.sharedUp], ['up'], f.mlpUp, { bytes: opts.bytes?.mlpUp }));
    steps.push(compute('mlp-act', pass, ['up'], ['up'], f.act));
    steps.push(compute('mlp-down', pass, ['up', w.sharedDown], ['s'], f.mlpDown, { bytes: opts.bytes?.mlpDown }));
    coll('reduce-scatter', 'tensor', 's', b.tensor, t);
    residualReads.push('s');
  }
  steps.push(compute('router', pass, ['x', W('mlp.router.weight')], ['routes', 'dispatch'], f.router, { bytes: opts.bytes?.router }));
  coll('all-to-all', 'expert', 'dispatch', b.dispatch, ep);
  coll('all-gather', 'expert_tensor', 'dispatch', b.expertTensor, etp);
  steps.push(compute('expert-up', pass, ['dispatch', ...w.up], ['ue'], f.expertUp, { bytes: opts.bytes?.expertUp }));
  steps.push(compute('expert-act', pass, ['ue'], ['ue'], f.expertAct));
  steps.push(compute('expert-down', pass, ['ue', w.down], ['y'], f.expertDown, { bytes: opts.bytes?.expertDown }));
  coll('reduce-scatter', 'expert_tensor', 'y', b.expertTensor, etp);
  coll('all-to-all', 'expert', 'y', b.dispatch, ep);
  // The combine weighs each token's k expert outputs and adds the shared experts' (on the rank's tokens).
  const sliced = t > 1 ? t : 1;
  steps.push(
    compute('residual', pass, [...residualReads, 'routes'], ['hidden'], f.residual / sliced, opts.free ? { free: opts.free } : {}),
  );
  if (!opts.sp) coll('all-gather', 'tensor', 'hidden', b.tensor, t);
  return steps;
}

/** A pusher of collectives onto `steps` that leaves out those over a group of one rank. */
function collectiveOver(steps: Step[]) {
  return (op: 'all-reduce' | 'reduce-scatter' | 'all-gather' | 'all-to-all', axis: Axis, tensor: string, bytes: number, n: number) => {
    if (n > 1) steps.push({ op, axis, tensor, bytes });
  };
}

/** A MoE MLP's backward down to its norm: the conjugate of moeForward, in reverse. */
function moeBackward(plan: TrainPlan, mlp: MoeMlp, dims: Dims, f: LayerOpFlops, act: string, sp: boolean, elem: number): Step[] {
  const t = plan.mesh.tensor;
  const { expert: ep, tensor: etp } = plan.experts;
  const b = moeBytes(plan, mlp, dims.T, elem);
  const w = expertWeights(mlp);
  const steps: Step[] = [];
  const coll = collectiveOver(steps);
  if (!sp) coll('reduce-scatter', 'tensor', 'grad.y', b.tensor, t);
  coll('all-to-all', 'expert', 'grad.y', b.dispatch, ep);
  coll('all-gather', 'expert_tensor', 'grad.y', b.expertTensor, etp);
  steps.push(
    compute('expert-down', 'backward', ['grad.y', w.down, act], ['grad.ue', `grad.${w.down}`], matmulBackward(plan, f.expertDown)),
  );
  steps.push(compute('expert-act', 'backward', ['grad.ue', act], ['grad.ue'], f.expertAct));
  steps.push(
    compute('expert-up', 'backward', ['grad.ue', act], ['grad.dispatch', `grad.${w.up.at(-1)!}`], matmulBackward(plan, f.expertUp)),
  );
  coll('reduce-scatter', 'expert_tensor', 'grad.dispatch', b.expertTensor, etp);
  coll('all-to-all', 'expert', 'grad.dispatch', b.dispatch, ep);
  steps.push(
    compute('router', 'backward', ['grad.dispatch', act], ['grad.x', `grad.${W('mlp.router.weight')}`], matmulBackward(plan, f.router)),
  );
  if (mlp.sharedExperts > 0) {
    coll('all-gather', 'tensor', 'grad.s', b.tensor, t);
    steps.push(
      compute(
        'mlp-down',
        'backward',
        ['grad.s', w.sharedDown, act],
        ['grad.up', `grad.${w.sharedDown}`],
        matmulBackward(plan, f.mlpDown, f.lora.mlpDown),
      ),
    );
    steps.push(compute('mlp-act', 'backward', ['grad.up', act], ['grad.up'], f.act));
    steps.push(
      compute(
        'mlp-up',
        'backward',
        ['grad.up', act],
        ['grad.x', `grad.${w.sharedUp.at(-1)!}`],
        matmulBackward(plan, f.mlpUp, f.lora.mlpUp),
      ),
    );
  }
  // The input's gradient: a slice per rank under sequence parallelism; else partial sums of the replicated input.
  if (sp) {
    if (mlp.sharedExperts > 0) coll('reduce-scatter', 'tensor', 'grad.x', b.tensor, t);
  } else coll('all-reduce', 'tensor', 'grad.x', b.tensor, t);
  return steps;
}

/** Parameters of one layer on one rank, split into what the data group and the expert-data group each replicate. */
export function layerShardParams(plan: CheckedPlan, layer: LayerSpec): { dense: number; experts: number } {
  const shard = layerParams(plan.model, shardLayer(layer, plan.mesh.tensor));
  if (layer.mlp.kind !== 'moe') return { dense: shard.total, experts: 0 };
  const { tensor: etp, expert: ep } = plan.experts;
  return { dense: shard.total - shard.routed, experts: layerParams(plan.model, layer).routed / (etp * ep) };
}

/** Training: `layer.forward`, `layer.backward` (with recomputation as the plan says), per layer structure. */
export function trainBlocks(plan: TrainPlan): Record<string, Step[]> {
  const out: Record<string, Step[]> = {};
  const variants: { suffix: (s: string) => string; plan: TrainPlan; act: string; grouped?: boolean }[] = [
    { suffix: (s) => s, plan, act: 'act.{l}.mb{m}' },
  ];
  if (keepsLayers(plan)) variants.push({ suffix: keptSuffix, plan: { ...plan, recompute: 'none' }, act: KEPT_ACT });
  if (groupsLayers(plan)) variants.push({ suffix: groupedSuffix, plan, act: 'act.{l}.mb{m}', grouped: true });
  for (const b of layerBlocks(plan)) {
    for (const v of variants) {
      const built = trainLayerBlocks(v.plan, b.layer, v.act);
      const steps = v.grouped ? withoutCheckpoint(built, v.act) : built;
      const suffix = v.suffix(b.suffix);
      out[blockName('forward', suffix)] = steps.forward;
      out[blockName('backward', suffix)] = steps.backward;
      if (splitsBackward(plan)) {
        // A grouped layer's backward ends by releasing the recompute workspace, not a checkpoint.
        const split = splitBackward(steps.backward, v.grouped ? RECOMPUTE : v.act, WGRAD);
        out[blockName('backward-input', suffix)] = split.input;
        out[blockName('backward-weight', suffix)] = split.weight;
      }
    }
  }
  return out;
}

/** What a deferred weight-gradient pass keeps of a layer between its I and its W (memory/activations.ts `weightGradActivationBytes`). */
export const WGRAD = 'wgrad.{l}.mb{m}';

/** Compute kinds whose backward is an input gradient and a weight gradient, each as costly as the forward matmul. */
const MATMULS: ReadonlySet<string> = new Set(['qkv', 'out-proj', 'mlp-up', 'mlp-down', 'router', 'expert-up', 'expert-down']);

/**
 * A layer's backward split for zero-bubble schedules (Qi et al. 2024): I, the input gradients
 * (each matmul's half that computes its input's gradient, the attention core, norms and
 * activations, the collectives), and W, the weight gradients (each matmul's other half:
 * T_W = the forward's matmul FLOPs, so T_I + T_W = the whole backward, T_B + T_W = 2T_F in the
 * paper's terms). I releases the layer's activations and keeps `wgrad` (M_W: the linear
 * layers' inputs and output gradients) for W, which releases it. ZeRO-3's gradient
 * reduce-scatter goes with W, after the gradients exist.
 */
export function splitBackward(backward: readonly Step[], act: string, wgrad: string): { input: Step[]; weight: Step[] } {
  const input: Step[] = [];
  const weight: Step[] = [];
  for (const s of backward) {
    if (s.op !== 'compute') {
      if (s.op !== 'block' && s.op !== 'action' && s.op !== 'send' && s.op !== 'recv' && s.tensor.startsWith('grad.layers.'))
        weight.push(s);
      else input.push(s);
      continue;
    }
    if (s.pass !== 'backward' || !MATMULS.has(s.kind)) {
      input.push(s.pass === 'backward' ? { ...s, pass: 'backward-input' } : s);
      if (s.free?.includes(act)) {
        // Once the layer's activations are released, what W needs stays (a step of no work that only allocates it).
        input.push({
          op: 'compute',
          kind: s.kind,
          pass: 'backward-input',
          reads: s.writes.slice(0, 1),
          writes: [],
          flops: 0,
          alloc: [wgrad],
        });
      }
      continue;
    }
    const grads = s.writes.filter((w) => w.startsWith('grad.layers.'));
    const half = Math.round(s.flops / 2);
    input.push({ ...s, pass: 'backward-input', writes: s.writes.filter((w) => !grads.includes(w)), flops: s.flops - half });
    weight.push({ op: 'compute', kind: s.kind, pass: 'backward-weight', reads: [wgrad], writes: grads, flops: half });
  }
  const last = weight.findLastIndex((s) => s.op === 'compute');
  if (last >= 0) weight[last] = { ...(weight[last] as Extract<Step, { op: 'compute' }>), free: [wgrad] };
  return { input, weight };
}

function trainLayerBlocks(plan: TrainPlan, layer: LayerSpec, act: string): { forward: Step[]; backward: Step[] } {
  const t = plan.mesh.tensor;
  const sp = plan.sequenceParallel && t > 1;
  const dims = trainDims(plan);
  const e = bytesPerElement(plan.precision);
  const hiddenBytes = dims.T * plan.model.hidden * e;
  const zero3 = plan.zero >= 3 && plan.mesh.data * plan.mesh.context > 1;
  // ZeRO-3 gathers each layer's weights before use and reduce-scatters its gradients after;
  // a MoE layer's expert weights over their expert-data replicas.
  const shard = layerShardParams(plan, layer);
  const edp = plan.experts.data;
  const lora = plan.adapter ? layerAdapterParams(plan, layer) : 0;
  // FSDP2 runs these on its own streams (_fsdp_param_group.py: all-gather stream with the next layer's gather
  // prefetched, reduce-scatter stream), overlapped with the layers' compute (the cost model's dataTraffic).
  const gathers = (tensor: string, bytes: (n: number) => number, op: 'all-gather' | 'reduce-scatter'): Step[] =>
    overlapped(gathersOrAdapter(tensor, bytes, op));
  const gathersOrAdapter = (tensor: string, bytes: (n: number) => number, op: 'all-gather' | 'reduce-scatter'): Step[] =>
    plan.adapter
      ? // LoRA: the frozen base is gathered as stored (its dtype or quantization) with the adapters; only adapter gradients are reduced.
        op === 'all-gather'
        ? overZeroGroup(plan, op, tensor, rankLayerBytes(plan, layer).bytes + lora * e)
        : overZeroGroup(plan, op, tensor, bytes(lora))
      : gathersOf(tensor, bytes, op);
  const gathersOf = (tensor: string, bytes: (n: number) => number, op: 'all-gather' | 'reduce-scatter'): Step[] => [
    ...(shard.dense > 0 ? overZeroGroup(plan, op, tensor, bytes(shard.dense)) : []),
    ...(shard.experts > 0 && edp > 1
      ? [{ op, axis: 'expert_data', tensor: `${tensor}.experts`, bytes: bytes(shard.experts) } as Step]
      : []),
  ];
  const forward: Step[] = [];
  // Autocast's copies of the layer's weights (held to the end of the step: CAST).
  const cast = castCacheBytes(plan) ? [CAST] : [];
  // The dtype gathered: bf16 under FSDP2's MixedPrecisionPolicy(param_dtype = bf16), 1 B with torchao's fp8 all-gather.
  const gathered = (n: number) => n * gatheredBytesPerParam(plan, e);
  if (zero3) forward.push(...gathers(W('*'), gathered, 'all-gather'));
  forward.push(...forwardSteps(plan, layer, dims, 'forward', { sp, elem: e, alloc: [act, ...cast] }));

  // Backward: gradients flow in reverse; the conjugate collectives of forward.
  const f = layerOpFlops(plan, layer, dims);
  const backward: Step[] = [];
  // reshard_after_forward = false: the forward's gathered weights are still there (FSDP2).
  if (zero3 && plan.reshardAfterForward) backward.push(...gathers(W('*'), gathered, 'all-gather'));
  if (plan.recompute === 'full') backward.push(...forwardSteps(plan, layer, dims, 'recompute', { sp, elem: e }));
  if (plan.recompute === 'selective_op') backward.push(...selectiveOpSteps(plan, layer, dims.T, act));
  const cp = contextSteps(plan, layer);
  if (plan.recompute === 'selective')
    backward.push(...cp.before, compute('attention', 'recompute', ['q', 'k', 'v'], ['attn'], f.attention), ...cp.after);
  const collective = (op: 'all-reduce' | 'reduce-scatter' | 'all-gather', tensor: string) => {
    if (t > 1) backward.push({ op, axis: 'tensor', tensor, bytes: hiddenBytes });
  };
  // Each matmul's backward = input gradient + weight gradient, each as costly as its forward
  // (LoRA: the frozen base's input gradient only, the adapters' both: matmulBackward).
  const postNorm = (name: string) => {
    if ((plan.model.normsPerLayer ?? 2) === 4)
      backward.push(compute('norm', 'backward', ['grad.y', act], ['grad.y', `grad.${W(`${name}.weight`)}`], f.norm));
  };
  postNorm('mlp_post_norm');
  if (layer.mlp.kind === 'moe') backward.push(...moeBackward(plan, layer.mlp, dims, f, act, sp, e));
  else {
    if (sp) collective('all-gather', 'grad.y');
    backward.push(
      compute(
        'mlp-down',
        'backward',
        ['grad.y', W('mlp.down.weight'), act],
        ['grad.up', `grad.${W('mlp.down.weight')}`],
        matmulBackward(plan, f.mlpDown, f.lora.mlpDown),
      ),
    );
    backward.push(compute('mlp-act', 'backward', ['grad.up', act], ['grad.up'], f.act));
    backward.push(
      compute(
        'mlp-up',
        'backward',
        ['grad.up', act],
        ['grad.x', `grad.${W('mlp.up.weight')}`],
        matmulBackward(plan, f.mlpUp, f.lora.mlpUp),
      ),
    );
    collective(sp ? 'reduce-scatter' : 'all-reduce', 'grad.x');
  }
  backward.push(compute('norm', 'backward', ['grad.x', act], ['grad.hidden', `grad.${W('mlp_norm.weight')}`], f.norm));
  if (sp) collective('all-gather', 'grad.hidden');
  postNorm('attn_post_norm');
  backward.push(
    compute(
      'out-proj',
      'backward',
      ['grad.hidden', W('attn.o.weight'), act],
      ['grad.attn', `grad.${W('attn.o.weight')}`],
      matmulBackward(plan, f.outProj, f.lora.outProj),
    ),
  );
  backward.push(...cp.backwardBefore);
  backward.push(compute('attention', 'backward', ['grad.attn', act], ['grad.q', 'grad.k', 'grad.v'], 2 * f.attention));
  backward.push(...cp.backwardAfter);
  backward.push(
    compute(
      'qkv',
      'backward',
      ['grad.q', 'grad.k', 'grad.v', act],
      ['grad.x', `grad.${qkvWeights(plan, layer)[0]!}`],
      matmulBackward(plan, f.qkv, f.lora.qkv),
    ),
  );
  collective(sp ? 'reduce-scatter' : 'all-reduce', 'grad.x');
  backward.push(compute('norm', 'backward', ['grad.x', act], ['grad.hidden', `grad.${W('attn_norm.weight')}`], f.norm, { free: [act] }));
  if (zero3) backward.push(...gathers(`grad.${W('*')}`, (n) => n * bytesPerElement(plan.gradDtype), 'reduce-scatter'));
  const transients = [...(plan.recompute !== 'none' ? [RECOMPUTE] : []), ...(plan.mesh.context > 1 ? [CONTEXT_EXCHANGE] : [])];
  if (transients.length > 0) holdDuringBackward(backward, act, transients);
  return { forward, backward };
}

/** The graph's names of a recomputed linear of torchtitan's op-SAC: its kind, the weight it reads and what it writes. */
const OP_SAC_STEPS: Record<string, { kind: 'qkv' | 'out-proj' | 'mlp-up' | 'mlp-down'; weight: string; writes: string[] }> = {
  q_proj: { kind: 'qkv', weight: 'attn.q.weight', writes: ['q'] },
  k_proj: { kind: 'qkv', weight: 'attn.k.weight', writes: ['k'] },
  v_proj: { kind: 'qkv', weight: 'attn.v.weight', writes: ['v'] },
  c_attn: { kind: 'qkv', weight: 'attn.q.weight', writes: ['q', 'k', 'v'] },
  o_proj: { kind: 'out-proj', weight: 'attn.o.weight', writes: ['y'] },
  gate_proj: { kind: 'mlp-up', weight: 'mlp.gate.weight', writes: ['gate'] },
  up_proj: { kind: 'mlp-up', weight: 'mlp.up.weight', writes: ['up'] },
  fc: { kind: 'mlp-up', weight: 'mlp.up.weight', writes: ['up'] },
  down_proj: { kind: 'mlp-down', weight: 'mlp.down.weight', writes: ['y'] },
};

/**
 * recompute = selective_op: the matmuls torchtitan's per-op policy does not save, run again at the start of the
 * layer's backward (memory/recipes.ts selectiveOpRecomputed; the cost model's `recompute` FLOPs), 2·in·out per token.
 */
function selectiveOpSteps(plan: TrainPlan, layer: LayerSpec, T: number, act: string): Step[] {
  const facts = plan.derived.layers.find((f) => sameLayer(f.layer, layer));
  if (!facts) return [];
  return selectiveOpRecomputed(plan, facts).map((m) => {
    const s = OP_SAC_STEPS[m.name];
    if (!s) throw new Error(`internal error: no graph step for the recomputed matmul '${m.name}' (this is a bug in parplan)`);
    return compute(s.kind, 'recompute', [act, W(s.weight)], s.writes, 2 * m.in * m.out * T);
  });
}

/** The recompute workspace (src/memory/activations.ts recomputeWorkspaceBytes): what a layer's backward rebuilds. */
export const RECOMPUTE = 'recompute.{l}.mb{m}';
/** Context parallelism's attention exchange buffers of one layer (src/memory/activations.ts contextAttentionTransient). */
export const CONTEXT_EXCHANGE = 'cp-exchange.{l}.mb{m}';

/** One layer's backward transients, live from its first compute step to its last (where its activations are freed). */
function holdDuringBackward(backward: Step[], act: string, names: string[]): void {
  const first = backward.findIndex((s) => s.op === 'compute');
  const last = backward.findLastIndex((s) => s.op === 'compute' && (s.free ?? []).includes(act));
  if (first < 0 || last < 0) return;
  const a = backward[first] as Extract<Step, { op: 'compute' }>;
  backward[first] = { ...a, alloc: [...(a.alloc ?? []), ...names] };
  const z = backward[last] as Extract<Step, { op: 'compute' }>;
  backward[last] = { ...z, free: [...(z.free ?? []), ...names] };
}

/** Serving: `layer.prefill` (fills the KV cache) and `layer.decode` (one token per sequence), per layer structure. */
export function serveBlocks(plan: CheckedPlan & { mode: 'serve' }, prefillScratch: string): Record<string, Step[]> {
  const e = Math.max(2, bytesPerElement(plan.model.dtype));
  const T = plan.batch.maxPrefillTokens;
  const B = plan.batch.maxBatch;
  // Prompts of seq tokens, prefilled causally. A decode step is timed as the cost model's TPOT:
  // each token attends to the average context, seq × AVERAGE_CONTEXT_FRACTION (src/cost/serve.ts).
  const context = plan.batch.seq * AVERAGE_CONTEXT_FRACTION;
  const prefill = prefillDims(T, plan.batch.seq);
  const decode = decodeDims(B, context);
  const out: Record<string, Step[]> = {};
  for (const b of layerBlocks(plan)) {
    const facts = plan.derived.layers.find((f) => sameLayer(f.layer, b.layer))!;
    out[blockName('prefill', b.suffix)] = forwardSteps(plan, b.layer, prefill, 'forward', {
      sp: false,
      elem: e,
      kv: 'write',
      alloc: [prefillScratch],
      free: [prefillScratch],
      bytes: layerStepBytes(plan, facts, Infinity),
    });
    out[blockName('decode', b.suffix)] = forwardSteps(plan, b.layer, decode, 'forward', {
      sp: false,
      elem: e,
      kv: 'read',
      bytes: layerStepBytes(plan, facts, B, { batch: B, context }),
    });
  }
  return out;
}

/**
 * A collective over the ZeRO group, data × context (src/memory/zero.ts zeroDegree), as steps
 * along the two axes: with context = 1 the one data collective; otherwise over context on the whole
 * tensor and over data on its 1/c (reduce-scatter: context first, then data; all-gather: the
 * reverse; all-reduce: reduce-scatter over context, all-reduce over data, all-gather over
 * context). Each rank sends (1 − 1/(dc)) × bytes, as a flat ring over d·c ranks would
 * (2× for an all-reduce), the context part on the context group's link. `bytes`: the whole tensor.
 */
/** The collectives among `steps` issued on the communication stream (Step `overlap`). */
function overlapped(steps: Step[]): Step[] {
  return steps.map((s) => (isCollective(s) ? { ...s, overlap: true } : s));
}

export function overZeroGroup(
  plan: CheckedPlan,
  op: 'all-reduce' | 'reduce-scatter' | 'all-gather',
  tensor: string,
  bytes: number,
): Step[] {
  const d = plan.mesh.data;
  const c = plan.mesh.context;
  const hsdp = hsdpShardGroup(plan);
  if (hsdp !== undefined) return overHsdpGroups(op, tensor, bytes, hsdp);
  const data = (o: typeof op, b: number): Step[] => (d > 1 ? [{ op: o, axis: 'data', tensor, bytes: Math.ceil(b) }] : []);
  const context = (o: typeof op): Step[] => (c > 1 ? [{ op: o, axis: 'context', tensor, bytes }] : []);
  switch (op) {
    case 'reduce-scatter':
      return [...context('reduce-scatter'), ...data('reduce-scatter', bytes / c)];
    case 'all-gather':
      return [...data('all-gather', bytes / c), ...context('all-gather')];
    case 'all-reduce':
      return [...context('reduce-scatter'), ...data('all-reduce', bytes / c), ...context('all-gather')];
  }
}

/**
 * HSDP (shard_group S < data; the checker refuses it with context > 1, PP3051): ZeRO's collectives
 * run within the shard group, and a gradient reduce-scatter is followed by the all-reduce of its
 * 1/S shard over the replicate group (FSDP2's HSDP: torch/distributed/fsdp/_fully_shard/
 * _fsdp_collectives.py `foreach_reduce` reduce-scatters over the shard mesh dimension, then
 * all-reduces over the replicate one). An all-reduce (no ZeRO partition kept) is the three.
 * The cost model prices the same (src/cost/train.ts `hsdpTraffic`), each on its own group's link.
 */
function overHsdpGroups(op: 'all-reduce' | 'reduce-scatter' | 'all-gather', tensor: string, bytes: number, S: number): Step[] {
  const shard = (o: 'reduce-scatter' | 'all-gather'): Step[] =>
    S > 1 ? [{ op: o, axis: 'data_shard', tensor, bytes: Math.ceil(bytes) }] : [];
  const replicate: Step = { op: 'all-reduce', axis: 'data_replicate', tensor, bytes: Math.ceil(bytes / S) };
  switch (op) {
    case 'reduce-scatter':
      return [...shard('reduce-scatter'), replicate];
    case 'all-gather':
      return shard('all-gather');
    case 'all-reduce':
      return [...shard('reduce-scatter'), replicate, ...shard('all-gather')];
  }
}

/**
 * Context parallelism's exchanges around one layer's attention (training, context > 1; bytes from
 * src/cost/context.ts, which the cost model charges too). p2p and all_gather: the other ranks' K,V
 * gathered before attention (TransformerEngine's ring of c − 1 send/recv steps moves what a ring
 * all-gather moves), gathered again before its backward and dK,dV reduce-scattered after it. a2a:
 * q, k, v all-to-all before attention and its output after, the gradients' in backward.
 */
function contextSteps(
  plan: CheckedPlan,
  layer: LayerSpec,
): { before: Step[]; after: Step[]; backwardBefore: Step[]; backwardAfter: Step[] } {
  const none = { before: [], after: [], backwardBefore: [], backwardAfter: [] };
  if (plan.mode !== 'train' || plan.mesh.context === 1) return none;
  const facts = plan.derived.layers.find((f) => sameLayer(f.layer, layer));
  if (!facts) throw new Error(`lowering: layer structure '${describeLayer(layer)}' has no per-rank facts`);
  const x = contextAttentionBytes(plan, facts);
  if (plan.contextComm === 'a2a')
    return {
      before: [{ op: 'all-to-all', axis: 'context', tensor: 'qkv', bytes: x.qkv }],
      after: [{ op: 'all-to-all', axis: 'context', tensor: 'attn', bytes: x.out }],
      backwardBefore: [{ op: 'all-to-all', axis: 'context', tensor: 'grad.attn', bytes: x.out }],
      backwardAfter: [{ op: 'all-to-all', axis: 'context', tensor: 'grad.qkv', bytes: x.qkv }],
    };
  return {
    before: [{ op: 'all-gather', axis: 'context', tensor: 'kv', bytes: x.kv }],
    after: [],
    backwardBefore: [{ op: 'all-gather', axis: 'context', tensor: 'kv', bytes: x.kv }],
    backwardAfter: [{ op: 'reduce-scatter', axis: 'context', tensor: 'grad.kv', bytes: x.kv }],
  };
}
