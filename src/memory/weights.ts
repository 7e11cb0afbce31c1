/**
 * Weights: the parameters a device holds, in the training precision (sharded over the data
 * replicas under ZeRO-3; routed experts over the expert data replicas) or in the served
 * model's dtype (int4 packs two per byte). A model with `quantization` stores its linear
 * layers quantized with their scales (and zeros), everything else in dtype (see docs/memory.md):
 *   awq:   qweight in·out/2 + int4 zeros ⌈in/G⌉·out/2 + fp16 scales ⌈in/G⌉·out·2 (vLLM awq.py)
 *   gptq:  as awq, plus g_idx in·4 (vLLM gptq.py)
 *   fp8:   e4m3 in·out + fp32 scales: ⌈out/G⌉·⌈in/G⌉ blocks (weight_block_size G), or 1 per tensor (G = 0)
 *   mxfp4: routed experts only: 4-bit in·out/2 + one 8-bit scale per G = 32 inputs, ⌈in/G⌉·out
 *          (gpt-oss: modules_to_not_convert keeps attention, router, embeddings and lm_head in dtype)
 * Embeddings, norms, biases, the router and (unless quant_lm_head) the output layer stay in dtype.
 */
import { DTYPES, bytesPerElement, dtypeBytes } from '../facts/dtypes.js';
import { layerLinears, layerRuns, shardLayer, type Linear, type LayerSpec, type Model, type Quantization } from '../model.js';
import type { CheckedPlan, Stage, TrainPlan } from '../plan.js';
import { adapterParams } from './adapter.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';
import { countParams, layerParams, rankLayerParams, type DeviceParams } from './params.js';
import { offloadedWeights } from './offload.js';
import { shardOver, zeroDegree, zeroShard } from './zero.js';

export { shardOver, zeroDegree, zeroShard } from './zero.js';

/** Whether `quant` stores this linear quantized (mxfp4: routed experts only; the others: every linear). */
export function quantizes(quant: Quantization, l: Pick<Linear, 'part'>): boolean {
  return quant.method !== 'mxfp4' || l.part === 'routed';
}

/**
 * bitsandbytes' quantize_4bit (functional.py, bitsandbytes 95f9af30): n elements packed two per
 * byte, one fp32 absmax per block of `block` consecutive elements of the flattened weight; with
 * double quantization (compress_statistics) the absmax values are quantized again by
 * quantize_blockwise in blocks of 256: one uint8 each plus one fp32 absmax per 256 (the 256-entry
 * code it uses is one shared table, the 16-entry NF4 code 64 B per weight: left out).
 * At block 64: 0.5 + 4/64 = 0.5625 B per weight; double: 0.5 + 1/64 + 4/16384 = 0.5159 B.
 */
export function nf4Bytes(n: number, block: number, double: boolean): number {
  const blocks = Math.ceil(n / block);
  return Math.ceil(n / 2) + (double ? blocks + 4 * Math.ceil(blocks / 256) : 4 * blocks);
}

/** Stored bytes of one in → out weight under `quant` (scales and zeros included). */
export function quantLinearBytes(quant: Quantization, inF: number, outF: number): number {
  const G = quant.groupSize;
  const groups = G > 0 ? Math.ceil(inF / G) : 1;
  switch (quant.method) {
    case 'awq':
      // qweight [in, out/8] int32, qzeros [in/G, out/8] int32, scales [in/G, out] fp16.
      return inF * Math.ceil(outF / 8) * 4 + groups * Math.ceil(outF / 8) * 4 + groups * outF * 2;
    case 'gptq':
      // qweight [in/8, out] int32, qzeros [in/G, out/8] int32, scales [in/G, out] fp16, g_idx [in] int32.
      return Math.ceil(inF / 8) * outF * 4 + groups * Math.ceil(outF / 8) * 4 + groups * outF * 2 + inF * 4;
    case 'fp8':
      return inF * outF + 4 * (G > 0 ? Math.ceil(outF / G) * Math.ceil(inF / G) : 1);
    case 'mxfp4':
      return Math.ceil((inF * outF) / 2) + groups * outF;
    case 'nf4':
      return nf4Bytes(inF * outF, G, quant.double === true);
  }
}

/** Bytes of a set of linears and params in total: the quantized linears at their stored size, the rest in `dtype`. */
function storedBytes(model: Model, linears: readonly Linear[], params: number): { bytes: number; quantized: number; quantBytes: number } {
  const quant = model.quant;
  let quantized = 0;
  let quantBytes = 0;
  if (quant)
    for (const l of linears)
      if (quantizes(quant, l)) {
        quantized += l.count * l.in * l.out;
        quantBytes += l.count * quantLinearBytes(quant, l.in, l.out);
      }
  return { bytes: quantBytes + dtypeBytes(params - quantized, model.dtype), quantized, quantBytes };
}

