/**
 * Parameter counting: the whole model exactly as Hugging Face counts it
 * (`sum(p.numel() for p in model.parameters())`: unpadded vocabulary, tied weights once),
 * and the parameters one device holds under Megatron's tensor and pipeline sharding.
 */
import { gatedMlp, layerAt, layerRuns, qkHeadDim, shardLayer, sumLayers, type LayerSpec, type Model } from '../model.js';
import type { CheckedPlan, LayerRankFacts, Stage } from '../plan.js';

/** Parameters of one normalization layer: rmsnorm has a weight (h), layernorm a weight and a bias (2h). */
export function normParams(model: Model): number {
  return model.norm === 'layernorm' ? 2 * model.hidden : model.hidden;
}

/** The parameters of one transformer layer, by module (weight + bias of each module). */
export interface LayerParams {
  /** Query projection; MLA: q_a_proj, q_a_layernorm and q_b_proj (or the one q_proj without a q rank). */
  q: number;
  /** Key projection; MLA: the shared down-projection kv_a_proj_with_mqa and kv_a_layernorm. */
  k: number;
  /** Value projection; MLA: kv_b_proj, the up-projection of keys and values. */
  v: number;
  o: number;
  /** Per-head attention sinks (gpt-oss), q/k norms (Qwen3, Gemma-3): attention parameters outside the projections. */
  attnExtra: number;
  /** MLP up projection (gelu's only input projection); MoE: one routed expert's. */
  up: number;
  /** MLP gate projection (gated activations only, else 0); MoE: one routed expert's. */
  gate: number;
  /** MLP down projection; MoE: one routed expert's. */
  down: number;
  /** MoE: every routed expert (experts × (up + gate + down)); 0 for a dense MLP. */
  routed: number;
  /** MoE: the shared experts and their gate; 0 for a dense MLP. */
  shared: number;
  /** MoE: the router (experts × hidden, plus its bias); 0 for a dense MLP. */
  router: number;
  /** The layer's norms (2 or 4 of them). */
  norms: number;
  total: number;
  /** What one token computes with: the attention, the norms, the router, topK routed experts and the shared ones. */
  active: number;
  /** The largest single module (a linear layer with its bias), for ZeRO-3's gather buffer. */
  largestModule: number;
}

/**
 * The parameters of `layer` (a layer of `model`, from `layerAt`). With a whole layer this is the
 * model's layer; with `shardLayer(layer, t)` it is one tensor rank's shard: column-parallel
 * q/k/v/up/gate shard their weights and biases, row-parallel o/down shard their weights but
 * keep their (h-wide) biases whole, and the norms are replicated. Module shapes follow the
 * Hugging Face modeling code of each family (see docs/memory.md).
 */
export function layerParams(model: Model, layer: LayerSpec): LayerParams {
  const h = model.hidden;
  const a = layer.attention;
  const bias = model.bias ? 1 : 0;
  const qkvBias = model.bias || model.qkvBias === true ? 1 : 0;
  let q: number, k: number, v: number, o: number;
  if (a.kind === 'gqa') {
    const d = a.headDim;
    q = h * a.heads * d + qkvBias * a.heads * d;
    k = h * a.kvHeads * d + qkvBias * a.kvHeads * d;
    v = k;
    o = a.heads * d * h + bias * h;
  } else {
    const qk = a.qkNopeHeadDim + a.qkRopeHeadDim;
    // DeepSeek-V2/V3 (transformers' DeepseekV3Attention): RMSNorms on both latents, no biases.
    q = a.qLoraRank > 0 ? h * a.qLoraRank + a.qLoraRank + a.qLoraRank * a.heads * qk : h * a.heads * qk;
    k = h * (a.kvLoraRank + a.qkRopeHeadDim) + a.kvLoraRank;
    v = a.kvLoraRank * a.heads * (a.qkNopeHeadDim + a.vHeadDim);
    o = a.heads * a.vHeadDim * h;
  }
  const attnExtra = (a.kind === 'gqa' && a.sinks ? a.heads : 0) + (model.qkNorm ? 2 * qkHeadDim(a) : 0);
  const m = layer.mlp;
  // One MLP of intermediate width w: up (and gate) h → w, down w → h, each with its bias.
  const mlpOf = (w: number) => {
    const up = h * w + bias * w;
    return { up, gate: gatedMlp(m.activation) ? up : 0, down: w * h + bias * h };
  };
  const { up, gate, down } = mlpOf(m.kind === 'dense' ? m.ffn : m.expertFfn);
  let routed = 0;
  let shared = 0;
  let router = 0;
  let active = 0;
  if (m.kind === 'moe') {
    const expert = up + gate + down;
    routed = m.experts * expert;
    const s = mlpOf(m.sharedFfn);
    shared = m.sharedExperts * (s.up + s.gate + s.down) + (m.sharedGate ? h : 0);
    router = m.experts * h + (m.routerBias ? m.experts : 0);
    active = m.topK * expert;
  }
  const norms = (model.normsPerLayer ?? 2) * normParams(model);
  const mlp = m.kind === 'dense' ? up + gate + down : routed + shared + router;
  const attention = q + k + v + o + attnExtra;
  return {
    q,
    k,
    v,
    o,
    attnExtra,
    up,
    gate,
    down,
    routed,
    shared,
    router,
    norms,
    total: attention + mlp + norms,
    active: attention + norms + (m.kind === 'dense' ? mlp : active + shared + router),
    largestModule: Math.max(q, k, v, o, up, down, router, normParams(model)),
  };
}

