/**
 * The kernel registry: operation → program factory. Every factory takes the static
 * description of its operation and returns a `KernelProgram` (types.ts):
 *
 *   interface KernelProgram {
 *     name; cacheKey;                 // cacheKey identifies the WGSL + binding layout
 *     wgsl; entryPoint: 'main';
 *     workgroupSize: [x, y, z];
 *     bindings: { name, access: 'read' | 'read_write' }[];   // @group(0) @binding(i), in order
 *     uniforms: { name, type: 'u32' | 'i32' | 'f32' }[];     // struct Params at @binding(bindings.length)
 *     fixed: Dims;                    // uniform values set by the factory (static sizes)
 *     features: GPUFeatureName[];     // e.g. ['shader-f16']
 *     workgroupStorageBytes: number;
 *     dispatch(dims): [x, y, z];      // grid for the dynamic sizes (the uniform values)
 *   }
 *
 * What shapes the code is baked into the WGSL: storage formats, vec4 alignment, tile and
 * workgroup sizes, the attention head size, fused epilogues. Sizes are uniforms — static
 * ones (N, K, hidden, heads, cache shape) in `fixed`, dynamic ones (token count T or M,
 * rows) passed with each dispatch — so a model compiles a small fixed set of pipelines
 * (and lavapipe, which spends ~1 s of LLVM time per new shader, stays usable).
 * `KernelRunner` (run.ts) compiles, caches pipelines per device, binds buffers by name
 * and records dispatches:
 *
 *   const p = kernels.rmsnorm({ cols: 4096, eps: 1e-5, weight: { format: 'bf16' } });
 *   runner.encode(pass, p, { x, weight, y }, { rows: T });
 *
 * Storage formats (wgsl/dtype.ts): activations are always f32; weights, norm gains,
 * biases, embedding tables and the KV cache may be f32, bf16 (packed two per u32) or f16
 * (packed, or native with `native16: true` on adapters with shader-f16). Reference
 * implementations of every op, with f64 accumulation, are in runtime/reference/.
 */
import { argmaxProgram } from './argmax.js';
import { attentionProgram, kvWriteProgram } from './attention.js';
import {
  attentionBackwardDkvProgram,
  attentionBackwardDqProgram,
  attentionBackwardPreProgram,
  attentionTrainProgram,
} from './attention-backward.js';
import { addProgram, gegluProgram, geluProgram, scaleProgram, softcapProgram, swigluProgram } from './elementwise.js';
import { embeddingProgram } from './embedding.js';
import { embeddingBackwardProgram } from './embedding-backward.js';
import { adamwProgram, clipFactorProgram, reduceSumProgram, sgdProgram, sumSquaresProgram } from './optimizer.js';
import { crossEntropyCombineProgram, crossEntropyGradProgram, crossEntropyStatsProgram } from './cross-entropy.js';
import { gegluBackwardProgram, geluBackwardProgram, swigluBackwardProgram } from './activation-backward.js';
import { matmulProgram } from './matmul.js';
import { biasGradProgram, matmulGradInputProgram, matmulGradWeightProgram } from './linear-backward.js';
import { combineProgram, expertMatmulProgram, expertSwigluProgram, routerProgram } from './moe.js';
import { layerNormProgram, rmsNormProgram } from './norm.js';
import { normBackwardProgram, normGradWeightProgram } from './norm-backward.js';
import { ropeProgram } from './rope.js';
import { softmaxProgram } from './softmax.js';

