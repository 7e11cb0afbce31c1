/**
 * CPU reference implementations (plain TypeScript, f64 accumulation, f32 results): the
 * definitions the WebGPU kernels are tested against, and a full reference model.
 */
export { matmul, matmulMagnitude, type RefMatmulOptions } from './matmul.js';
export { layerNorm, rmsNorm } from './norm.js';
export { add, gelu, geluTanh, silu, swiglu } from './activations.js';
export { rope, type RefRopeOptions } from './rope.js';
export { softmax } from './softmax.js';
export { attention, RefKvCache, type CacheShape } from './attention.js';
export { embedding } from './embedding.js';
export { argmax } from './argmax.js';
export { moe, route, type MoeWeights, type Routing } from './moe.js';
export {
  attentionBackward,
  attentionTrain,
  biasGrad,
  combineStats,
  crossEntropyGrad,
  crossEntropyStats,
  embeddingBackward,
  geluBackward,
  geluTanhGrad,
  gluBackward,
  linearGradInput,
  linearGradWeight,
  normBackward,
  normStats,
  ropeBackward,
  type TrainAttentionShape,
  type WLayout,
} from './backward.js';
export { adamwStep, clipFactor, sgdStep, sumSquares, type AdamWHyper } from './optimizer.js';
export { bf16Bits, bf16Value, decode, encode, f16Bits, f16Value, roundAll, roundTo, unitRoundoff } from './dtype.js';
export { mulberry32, normalArray } from '../../src/util/random.js';
export {
  checkConfig,
  gpt2Config,
  greedy,
  llamaConfig,
  moeNames,
  randomWeights,
  ReferenceModel,
  weightShapes,
  type Arch,
  type ForwardOptions,
  type ModelCache,
  type MoeNaming,
  type Model,
  type TokenEntry,
  type TraceFn,
  type Weights,
} from './model.js';
