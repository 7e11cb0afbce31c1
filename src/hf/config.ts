/**
 * A Hugging Face `config.json` → the `model` keys it implies (`hf_config = "…"`, `parplan import`).
 * One table per `model_type`, read from the transformers configuration and modeling code of each
 * family (sources beside each table; docs/language.md lists what each maps). Only fields that
 * change memory, time or the graph are read; the others (dropout, token ids, softcapping, router
 * loss coefficients) are ignored. The result is AST entries whose spans point into the config, so
 * the checker reads them exactly as keys written in the block: the same types and ranges
 * (PP2008 …), and each diagnostic lands on the config field. Pure: the loader reads the file.
 */
import type { Declaration, Entry, Value } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../source.js';
import { describeJson, member, type JsonMember, type JsonValue } from './json.js';

/** A config the loader read for one `hf_config` entry, or the fact that it could not (its diagnostic is already out). */
export type LoadedConfig = { ok: true; source: SourceFile; json: JsonValue } | { ok: false; source?: SourceFile };

/** Loaded configs by the `hf_config` value node that names them (the loader fills it; the checker reads it). */
export type HfConfigs = ReadonlyMap<Value, LoadedConfig>;

/** One key the config gives, with the config field it came from (for override notes). */
export interface ConfigEntry extends Entry {
  /** The field as written in the config, dotted below the top level (`rope_scaling.factor`); `model_type` for a family's fixed facts. */
  field: string;
}

export interface MappedConfig {
  entries: ConfigEntry[];
  diagnostics: Diagnostic[];
  /** Keys whose field is missing or invalid (already reported): the checker does not also call them missing. */
  reported: Set<string>;
  /** The config names no family parplan reads (no model_type, an unsupported one, not an object): nothing was mapped. */
  unread: boolean;
}

type Kind = 'number' | 'bool' | 'string' | 'array' | 'object';

/** A field read into a key: `values` maps the field's strings to the key's (absent: numbers and bools as they are). */
interface FieldRule {
  /** The field; alternatives in order of preference (Gemma-2 reads hidden_activation before hidden_act). */
  field: string | readonly string[];
  key: string;
  kind: 'number' | 'bool' | 'string';
  values?: Readonly<Record<string, string>>;
  /** The config class has no default worth trusting: absent → a diagnostic unless the block writes the key. */
  required?: boolean;
  /** null is a value, "none" (Gemma's soft-capping): the family's default does not apply. */
  nullIsNone?: boolean;
}

/** A family: its arch, the fields it reads, what its modeling code fixes, and the config class's defaults for absent fields. */
interface Family {
  arch: 'llama' | 'gpt2';
  /** transformers source the table was read from. */
  source: string;
  fields: readonly FieldRule[];
  /** Facts of the modeling code, not of the config (Qwen2's q/k/v biases): key → value. */
  fixed?: Readonly<Record<string, string>>;
  /** The configuration class's default when the field is absent: key → value. */
  defaults?: Readonly<Record<string, string>>;
  /** Fields whose value must be one parplan can express: field → [allowed JSON text, why]. */
  only?: Readonly<Record<string, readonly [string, string]>>;
  window?: 'mistral' | 'qwen' | 'gemma2' | 'gemma3' | 'layer_types';
  moe?: 'mixtral' | 'qwen' | 'deepseek' | 'gpt_oss';
  mla?: boolean;
  /** The bias fields: `llama` (attention_bias and mlp_bias together → bias), `none` (attention_bias must be false), `fixed` (no field). */
  bias: 'llama' | 'none' | 'fixed';
}

const DTYPES: Readonly<Record<string, string>> = {
  float32: 'fp32',
  float: 'fp32',
  float16: 'fp16',
  half: 'fp16',
  bfloat16: 'bf16',
  float8_e4m3fn: 'fp8',
  float8_e5m2: 'fp8',
};
/** Gated MLPs: silu gates swiglu, the tanh GELUs gate geglu (Gemma). */
const GATED: Readonly<Record<string, string>> = {
  silu: 'swiglu',
  swish: 'swiglu',
  gelu_pytorch_tanh: 'geglu',
  gelu_new: 'geglu',
  gelu_fast: 'geglu',
};
/** GPT-2's plain MLP: the tanh approximation of GELU. */
const PLAIN: Readonly<Record<string, string>> = { gelu_new: 'gelu', gelu_pytorch_tanh: 'gelu', gelu_fast: 'gelu' };

const n = (field: string | readonly string[], key: string, required = false): FieldRule => ({ field, key, kind: 'number', required });

