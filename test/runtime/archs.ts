/**
 * One tiny model per architecture the WebGPU runtime runs, each with the facts that set it
 * apart at non-default values, so that a runtime or reference that ignores one is caught:
 * GPT-2 (LayerNorm eps), Llama (RMSNorm eps, theta, llama3 rope scaling with all three
 * frequency regimes), Mistral (a sliding window shorter than the prompts), Qwen2 (q/k/v
 * biases, linear rope scaling, tied embeddings), Qwen3 (q/k norms, head_dim ≠ hidden / heads),
 * Gemma-2 (four norms with offset 1, GeGLU, both soft-caps at values that bite, a
 * query_pre_attn_scalar ≠ head_dim, scaled and tied embeddings, a window on every other layer),
 * Mixtral (8 experts, top-2, renormalised, a window) and Qwen3-MoE (q/k norms, 6 experts, top-3,
 * norm_topk_prob false); `moeNaming` is how their checkpoints spell the experts.
 * `modelType` is the Hugging Face `model_type` the torch oracle (test/reference/oracle.py)
 * follows.
 */
import type { Model } from '../../src/model.js';
import type { MoeNaming } from '../../runtime/reference/model.js';
import { compileTiny, type TinyModel } from './models.js';

export type ModelType = 'gpt2' | 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma2' | 'mixtral' | 'qwen3_moe';

export interface ArchCase {
  modelType: ModelType;
  /** The body of a `model { … }` block (fp32; the layout may change the dtype). */
  plan: string;
  /** A prompt longer than any sliding window, so that the window cuts. */
  prompt: number[];
  /** MoE: the checkpoint's spelling of the router and experts. */
  moeNaming?: MoeNaming;
}

const dims = 'layers = 2  hidden = 32  heads = 4  vocab = 67  max_seq = 64  dtype = fp32';
const prompt = [3, 17, 42, 8, 8, 61, 5, 29, 33, 2, 50, 11];

export const ARCH_CASES: ArchCase[] = [
  { modelType: 'gpt2', plan: `arch = gpt2  ${dims}  norm_eps = 0.001`, prompt },
  {
    modelType: 'llama',
    // theta 500, head_dim 8: wavelengths 6.3, 30, 140, 660 against 32/4 = 8 and 32/1 = 32: kept, smoothed, scaled, scaled.
    plan: `arch = llama  ${dims}  kv_heads = 2  ffn = 48  norm_eps = 0.01  rope_theta = 500
      rope_scaling = llama3  rope_factor = 8  rope_original_max_seq = 32  rope_low_freq_factor = 1  rope_high_freq_factor = 4`,
    prompt,
  },
  {
    modelType: 'mistral',
    plan: `arch = llama  ${dims}  kv_heads = 2  ffn = 48  norm_eps = 0.0001  rope_theta = 1000  sliding_window = 5`,
    prompt,
  },
  {
    modelType: 'qwen2',
    plan: `arch = llama  ${dims}  kv_heads = 2  ffn = 48  norm_eps = 0.000001  rope_theta = 20000  qkv_bias = true
      rope_scaling = linear  rope_factor = 2  tied_embeddings = true`,
    prompt,
  },
  {
    modelType: 'qwen3',
    plan: `arch = llama  ${dims}  kv_heads = 2  head_dim = 16  ffn = 48  norm_eps = 0.000001  rope_theta = 1000000  qk_norm = true`,
    prompt,
  },
  {
    modelType: 'gemma2',
    // Caps small enough that tanh bends the scores and logits; layers 0, 2 windowed (5), 1, 3 global.
    plan: `arch = llama  layers = 4  hidden = 32  heads = 4  vocab = 67  max_seq = 64  dtype = fp32  kv_heads = 2  head_dim = 16  ffn = 48
      norm_eps = 0.001  rope_theta = 2000  activation = geglu  norms_per_layer = 4  norm_offset = 1  scale_embeddings = true
      attn_softcap = 2  logit_softcap = 3  query_pre_attn_scalar = 24  sliding_window = 5  sliding_window_pattern = 2
      tied_embeddings = true`,
    prompt,
  },
  {
    modelType: 'mixtral',
    plan: `arch = llama  ${dims}  kv_heads = 2  ffn = 48  norm_eps = 0.00001  rope_theta = 1000000  sliding_window = 7
      experts = 8  experts_per_token = 2  expert_ffn = 24  norm_topk = true`,
    prompt,
    moeNaming: 'mixtral',
  },
  {
    modelType: 'qwen3_moe',
    plan: `arch = llama  ${dims}  kv_heads = 2  head_dim = 16  ffn = 48  norm_eps = 0.000001  rope_theta = 1000000  qk_norm = true
      experts = 6  experts_per_token = 3  expert_ffn = 16  norm_topk = false`,
    prompt,
    moeNaming: 'qwen3_moe',
  },
];

const tinies = new Map<ArchCase, TinyModel>();

/** The case as a TinyModel (one object per case: weightsFor caches by it); its config is the compiled graph's model. */
export function tinyOf(c: ArchCase): TinyModel {
  let t = tinies.get(c);
  if (!t) {
    const plan = c.plan.replace(/\s+/g, ' ');
    const config: Model = compileTiny({ plan, config: undefined as unknown as Model }, { tensor: 1, pipeline: 1, data: 1 }).model;
    tinies.set(c, (t = { plan, config, ...(c.moeNaming ? { moeNaming: c.moeNaming } : {}) }));
  }
  return t;
}
