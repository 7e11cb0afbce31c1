/**
 * The Hugging Face configs of examples/configs as ModelSizes for `buildModel`, mapped here by
 * hand from each family's config fields (transformers' configuration_*.py; see
 * model-families-anchors §1–§5), so that the tests do not depend on parplan's own config import.
 */
import { readFileSync } from 'node:fs';
import { buildModel, type Model, type ModelSizes } from '../../src/model.js';

type Config = Record<string, unknown>;

export function readConfig(file: string): Config {
  return JSON.parse(readFileSync(new URL(`../../examples/configs/${file}`, import.meta.url), 'utf8')) as Config;
}

export const REFERENCE = JSON.parse(readFileSync(new URL('./reference-counts.json', import.meta.url), 'utf8')) as {
  models: Record<string, Record<string, unknown>>;
};

const n = (c: Config, ...keys: string[]): number | undefined => {
  for (const k of keys) if (typeof c[k] === 'number') return c[k];
  return undefined;
};

/** The config of examples/configs/`file` as a parplan model (dtype bf16 unless `dtype` given; `layers` overrides the count). */
export function modelOf(file: string, dtype: ModelSizes['dtype'] = 'bf16', layers?: number): Model {
  const c = readConfig(file);
  const type = c.model_type as string;
  const hidden = n(c, 'hidden_size', 'n_embd')!;
  const heads = n(c, 'num_attention_heads', 'n_head')!;
  const gemma = type === 'gemma2' || type === 'gemma3_text';
  const s: ModelSizes = {
    name: file,
    layers: layers ?? n(c, 'num_hidden_layers', 'n_layer')!,
    hidden,
    heads,
    vocab: n(c, 'vocab_size')!,
    maxSeq: n(c, 'max_position_embeddings', 'n_positions')!,
    dtype,
    tiedEmbeddings: typeof c.tie_word_embeddings === 'boolean' ? c.tie_word_embeddings : gemma || type === 'gpt2',
  };
  const kv = n(c, 'num_key_value_heads');
  if (kv !== undefined) s.kvHeads = kv;
  const hd = n(c, 'head_dim');
  if (hd !== undefined) s.headDim = hd;
  if (type === 'gpt2') return buildModel('gpt2', { ...s, ...(n(c, 'n_inner') ? { ffn: n(c, 'n_inner')! } : {}) });
  s.ffn = n(c, 'intermediate_size')!;
  s.activation = gemma ? 'geglu' : 'swiglu';
  if (gemma) s.normsPerLayer = 4;
  if (type === 'qwen3' || type === 'qwen3_moe' || type === 'gemma3_text') s.qkNorm = true;
  if (type === 'qwen2' || type === 'qwen2_moe') s.qkvBias = true;
  if (type === 'gpt_oss') s.bias = true;
  if (c.attention_bias === true && type !== 'gpt_oss') s.qkvBias = true;
  // Sliding windows: Mistral on every layer; Gemma-2 and gpt-oss alternate (full on odd layers); Gemma-3 every 6th full.
  const window = n(c, 'sliding_window');
  if (window !== undefined && c.use_sliding_window !== false) {
    s.slidingWindow = window;
    if (type === 'gemma2' || type === 'gpt_oss') s.slidingWindowPattern = 2;
    if (type === 'gemma3_text') s.slidingWindowPattern = n(c, 'sliding_window_pattern', '_sliding_window_pattern') ?? 6;
  }
  if (type === 'gpt_oss') s.sinks = true;
  const experts = n(c, 'num_local_experts', 'n_routed_experts', 'num_experts');
  if (experts !== undefined) {
    const deepseek = type === 'deepseek_v2' || type === 'deepseek_v3';
    const expertFfn = type === 'mixtral' || type === 'gpt_oss' ? s.ffn : n(c, 'moe_intermediate_size')!;
    const sharedWidth = n(c, 'shared_expert_intermediate_size');
    s.moe = {
      experts,
      topK: n(c, 'num_experts_per_tok', 'experts_per_token')!,
      expertFfn,
      ...(deepseek ? { sharedExperts: n(c, 'n_shared_experts')!, sharedFfn: expertFfn } : {}),
      ...(sharedWidth !== undefined ? { sharedExperts: 1, sharedFfn: sharedWidth, sharedGate: true } : {}),
      routerBias: type === 'gpt_oss' || (type === 'deepseek_v3' && c.topk_method === 'noaux_tc'),
      denseLayers: n(c, 'first_k_dense_replace') ?? 0,
    };
  }
  if (n(c, 'kv_lora_rank') !== undefined) {
    s.mla = {
      kvLoraRank: n(c, 'kv_lora_rank')!,
      qLoraRank: n(c, 'q_lora_rank') ?? 0,
      qkNopeHeadDim: n(c, 'qk_nope_head_dim')!,
      qkRopeHeadDim: n(c, 'qk_rope_head_dim')!,
      vHeadDim: n(c, 'v_head_dim')!,
    };
  }
  const q = c.quantization_config as Config | undefined;
  if (q) {
    const method = q.quant_method as string;
    if (method === 'awq' || method === 'gptq') s.quant = { method, groupSize: n(q, 'group_size')!, lmHead: q.lm_head === true };
    if (method === 'mxfp4') s.quant = { method, groupSize: 32, lmHead: false };
    if (method === 'fp8') s.quant = { method, groupSize: (q.weight_block_size as number[] | undefined)?.[0] ?? 0, lmHead: false };
  }
  return buildModel('llama', s);
}