/** Fields every family's config names alike (PretrainedConfig's). */
const COMMON_FIELDS: readonly FieldRule[] = [
  { field: 'tie_word_embeddings', key: 'tied_embeddings', kind: 'bool' },
  // transformers 5.x writes `dtype`; 4.x `torch_dtype`.
  { field: ['dtype', 'torch_dtype'], key: 'dtype', kind: 'string', values: DTYPES },
];
/** The fields of every decoder-only family after GPT-2 (LlamaConfig's names). */
const LLAMA_FIELDS: readonly FieldRule[] = [
  n('num_hidden_layers', 'layers', true),
  n('hidden_size', 'hidden', true),
  n('num_attention_heads', 'heads', true),
  n('num_key_value_heads', 'kv_heads'),
  n('head_dim', 'head_dim'),
  n('intermediate_size', 'ffn', true),
  n('vocab_size', 'vocab', true),
  n('max_position_embeddings', 'max_seq', true),
  ...COMMON_FIELDS,
  n('rms_norm_eps', 'norm_eps'),
  { field: 'hidden_act', key: 'activation', kind: 'string', values: GATED },
];
const without = (fields: readonly FieldRule[], ...keys: string[]) => fields.filter((f) => !keys.includes(f.key));
const MOE_STEP: Record<string, readonly [string, string]> = {
  decoder_sparse_step: ['1', 'every layer from the first MoE layer on is a MoE layer in parplan'],
  mlp_only_layers: ['[]', 'parplan has no dense layers between MoE layers (only leading ones: dense_layers)'],
};
const TF = 'huggingface/transformers src/transformers/models';
/** Qwen-MoE and DeepSeek: whether the top-k routing weights are renormalized (the config classes' defaults differ). */
const NORM_TOPK: FieldRule = { field: 'norm_topk_prob', key: 'norm_topk', kind: 'bool' };
/** DeepSeek-V2/V3's multi-head latent attention (MLA): the low-rank q and kv projections and the split head. */
const MLA_FIELDS: readonly FieldRule[] = [
  n('kv_lora_rank', 'kv_lora_rank', true),
  n('q_lora_rank', 'q_lora_rank'),
  n('qk_nope_head_dim', 'qk_nope_head_dim', true),
  n('qk_rope_head_dim', 'qk_rope_head_dim', true),
  n('v_head_dim', 'v_head_dim', true),
];
/** DeepSeek's MoE layers: every one after the leading dense ones. */
const DEEPSEEK_ONLY = { moe_layer_freq: ['1', 'every layer after the leading dense ones is a MoE layer in parplan'] } as const;
/** Gemma-2/3: the activation under its own name, soft-capping (null: none) and the attention scalar. */
const GEMMA_FIELDS: readonly FieldRule[] = [
  ...without(LLAMA_FIELDS, 'activation'),
  { field: ['hidden_activation', 'hidden_act'], key: 'activation', kind: 'string', values: GATED },
  { ...n('attn_logit_softcapping', 'attn_softcap'), nullIsNone: true },
  { ...n('final_logit_softcapping', 'logit_softcap'), nullIsNone: true },
  n('query_pre_attn_scalar', 'query_pre_attn_scalar'),
];
/** What Gemma's modeling code fixes: four norms, embeddings × √hidden (the "normalizer"), RMSNorm scaling by 1 + weight. */
const GEMMA_FIXED: Readonly<Record<string, string>> = { norms_per_layer: '4', scale_embeddings: 'true', norm_offset: '1' };