export const kernels = {
  /** C = A·Wᵀ (+bias) (→gelu) (+residual); variants tiled / gemv / subgroup-matrix. Bindings A, W, [bias], [residual], C; uniform M. */
  matmul: matmulProgram,
  /** Bindings x, weight, bias, y; uniform rows. */
  layernorm: layerNormProgram,
  /** Bindings x, weight, y; uniform rows. */
  rmsnorm: rmsNormProgram,
  /** Bindings x, y (or x in place); uniform n. */
  gelu: geluProgram,
  /** Bindings gate, up, y (or up in place); uniform n. */
  swiglu: swigluProgram,
  /** Bindings gate, up, y (or up in place); uniform n. */
  geglu: gegluProgram,
  /** x = c·tanh(x / c). Bindings x, y (or x in place); uniform n. */
  softcap: softcapProgram,
  /** x = x·c. Bindings x, y (or x in place); uniform n. */
  scale: scaleProgram,
  /** Residual add. Bindings a, b, y (or a in place); uniform n. */
  add: addProgram,
  /** In place. Bindings x, positions, table (ropeTable); uniform T. */
  rope: ropeProgram,
  /** Row-wise. Bindings x, y (or x in place); uniforms rows, cols. */
  softmax: softmaxProgram,
  /** K/V of new tokens into the cache. Bindings k, v, slots, positions, kCache, vCache; uniform T. */
  kvWrite: kvWriteProgram,
  /** Causal GQA attention over the cache. Bindings q, kCache, vCache, slots, positions, out; uniform T. */
  attention: attentionProgram,
  /** Bindings ids, table, [positions, posTable], out; uniform T. */
  embedding: embeddingProgram,
  /** Bindings x, out, [maxValues]; uniform rows. */
  argmax: argmaxProgram,
  /** MoE router: softmax top-k per token, and the token's k dispatch rows. Bindings x, W, routes, dispatch; uniform T. */
  router: routerProgram,
  /** Each routed row times its expert's weight. Bindings A, W, routes, C; uniform R. */
  expertMatmul: expertMatmulProgram,
  /** The experts' SwiGLU over [gate | up] rows, in place. Binding ue; uniform n. */
  expertSwiglu: expertSwigluProgram,
  /** hidden += the routing-weighted sum of each token's k expert rows. Bindings hidden, y, routes; uniform T. */
  combine: combineProgram,
  // training: backward and optimizer kernels (docs/kernels.md, "Backward and optimizer kernels")
  /** dX = dY·W (+ residual): the forward matmul with N, K and the layout swapped. Bindings A (dY), W, [residual], C (dX); uniform M. */
  matmulGradInput: matmulGradInputProgram,
  /** dW += dYᵀ·X, f32 in W's layout. Bindings dY, X, dW; uniform T. */
  matmulGradWeight: matmulGradWeightProgram,
  /** db += Σₜ dY. Bindings dY, db; uniform T. */
  biasGrad: biasGradProgram,
  /** (kind, o): dx of layernorm/rmsnorm from saved x, [mean], rstd. Bindings x, [mean], rstd, weight, dy, dx; uniform rows. */
  normBackward: normBackwardProgram,
  /** (kind, o): dγ (+ dβ) accumulated. Bindings x, [mean], rstd, dy, dweight, [dbias]; uniform rows. */
  normGradWeight: normGradWeightProgram,
  /** dx = dy·gelu′(x). Bindings x, dy, dx (or dy in place); uniform n. */
  geluBackward: geluBackwardProgram,
  /** Bindings gate, up, dy, dgate, dup (or gate, up in place); uniform n. */
  swigluBackward: swigluBackwardProgram,
  /** Bindings gate, up, dy, dgate, dup (or gate, up in place); uniform n. */
  gegluBackward: gegluBackwardProgram,
  /** Causal GQA attention over q, k, v of whole sequences, saving lse. Bindings q, k, v, out, lse; uniform T. */
  attentionTrain: attentionTrainProgram,
  /** delta = rowsum(dO∘O). Bindings dO, out, delta; uniform T. */
  attentionBackwardPre: attentionBackwardPreProgram,
  /** Bindings q, k, v, lse, delta, dO, dq; uniform T. */
  attentionBackwardDq: attentionBackwardDqProgram,
  /** Bindings q, k, v, lse, delta, dO, dk, dv; uniform T. */
  attentionBackwardDkv: attentionBackwardDkvProgram,
  /** grad[id − rowBase] += dX[t] for the shard's ids (deterministic). Bindings ids, dX, grad; uniform T. */
  embeddingBackward: embeddingBackwardProgram,
  /** Vocab-parallel cross-entropy pass 1: per-row local (max, Σexp). Bindings logits, stats; uniform T. */
  crossEntropyStats: crossEntropyStatsProgram,
  /** Combines [ranks, T, 2] (max, Σexp) pairs. Bindings parts, stats; uniform T. */
  crossEntropyCombine: crossEntropyCombineProgram,
  /** Pass 2, in place: logits ← (softmax − onehot)·scale, loss per row. Bindings logits, labels, stats, loss; uniforms T, scale. */
  crossEntropyGrad: crossEntropyGradProgram,
  /** partials[w] = Σ x² per 4096-element chunk. Bindings x, partials; uniform n. */
  sumSquares: sumSquaresProgram,
  /** out[0] (+)= Σ x, one workgroup. Bindings x, out; uniform n. */
  reduceSum: reduceSumProgram,
  /** clip = [min(1, maxNorm/(‖g‖ + 1e-6)), ‖g‖]. Bindings sumsq, clip. */
  clipFactor: clipFactorProgram,
  /** torch.optim.AdamW, gradient × clip[0]. Bindings param | weight, grad, state, clip; dims adamwDims(h, step, n). */
  adamw: adamwProgram,
  /** torch.optim.SGD, gradient × clip[0]. Bindings param | weight, grad, [state], clip; uniforms n, lr, weightDecay. */
  sgd: sgdProgram,
} as const;