/** Total parameters, exactly as Hugging Face counts them (unpadded vocab; tied embeddings once), summed layer by layer. */
export function countParams(model: Model): number {
  const h = model.hidden;
  const layers = sumLayers(model, (l) => layerParams(model, l).total);
  const embedding = model.vocab * h;
  const positions = model.positions === 'learned' ? model.maxSeq * h : 0;
  const output = model.tiedEmbeddings ? 0 : model.vocab * h;
  return layers + embedding + positions + normParams(model) + output;
}

/** The parameters one device holds, by part. */
export interface DeviceParams {
  /** Transformer layers on the stage, summed layer by layer. */
  layers: number;
  /** The shard of the stage's first layer on this tensor rank (every layer's, when the model's layers are alike). */
  layer: LayerParams;
  /** Routed-expert parameters on this rank (part of `layers`): experts / expert × one expert's expert_tensor shard. */
  routed: number;
  /** Token-embedding shard (vocabPadded / tensor rows), first stage only. */
  embedding: number;
  /** Learned position table (replicated over tensor ranks), first stage only. */
  positions: number;
  /** Final norm (replicated), last stage only. */
  finalNorm: number;
  /** Output-layer shard (vocabPadded / tensor rows), last stage only; a tied copy when pipeline > 1. */
  output: number;
  /** Everything above: the parameters whose weights this device holds. */
  total: number;
  /** The largest single module on the device (ZeRO-3 gathers one module at a time). */
  largestModule: number;
}

/**
 * One rank's parameters of a layer: `layerParams` of its tensor shard, except that a MoE layer's
 * routed experts follow the expert grid (plan.experts): experts / expert of them, each split over
 * expert_tensor (Megatron-Core's expert tensor × expert parallelism); the router stays whole.
 */
export function rankLayerParams(plan: CheckedPlan, layer: LayerSpec): LayerParams {
  // Asked per stage and per decode step: counted once per plan and kind of layer.
  let layers = rankParamsCache.get(plan);
  if (!layers) rankParamsCache.set(plan, (layers = new Map()));
  let p = layers.get(layer);
  if (!p) layers.set(layer, (p = countRankLayerParams(plan, layer)));
  return p;
}

const rankParamsCache = new WeakMap<CheckedPlan, Map<LayerSpec, LayerParams>>();

function countRankLayerParams(plan: CheckedPlan, layer: LayerSpec): LayerParams {
  const p = layerParams(plan.model, shardLayer(layer, plan.mesh.tensor));
  const m = layer.mlp;
  if (m.kind === 'dense') return p;
  const e = expertShard(plan, layer);
  const routed = (m.experts / plan.experts.expert) * (e.up + e.gate + e.down);
  // The largest module: attention, router or norm of the tensor shard, or one projection of an expert shard.
  const largestModule = Math.max(p.q, p.k, p.v, p.o, p.router, normParams(plan.model), e.up, e.down);
  return { ...p, routed, total: p.total - p.routed + routed, largestModule };
}