export const FAMILIES: Readonly<Record<string, Family>> = {
  gpt2: {
    arch: 'gpt2',
    source: `${TF}/gpt2/configuration_gpt2.py, modeling_gpt2.py`,
    fields: [
      n('n_layer', 'layers', true),
      n('n_embd', 'hidden', true),
      n('n_head', 'heads', true),
      n('n_inner', 'ffn'),
      n('vocab_size', 'vocab', true),
      n('n_positions', 'max_seq', true),
      ...COMMON_FIELDS,
      n('layer_norm_epsilon', 'norm_eps'),
      { field: 'activation_function', key: 'activation', kind: 'string', values: PLAIN },
    ],
    only: { add_cross_attention: ['false', 'parplan models decoder-only GPT-2'] },
    bias: 'fixed',
  },
  llama: { arch: 'llama', source: `${TF}/llama/configuration_llama.py`, fields: LLAMA_FIELDS, bias: 'llama' },
  mistral: {
    arch: 'llama',
    source: `${TF}/mistral/configuration_mistral.py`,
    fields: LLAMA_FIELDS,
    window: 'mistral',
    bias: 'none',
  },
  mixtral: {
    arch: 'llama',
    source: `${TF}/mixtral/configuration_mixtral.py`,
    fields: [...LLAMA_FIELDS, n('num_local_experts', 'experts', true), n('num_experts_per_tok', 'experts_per_token', true)],
    // MixtralSparseMoeBlock always renormalizes the top-k weights.
    fixed: { norm_topk: 'true' },
    window: 'mistral',
    moe: 'mixtral',
    bias: 'none',
  },
  qwen2: {
    arch: 'llama',
    source: `${TF}/qwen2/modeling_qwen2.py (q/k/v with bias, o without)`,
    fields: LLAMA_FIELDS,
    fixed: { qkv_bias: 'true' },
    window: 'qwen',
    bias: 'fixed',
  },
  qwen3: {
    arch: 'llama',
    source: `${TF}/qwen3/modeling_qwen3.py (q_norm, k_norm)`,
    fields: LLAMA_FIELDS,
    fixed: { qk_norm: 'true' },
    window: 'qwen',
    bias: 'none',
  },
  qwen2_moe: {
    arch: 'llama',
    source: `${TF}/qwen2_moe/modeling_qwen2_moe.py (one shared expert behind a sigmoid gate)`,
    fields: [
      ...LLAMA_FIELDS,
      n('num_experts', 'experts', true),
      n('num_experts_per_tok', 'experts_per_token', true),
      n('moe_intermediate_size', 'expert_ffn', true),
      n('shared_expert_intermediate_size', 'shared_expert_ffn', true),
      NORM_TOPK,
    ],
    fixed: { qkv_bias: 'true', shared_experts: '1', shared_expert_gate: 'true' },
    defaults: { norm_topk: 'false' },
    only: MOE_STEP,
    window: 'qwen',
    moe: 'qwen',
    bias: 'fixed',
  },
  qwen3_moe: {
    arch: 'llama',
    source: `${TF}/qwen3_moe/modeling_qwen3_moe.py`,
    fields: [
      ...LLAMA_FIELDS,
      n('num_experts', 'experts', true),
      n('num_experts_per_tok', 'experts_per_token', true),
      n('moe_intermediate_size', 'expert_ffn', true),
      NORM_TOPK,
    ],
    fixed: { qk_norm: 'true' },
    defaults: { norm_topk: 'false' },
    only: MOE_STEP,
    window: 'qwen',
    moe: 'qwen',
    bias: 'none',
  },
  gemma2: {
    arch: 'llama',
    source: `${TF}/gemma2/configuration_gemma2.py, modeling_gemma2.py (four norms per layer)`,
    fields: GEMMA_FIELDS,
    fixed: GEMMA_FIXED,
    defaults: { tied_embeddings: 'true', activation: 'geglu', attn_softcap: '50', logit_softcap: '30', query_pre_attn_scalar: '256' },
    window: 'gemma2',
    bias: 'none',
  },
  gemma3_text: {
    arch: 'llama',
    source: `${TF}/gemma3/configuration_gemma3.py, modeling_gemma3.py (four norms, q/k norms)`,
    fields: GEMMA_FIELDS,
    fixed: { ...GEMMA_FIXED, qk_norm: 'true' },
    defaults: { tied_embeddings: 'true', activation: 'geglu', query_pre_attn_scalar: '256' },
    window: 'gemma3',
    bias: 'none',
  },
  deepseek_v2: {
    arch: 'llama',
    source: `${TF}/deepseek_v2/modular_deepseek_v2.py`,
    fields: [
      ...without(LLAMA_FIELDS, 'kv_heads', 'head_dim'),
      n('n_routed_experts', 'experts'),
      n('num_experts_per_tok', 'experts_per_token'),
      n('moe_intermediate_size', 'expert_ffn'),
      n('n_shared_experts', 'shared_experts'),
      n('first_k_dense_replace', 'dense_layers'),
      NORM_TOPK,
      ...MLA_FIELDS,
    ],
    only: DEEPSEEK_ONLY,
    defaults: { norm_topk: 'false' },
    moe: 'deepseek',
    mla: true,
    bias: 'none',
  },
  deepseek_v3: {
    arch: 'llama',
    source: `${TF}/deepseek_v3/modular_deepseek_v3.py (e_score_correction_bias)`,
    fields: [
      ...without(LLAMA_FIELDS, 'kv_heads', 'head_dim'),
      n('n_routed_experts', 'experts', true),
      n('num_experts_per_tok', 'experts_per_token', true),
      n('moe_intermediate_size', 'expert_ffn', true),
      n('n_shared_experts', 'shared_experts'),
      n('first_k_dense_replace', 'dense_layers'),
      NORM_TOPK,
      ...MLA_FIELDS,
    ],
    fixed: { router_bias: 'true' },
    only: DEEPSEEK_ONLY,
    defaults: { norm_topk: 'true' },
    moe: 'deepseek',
    mla: true,
    bias: 'none',
  },
  gpt_oss: {
    arch: 'llama',
    source: `${TF}/gpt_oss/modeling_gpt_oss.py (biased q/k/v/o and experts, router bias, sinks)`,
    fields: [
      ...LLAMA_FIELDS,
      n('num_local_experts', 'experts', true),
      n(['num_experts_per_tok', 'experts_per_token'], 'experts_per_token', true),
    ],
    // GptOssTopKRouter: softmax over the top-k logits, i.e. renormalized.
    fixed: { bias: 'true', router_bias: 'true', attention_sinks: 'true', norm_topk: 'true' },
    only: { attention_bias: ['true', 'gpt-oss experts always have biases; parplan has one bias switch for attention and experts'] },
    window: 'layer_types',
    moe: 'gpt_oss',
    bias: 'fixed',
  },
};

export const MODEL_TYPES = Object.keys(FAMILIES);