export type KernelOp = keyof typeof kernels;

export type { BindingDecl, Dims, KernelProgram, UniformField } from './types.js';
export { KernelRunner, type BufferArg, type RunnerOptions } from './run.js';
export {
  matmulProgram,
  pickMatmul,
  subgroupMatrixSupport,
  type MatmulOptions,
  type MatmulTile,
  type MatmulVariant,
  type SubgroupMatrixConfig,
} from './matmul.js';
export { layerNormProgram, rmsNormProgram, type NormOptions } from './norm.js';
export {
  addProgram,
  gegluProgram,
  geluProgram,
  scaleProgram,
  softcapProgram,
  swigluProgram,
  type ConstantOptions,
  type ElementwiseOptions,
} from './elementwise.js';
export { ropeProgram, ropeTable, type RopeOptions } from './rope.js';
export { softmaxProgram, type SoftmaxOptions } from './softmax.js';
export { attentionProgram, kvCacheElements, kvWriteProgram, type AttentionOptions, type KvCacheShape } from './attention.js';
export { embeddingProgram, type EmbeddingOptions } from './embedding.js';
export { argmaxProgram, type ArgmaxOptions } from './argmax.js';
export {
  biasGradProgram,
  matmulGradInputProgram,
  matmulGradWeightProgram,
  type MatmulGradInputOptions,
  type MatmulGradWeightOptions,
} from './linear-backward.js';
export { gegluBackwardProgram, geluBackwardProgram, swigluBackwardProgram, type ActivationBackwardOptions } from './activation-backward.js';
export {
  attentionBackwardDkvProgram,
  attentionBackwardDqProgram,
  attentionBackwardPreProgram,
  attentionTrainProgram,
  type TrainAttentionOptions,
} from './attention-backward.js';
export { embeddingBackwardProgram, type EmbeddingBackwardOptions } from './embedding-backward.js';
export {
  crossEntropyCombineProgram,
  crossEntropyGradProgram,
  crossEntropyStatsProgram,
  type CrossEntropyOptions,
} from './cross-entropy.js';
export {
  adamwDims,
  adamwProgram,
  clipFactorProgram,
  reduceSumProgram,
  sgdProgram,
  SUM_SQUARES_CHUNK,
  sumSquaresProgram,
  type AdamWHyper,
  type OptimizerOptions,
} from './optimizer.js';
export { normBackwardProgram, normGradWeightProgram, type NormBackwardOptions, type NormKind } from './norm-backward.js';
export { storageBytes, TENSOR_FORMATS, type TensorFormat, type TensorType } from '../wgsl/dtype.js';
