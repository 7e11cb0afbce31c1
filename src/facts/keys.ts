/**
 * Every key a `.plan` block accepts: its type, unit, range, default, the modes it
 * applies to, and one sentence of documentation. This one table drives the checker
 * (types, ranges, unknown keys, did-you-mean), `parplan explain`, and docs/language.md.
 */
import { DTYPE_NAMES, FLOAT_DTYPES } from './dtypes.js';

export type BlockKind = 'model' | 'cluster' | 'gpu' | 'plan' | 'batch' | 'adapter' | 'traffic' | 'slo';
export type Mode = 'serve' | 'train';

export type KeyType =
  | { kind: 'int'; min: number; max?: number }
  | { kind: 'number'; min: number; max?: number }
  /** A byte size; a unit is required (B, KB … TiB). `max` in bytes. */
  | { kind: 'bytes'; max: number }
  /** A duration; a unit is required (us, ms, s). `max` in milliseconds. */
  | { kind: 'duration'; max: number }
  /** A fraction: `10%`, or a plain number in [0, 1). */
  | { kind: 'fraction'; max: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  /** The name of a declaration of that kind. */
  | { kind: 'ref'; to: 'model' | 'cluster' }
  /** A GPU catalog name, or a `gpu { ... }` block. */
  | { kind: 'gpu' }
  | { kind: 'string' }
  /** A list of inclusive whole-number ranges: `[0..15, 16..31]`. */
  | { kind: 'ranges' }
  /** A list of strings: `["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]`. */
  | { kind: 'strings' }
  | { kind: 'block'; block: BlockKind };

/** A value as the checker holds it: bytes for sizes, milliseconds for durations, a fraction for percentages. */
export type KeyValue = number | string | boolean;

/**
 * A key's default: one value (`note` is appended to it in the docs), one value per
 * architecture (the arch presets), or a rule computed from other keys, in words (the checker
 * implements it where it reads the key).
 */
export type KeyDefault = { value: KeyValue; note?: string } | { byArch: Readonly<Record<Arch, KeyValue>> } | { rule: string };

export interface KeySpec {
  type: KeyType;
  doc: string;
  required?: boolean;
  /** What the checker uses when the key is absent; the docs' text is generated from it (`defaultText`). */
  default?: KeyDefault;
  /** The plan modes the key applies to; absent = all. */
  modes?: readonly Mode[];
  /** Example value for docs and help lines. */
  example?: string;
  /** What other tools call this knob (Hugging Face config, Megatron-LM, vLLM, DeepSpeed): an unknown key equal to one gets "did you mean". */
  aliases?: readonly string[];
  /**
   * Enum values the field uses that parplan does not model yet: value → why, and the nearest
   * supported value (PP2025), rather than a did-you-mean to a different concept (fp8 → fp32).
   */
  unsupported?: Readonly<Record<string, string>>;
  /**
   * Other tools' spellings of a supported enum value: spelling → [the value, why]; writing one
   * gets PP2009 with a did-you-mean to the value (HF Trainer's `bf16` flag means precision = amp_bf16).
   */
  valueAliases?: Readonly<Record<string, readonly [string, string]>>;
  /**
   * Enum values other tools spell differently for exactly the same thing (vLLM `kv_cache_dtype =
   * fp8_e4m3`, GPT-2's `gelu_new`): accepted and read as the value they map to.
   */
  sameValues?: Readonly<Record<string, string>>;
}

// The helpers keep literal types (`kind`, enum values) so that src/embedded/types.ts can
// derive the TypeScript option types of `model()`, `cluster()` and `plan()` from KEY_TABLE.
const int = (min = 1, max?: number): { kind: 'int'; min: number; max?: number } =>
  max === undefined ? { kind: 'int', min } : { kind: 'int', min, max };
const enumOf = <const V extends readonly string[]>(...values: V): { kind: 'enum'; values: V } => ({ kind: 'enum', values });
const dtype = { kind: 'enum', values: DTYPE_NAMES } as const;
const floatDtype = enumOf(...FLOAT_DTYPES);
const num = (min: number, max: number): { kind: 'number'; min: number; max: number } => ({ kind: 'number', min, max });

// Upper bounds: every numeric key has one, far beyond any real model or cluster (a value
// above is a typo or an attack, PP2008), and low enough that the memory, cost and graph
// arithmetic stays finite. Derived byte counts are bounded again by LIMITS.deviceBytes.
/** Most GPUs in a cluster (the largest built have about 200,000), and so the largest tensor, pipeline or data degree; the memory model and its outputs list every GPU. */
export const MAX_GPUS = 262_144;
/** Most layers (real models have up to a few hundred); the graph lists tensors per layer. */
const MAX_LAYERS = 10_000;
/** Widest dimension: hidden, ffn, head_dim (real: up to ~10^5). */
const MAX_WIDTH = 2 ** 24;
/** Most tokens: vocabulary, context, sequence, prefill budget (real: up to ~10^7). */
const MAX_TOKENS = 2 ** 30;
/** Most sequences in a batch (global, micro, max_batch, queue). */
const MAX_SEQUENCES = 2 ** 24;
/** Largest size: 1 PiB (GPU memory, workspace; real GPUs have under 1 TiB). */
const MAX_BYTES = 2 ** 50;
/** Throughputs in TFLOP/s or GB/s (real: up to a few thousand). */
const MAX_RATE = 1_000_000;
/** Longest wait for a batch to fill, in ms: an hour (timers overflow at about 24 days). */
const MAX_WAIT_MS = 3_600_000;
/** Largest arrival rate, requests/s (a large service handles thousands). */
const MAX_REQUEST_RATE = 10_000_000;
/** Longest latency objective or traffic duration, ms: a day. */
const MAX_SLO_MS = 86_400_000;
const bytes = { kind: 'bytes', max: MAX_BYTES } as const;

export const ARCHS = ['llama', 'gpt2'] as const;
export type Arch = (typeof ARCHS)[number];
export const MODES = ['serve', 'train'] as const;
export const SCHEDULES = ['gpipe', '1f1b', 'interleaved'] as const;
export const RECOMPUTE = ['none', 'selective', 'selective_op', 'full'] as const;
/** Megatron's --recompute-method: which layers `recompute = full` checkpoints (with recompute_layers). */
export const RECOMPUTE_METHODS = ['uniform', 'block'] as const;
/**
 * Training precision recipes: fp32 | bf16 | fp16 are Megatron's (16-bit weights and activations,
 * fp32 master copy in the optimizer); amp_bf16 | amp_fp16 are PyTorch autocast / HF Trainer /
 * FSDP2 MixedPrecisionPolicy (fp32 parameters as the master weights, 16-bit compute).
 */
export const PRECISIONS = ['fp32', 'fp16', 'bf16', 'amp_bf16', 'amp_fp16'] as const;
export const ATTENTION = ['flash', 'standard'] as const;
export const OPTIMIZERS = ['adamw', 'adam', 'sgd'] as const;
/** ZeRO-Offload / ZeRO-Infinity targets in CPU memory (`+` is not a word character: optimizer_params). */
export const OFFLOADS = ['none', 'optimizer', 'optimizer_params'] as const;
export const NORMS = ['rmsnorm', 'layernorm'] as const;
export const ACTIVATIONS = ['swiglu', 'geglu', 'gelu'] as const;
export const ROPE_SCALINGS = ['none', 'linear', 'dynamic', 'yarn', 'llama3'] as const;
export const QUANTIZATIONS = ['none', 'awq', 'gptq', 'fp8', 'mxfp4', 'nf4'] as const;
/**
 * fp8 training recipes (the plan's `fp8` key, orthogonal to `precision`): TransformerEngine's
 * DelayedScaling, Float8CurrentScaling and MXFP8BlockScaling (as Megatron-LM runs them,
 * --fp8-recipe delayed | tensorwise | mxfp8), and torchao's Float8Linear with tensorwise or
 * rowwise scaling (as torchtitan runs it under FSDP2). See docs/memory.md.
 */
export const FP8_RECIPES = ['none', 'te_delayed', 'te_current', 'te_mxfp8', 'torchao_tensorwise', 'torchao_rowwise'] as const;
/** Other spellings of the dtypes (Hugging Face torch_dtype, vLLM kv_cache_dtype): the same number formats. */
const DTYPE_ALIASES = {
  float32: 'fp32',
  float16: 'fp16',
  half: 'fp16',
  bfloat16: 'bf16',
  fp8_e4m3: 'fp8',
  fp8_e5m2: 'fp8',
  float8_e4m3fn: 'fp8',
  float8_e5m2: 'fp8',
} as const;
const FLOAT_DTYPE_ALIASES = { float32: 'fp32', float16: 'fp16', half: 'fp16', bfloat16: 'bf16' } as const;
/** Most routed experts in a MoE layer (real: up to a few hundred). */
const MAX_EXPERTS = 65_536;
export const POSITIONS = ['rope', 'learned'] as const;

/** The key table with its literal types (for type derivation); everything else reads it as KEYS. */
export const KEY_TABLE = {
  model: {
    arch: {
      type: enumOf(...ARCHS),
      required: true,
      doc: 'Architecture family; sets the presets for norm, activation, bias, positions and tied_embeddings.',
      example: 'llama',
    },
    layers: {
      type: int(1, MAX_LAYERS),
      required: true,
      doc: 'Number of transformer layers (blocks).',
      example: '32',
      aliases: ['num_layers', 'num_hidden_layers', 'n_layer', 'n_layers'],
    },
    hidden: {
      type: int(1, MAX_WIDTH),
      required: true,
      doc: 'Hidden (model) dimension.',
      example: '4096',
      aliases: ['hidden_size', 'd_model', 'n_embd', 'dim'],
    },
    heads: {
      type: int(1, MAX_WIDTH),
      required: true,
      doc: 'Number of attention (query) heads.',
      example: '32',
      aliases: ['num_attention_heads', 'n_head', 'n_heads', 'num_heads'],
    },
    kv_heads: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'heads' },
      doc: 'Number of key/value heads (grouped-query attention when less than heads).',
      example: '8',
      aliases: ['num_key_value_heads', 'num_query_groups', 'n_kv_heads'],
    },
    head_dim: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'hidden / heads' },
      doc: 'Dimension of one attention head.',
      example: '128',
      aliases: ['kv_channels', 'head_size'],
    },
    ffn: {
      type: int(1, MAX_WIDTH),
      default: { rule: '4 × hidden for gpt2; required for llama' },
      doc: 'Intermediate (feed-forward) dimension of the MLP.',
      example: '14336',
      aliases: ['intermediate_size', 'ffn_hidden_size', 'n_inner', 'ffn_dim'],
    },
    vocab: {
      type: int(1, MAX_TOKENS),
      required: true,
      doc: 'Vocabulary size (unpadded, as in the tokenizer).',
      example: '128256',
      aliases: ['vocab_size', 'padded_vocab_size'],
    },
    max_seq: {
      type: int(1, MAX_TOKENS),
      required: true,
      doc: 'Maximum sequence length (context window); for learned positions, the size of the position table.',
      example: '8192',
      aliases: ['max_position_embeddings', 'n_positions', 'max_seq_len', 'max_sequence_length', 'seq_length', 'max_model_len'],
    },
    tied_embeddings: {
      type: { kind: 'bool' },
      default: { byArch: { llama: false, gpt2: true } },
      doc: 'Whether the output layer shares the token embedding matrix.',
      example: 'false',
      aliases: ['tie_word_embeddings', 'untie_embeddings_and_output_weights'],
    },
    dtype: {
      type: dtype,
      default: { value: 'bf16' },
      doc: 'Data type of the weights.',
      example: 'bf16',
      aliases: ['torch_dtype', 'params_dtype'],
      sameValues: DTYPE_ALIASES,
    },
    norm: {
      type: enumOf(...NORMS),
      default: { byArch: { llama: 'rmsnorm', gpt2: 'layernorm' } },
      doc: 'Normalization layer (layernorm has a weight and a bias, rmsnorm a weight).',
      example: 'rmsnorm',
    },
    activation: {
      type: enumOf(...ACTIVATIONS),
      default: { byArch: { llama: 'swiglu', gpt2: 'gelu' } },
      doc: 'MLP activation: swiglu (silu-gated) and geglu (GELU-tanh-gated, Gemma) have three projections (gate, up, down); gelu (tanh approximation, GPT-2) two.',
      example: 'swiglu',
      aliases: ['hidden_act', 'hidden_activation', 'activation_function'],
      unsupported: {
        relu: 'plain ReLU MLPs (OPT) are not modelled; gelu has the same two projections, so activation = gelu gives the same memory and FLOPs (the WebGPU runtime would compute GELU, not ReLU)',
        silu: "activation names the MLP's shape here: Hugging Face's hidden_act = silu in a Llama-style model is the gated SwiGLU MLP, activation = swiglu (three projections); an ungated SiLU MLP is not modelled (activation = gelu has its two projections)",
        swish:
          'swish is SiLU: a gated MLP (Llama-style) is activation = swiglu; an ungated one is not modelled (activation = gelu has its two projections)',
        gelu_pytorch_tanh:
          "activation names the MLP's shape here: Gemma's gated MLP with hidden_activation = gelu_pytorch_tanh is activation = geglu; an ungated one (tanh-approximated GELU, GPT-2-style) is activation = gelu",
      },
      sameValues: { gelu_new: 'gelu' },
    },
    bias: {
      type: { kind: 'bool' },
      default: { byArch: { llama: false, gpt2: true } },
      doc: 'Whether linear layers (attention, MLP, experts) have biases.',
      example: 'false',
      aliases: ['attention_bias', 'add_bias_linear'],
    },
    qkv_bias: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: 'Whether the q, k and v projections have biases when the other linear layers have none (Qwen2).',
      example: 'true',
      aliases: ['add_qkv_bias'],
    },
    norms_per_layer: {
      type: int(2, 4),
      default: { value: 2 },
      doc: 'Norms in each layer: 2 (before attention and before the MLP) or 4 (Gemma-2/3 also norm each sublayer output).',
      example: '4',
    },
    qk_norm: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: 'RMSNorms over head_dim on queries and keys (Qwen3, Gemma-3).',
      example: 'true',
      aliases: ['qk_layernorm', 'use_qk_norm'],
    },
    attn_softcap: {
      type: num(1, 1e6),
      default: { rule: 'none' },
      doc: 'Soft-capping of attention scores before the softmax: cap · tanh(score / cap) (Gemma-2).',
      example: '50',
      aliases: ['attn_logit_softcapping', 'attention_softcap'],
    },
    logit_softcap: {
      type: num(1, 1e6),
      default: { rule: 'none' },
      doc: 'Soft-capping of the output logits: cap · tanh(logit / cap) (Gemma-2).',
      example: '30',
      aliases: ['final_logit_softcapping', 'final_softcap'],
    },
    query_pre_attn_scalar: {
      type: num(1, 1e6),
      default: { rule: 'head_dim' },
      doc: 'Attention scores are scaled by query_pre_attn_scalar^−½ instead of head_dim^−½ (Gemma).',
      example: '144',
      aliases: ['query_scalar', 'attn_scalar'],
    },
    scale_embeddings: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: 'Token embeddings are multiplied by √hidden, rounded to dtype, before the first layer (Gemma).',
      example: 'true',
      aliases: ['normalize_embeddings', 'embedding_scale'],
    },
    norm_offset: {
      type: int(0, 1),
      default: { value: 0 },
      doc: 'RMSNorms scale by norm_offset + weight: 1 where checkpoints store the weight minus one (Gemma).',
      example: '1',
    },
    norm_eps: {
      type: num(0, 1),
      default: { value: 1e-5 },
      doc: 'Epsilon of the norms.',
      example: '1e-6',
      aliases: ['rms_norm_eps', 'layer_norm_epsilon', 'layer_norm_eps', 'norm_epsilon'],
    },
    rope_theta: {
      type: num(1, 1e12),
      default: { value: 10000 },
      doc: 'RoPE base (positions = rope).',
      example: '500000',
      aliases: ['rotary_base', 'rope_base', 'rotary_emb_base'],
    },
    rope_scaling: {
      type: enumOf(...ROPE_SCALINGS),
      default: { value: 'none' },
      doc: 'RoPE scaling for contexts past the trained one (Hugging Face rope_type); with rope_factor and, by type, the keys below.',
      example: 'llama3',
      aliases: ['rope_type', 'use_rope_scaling'],
    },
    rope_factor: {
      type: num(1, 1e6),
      default: { rule: 'required with rope_scaling' },
      doc: 'RoPE scaling factor.',
      example: '8',
      aliases: ['rope_scaling_factor', 'rotary_scaling_factor'],
    },
    rope_original_max_seq: {
      type: int(1, MAX_TOKENS),
      default: { rule: 'required with rope_scaling = llama3 or yarn' },
      doc: 'The context the model was trained with before RoPE scaling (llama3, yarn).',
      example: '8192',
      aliases: ['original_max_position_embeddings'],
    },
    rope_low_freq_factor: {
      type: num(0, 1e6),
      default: { value: 1, note: '(llama3)' },
      doc: 'llama3 scaling: wavelengths longer than rope_original_max_seq / rope_low_freq_factor are divided by rope_factor.',
      example: '1',
      aliases: ['low_freq_factor'],
    },
    rope_high_freq_factor: {
      type: num(0, 1e6),
      default: { value: 4, note: '(llama3)' },
      doc: 'llama3 scaling: wavelengths shorter than rope_original_max_seq / rope_high_freq_factor are kept.',
      example: '4',
      aliases: ['high_freq_factor'],
    },
    rope_beta_fast: {
      type: num(0, 1e6),
      default: { value: 32, note: '(yarn)' },
      doc: 'yarn scaling: rotations above which dimensions are left unscaled.',
      example: '32',
      aliases: ['beta_fast'],
    },
    rope_beta_slow: {
      type: num(0, 1e6),
      default: { value: 1, note: '(yarn)' },
      doc: 'yarn scaling: rotations below which dimensions are fully scaled.',
      example: '1',
      aliases: ['beta_slow'],
    },
    sliding_window: {
      type: int(1, MAX_TOKENS),
      doc: 'Sliding-window attention: each token attends to at most this many positions, itself included (on the layers sliding_window_pattern picks).',
      example: '4096',
      aliases: ['window_size', 'attention_window'],
    },
    sliding_window_pattern: {
      type: int(1, MAX_LAYERS),
      default: { rule: 'every layer uses the window' },
      doc: 'With sliding_window: every n-th layer (layers n−1, 2n−1, …) attends to the whole context, the others use the window; 2 alternates (Gemma-2, gpt-oss), 6 is Gemma-3.',
      example: '2',
    },
    attention_sinks: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: 'A learned sink logit per head in every attention softmax (gpt-oss).',
      example: 'true',
      aliases: ['sinks'],
    },
    experts: {
      type: int(1, MAX_EXPERTS),
      doc: 'Mixture-of-Experts: routed experts in each MoE layer (absent: a dense MLP).',
      example: '8',
      aliases: ['num_local_experts', 'n_routed_experts', 'num_experts', 'moe_num_experts', 'num_moe_experts'],
    },
    experts_per_token: {
      type: int(1, MAX_EXPERTS),
      default: { rule: 'required with experts' },
      doc: 'Routed experts each token is sent to (top-k).',
      example: '2',
      aliases: ['num_experts_per_tok', 'moe_router_topk', 'top_k', 'moe_top_k', 'experts_per_tok'],
    },
    expert_ffn: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'ffn' },
      doc: 'Intermediate dimension of one routed expert.',
      example: '14336',
      aliases: ['moe_intermediate_size', 'moe_ffn_hidden_size', 'expert_intermediate_size'],
    },
    shared_experts: {
      type: int(0, MAX_EXPERTS),
      default: { value: 0 },
      doc: 'Experts every token goes through besides the routed ones (DeepSeek, Qwen2-MoE).',
      example: '1',
      aliases: ['n_shared_experts', 'num_shared_experts', 'moe_shared_expert_count'],
    },
    shared_expert_ffn: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'expert_ffn' },
      doc: 'Intermediate dimension of one shared expert.',
      example: '5632',
      aliases: ['shared_expert_intermediate_size', 'moe_shared_expert_intermediate_size'],
    },
    shared_expert_gate: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: 'A sigmoid gate (hidden → 1) on the shared experts output (Qwen2-MoE).',
      example: 'true',
    },
    router_bias: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: "A per-expert bias in the router (gpt-oss; DeepSeek-V3's score-correction bias).",
      example: 'true',
    },
    norm_topk: {
      type: { kind: 'bool' },
      default: { value: true },
      doc: "With experts: the chosen experts' router weights are renormalized to sum to 1 (Mixtral, Qwen3-MoE's norm_topk_prob, DeepSeek-V3); false: each keeps its softmax probability (Qwen2-MoE, DeepSeek-V2).",
      example: 'false',
      aliases: ['norm_topk_prob', 'renormalize'],
    },
    dense_layers: {
      type: int(0, MAX_LAYERS),
      default: { value: 0 },
      doc: 'With experts: the first this many layers have a dense MLP of width ffn instead of experts (DeepSeek).',
      example: '3',
      aliases: ['first_k_dense_replace', 'first_k_dense', 'moe_layer_start'],
    },
    kv_lora_rank: {
      type: int(1, MAX_WIDTH),
      doc: 'Multi-head latent attention (DeepSeek-V2/V3): rank of the compressed key/value latent, which the KV cache stores (absent: grouped-query attention).',
      example: '512',
      aliases: ['kv_lora', 'mla'],
    },
    q_lora_rank: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'none: one full q projection' },
      doc: 'MLA: rank of the query compression.',
      example: '1536',
    },
    qk_nope_head_dim: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'required with kv_lora_rank' },
      doc: 'MLA: per-head query/key dimension without rotary positions.',
      example: '128',
    },
    qk_rope_head_dim: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'required with kv_lora_rank' },
      doc: 'MLA: per-head query/key dimension with rotary positions (one rotary key shared by all heads).',
      example: '64',
    },
    v_head_dim: {
      type: int(1, MAX_WIDTH),
      default: { rule: 'required with kv_lora_rank' },
      doc: 'MLA: per-head value dimension.',
      example: '128',
    },
    quantization: {
      type: enumOf(...QUANTIZATIONS),
      default: { value: 'none' },
      unsupported: {
        bitsandbytes:
          "bitsandbytes' 4-bit NF4 is quantization = nf4 (with quant_double = true for QLoRA's double quantization); its LLM.int8 8-bit weights are not modelled, quantization = fp8 stores one byte per weight with fp32 scales, the nearest size",
        int8: 'int8 weight quantization is not modelled; quantization = fp8 stores one byte per weight with fp32 scales, the nearest size',
        gguf: 'GGUF (llama.cpp) quantization is not modelled; for 4-bit GGUF types quantization = gptq is the nearest size, for Q8_0 quantization = fp8',
      },
      doc: 'Quantized weights of the linear layers: awq/gptq (int4 with per-group fp16 scales and int4 zeros), fp8 (e4m3 with fp32 scales), mxfp4 (4-bit blocks of 32 with an 8-bit scale, gpt-oss experts), nf4 (bitsandbytes 4-bit NormalFloat, blocks of 64 with an fp32 absmax, QLoRA); embeddings, norms and the router stay in dtype.',
      example: 'awq',
      aliases: ['quant_method', 'quantize', 'quant'],
    },
    quant_group: {
      type: int(0, MAX_WIDTH),
      default: { rule: '128 for awq/gptq, 32 for mxfp4, 64 for nf4; fp8: 0 (one scale per tensor)' },
      doc: 'Input channels sharing one scale (fp8: the edge of a square scale block, as weight_block_size; 0: per tensor).',
      example: '128',
      aliases: ['group_size', 'q_group_size', 'weight_block_size'],
    },
    quant_double: {
      type: { kind: 'bool' },
      default: { value: false, note: "(as Hugging Face's BitsAndBytesConfig; QLoRA's scripts set true)" },
      doc: "nf4: double quantization (bitsandbytes compress_statistics): each block's fp32 absmax is itself quantized to 8 bits in blocks of 256, 0.516 instead of 0.5625 B per weight.",
      example: 'true',
      aliases: ['bnb_4bit_use_double_quant', 'double_quant', 'use_double_quant'],
    },
    quant_lm_head: {
      type: { kind: 'bool' },
      default: { value: false },
      doc: 'The output layer is quantized too (otherwise it stays in dtype, as vLLM loads it).',
      example: 'false',
      aliases: ['lm_head'],
    },
    positions: {
      type: enumOf(...POSITIONS),
      default: { byArch: { llama: 'rope', gpt2: 'learned' } },
      doc: 'Position encoding; learned adds a max_seq × hidden table.',
      example: 'rope',
    },
    hf_config: {
      type: { kind: 'string' },
      doc: "A Hugging Face config.json (path relative to this file) that gives the model's keys; keys written in the block override it.",
      example: '"configs/Llama-3.1-8B.json"',
      aliases: ['config', 'config_json', 'hf_config_path', 'model_config'],
    },
  },
  cluster: {
    gpu: {
      type: { kind: 'gpu' },
      required: true,
      doc: 'The GPU: a catalog name, or a block `gpu { name = "…"  memory = 24 GiB }`.',
      example: 'H100_SXM_80GB',
    },
    gpus: {
      type: int(1, MAX_GPUS),
      doc: 'Total number of GPUs (all on one node unless nodes is given).',
      example: '8',
      aliases: ['num_gpus', 'world_size'],
    },
    nodes: {
      type: int(1, 100_000),
      doc: 'Number of nodes; use with gpus_per_node instead of gpus.',
      example: '4',
      aliases: ['num_nodes', 'nnodes'],
    },
    gpus_per_node: {
      type: int(1, 1024),
      default: { value: 8, note: 'with nodes; gpus otherwise' },
      doc: 'GPUs per node.',
      example: '8',
      aliases: ['nproc_per_node', 'num_gpus_per_node'],
    },
    network: {
      type: num(0, MAX_RATE),
      default: { value: 50, note: '(400 Gb/s InfiniBand per GPU)' },
      doc: 'Inter-node bandwidth per GPU in GB/s, each direction (for cost estimates of traffic between nodes).',
      example: '50',
      aliases: ['network_bandwidth', 'inter_node_bandwidth', 'internode_bandwidth'],
    },
    host_memory: {
      type: bytes,
      default: { rule: 'absent: the host check of offload plans is skipped (a note says so); no catalog value, hosts differ too much' },
      doc: "CPU memory per node, for plans that offload to it (offload): the host total per node must fit in it, as a GPU total must fit the GPU (DeepSpeed's 1.5 buffer factor is the slack).",
      example: '1536 GiB',
      aliases: ['cpu_memory', 'host_ram', 'ram'],
    },
  },
  gpu: {
    name: { type: { kind: 'string' }, required: true, doc: 'A name for the GPU, shown in reports.', example: '"RTX 4090"' },
    memory: { type: bytes, required: true, doc: 'Memory capacity per GPU.', example: '24 GiB' },
    tflops: { type: num(0, MAX_RATE), doc: 'Peak dense 16-bit throughput in TFLOP/s (for cost estimates).', example: '165' },
    bandwidth: { type: num(0, MAX_RATE), doc: 'Memory bandwidth in GB/s (for cost estimates).', example: '1008' },
    link: {
      type: num(0, MAX_RATE),
      doc: 'GPU-to-GPU bandwidth within a node in GB/s, each direction (for cost estimates of traffic between GPUs of a node).',
      example: '32',
      aliases: ['link_bandwidth', 'nvlink', 'interconnect'],
    },
    profile: {
      type: { kind: 'string' },
      doc: 'A step-time profile measured on this GPU by `parplan profile` (JSON, relative to the plan\'s file, read as imports are): latency predictions of plans of the same model and tensor × pipeline layout use its measured prefill and decode times instead of the peak rates. See docs/latency.md, "Measured step times".',
      example: '"lavapipe.profile.json"',
    },
  },
  plan: {
    model: {
      type: { kind: 'ref', to: 'model' },
      required: true,
      doc: 'The model to run: the name of a model declaration.',
      example: 'llama3_8b',
    },
    cluster: {
      type: { kind: 'ref', to: 'cluster' },
      required: true,
      doc: 'The GPUs to run on: the name of a cluster declaration.',
      example: 'node',
    },
    mode: { type: enumOf(...MODES), required: true, doc: 'serve (inference with a KV cache) or train.', example: 'serve' },
    tensor: {
      type: int(1, MAX_GPUS),
      default: { value: 1 },
      doc: 'Tensor-parallel degree: GPUs that split each layer (Megatron column/row parallel).',
      example: '2',
      aliases: ['tp', 'tensor_parallel', 'tensor_parallel_size', 'tensor_model_parallel_size'],
    },
    pipeline: {
      type: int(1, MAX_GPUS),
      default: { value: 1 },
      doc: 'Pipeline-parallel degree: number of stages, each holding a range of layers.',
      example: '2',
      aliases: ['pp', 'pipeline_parallel', 'pipeline_parallel_size', 'pipeline_model_parallel_size'],
    },
    data: {
      type: int(1, MAX_GPUS),
      default: { value: 1 },
      doc: 'Data-parallel degree: replicas of the tensor × pipeline group.',
      example: '2',
      aliases: ['dp', 'data_parallel', 'data_parallel_size', 'replicas'],
    },
    context: {
      type: int(1, MAX_GPUS),
      default: { value: 1 },
      doc: 'Context-parallel degree (training): GPUs that split every sequence into chunks, exchanging K and V in attention (Megatron --context-parallel-size, torchtitan context_parallel_degree); seq must be divisible by 2 × context. See "Context parallelism".',
      example: '2',
      aliases: ['cp', 'context_parallel', 'context_parallel_size', 'context_parallel_degree'],
    },
    context_comm: {
      type: enumOf('p2p', 'all_gather', 'a2a'),
      default: { value: 'p2p', note: "(Megatron's --cp-comm-type default)" },
      modes: ['train'],
      doc: "How context-parallel attention gets the other chunks' K and V: p2p (a ring of send/recv, TransformerEngine's default), all_gather (one all-gather per layer, torchtitan's allgather rotate method) or a2a (all-to-all over heads, Ulysses-style). Changes the transient memory and the traffic.",
      example: 'all_gather',
      aliases: ['cp_comm_type', 'context_parallel_rotate_method', 'rotate_method'],
    },
    expert: {
      type: int(1, MAX_GPUS),
      default: { value: 1 },
      doc: 'Expert-parallel degree: GPUs that split the routed experts of each MoE layer between them (the ranks of an expert group are drawn from the data and tensor ranks; see "Expert parallelism").',
      example: '8',
      aliases: [
        'ep',
        'expert_parallel',
        'expert_parallel_size',
        'expert_model_parallel_size',
        'expert_parallel_degree',
        'enable_expert_parallel',
      ],
    },
    expert_tensor: {
      type: int(1, MAX_GPUS),
      default: { rule: 'tensor; serving with expert > 1: tensor × data / expert' },
      doc: 'Expert tensor-parallel degree: GPUs that split each expert (Megatron-Core --expert-tensor-parallel-size); see "Expert parallelism".',
      example: '1',
      aliases: ['etp', 'expert_tensor_parallel_size', 'expert_tensor_parallel_degree', 'moe_tensor_parallel_size'],
    },
    stages: {
      type: { kind: 'ranges' },
      default: { rule: 'balanced' },
      doc: 'Explicit inclusive layer ranges, one per pipeline stage, covering every layer once.',
      example: '[0..15, 16..31]',
    },
    layout: {
      type: { kind: 'string' },
      modes: ['train'],
      doc: "Megatron-LM's --pipeline-model-parallel-layout, verbatim: one `|`-separated entry per virtual stage (E embedding, t a layer, L the loss; `t*3`, `(tt|)*4`); pipeline × virtual entries, uneven or empty ones allowed.",
      example: '"Et*3|t*4|t*4|t*3L"',
      aliases: ['pipeline_model_parallel_layout', 'pipeline_layout'],
    },
    batch: {
      type: { kind: 'block', block: 'batch' },
      required: true,
      doc: 'The batch policy (serving or training keys, by mode).',
      example: '{ max_batch = 32  seq = 4096 }',
    },
    traffic: {
      type: { kind: 'block', block: 'traffic' },
      modes: ['serve'],
      doc: 'The requests the server must hold: arrival rate and process, prompt and output lengths. `parplan check` simulates the batching policy under it (docs/latency.md).',
      example: '{ rate = 20  prompt = 512  output = 128 }',
    },
    slo: {
      type: { kind: 'block', block: 'slo' },
      modes: ['serve'],
      doc: 'Latency objectives under the traffic block: a predicted miss is an error, as a misfit is.',
      example: '{ ttft_p99 = 500 ms  tpot_p99 = 50 ms }',
    },
    adapter: {
      type: { kind: 'block', block: 'adapter' },
      modes: ['train'],
      doc: 'LoRA fine-tuning (Hugging Face PEFT): the model is frozen in its dtype (or its quantization: QLoRA with quantization = nf4) and only low-rank adapters on the target linears are trained, with their gradients and optimizer states.',
      example: '{ rank = 16  alpha = 32  targets = ["q_proj", "v_proj"] }',
      aliases: ['lora', 'peft', 'lora_config', 'peft_config'],
    },
    reserve: {
      type: { kind: 'fraction', max: 0.9 },
      default: { value: 0.1 },
      doc: 'Share of each GPU held back (fragmentation, CUDA context, other processes).',
      example: '10%',
      aliases: ['gpu_memory_utilization'],
    },
    workspace: {
      type: bytes,
      default: { value: 256 * 2 ** 20 },
      doc: 'Per-GPU scratch for kernels and communication buffers.',
      example: '256 MiB',
    },
    attention: {
      type: enumOf(...ATTENTION),
      default: { value: 'flash' },
      doc: 'flash keeps no s × s score matrix; standard materializes it.',
      example: 'flash',
    },
    engine: {
      type: enumOf('generic', 'webgpu'),
      default: { value: 'generic' },
      doc: "What runs the plan: generic (a CUDA serving engine or Megatron-style training, as docs/memory.md models them) or webgpu (parplan's runtime: f32 activations, its buffer layout; training: fp32 or bf16 with adamw or sgd, recompute none or full).",
      example: 'webgpu',
    },
    kv_dtype: {
      type: dtype,
      default: { rule: 'the model dtype' },
      modes: ['serve'],
      doc: 'Data type of the KV cache.',
      example: 'bf16',
      aliases: ['kv_cache_dtype'],
      sameValues: DTYPE_ALIASES,
    },
    kv_block: {
      type: int(1, 65_536),
      default: { value: 16 },
      modes: ['serve'],
      doc: 'Tokens per KV-cache page: each sequence holds whole pages (vLLM block_size).',
      example: '16',
      aliases: ['block_size', 'page_size', 'kv_block_size'],
    },
    capacity_factor: {
      type: num(0, 1000),
      default: { rule: 'dropless' },
      modes: ['train'],
      doc: 'MoE: each expert takes at most capacity_factor × its even share of tokens (padded to it); absent: dropless, every routed token kept.',
      example: '1.25',
      aliases: ['moe_expert_capacity_factor', 'expert_capacity_factor'],
    },
    sequence_parallel: {
      type: { kind: 'bool' },
      default: { value: false },
      modes: ['train'],
      doc: 'Megatron sequence parallelism: shard norm and dropout activations over the tensor group.',
      example: 'true',
    },
    schedule: {
      type: enumOf(...SCHEDULES),
      default: { value: '1f1b' },
      modes: ['train'],
      doc: 'Pipeline schedule.',
      example: '1f1b',
      unsupported: {
        zb_h1:
          'zero-bubble schedules have no name here yet; write the schedule as an actions table with split backward (B then W per microbatch, PyTorch pipelining notation), which parplan checks and times',
        zbv: 'ZB-V (zero-bubble, V-shaped) has no name here yet; write it as an actions table with virtual = 2 and split backward (B and W actions)',
        dualpipe:
          "DualPipe (DeepSeek-V3) is not modelled: it runs two pipelines in opposite directions, each rank holding two copies of its stages' weights; schedule = interleaved is the nearest named schedule",
        dualpipev:
          'DualPipeV (the V-shaped DualPipe, torch.distributed.pipelining ScheduleDualPipeV) has no name here yet; write it as an actions table with virtual = 2 and split backward (B and W actions)',
      },
      sameValues: { '1f1b_interleaved': 'interleaved', interleaved_1f1b: 'interleaved', interleaved1f1b: 'interleaved' },
    },
    microbatches: {
      type: int(1, MAX_SEQUENCES),
      default: { rule: 'global / (micro × data)' },
      modes: ['train'],
      doc: 'Microbatches per step per pipeline (gradient-accumulation steps).',
      example: '8',
      aliases: ['num_microbatches', 'gradient_accumulation_steps', 'accum'],
    },
    actions: {
      type: { kind: 'strings' },
      modes: ['train'],
      doc: 'An explicit pipeline schedule: one string per pipeline rank of actions such as `0F3` (virtual stage, F, B, I or W, microbatch: PyTorch pipelining notation), replacing schedule.',
      example: '["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]',
    },
    virtual: {
      type: int(2, MAX_LAYERS),
      modes: ['train'],
      doc: 'Model chunks per pipeline stage for schedule = interleaved.',
      example: '2',
      aliases: ['virtual_pipeline_model_parallel_size', 'virtual_stages'],
    },
    zero: {
      type: int(0, 3),
      default: { value: 0 },
      modes: ['train'],
      doc: 'ZeRO stage: 1 shards optimizer states, 2 also gradients, 3 also weights, across data replicas.',
      example: '1',
      aliases: ['zero_stage'],
    },
    shard_group: {
      type: int(1, MAX_GPUS),
      default: { rule: 'data (plain ZeRO / FSDP: shard over every data replica)' },
      modes: ['train'],
      doc: 'HSDP: the data ranks ZeRO shards over; the data ÷ shard_group groups replicate each other (torchtitan data_parallel_shard_degree, DeepSpeed MiCS mics_shard_size).',
      example: '8',
      aliases: ['data_parallel_shard_degree', 'dp_shard', 'mics_shard_size', 'shard_degree'],
    },
    reshard_after_forward: {
      type: { kind: 'bool' },
      default: { value: true, note: 'ZeRO-3 as DeepSpeed runs it; torchtitan defaults to false with pipeline > 1' },
      modes: ['train'],
      doc: 'zero = 3: free the gathered weights after each forward (true) or keep them until backward (false: ZeRO-2-like, one all-gather per step; FSDP2 reshard_after_forward).',
      example: 'false',
      aliases: ['fsdp_reshard_after_forward'],
    },
    offload: {
      type: enumOf(...OFFLOADS),
      default: { value: 'none' },
      modes: ['train'],
      doc: 'ZeRO-Offload/Infinity to CPU memory: optimizer (fp32 master weights, optimizer states and fp32 gradients, the step on the CPU; zero ≥ 1) or optimizer_params (also the 16-bit weights; zero = 3).',
      example: 'optimizer',
      aliases: ['offload_optimizer', 'cpu_offload', 'offload_param', 'enable_cpu_offload'],
      unsupported: {
        nvme: 'NVMe offload (ZeRO-Infinity offload_device nvme) is not modelled yet; offload = optimizer_params is the nearest: it keeps in CPU memory what NVMe would hold',
      },
    },
    recompute: {
      type: enumOf(...RECOMPUTE),
      default: { value: 'none' },
      modes: ['train'],
      doc: "Activation recomputation: selective recomputes core attention (Megatron's core_attn), selective_op saves only torchtitan's op list (matmul outputs but every second, attention outputs), full keeps only each checkpointed layer's input.",
      example: 'selective',
      aliases: ['recompute_granularity', 'activation_checkpointing', 'checkpointing', 'ac_mode'],
      valueAliases: {
        op: ['selective_op', 'torchtitan\'s selective_ac_option = "op" is recompute = selective_op'],
        sac: ['selective_op', "torchtitan's per-op selective activation checkpointing is recompute = selective_op"],
        core_attn: ['selective', "Megatron's recompute_modules = [core_attn] is recompute = selective"],
        block: ['full', "block is Megatron's --recompute-method, not a granularity: write recompute = full with recompute_method = block"],
        uniform: [
          'full',
          "uniform is Megatron's --recompute-method, not a granularity: write recompute = full with recompute_method = uniform",
        ],
      },
      unsupported: {
        offload:
          'activation offloading to CPU is not modelled; recompute = full keeps only each layer input on the GPU, the nearest GPU footprint',
      },
    },
    recompute_method: {
      type: enumOf(...RECOMPUTE_METHODS),
      default: { value: 'uniform' },
      modes: ['train'],
      doc: "With recompute = full, which layers are checkpointed (Megatron --recompute-method): uniform checkpoints every group of recompute_layers layers at its input, block fully recomputes the first recompute_layers layers of each stage and keeps the rest's activations.",
      example: 'block',
    },
    recompute_layers: {
      type: int(1, MAX_LAYERS),
      default: { value: 1 },
      modes: ['train'],
      doc: 'With recompute = full: layers per checkpointed group (uniform) or layers fully recomputed per pipeline stage (block), as Megatron --recompute-num-layers.',
      example: '4',
      aliases: ['recompute_num_layers'],
    },
    precision: {
      type: enumOf(...PRECISIONS),
      default: { value: 'bf16', note: 'unless the model dtype is fp32 or fp16: then the model dtype' },
      modes: ['train'],
      doc: "Training precision recipe: fp32, or Megatron's bf16 / fp16 (16-bit weights and activations, fp32 master weights in the optimizer); amp_bf16 / amp_fp16 are PyTorch autocast (HF Trainer, FSDP2 MixedPrecisionPolicy): fp32 weights that are the master weights, 16-bit compute.",
      example: 'bf16',
      unsupported: {
        fp8: 'fp8 training is a recipe on top of 16-bit mixed precision, not a precision of its own: set precision = bf16 with fp8 = te_delayed | te_current | te_mxfp8 (TransformerEngine, Megatron-LM), or precision = amp_bf16 with fp8 = torchao_tensorwise | torchao_rowwise (torchao Float8Linear, FSDP2 mixed precision)',
      },
      valueAliases: {
        amp: ['amp_bf16', 'PyTorch autocast with fp32 parameters is precision = amp_bf16 (or amp_fp16)'],
        autocast: ['amp_bf16', 'PyTorch autocast with fp32 parameters is precision = amp_bf16 (or amp_fp16)'],
        bf16_amp: ['amp_bf16', 'autocast to bf16 with fp32 parameters is precision = amp_bf16'],
        fp16_amp: ['amp_fp16', 'autocast to fp16 with fp32 parameters and a GradScaler is precision = amp_fp16'],
        amp_bfloat16: ['amp_bf16', 'autocast to bf16 with fp32 parameters is precision = amp_bf16'],
        amp_float16: ['amp_fp16', 'autocast to fp16 with fp32 parameters is precision = amp_fp16'],
        bfloat16: ['bf16', "bfloat16 is bf16 here; HF Trainer's bf16 = True (fp32 parameters under autocast) is precision = amp_bf16"],
        float16: ['fp16', "float16 is fp16 here; HF Trainer's fp16 = True (fp32 parameters under autocast) is precision = amp_fp16"],
        float32: ['fp32', 'float32 is fp32 here'],
      },
      aliases: ['mixed_precision', 'param_dtype', 'mixed_precision_param'],
    },
    optimizer: {
      type: enumOf(...OPTIMIZERS),
      default: { value: 'adamw' },
      modes: ['train'],
      doc: 'Optimizer; adam(w) keeps two fp32 moments, sgd one (momentum).',
      example: 'adamw',
      unsupported: {
        adafactor:
          'Adafactor (factored second moments, no first moment by default) is not modelled; optimizer = sgd (one fp32 state per parameter) is the nearest upper bound',
        lion: 'Lion is not modelled; it keeps one momentum per parameter, the bytes optimizer = sgd counts (its update rule differs, its memory does not)',
        muon: 'Muon is not modelled; it keeps one momentum per matrix parameter (AdamW for the rest): optimizer = sgd counts one state per parameter, the nearest',
        adamw8bit:
          '8-bit AdamW (bitsandbytes) is not modelled; optimizer = adamw counts its two moments in fp32 (8 B per parameter where it keeps about 2), an upper bound',
      },
    },
    grad_clip: {
      type: num(0, 1e9),
      default: { rule: 'none (no clipping)' },
      modes: ['train'],
      doc: 'Clip gradients by their global norm before the optimizer (torch.nn.utils.clip_grad_norm_: scale = min(1, grad_clip / (norm + 1e-6))); absent: no clipping.',
      example: '1.0',
      aliases: ['clip_grad', 'max_grad_norm', 'gradient_clipping', 'clip_grad_norm'],
    },
    grad_dtype: {
      type: floatDtype,
      default: { value: 'fp32' },
      modes: ['train'],
      doc: 'Data type of gradients (the main gradient buffer).',
      example: 'fp32',
      sameValues: FLOAT_DTYPE_ALIASES,
    },
    fp8: {
      type: enumOf(...FP8_RECIPES),
      default: { value: 'none' },
      modes: ['train'],
      doc: "fp8 training of the linear layers' GEMMs: te_delayed, te_current, te_mxfp8 with precision = bf16 (TransformerEngine as Megatron-LM runs it: an fp8 copy of each weight, GEMM inputs saved in fp8, scaling state) or torchao_tensorwise, torchao_rowwise with precision = amp_bf16 (torchao Float8Linear under FSDP2: inputs saved in bf16; tensorwise gathers fp8 weights under zero = 3); attention, norms and the output layer stay bf16.",
      example: 'te_delayed',
      aliases: ['fp8_recipe', 'fp8_format', 'float8'],
    },
  },
  batch: {
    max_batch: {
      type: int(1, MAX_SEQUENCES),
      required: true,
      modes: ['serve'],
      doc: 'Most sequences decoded together in one batch.',
      example: '32',
      aliases: ['max_num_seqs', 'max_batch_size'],
    },
    max_wait: {
      type: { kind: 'duration', max: MAX_WAIT_MS },
      default: { value: 5 },
      modes: ['serve'],
      doc: 'Longest time a request waits for a batch to fill.',
      example: '5 ms',
      aliases: ['max_queue_delay', 'batch_wait_timeout'],
    },
    queue: {
      type: int(0, MAX_SEQUENCES),
      default: { value: 1024 },
      modes: ['serve'],
      doc: 'Most requests waiting; further requests are rejected.',
      example: '1024',
      aliases: ['max_queue_size', 'max_queued_requests'],
    },
    max_prefill_tokens: {
      type: int(1, MAX_TOKENS),
      default: {
        rule: "vLLM's default max_num_batched_tokens (OpenAI server, chunked prefill; vllm/engine/arg_utils.py get_batch_defaults): 8192 on GPUs of at least 70 GiB other than A100s, else 2048; at most max_batch × seq, at least max_batch; engine = webgpu: seq",
      },
      modes: ['serve'],
      doc: 'Most prompt tokens prefilled in one step (chunked prefill budget).',
      example: '4096',
      aliases: ['max_num_batched_tokens', 'max_batch_prefill_tokens'],
    },
    seq: {
      type: int(1, MAX_TOKENS),
      required: true,
      doc: 'Tokens per sequence: prompt plus output when serving, the training sequence length when training.',
      example: '4096',
      aliases: ['seq_len', 'seq_length', 'sequence_length', 'max_seq'],
    },
    global: {
      type: int(1, MAX_SEQUENCES),
      required: true,
      modes: ['train'],
      doc: 'Global batch: sequences per optimizer step, over all data replicas.',
      example: '256',
      aliases: ['global_batch', 'global_batch_size', 'train_batch_size'],
    },
    micro: {
      type: int(1, MAX_SEQUENCES),
      default: { value: 1 },
      modes: ['train'],
      doc: 'Microbatch: sequences per forward/backward pass on one replica.',
      example: '1',
      aliases: ['micro_batch', 'micro_batch_size', 'train_micro_batch_size_per_gpu'],
    },
  },
  adapter: {
    rank: {
      type: int(1, MAX_WIDTH),
      default: { value: 8, note: "(PEFT LoraConfig's r)" },
      doc: 'Rank r of each adapter: a target linear d_in → d_out gains A (d_in → r) and B (r → d_out), r·(d_in + d_out) trainable parameters.',
      example: '16',
      aliases: ['r', 'lora_r', 'lora_rank'],
    },
    alpha: {
      type: num(0, 1e6),
      default: { value: 8, note: "(PEFT's lora_alpha)" },
      doc: 'Scaling numerator: the adapter output is multiplied by alpha / rank (no effect on memory or time).',
      example: '32',
      aliases: ['lora_alpha'],
    },
    targets: {
      type: { kind: 'strings' },
      default: { rule: 'PEFT\'s default for the family: ["q_proj", "v_proj"] (llama), ["c_attn"] (gpt2)' },
      doc: 'The linears that get adapters, as PEFT names them: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj (MLA: q_a_proj q_b_proj kv_a_proj_with_mqa kv_b_proj; gpt2: c_attn c_proj c_fc), or "all-linear" (every linear of the layers; not lm_head, not the routed experts).',
      example: '["q_proj", "k_proj", "v_proj", "o_proj"]',
      aliases: ['target_modules', 'lora_target_modules', 'lora_target'],
    },
    dropout: {
      type: num(0, 1),
      default: { value: 0, note: "(PEFT's lora_dropout)" },
      doc: 'Dropout on the adapter input; above 0 each adapter keeps its own dropped copy of its input and a mask for the backward pass.',
      example: '0.05',
      aliases: ['lora_dropout'],
    },
  },
  traffic: {
    rate: {
      type: num(0.000001, MAX_REQUEST_RATE),
      default: { rule: "with trace: the trace's own rate (requests / its span); else required" },
      doc: "Mean arrival rate, requests per second; with trace, the trace's arrival times are scaled to it.",
      example: '20',
      aliases: ['request_rate', 'qps'],
    },
    trace: {
      type: { kind: 'string' },
      doc: 'A request trace, CSV in the Azure LLM inference trace format (TIMESTAMP,ContextTokens,GeneratedTokens; TIMESTAMP a date and time or seconds), relative to the plan file and confined as imports are: its arrivals and lengths replace process and the length keys.',
      example: '"traces/azure-conv.csv"',
    },
    process: {
      type: enumOf('poisson', 'burst'),
      default: { value: 'poisson' },
      doc: 'Arrivals: poisson (independent), or burst (Poisson arrivals of `burst` requests at once, the same mean rate).',
      example: 'poisson',
    },
    burst: {
      type: int(1, MAX_SEQUENCES),
      default: { value: 4 },
      doc: 'Requests arriving together when process = burst.',
      example: '4',
    },
    prompt: {
      type: int(1, MAX_TOKENS),
      doc: 'Prompt tokens per request: every request has this many, or with prompt_p99 this is the mean of a lognormal.',
      example: '512',
    },
    prompt_p99: {
      type: int(1, MAX_TOKENS),
      doc: '99th percentile of prompt tokens: prompt lengths are lognormal with mean prompt and this p99 (at most about 15 × the mean).',
      example: '2048',
    },
    prompt_min: {
      type: int(1, MAX_TOKENS),
      doc: 'With prompt_max, instead of prompt: prompt lengths uniform over prompt_min … prompt_max.',
      example: '128',
    },
    prompt_max: {
      type: int(1, MAX_TOKENS),
      doc: 'With prompt_min: the longest prompt (uniform lengths).',
      example: '1024',
    },
    output: {
      type: int(1, MAX_TOKENS),
      doc: 'Output tokens per request: every request has this many, or with output_p99 this is the mean of a lognormal.',
      example: '128',
    },
    output_p99: {
      type: int(1, MAX_TOKENS),
      doc: '99th percentile of output tokens: output lengths are lognormal with mean output and this p99 (at most about 15 × the mean).',
      example: '512',
    },
    output_min: {
      type: int(1, MAX_TOKENS),
      doc: 'With output_max, instead of output: output lengths uniform over output_min … output_max.',
      example: '32',
    },
    output_max: {
      type: int(1, MAX_TOKENS),
      doc: 'With output_min: the longest output (uniform lengths).',
      example: '256',
    },
    requests: {
      type: int(1, MAX_SEQUENCES),
      default: {
        rule: 'rate × duration when duration is given, else 2000; the simulation runs at most LIMITS.latencyRequests (a note says when it is capped)',
      },
      doc: 'Requests to simulate.',
      example: '2000',
    },
    duration: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Length of the simulated traffic (instead of requests): rate × duration requests.',
      example: '60 s',
    },
    seed: {
      type: int(0, 2 ** 32 - 1),
      default: { value: 1 },
      doc: 'Seed of the arrival and length streams: the same seed gives the same prediction.',
      example: '1',
    },
  },
  slo: {
    ttft_p50: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time to first token, 50th percentile.',
      example: '500 ms',
    },
    ttft_p90: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time to first token, 90th percentile.',
      example: '500 ms',
    },
    ttft_p95: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time to first token, 95th percentile.',
      example: '500 ms',
    },
    ttft_p99: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time to first token, 99th percentile.',
      example: '500 ms',
    },
    ttft_p99_9: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time to first token, 99.9th percentile.',
      example: '500 ms',
    },
    tpot_p50: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time per output token after the first, 50th percentile.',
      example: '50 ms',
    },
    tpot_p90: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time per output token after the first, 90th percentile.',
      example: '50 ms',
    },
    tpot_p95: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time per output token after the first, 95th percentile.',
      example: '50 ms',
    },
    tpot_p99: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time per output token after the first, 99th percentile.',
      example: '50 ms',
    },
    tpot_p99_9: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most time per output token after the first, 99.9th percentile.',
      example: '50 ms',
    },
    e2e_p50: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most end-to-end request latency, 50th percentile.',
      example: '5 s',
    },
    e2e_p90: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most end-to-end request latency, 90th percentile.',
      example: '5 s',
    },
    e2e_p95: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most end-to-end request latency, 95th percentile.',
      example: '5 s',
    },
    e2e_p99: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most end-to-end request latency, 99th percentile.',
      example: '5 s',
    },
    e2e_p99_9: {
      type: { kind: 'duration', max: MAX_SLO_MS },
      doc: 'Most end-to-end request latency, 99.9th percentile.',
      example: '5 s',
    },
    max_rejected: {
      type: { kind: 'fraction', max: 1 },
      doc: 'Most requests the queue limit may refuse, a fraction.',
      example: '1%',
    },
  },
} as const satisfies Record<BlockKind, Record<string, KeySpec>>;