const ROPE_TYPES: Readonly<Record<string, string>> = {
  default: 'none',
  linear: 'linear',
  dynamic: 'dynamic',
  yarn: 'yarn',
  llama3: 'llama3',
};
/** The rope fields each parplan rope type reads (the others have no meaning for it: PP3020). */
const ROPE_FIELDS: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  linear: [['factor', 'rope_factor']],
  dynamic: [
    ['factor', 'rope_factor'],
    ['original_max_position_embeddings', 'rope_original_max_seq'],
  ],
  llama3: [
    ['factor', 'rope_factor'],
    ['original_max_position_embeddings', 'rope_original_max_seq'],
    ['low_freq_factor', 'rope_low_freq_factor'],
    ['high_freq_factor', 'rope_high_freq_factor'],
  ],
  yarn: [
    ['factor', 'rope_factor'],
    ['original_max_position_embeddings', 'rope_original_max_seq'],
    ['beta_fast', 'rope_beta_fast'],
    ['beta_slow', 'rope_beta_slow'],
  ],
};

/** What one quantization method of transformers' `quantization_config` becomes. */
const QUANT_METHODS = ['awq', 'gptq', 'fp8', 'mxfp4'];
/** mxfp4 (gpt-oss): parplan quantizes the experts only; these modules must be listed as kept in 16-bit. */
const MXFP4_KEPT = ['self_attn', 'router', 'embed_tokens'];

/** The `model` keys `config` gives, in the key table's order of concern; `written` are keys the block sets (they need no field). */
export function mapHfConfig(config: JsonValue, source: SourceFile, written: ReadonlySet<string> = new Set()): MappedConfig {
  const m = new Mapper(source, written);
  m.run(config);
  return { entries: m.entries, diagnostics: m.out, reported: m.reported, unread: m.unread };
}

class Mapper {
  entries: ConfigEntry[] = [];
  out: Diagnostic[] = [];
  reported = new Set<string>();
  /** Keys the config sets to null where null means none (FieldRule.nullIsNone). */
  private readonly none = new Set<string>();
  unread = false;
  /** The model_type member: where a family's fixed facts and the config class's defaults point. */
  private anchor!: JsonMember;
  constructor(
    private readonly source: SourceFile,
    private readonly written: ReadonlySet<string>,
  ) {}

  run(config: JsonValue): void {
    if (config.kind !== 'object') {
      this.out.push(diag('PP2021', config.span, { field: '(the file)', expected: 'an object { … }', found: describeJson(config) }));
      this.reported.add('arch');
      this.unread = true;
      return;
    }
    const mt = member(config, 'model_type');
    if (!mt) {
      this.missing(
        this.source.span(config.span.start, config.span.start + 1),
        'model_type',
        'arch',
        `a Hugging Face config names its family: "model_type": "llama" (supported: ${MODEL_TYPES.join(', ')})`,
      );
      this.unread = true;
      return;
    }
    if (mt.value.kind !== 'string') {
      this.wrongType('model_type', mt.value, 'a string');
      this.reported.add('arch');
      this.unread = true;
      return;
    }
    const family = Object.hasOwn(FAMILIES, mt.value.value) ? FAMILIES[mt.value.value] : undefined;
    if (!family) {
      this.out.push(diag('PP2020', mt.value.span, { type: mt.value.value }, { help: `supported model types: ${MODEL_TYPES.join(', ')}` }));
      this.reported.add('arch');
      this.unread = true;
      return;
    }
    this.anchor = mt;
    this.fixed('arch', family.arch);
    for (const rule of family.fields) this.field(config, rule);
    for (const [key, value] of Object.entries(family.fixed ?? {})) this.fixed(key, value);
    for (const [key, value] of Object.entries(family.defaults ?? {}))
      if (!this.entries.some((e) => e.key === key) && !this.reported.has(key) && !this.none.has(key)) this.fixed(key, value);
    for (const [field, [allowed, why]] of Object.entries(family.only ?? {})) this.only(config, field, allowed, why);
    this.bias(config, family);
    this.rope(config);
    this.window(config, family);
    if (family.moe === 'deepseek') this.deepseekMoe(config);
    this.quantization(config);
  }

  /** A key from a field; null counts as absent (the config class's default applies). */
  private field(config: JsonValue, rule: FieldRule): void {
    const names = typeof rule.field === 'string' ? [rule.field] : rule.field;
    const found = names.map((f) => member(config, f)).find((x) => x !== undefined && x.value.kind !== 'null');
    if (!found && rule.nullIsNone && names.some((f) => member(config, f)?.value.kind === 'null')) {
      this.none.add(rule.key);
      return;
    }
    if (!found) {
      if (rule.required && !this.written.has(rule.key)) {
        this.missing(
          this.anchor.nameSpan,
          names[0]!,
          rule.key,
          `add "${names[0]}" to the config, or write \`${rule.key} = …\` in the model block`,
        );
      }
      return;
    }
    this.fromMember(found, found.name, rule.key, rule.kind, rule.values);
  }