/** The output layer (hidden → rows) as a linear, quantized only with quant_lm_head. */
function outputLinear(model: Model, rows: number): Linear[] {
  return model.quant?.lmHead && rows > 0 ? [{ name: 'lm_head', in: model.hidden, out: rows, count: 1, part: 'mlp' }] : [];
}

/** Bytes of one layer as stored (whole model, unsharded). */
export function layerWeightBytes(model: Model, layer: LayerSpec): number {
  return storedBytes(model, layerLinears(model, layer), layerParams(model, layer).total).bytes;
}

/** The whole model's weight bytes as stored (a checkpoint's tensors: unpadded vocabulary, tied weights once). */
export function modelWeightBytes(model: Model): number {
  let bytes = 0;
  for (const r of layerRuns(model)) bytes += (r.last - r.first + 1) * layerWeightBytes(model, r.layer);
  const output = model.tiedEmbeddings ? 0 : model.vocab * model.hidden;
  const layers = layerRuns(model).reduce((s, r) => s + (r.last - r.first + 1) * layerParams(model, r.layer).total, 0);
  const rest = countParams(model) - layers - output;
  return bytes + dtypeBytes(rest, model.dtype) + (output > 0 ? storedBytes(model, outputLinear(model, model.vocab), output).bytes : 0);
}

/** The linears one rank holds of `layer`: its tensor shard, the routed experts per the expert grid. */
export function rankLinears(plan: CheckedPlan, layer: LayerSpec): Linear[] {
  const m = layer.mlp;
  const shard = layerLinears(plan.model, shardLayer(layer, plan.mesh.tensor)).filter((l) => l.part !== 'routed');
  if (m.kind === 'dense') return shard;
  const expert = { attention: layer.attention, mlp: { ...m, expertFfn: m.expertFfn / plan.experts.tensor } };
  const routed = layerLinears(plan.model, expert, m.experts / plan.experts.expert).filter((l) => l.part === 'routed');
  return [...shard, ...routed];
}

/**
 * One rank's stored bytes of `layer` (its tensor shard, routed experts per the expert grid) and
 * of its routed experts alone, with the routed experts it holds: what a decode step reads of it.
 */
export function rankLayerBytes(plan: CheckedPlan, layer: LayerSpec): { bytes: number; routedBytes: number; experts: number } {
  const p = rankLayerParams(plan, layer);
  const m = layer.mlp;
  const experts = m.kind === 'moe' ? m.experts / plan.experts.expert : 0;
  // Without quantization every parameter is in dtype: no shapes needed.
  if (!plan.model.quant)
    return { bytes: dtypeBytes(p.total, plan.model.dtype), routedBytes: dtypeBytes(p.routed, plan.model.dtype), experts };
  const linears = rankLinears(plan, layer);
  const bytes = storedBytes(plan.model, linears, p.total).bytes;
  if (m.kind === 'dense') return { bytes, routedBytes: 0, experts: 0 };
  const routedBytes = storedBytes(
    plan.model,
    linears.filter((l) => l.part === 'routed'),
    p.routed,
  ).bytes;
  return { bytes, routedBytes, experts };
}

/** Stored bytes of the output layer on one tensor rank of `stage` (quantized only with quant_lm_head). */
export function outputWeightBytes(plan: CheckedPlan, stage: Stage): number {
  if (!stage.hasOutput) return 0;
  const rows = plan.derived.vocabPadded / plan.mesh.tensor;
  return storedBytes(plan.model, outputLinear(plan.model, rows), rows * plan.model.hidden).bytes;
}

/** Serving weight bytes of one device of `stage`, quantized linears at their stored size. */
export function deviceWeightBytes(
  plan: CheckedPlan,
  stage: Stage,
  p: DeviceParams,
): { bytes: number; quantized: number; quantBytes: number } {
  const { model } = plan;
  const linears: Linear[] = [];
  const last = stage.firstLayer + stage.layers - 1;
  if (model.quant && stage.layers > 0)
    for (const r of layerRuns(model, stage.firstLayer, last)) {
      const n = r.last - r.first + 1;
      for (const l of rankLinears(plan, r.layer)) linears.push({ ...l, count: l.count * n });
    }
  if (p.output > 0) linears.push(...outputLinear(model, plan.derived.vocabPadded / plan.mesh.tensor));
  return storedBytes(model, linears, p.total);
}