/** One routed expert's expert_tensor shard: its up, gate and down projections with their biases. */
function expertShard(plan: CheckedPlan, layer: LayerSpec): LayerParams {
  const m = layer.mlp;
  if (m.kind !== 'moe') throw new Error('expertShard needs a MoE layer');
  return layerParams(plan.model, { attention: layer.attention, mlp: { ...m, expertFfn: m.expertFfn / plan.experts.tensor } });
}

/**
 * Parameters on one device (stage, tensor rank), Megatron sharding: see `rankLayerParams` for the
 * layers; the embedding and output layer are vocab-parallel (`derived.vocabPadded / tensor`
 * rows each); the learned position table and the final norm are replicated. With tied
 * embeddings and pipeline > 1 the last stage keeps its own copy of its embedding shard as the
 * output layer (Megatron's `shared_embedding`); with one stage the matrix is counted once.
 * Every tensor rank holds the same number (all splits are even once the checker has run).
 */
export function deviceParams(plan: CheckedPlan, stage: Stage, _tensorRank = 0): DeviceParams {
  const { model, derived } = plan;
  const h = model.hidden;
  // An interleaved rank's chunks are not this range, but it holds as many layers; alike for today's uniform models.
  // (Every layer alike: one run; the memory and cost models call this per stage many times.)
  const uniform = !model.overrides || model.overrides.length === 0;
  const layer = rankLayerParams(plan, uniform ? model.layer : layerAt(model, stage.firstLayer));
  // The stage's layers, run by run of alike layers: parameters, routed-expert parameters, largest module.
  let layers = 0;
  let routed = 0;
  let largestLayerModule = 0;
  if (uniform) {
    layers = stage.layers * layer.total;
    routed = stage.layers * layer.routed;
    largestLayerModule = stage.layers > 0 ? layer.largestModule : 0;
  } else {
    for (const r of layerRuns(model, stage.firstLayer, stage.firstLayer + stage.layers - 1)) {
      const n = r.last - r.first + 1;
      const p = rankLayerParams(plan, r.layer);
      layers += n * p.total;
      routed += n * p.routed;
      largestLayerModule = Math.max(largestLayerModule, p.largestModule);
    }
  }
  const vocabRows = derived.vocabPadded / plan.mesh.tensor;
  const embedding = stage.hasEmbedding ? vocabRows * h : 0;
  const positions = stage.hasEmbedding && model.positions === 'learned' ? model.maxSeq * h : 0;
  const finalNorm = stage.hasOutput ? normParams(model) : 0;
  const output = stage.hasOutput && (!model.tiedEmbeddings || !stage.hasEmbedding) ? vocabRows * h : 0;
  return {
    layers,
    layer,
    routed,
    embedding,
    positions,
    finalNorm,
    output,
    total: layers + embedding + positions + finalNorm + output,
    largestModule: Math.max(largestLayerModule, embedding, positions, finalNorm, output),
  };
}

/** The stage's layers as runs of alike layers: (layer count, per-rank facts), in layer order. */
export function stageRuns(plan: CheckedPlan, stage: Stage): { n: number; f: LayerRankFacts }[] {
  const last = stage.firstLayer + stage.layers - 1;
  const out: { n: number; f: LayerRankFacts }[] = [];
  for (const f of plan.derived.layers) {
    const n = Math.min(f.last, last) - Math.max(f.first, stage.firstLayer) + 1;
    if (n > 0) out.push({ n, f });
  }
  return out;
}

/** The number of parameters on one device; `stage` is a Stage or its index. */
export function paramsOnDevice(plan: CheckedPlan, stage: Stage | number, tensorRank = 0): number {
  const s = typeof stage === 'number' ? plan.stages[stage] : stage;
  if (s === undefined) throw new RangeError(`no stage ${String(stage)} in plan '${plan.name}'`);
  return deviceParams(plan, s, tensorRank).total;
}