  private fromMember(mem: JsonMember, field: string, key: string, kind: FieldRule['kind'], values?: Readonly<Record<string, string>>) {
    const v = mem.value;
    if (v.kind !== kind) {
      this.wrongType(field, v, kindText(kind));
      this.reported.add(key);
      return;
    }
    let value: Value;
    if (v.kind === 'number') value = { kind: 'number', value: v.value, raw: v.raw, span: v.span };
    else if (v.kind === 'bool') value = { kind: 'ident', name: String(v.value), span: v.span };
    else if (v.kind === 'string' && values) {
      const mapped = Object.hasOwn(values, v.value) ? values[v.value] : undefined;
      if (mapped === undefined) {
        this.cannot(field, v, `parplan's ${key} reads ${Object.keys(values).join(', ')}`);
        this.reported.add(key);
        return;
      }
      value = { kind: 'ident', name: mapped, span: v.span };
    } else if (v.kind === 'string') value = { kind: 'string', value: v.value, span: v.span };
    else return;
    this.entries.push({ key, keySpan: mem.nameSpan, value, span: cover2(this.source, mem.nameSpan, v.span), field });
  }

  /** A fact of the family (or a default of its config class): pointed at model_type. */
  private fixed(key: string, text: string, at: JsonMember = this.anchor, field = 'model_type'): void {
    const span = at.value.span;
    const value: Value = /^[0-9]/.test(text)
      ? { kind: 'number', value: Number(text), raw: text, span }
      : { kind: 'ident', name: text, span };
    this.entries.push({ key, keySpan: at.nameSpan, value, span: cover2(this.source, at.nameSpan, span), field });
  }

  /** PP2023: the config lacks `field`, which gives `key`; `key` counts as reported (not also missing from the block). */
  private missing(span: Span, field: string, key: string, help?: string): void {
    this.out.push(diag('PP2023', span, { field, key }, help ? { help } : {}));
    this.reported.add(key);
  }

  private wrongType(field: string, v: JsonValue, expected: string): void {
    this.out.push(diag('PP2021', v.span, { field, expected, found: describeJson(v) }));
  }

  private cannot(field: string, v: JsonValue, why: string, help?: string): void {
    this.out.push(diag('PP2022', v.span, { field, value: clipJson(this.source, v), why }, help ? { help } : {}));
  }

  /** A field parplan can only take at one value (decoder_sparse_step = 1). */
  private only(config: JsonValue, field: string, allowed: string, why: string): void {
    const mem = member(config, field);
    if (!mem || mem.value.kind === 'null') return;
    const text = this.source.text.slice(mem.value.span.start, mem.value.span.end).replace(/\s+/g, '');
    if (text !== allowed) this.cannot(field, mem.value, why, `parplan supports ${field} = ${allowed}`);
  }

  private bool(config: JsonValue, field: string): { mem: JsonMember; value: boolean } | undefined {
    const mem = member(config, field);
    if (!mem || mem.value.kind === 'null') return undefined;
    if (mem.value.kind !== 'bool') {
      this.wrongType(field, mem.value, 'true or false');
      return undefined;
    }
    return { mem, value: mem.value.value };
  }

  private bias(config: JsonValue, family: Family): void {
    if (family.bias === 'fixed') return;
    const attention = this.bool(config, 'attention_bias');
    const mlp = family.bias === 'llama' ? this.bool(config, 'mlp_bias') : undefined;
    if (family.bias === 'none') {
      if (attention?.value)
        this.cannot(
          'attention_bias',
          attention.mem.value,
          'this family has no biases in parplan (bias = true would add them to the MLP too)',
        );
      return;
    }
    if (attention?.value && mlp?.value) this.fixed('bias', 'true', attention.mem, 'attention_bias');
    else if (attention?.value || mlp?.value) {
      const on = attention?.value ? attention : mlp!;
      this.cannot(on.mem.name, on.mem.value, 'parplan has biases on every linear layer (bias) or on q, k and v only (qkv_bias)');
    }
  }