/** How a quantization method stores its weights, in words (the weights formula). */
function quantText(q: Quantization): string {
  if (q.method === 'mxfp4') return `mxfp4: 4-bit + 1 B scale per ${q.groupSize}`;
  if (q.method === 'nf4') return `nf4: 4-bit + fp32 absmax per ${q.groupSize}${q.double ? ', absmax 8-bit per 256 (double quant)' : ''}`;
  if (q.method === 'fp8') return `fp8 e4m3 + fp32 scales ${q.groupSize > 0 ? `per ${q.groupSize}×${q.groupSize} block` : 'per tensor'}`;
  return `${q.method} int4: qweight + fp16 scales + int4 zeros per ${q.groupSize} inputs${q.method === 'gptq' ? ' + g_idx' : ''}`;
}

/** Weight bytes for a device holding `params` parameters (the parts of `p`, when given, for experts and quantization). */
export function weights(plan: CheckedPlan, params: number, stage?: Stage, p?: DeviceParams): Part {
  if (plan.mode === 'serve') {
    const dt = plan.model.dtype;
    const per = DTYPES[dt].bits / 8;
    const q = plan.model.quant;
    if (q && stage && p) {
      const w = deviceWeightBytes(plan, stage, p);
      return part(
        w.bytes,
        () =>
          `weights: ${num(w.quantized)} quantized params (${quantText(q)}) = ${num(w.quantBytes)} B + ${num(params - w.quantized)} params × ${num(per)} B (${dt}) = ${bytesText(w.bytes)}`,
      );
    }
    const bytes = dtypeBytes(params, dt);
    return part(
      bytes,
      () => `weights: ${num(params)} params × ${num(per)} B (${dt})${per < 1 ? ', rounded up' : ''} = ${bytesText(bytes)}`,
    );
  }
  // LoRA first: its base is frozen as stored whatever the recipe; only the adapters follow it.
  if (plan.adapter && stage && p) return loraWeights(plan, stage, p, adapterParams(plan, stage));
  if (plan.amp) return ampWeights(plan, params, p);
  const dt = plan.precision;
  const per = DTYPES[dt].bits / 8;
  if (plan.offload === 'optimizer_params') return offloadedWeights(plan, p, stage);
  if (plan.zero === 3 && (zeroDegree(plan) > 1 || plan.experts.data > 1)) {
    const sharded = zeroPart(plan, 'weights', params, p?.routed ?? 0, per, dt, 3);
    if (plan.reshardAfterForward) return sharded;
    // FSDP2 reshard_after_forward=False: each module's all-gathered (unsharded) parameters stay
    // from its forward to its backward, so at the end of forward every layer of the stage is
    // whole again beside its shard (torch/distributed/fsdp/_fully_shard/_fully_shard.py).
    const kept = params * per;
    return part(
      sharded.bytes + kept,
      () =>
        `${sharded.why.replace(/ = [^=]*$/, '')} + ${num(params)} params × ${per} B unsharded, kept from forward to backward (reshard_after_forward = false) = ${bytesText(sharded.bytes + kept)}`,
    );
  }
  const bytes = params * per;
  return part(bytes, () => `weights: ${num(params)} params × ${per} B (${dt}) = ${bytesText(bytes)}`);
}

/**
 * A ZeRO-sharded category: the dense parameters over the data replicas, the routed experts' over
 * the expert data replicas (plan.experts.data; Megatron-Core's expert data-parallel group).
 */
export function zeroPart(
  plan: CheckedPlan,
  category: string,
  params: number,
  routed: number,
  per: number,
  what: string,
  stage: number,
): Part {
  const dense = params - routed;
  const d = zeroDegree(plan);
  const ed = plan.experts.data;
  const over =
    plan.mesh.context > 1
      ? `${d} (data ${shardOver(plan)} × context ${plan.mesh.context})`
      : d < plan.mesh.data
        ? `shard_group ${d} of data ${plan.mesh.data}`
        : `${d} data`;
  if (routed === 0) {
    const shard = zeroShard(params, d);
    const bytes = shard * per;
    return part(
      bytes,
      () => `${category}: ⌈${num(params)} params / ${over} (ZeRO-${stage})⌉ = ${num(shard)} × ${per} B (${what}) = ${bytesText(bytes)}`,
    );
  }
  const a = zeroShard(dense, d);
  const b = zeroShard(routed, ed);
  const bytes = (a + b) * per;
  return part(
    bytes,
    () =>
      `${category}: (⌈${num(dense)} dense params / ${over}⌉ + ⌈${num(routed)} expert params / ${ed} expert data⌉ (ZeRO-${stage})) = ${num(a + b)} × ${per} B (${what}) = ${bytesText(bytes)}`,
  );
}

