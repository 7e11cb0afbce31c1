/**
 * Parameter counting: the whole model exactly as Hugging Face counts it
 * (`sum(p.numel() for p in model.parameters())`: unpadded vocabulary, tied weights once),
 * and the parameters one device holds under Megatron's tensor and pipeline sharding.
 */
import { layerAt, layerRuns, shardLayer, sumLayers, type LayerSpec, type Model } from '../model.js';
import type { CheckedPlan, Stage } from '../plan.js';

/** Parameters of one normalization layer: rmsnorm has a weight (h), layernorm a weight and a bias (2h). */
export function normParams(model: Model): number {
  return model.norm === 'layernorm' ? 2 * model.hidden : model.hidden;
}

/** The parameters of one transformer layer, by module (weight + bias of each module). */
export interface LayerParams {
  q: number;
  k: number;
  v: number;
  o: number;
  /** MLP up projection (gelu's only input projection). */
  up: number;
  /** MLP gate projection (swiglu only; 0 for gelu). */
  gate: number;
  down: number;
  /** Both norms of the layer (before attention and before the MLP). */
  norms: number;
  total: number;
  /** The largest single module (a linear layer with its bias), for ZeRO-3's gather buffer. */
  largestModule: number;
}

/**
 * The parameters of `layer` (a layer of `model`, from `layerAt`). With a whole layer this is the
 * model's layer; with `shardLayer(layer, t)` it is one tensor rank's shard: column-parallel
 * q/k/v/up/gate shard their weights and biases, row-parallel o/down shard their weights but
 * keep their (h-wide) biases whole, and the norms are replicated.
 */
export function layerParams(model: Model, layer: LayerSpec): LayerParams {
  const h = model.hidden;
  const { heads, kvHeads, headDim: d } = layer.attention;
  const { ffn, activation } = layer.mlp;
  const bias = model.bias ? 1 : 0;
  const q = h * heads * d + bias * heads * d;
  const k = h * kvHeads * d + bias * kvHeads * d;
  const v = k;
  const o = heads * d * h + bias * h;
  const up = h * ffn + bias * ffn;
  const gate = activation === 'swiglu' ? up : 0;
  const down = ffn * h + bias * h;
  const norms = 2 * normParams(model);
  return {
    q,
    k,
    v,
    o,
    up,
    gate,
    down,
    norms,
    total: q + k + v + o + up + gate + down + norms,
    largestModule: Math.max(q, k, o, up, down, normParams(model)),
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
 * Parameters on one device (stage, tensor rank), Megatron sharding: see `layerParams` for the
 * layers; the embedding and output layer are vocab-parallel (`derived.vocabPadded / tensor`
 * rows each); the learned position table and the final norm are replicated. With tied
 * embeddings and pipeline > 1 the last stage keeps its own copy of its embedding shard as the
 * output layer (Megatron's `shared_embedding`); with one stage the matrix is counted once.
 * Every tensor rank holds the same number (all splits are even once the checker has run).
 */
export function deviceParams(plan: CheckedPlan, stage: Stage, _tensorRank = 0): DeviceParams {
  const { model, derived } = plan;
  const h = model.hidden;
  const t = plan.mesh.tensor;
  // An interleaved rank's chunks are not this range, but it holds as many layers; alike for today's uniform models.
  // (Every layer alike: one run, without the arrays; the memory and cost models call this per stage many times.)
  const uniform = !model.overrides || model.overrides.length === 0;
  const layer = layerParams(model, shardLayer(uniform ? model.layer : layerAt(model, stage.firstLayer), t));
  const runs = uniform
    ? [{ n: stage.layers, p: layer }]
    : layerRuns(model, stage.firstLayer, stage.firstLayer + stage.layers - 1).map((r) => ({
        n: r.last - r.first + 1,
        p: layerParams(model, shardLayer(r.layer, t)),
      }));
  const vocabRows = derived.vocabPadded / plan.mesh.tensor;
  const embedding = stage.hasEmbedding ? vocabRows * h : 0;
  const positions = stage.hasEmbedding && model.positions === 'learned' ? model.maxSeq * h : 0;
  const finalNorm = stage.hasOutput ? normParams(model) : 0;
  const output = stage.hasOutput && (!model.tiedEmbeddings || !stage.hasEmbedding) ? vocabRows * h : 0;
  const layers = runs.reduce((sum, r) => sum + r.n * r.p.total, 0);
  return {
    layers,
    layer,
    embedding,
    positions,
    finalNorm,
    output,
    total: layers + embedding + positions + finalNorm + output,
    largestModule: Math.max(
      stage.layers > 0 ? Math.max(...runs.map((r) => r.p.largestModule)) : 0,
      embedding,
      positions,
      finalNorm,
      output,
    ),
  };
}

/** The number of parameters on one device; `stage` is a Stage or its index. */
export function paramsOnDevice(plan: CheckedPlan, stage: Stage | number, tensorRank = 0): number {
  const s = typeof stage === 'number' ? plan.stages[stage] : stage;
  if (s === undefined) throw new RangeError(`no stage ${String(stage)} in plan '${plan.name}'`);
  return deviceParams(plan, s, tensorRank).total;
}