  /** rope_theta and rope_scaling (4.x), or rope_parameters (transformers 5.x; Gemma-3's per layer type: the full-attention one). */
  private rope(config: JsonValue): void {
    let params = member(config, 'rope_parameters');
    if (params?.value.kind === 'object') {
      const full = member(params.value, 'full_attention');
      if (full) params = full;
    }
    const theta =
      (params && params.value.kind === 'object' ? member(params.value, 'rope_theta') : undefined) ?? member(config, 'rope_theta');
    if (theta && theta.value.kind !== 'null') this.fromMember(theta, theta.name, 'rope_theta', 'number');
    const scaling = params ?? member(config, 'rope_scaling');
    if (!scaling || scaling.value.kind === 'null') return;
    const field = scaling.name;
    const obj = scaling.value;
    if (obj.kind !== 'object') {
      this.wrongType(field, obj, 'an object { "rope_type": … } or null');
      this.reported.add('rope_scaling');
      return;
    }
    const typeMember = member(obj, 'rope_type') ?? member(obj, 'type');
    if (!typeMember) {
      if (params) return; // rope_parameters with only rope_theta: no scaling
      this.missing(scaling.nameSpan, `${field}.rope_type`, 'rope_scaling');
      return;
    }
    const tf = `${field}.${typeMember.name}`;
    if (typeMember.value.kind !== 'string') {
      this.wrongType(tf, typeMember.value, 'a string');
      this.reported.add('rope_scaling');
      return;
    }
    const type = Object.hasOwn(ROPE_TYPES, typeMember.value.value) ? ROPE_TYPES[typeMember.value.value] : undefined;
    if (type === undefined) {
      this.cannot(tf, typeMember.value, `parplan's rope_scaling is one of ${Object.keys(ROPE_TYPES).join(', ')}`);
      this.reported.add('rope_scaling');
      return;
    }
    if (type === 'none') return;
    this.entries.push({
      key: 'rope_scaling',
      keySpan: typeMember.nameSpan,
      value: { kind: 'ident', name: type, span: typeMember.value.span },
      span: cover2(this.source, typeMember.nameSpan, typeMember.value.span),
      field: tf,
    });
    for (const [f, key] of ROPE_FIELDS[type]!) {
      const mem = member(obj, f);
      if (mem && mem.value.kind !== 'null') this.fromMember(mem, `${field}.${f}`, key, 'number');
    }
  }

  private window(config: JsonValue, family: Family): void {
    const rule = family.window;
    if (!rule) return;
    const sw = member(config, 'sliding_window');
    const windowValue = sw && sw.value.kind !== 'null' ? sw : undefined;
    if (windowValue && windowValue.value.kind !== 'number') {
      this.wrongType('sliding_window', windowValue.value, 'a number or null');
      this.reported.add('sliding_window');
      return;
    }
    const types = member(config, 'layer_types');
    if (types && types.value.kind !== 'null') {
      this.layerTypes(config, types, windowValue);
      return;
    }
    if (rule === 'qwen') {
      const use = this.bool(config, 'use_sliding_window');
      if (!use?.value || !windowValue) return;
      // Qwen2: layers from max_window_layers on slide (transformers' Qwen2Config.layer_types).
      const from = member(config, 'max_window_layers');
      const layers = member(config, 'num_hidden_layers');
      if (from && from.value.kind === 'number' && layers?.value.kind === 'number' && from.value.value >= layers.value.value) return;
      if (from && from.value.kind === 'number' && from.value.value > 0) {
        this.cannot(
          'max_window_layers',
          from.value,
          'parplan slides on every layer or on all but every n-th (sliding_window_pattern), not from a layer on',
        );
        this.reported.add('sliding_window');
        return;
      }
      this.fromMember(windowValue, 'sliding_window', 'sliding_window', 'number');
      return;
    }
    if (rule === 'layer_types') {
      if (windowValue) this.fromMember(windowValue, 'sliding_window', 'sliding_window', 'number');
      return;
    }
    if (!windowValue) return;
    this.fromMember(windowValue, 'sliding_window', 'sliding_window', 'number');
    if (rule === 'gemma2') this.fixed('sliding_window_pattern', '2');
    if (rule === 'gemma3') {
      const p = member(config, 'sliding_window_pattern');
      if (p && p.value.kind !== 'null') this.fromMember(p, 'sliding_window_pattern', 'sliding_window_pattern', 'number');
      else this.fixed('sliding_window_pattern', '6');
    }
  }

  /** layer_types (transformers ≥ 4.53): all full, all sliding, or full on every n-th layer. */
  private layerTypes(config: JsonValue, types: JsonMember, windowValue: JsonMember | undefined): void {
    const v = types.value;
    if (v.kind !== 'array') {
      this.wrongType('layer_types', v, 'an array of "sliding_attention" and "full_attention"');
      this.reported.add('sliding_window');
      return;
    }
    const full: boolean[] = [];
    for (const item of v.items) {
      if (item.kind !== 'string' || (item.value !== 'full_attention' && item.value !== 'sliding_attention')) {
        this.cannot('layer_types', item, 'parplan knows the layer types "full_attention" and "sliding_attention"');
        this.reported.add('sliding_window');
        return;
      }
      full.push(item.value === 'full_attention');
    }
    const layers = member(config, 'num_hidden_layers');
    if (layers?.value.kind === 'number' && layers.value.value !== full.length) {
      this.cannot('layer_types', v, `it lists ${full.length} layers and num_hidden_layers is ${layers.value.raw}`);
      this.reported.add('sliding_window');
      return;
    }
    if (full.every((f) => f)) return;
    if (!windowValue) {
      this.missing(types.nameSpan, 'sliding_window', 'sliding_window', 'layer_types has sliding layers: the config must give their window');
      return;
    }
    this.fromMember(windowValue, 'sliding_window', 'sliding_window', 'number');
    if (full.every((f) => !f)) return;
    const pattern = full.indexOf(true) + 1;
    if (!full.every((f, l) => f === ((l + 1) % pattern === 0))) {
      this.cannot(
        'layer_types',
        v,
        'parplan slides on every layer or on all but every n-th (sliding_window_pattern = n: layers n−1, 2n−1, … full)',
      );
      this.reported.add('sliding_window');
      return;
    }
    this.fixed('sliding_window_pattern', String(pattern), types, 'layer_types');
  }