/**
 * precision = amp_*: the parameters are fp32 and are the optimizer's master weights (PyTorch
 * autocast; FSDP2's sharded parameters, "does not require any extra memory to keep a
 * high-precision copy", torch/distributed/fsdp/_fully_shard/_fsdp_api.py). With ZeRO-3 (FSDP2)
 * they are sharded, 4/N; FSDP2 casts per module, so there is no autocast cache (torchtitan
 * maybe_enable_amp returns a null context under FSDP, distributed/utils.py). Without it,
 * autocast caches the 16-bit cast of every fp32 weight a lower-precision op reads (the linear
 * layers: aten/src/ATen/autocast_mode.cpp cached_cast, leaves that require grad) until the
 * outermost autocast exits: +2 B per linear parameter from the end of forward into backward.
 */
function ampWeights(plan: CheckedPlan & { mode: 'train' }, params: number, p?: DeviceParams): Part {
  if (plan.zero === 3 && (zeroDegree(plan) > 1 || plan.experts.data > 1))
    return zeroPart(plan, 'weights', params, p?.routed ?? 0, 4, 'fp32 parameters = master weights, FSDP2', 3);
  const cached = p ? castCacheParams(plan, p).layers + castCacheParams(plan, p).head : params;
  const e = DTYPES[plan.precision].bits / 8;
  const bytes = params * 4 + cached * e;
  return part(
    bytes,
    () =>
      `weights: ${num(params)} params × 4 B (fp32, the master weights) + ${num(cached)} linear params × ${e} B (autocast's ${plan.precision} cast cache, end of forward into backward) = ${bytesText(bytes)}`,
  );
}

/**
 * Whether a training plan keeps autocast's cast cache (ampWeights): precision = amp_* without
 * FSDP2 (which casts per module) and without LoRA (whose frozen base is stored in its own dtype).
 */
export function hasCastCache(plan: CheckedPlan): boolean {
  return plan.mode === 'train' && plan.amp && !plan.adapter && !(plan.zero === 3 && (zeroDegree(plan) > 1 || plan.experts.data > 1));
}

/**
 * The parameters autocast's cast cache holds a 16-bit copy of on a device (ampWeights): the
 * layers' (the layer norms, fp32 ops and a fraction of a percent, counted in) and the output
 * layer's; the embedding (an fp32 lookup) is not cast unless it is the tied output layer.
 * The graph allocates them per layer and for the output layer (src/lower/tensors.ts `cast.*`).
 */
export function castCacheParams(plan: CheckedPlan, p: DeviceParams): { layers: number; head: number } {
  const tiedHead = plan.model.tiedEmbeddings && p.output === 0 && p.embedding > 0;
  const cached = Math.max(0, p.total - (tiedHead ? 0 : p.embedding) - p.positions - p.finalNorm);
  return { layers: Math.min(cached, p.layers), head: Math.max(0, cached - p.layers) };
}

/**
 * LoRA weights: the frozen base as stored (model dtype, or its quantization: QLoRA's nf4, with
 * embeddings, norms and the output layer in dtype) and the adapters in the training precision;
 * under ZeRO-3 both are split over the data replicas (DeepSpeed and FSDP shard frozen parameters
 * too; bitsandbytes' 4-bit weights shard as their uint8 storage).
 */
function loraWeights(plan: TrainPlan, stage: Stage, p: DeviceParams, adapter: number): Part {
  const base = deviceWeightBytes(plan, stage, p);
  // Under AMP the trainable (adapter) parameters are fp32, and are the master weights.
  const per = plan.amp ? 4 : bytesPerElement(plan.precision);
  const d = plan.zero === 3 ? plan.mesh.data : 1;
  const baseBytes = Math.ceil(base.bytes / d);
  const adapterBytes = zeroShard(adapter, d) * per;
  const bytes = baseBytes + adapterBytes;
  const q = plan.model.quant;
  return part(bytes, () => {
    const baseText = q
      ? `${num(base.quantized)} params ${quantText(q)} = ${num(base.quantBytes)} B + ${num(p.total - base.quantized)} params in ${plan.model.dtype}`
      : `${num(p.total)} params × ${DTYPES[plan.model.dtype].bits / 8} B (${plan.model.dtype})`;
    const shard = d > 1 ? ` ÷ ${d} data (ZeRO-3)` : '';
    return `weights: frozen base ${baseText} = ${bytesText(base.bytes)}${shard} + ${num(adapter)} adapter params${shard} × ${per} B (${plan.amp ? 'fp32, AMP' : plan.precision}) = ${bytesText(bytes)}`;
  });
}