export type KeyTable = typeof KEY_TABLE;
export const KEYS: Record<BlockKind, Record<string, KeySpec>> = KEY_TABLE;

/** Each block kind's keys as a Map, built once: own keys only, and a look-up per entry of every block read is cheap. */
const SPECS: ReadonlyMap<BlockKind, ReadonlyMap<string, KeySpec>> = new Map(
  (Object.keys(KEYS) as BlockKind[]).map((kind) => [kind, new Map(Object.entries(KEYS[kind]))] as const),
);

/** The spec of a key the user wrote; own keys only, so `constructor` or `__proto__` is unknown, not Object's. */
export function keySpec(kind: BlockKind, key: string): KeySpec | undefined {
  return SPECS.get(kind)!.get(key);
}

/**
 * The value the checker uses for an absent key: its value default, or with `arch` its arch
 * preset. Throws for a key whose default is a rule (the checker computes those) or that has none.
 */
export function defaultValue(kind: BlockKind, key: string, arch?: Arch): KeyValue {
  const d = keySpec(kind, key)?.default;
  if (d !== undefined && 'value' in d) return d.value;
  if (d !== undefined && 'byArch' in d && arch !== undefined) return d.byArch[arch];
  throw new Error(`internal: ${kind}.${key} has no default value${d !== undefined && 'byArch' in d ? ' without an arch' : ''}`);
}

/** The declaration keywords and the block each one's body is checked against. */
export const DECLARATIONS = { model: 'model', cluster: 'cluster', plan: 'plan' } as const satisfies Record<string, BlockKind>;
export type DeclarationKind = keyof typeof DECLARATIONS;

const BYTE_UNIT_TABLE = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
} as const;
/** Durations in milliseconds. */
const TIME_UNIT_TABLE = { us: 1e-3, ms: 1, s: 1e3 } as const;
export type ByteUnit = keyof typeof BYTE_UNIT_TABLE;
export type TimeUnit = keyof typeof TIME_UNIT_TABLE;
export const BYTE_UNITS: Record<string, number> = BYTE_UNIT_TABLE;
export const TIME_UNITS: Record<string, number> = TIME_UNIT_TABLE;
export const ALL_UNITS = [...Object.keys(BYTE_UNITS), ...Object.keys(TIME_UNITS), '%'];