  /** DeepSeek: n_routed_experts null is a dense model (its MoE fields mean nothing); V2's router bias only with noaux_tc. */
  private deepseekMoe(config: JsonValue): void {
    const experts = member(config, 'n_routed_experts');
    if (!experts || experts.value.kind === 'null') {
      this.entries = this.entries.filter(
        (e) => !['experts_per_token', 'expert_ffn', 'shared_experts', 'dense_layers', 'router_bias', 'norm_topk'].includes(e.key),
      );
      return;
    }
    const method = member(config, 'topk_method');
    if (method?.value.kind === 'string' && method.value.value === 'noaux_tc' && !this.entries.some((e) => e.key === 'router_bias'))
      this.fixed('router_bias', 'true', method, 'topk_method');
    // n_shared_experts 0 or absent: no shared experts (parplan's default).
    this.entries = this.entries.filter((e) => !(e.key === 'shared_experts' && e.value.kind === 'number' && e.value.value === 0));
  }

  /** quantization_config: awq/gptq (int4, group size, lm_head), fp8 (square weight blocks), mxfp4 (experts only). */
  private quantization(config: JsonValue): void {
    const q = member(config, 'quantization_config');
    if (!q || q.value.kind === 'null') return;
    const obj = q.value;
    if (obj.kind !== 'object') {
      this.wrongType('quantization_config', obj, 'an object');
      this.reported.add('quantization');
      return;
    }
    const methodMember = member(obj, 'quant_method');
    if (!methodMember) {
      this.missing(q.nameSpan, 'quantization_config.quant_method', 'quantization');
      return;
    }
    const mf = 'quantization_config.quant_method';
    if (methodMember.value.kind !== 'string') {
      this.wrongType(mf, methodMember.value, 'a string');
      this.reported.add('quantization');
      return;
    }
    const method = methodMember.value.value;
    if (method === 'bitsandbytes') {
      this.bitsandbytes(obj, methodMember);
      return;
    }
    if (!QUANT_METHODS.includes(method)) {
      this.cannot(mf, methodMember.value, `parplan's quantization is one of ${QUANT_METHODS.join(', ')}`);
      this.reported.add('quantization');
      return;
    }
    this.fixed('quantization', method, methodMember, mf);
    const sub = (f: string) => {
      const m = member(obj, f);
      return m && m.value.kind !== 'null' ? m : undefined;
    };
    if (method === 'awq' || method === 'gptq') {
      const bits = sub('bits');
      if (bits && bits.value.kind !== 'number') this.wrongType('quantization_config.bits', bits.value, 'a number');
      else if (bits && bits.value.kind === 'number' && bits.value.value !== 4)
        this.cannot('quantization_config.bits', bits.value, `parplan's ${method} stores 4-bit weights`);
      const group = sub('group_size');
      if (group?.value.kind === 'number' && group.value.value === -1)
        this.cannot(
          'quantization_config.group_size',
          group.value,
          'parplan stores one scale per group of input channels (-1: per output channel)',
        );
      else if (group) this.fromMember(group, 'quantization_config.group_size', 'quant_group', 'number');
      if (method === 'awq') {
        const zero = this.bool(obj, 'zero_point');
        if (zero && !zero.value)
          this.cannot('quantization_config.zero_point', zero.mem.value, 'parplan counts AWQ zeros (zero_point = true)');
        const skip = sub('modules_to_not_convert');
        if (skip && !(skip.value.kind === 'array' && skip.value.items.length === 0))
          this.cannot(
            'quantization_config.modules_to_not_convert',
            skip.value,
            'parplan quantizes every linear layer of the transformer with awq',
          );
      } else {
        const head = sub('lm_head');
        if (head) this.fromMember(head, 'quantization_config.lm_head', 'quant_lm_head', 'bool');
      }
    } else if (method === 'fp8') {
      const block = sub('weight_block_size');
      if (!block) return;
      const b = block.value;
      if (b.kind !== 'array' || b.items.length !== 2 || b.items.some((x) => x.kind !== 'number')) {
        this.wrongType('quantization_config.weight_block_size', b, 'two numbers [rows, columns]');
        this.reported.add('quant_group');
        return;
      }
      const [r, c] = b.items as { kind: 'number'; value: number; raw: string; span: Span }[];
      if (r!.value !== c!.value) {
        this.cannot('quantization_config.weight_block_size', b, 'parplan scales fp8 weights in square blocks (quant_group)');
        this.reported.add('quant_group');
        return;
      }
      this.entries.push({
        key: 'quant_group',
        keySpan: block.nameSpan,
        value: { kind: 'number', value: r!.value, raw: r!.raw, span: r!.span },
        span: cover2(this.source, block.nameSpan, b.span),
        field: 'quantization_config.weight_block_size',
      });
    } else {
      const skip = sub('modules_to_not_convert');
      if (!skip) {
        this.missing(
          q.nameSpan,
          'quantization_config.modules_to_not_convert',
          'quantization',
          'parplan quantizes the experts only with mxfp4: the config must list the modules it keeps in 16-bit',
        );
        return;
      }
      if (skip.value.kind !== 'array' || skip.value.items.some((x) => x.kind !== 'string')) {
        this.wrongType('quantization_config.modules_to_not_convert', skip.value, 'an array of module names');
        return;
      }
      const names = skip.value.items.map((x) => (x as { value: string }).value);
      const lacking = MXFP4_KEPT.filter((k) => !names.some((name) => name.split('.').includes(k)));
      if (lacking.length > 0)
        this.cannot(
          'quantization_config.modules_to_not_convert',
          skip.value,
          `parplan's mxfp4 quantizes the experts only, and ${lacking.join(', ')} is not listed as kept`,
        );
      if (!names.includes('lm_head')) this.fixed('quant_lm_head', 'true', skip, 'quantization_config.modules_to_not_convert');
    }
  }

  /**
   * transformers' BitsAndBytesConfig (utils/quantization_config.py): load_in_4bit with
   * bnb_4bit_quant_type nf4 is parplan's nf4 (blocksize 64), bnb_4bit_use_double_quant its
   * quant_double; LLM.int8 (load_in_8bit) and fp4 are not modelled. llm_int8_skip_modules keeps
   * modules in 16-bit, which parplan's nf4 cannot say beyond the output layer.
   */
  private bitsandbytes(obj: JsonValue, methodMember: JsonMember): void {
    const mf = 'quantization_config.quant_method';
    const four = this.bool(obj, 'load_in_4bit');
    const eight = this.bool(obj, 'load_in_8bit');
    if (eight?.value) {
      this.cannot(
        'quantization_config.load_in_8bit',
        eight.mem.value,
        'LLM.int8 8-bit weights are not modelled',
        'quantization = fp8 stores one byte per weight, the nearest size',
      );
      this.reported.add('quantization');
      return;
    }
    if (!four?.value) {
      this.cannot(mf, methodMember.value, 'parplan models bitsandbytes 4-bit weights (load_in_4bit = true) only');
      this.reported.add('quantization');
      return;
    }
    const type = member(obj, 'bnb_4bit_quant_type');
    // BitsAndBytesConfig's default quant type is fp4.
    const typeName = type && type.value.kind === 'string' ? type.value.value : type ? undefined : 'fp4';
    if (typeName !== 'nf4') {
      this.cannot(
        'quantization_config.bnb_4bit_quant_type',
        type?.value ?? methodMember.value,
        `parplan's 4-bit bitsandbytes format is nf4${typeName === 'fp4' ? ' (fp4, the default, stores the same bytes: quantization = nf4 sizes it)' : ''}`,
      );
      this.reported.add('quantization');
      return;
    }
    this.fixed('quantization', 'nf4', type!, 'quantization_config.bnb_4bit_quant_type');
    const double = member(obj, 'bnb_4bit_use_double_quant');
    if (double && double.value.kind !== 'null')
      this.fromMember(double, 'quantization_config.bnb_4bit_use_double_quant', 'quant_double', 'bool');
    const skip = member(obj, 'llm_int8_skip_modules');
    if (skip && skip.value.kind !== 'null') {
      const v = skip.value;
      if (v.kind !== 'array' || v.items.some((x) => x.kind !== 'string'))
        this.wrongType('quantization_config.llm_int8_skip_modules', v, 'an array of module names');
      else if (v.items.some((x) => (x as { value: string }).value !== 'lm_head'))
        this.cannot(
          'quantization_config.llm_int8_skip_modules',
          v,
          'parplan quantizes every linear layer of the transformer with nf4 (the output layer stays in dtype)',
        );
    }
  }
}

function kindText(kind: Kind): string {
  return kind === 'number'
    ? 'a number'
    : kind === 'bool'
      ? 'true or false'
      : kind === 'string'
        ? 'a string'
        : kind === 'array'
          ? 'an array'
          : 'an object';
}

function cover2(source: SourceFile, a: Span, b: Span): Span {
  return source.span(Math.min(a.start, b.start), Math.max(a.end, b.end));
}

/** A JSON value's text for a message, on one line and short. */
function clipJson(source: SourceFile, v: JsonValue): string {
  const text = source.text.slice(v.span.start, v.span.end).replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * The config's keys as a `model` block named `name`, as if written in a plan: checkModel reads it
 * with diagnostics pointing into config.json (`parplan import`, the runtime's checkpoint check).
 */
export function configDeclaration(source: SourceFile, json: JsonValue, name: string, entries: Entry[]): Declaration {
  const anchor = source.span(json.span.start, json.span.start + 1);
  return {
    kind: 'declaration',
    keyword: 'model',
    keywordSpan: anchor,
    name,
    nameSpan: anchor,
    body: { kind: 'block', entries, span: json.span },
    span: json.span,
  };
}
