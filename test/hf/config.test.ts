/**
 * The model_type tables (src/hf/config.ts) on the layouts the example configs do not show:
 * transformers 5.x `rope_parameters` (Gemma-3's per layer type), `layer_types`, Qwen's
 * `use_sliding_window`, gptq `lm_head`, fp8 blocks, mxfp4's kept modules, a dense DeepSeek;
 * and how keys written in the block combine with the config's. Expected values are the config
 * fields as transformers' configuration classes read them (cited in the tables).
 */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { checkModel } from '../../src/check/model.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { mapHfConfig } from '../../src/hf/config.js';
import { parseJson } from '../../src/hf/json.js';
import { SourceFile } from '../../src/source.js';

const LLAMA = {
  model_type: 'llama',
  num_hidden_layers: 4,
  hidden_size: 512,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  intermediate_size: 1024,
  vocab_size: 1000,
  max_position_embeddings: 4096,
};

function mapped(config: object) {
  const source = new SourceFile('/c/config.json', JSON.stringify(config, null, 2));
  const r = parseJson(source);
  if (!r.ok) throw new Error(r.message);
  const m = mapHfConfig(r.value, source);
  const keys = Object.fromEntries(
    m.entries.map((e) => [e.key, e.value.kind === 'number' ? e.value.value : e.value.kind === 'ident' ? e.value.name : '?']),
  );
  return { keys, codes: m.diagnostics.map((d) => d.code), diagnostics: m.diagnostics, source };
}

/** checkModel on `model m { hf_config = "config.json" <extra> }` with the config given. */
function checked(config: object, extra = '') {
  const source = new SourceFile('/c/config.json', JSON.stringify(config, null, 2));
  const json = parseJson(source);
  if (!json.ok) throw new Error(json.message);
  const ast = parse(`model m {\n  hf_config = "config.json"\n${extra}\n}\n`, '/c/m.plan').ast;
  const decl = ast.declarations[0]!;
  const out: Diagnostic[] = [];
  const spec = checkModel(decl, out, new Map([[decl.body.entries[0]!.value, { ok: true, source, json: json.value }]]));
  return { spec, codes: out.map((d) => d.code), out };
}

describe('rope', () => {
  it('llama3 rope_scaling (4.x) gives its four keys', () => {
    const { keys } = mapped({
      ...LLAMA,
      rope_theta: 500000.0,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192,
      },
    });
    expect(keys).toMatchObject({
      rope_theta: 500000,
      rope_scaling: 'llama3',
      rope_factor: 8,
      rope_low_freq_factor: 1,
      rope_high_freq_factor: 4,
    });
    expect(keys.rope_original_max_seq).toBe(8192);
  });
  it('transformers 5.x rope_parameters: theta and scaling in one object', () => {
    const { keys, codes } = mapped({
      ...LLAMA,
      rope_parameters: { rope_type: 'yarn', rope_theta: 150000, factor: 32, beta_fast: 32, beta_slow: 1 },
    });
    expect(codes).toEqual([]);
    expect(keys).toMatchObject({ rope_theta: 150000, rope_scaling: 'yarn', rope_factor: 32, rope_beta_fast: 32, rope_beta_slow: 1 });
  });
  it("5.x rope_parameters with rope_type default is no scaling; Gemma-3's per layer type reads full_attention", () => {
    expect(mapped({ ...LLAMA, rope_parameters: { rope_type: 'default', rope_theta: 10000 } }).keys).not.toHaveProperty('rope_scaling');
    const g = mapped({
      ...LLAMA,
      model_type: 'gemma3_text',
      head_dim: 64,
      sliding_window: 512,
      rope_parameters: {
        full_attention: { rope_type: 'linear', factor: 8.0, rope_theta: 1000000 },
        sliding_attention: { rope_type: 'default', rope_theta: 10000 },
      },
    });
    expect(g.keys).toMatchObject({ rope_theta: 1000000, rope_scaling: 'linear', rope_factor: 8 });
  });
  it('an unknown rope type is PP2022 at it', () => {
    const { codes, diagnostics, source } = mapped({ ...LLAMA, rope_scaling: { type: 'su', factor: 2 } });
    expect(codes).toEqual(['PP2022']);
    expect(source.text.slice(diagnostics[0]!.span!.start, diagnostics[0]!.span!.end)).toBe('"su"');
  });
});

describe('sliding windows', () => {
  it('layer_types: full every 3rd layer → sliding_window_pattern 3; all sliding → no pattern; all full → no window', () => {
    const types = (f: (l: number) => boolean) => Array.from({ length: 6 }, (_, l) => (f(l) ? 'full_attention' : 'sliding_attention'));
    const base = {
      ...LLAMA,
      num_hidden_layers: 6,
      model_type: 'gpt_oss',
      head_dim: 64,
      num_local_experts: 4,
      num_experts_per_tok: 2,
      attention_bias: true,
      sliding_window: 128,
    };
    expect(mapped({ ...base, layer_types: types((l) => (l + 1) % 3 === 0) }).keys).toMatchObject({
      sliding_window: 128,
      sliding_window_pattern: 3,
    });
    const all = mapped({ ...base, layer_types: types(() => false) }).keys;
    expect(all.sliding_window).toBe(128);
    expect(all).not.toHaveProperty('sliding_window_pattern');
    expect(mapped({ ...base, layer_types: types(() => true) }).keys).not.toHaveProperty('sliding_window');
    expect(mapped({ ...base, layer_types: types((l) => l < 2) }).codes).toEqual(['PP2022']);
  });
  it('qwen: use_sliding_window false ignores sliding_window; true with max_window_layers 0 slides everywhere; between is PP2022', () => {
    const q = { ...LLAMA, model_type: 'qwen2', sliding_window: 4096 };
    expect(mapped({ ...q, use_sliding_window: false }).keys).not.toHaveProperty('sliding_window');
    expect(mapped({ ...q, use_sliding_window: true, max_window_layers: 0 }).keys.sliding_window).toBe(4096);
    expect(mapped({ ...q, use_sliding_window: true, max_window_layers: 4 }).keys).not.toHaveProperty('sliding_window');
    expect(mapped({ ...q, use_sliding_window: true, max_window_layers: 2 }).codes).toEqual(['PP2022']);
  });
  it('mistral: a null sliding_window is full attention', () => {
    expect(mapped({ ...LLAMA, model_type: 'mistral', sliding_window: null }).keys).not.toHaveProperty('sliding_window');
  });
});

describe('quantization_config', () => {
  it('gptq: bits 4, group_size and lm_head', () => {
    const { keys } = mapped({ ...LLAMA, quantization_config: { quant_method: 'gptq', bits: 4, group_size: 64, lm_head: true } });
    expect(keys).toMatchObject({ quantization: 'gptq', quant_group: 64, quant_lm_head: 'true' });
  });
  it('gptq 8-bit, per-channel group_size -1, an fp8 block that is not square, another method: PP2022', () => {
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'gptq', bits: 8, group_size: 128 } }).codes).toEqual(['PP2022']);
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'awq', bits: 4, group_size: -1 } }).codes).toEqual(['PP2022']);
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'fp8', weight_block_size: [128, 64] } }).codes).toEqual(['PP2022']);
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'bitsandbytes' } }).codes).toEqual(['PP2022']);
  });
  it("bitsandbytes: 4-bit nf4 (QLoRA's BitsAndBytesConfig) with double quantization; LLM.int8, fp4 and skipped modules other than lm_head: PP2022", () => {
    const bnb = { quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true };
    expect(mapped({ ...LLAMA, quantization_config: bnb })).toMatchObject({
      codes: [],
      keys: { quantization: 'nf4', quant_double: 'true' },
    });
    expect(mapped({ ...LLAMA, quantization_config: { ...bnb, llm_int8_skip_modules: ['lm_head'] } }).codes).toEqual([]);
    expect(mapped({ ...LLAMA, quantization_config: { ...bnb, llm_int8_skip_modules: ['mlp'] } }).codes).toEqual(['PP2022']);
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'bitsandbytes', load_in_8bit: true } }).codes).toEqual(['PP2022']);
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true } }).codes).toEqual(['PP2022']);
  });
  it('fp8 without weight_block_size is per tensor (parplan default); mxfp4 must keep attention, router and embeddings', () => {
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'fp8' } }).keys).not.toHaveProperty('quant_group');
    const kept = ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens'];
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'mxfp4', modules_to_not_convert: kept } }).keys).toMatchObject({
      quantization: 'mxfp4',
      quant_lm_head: 'true',
    });
    expect(mapped({ ...LLAMA, quantization_config: { quant_method: 'mxfp4', modules_to_not_convert: ['lm_head'] } }).codes).toEqual([
      'PP2022',
    ]);
  });
});

describe('families', () => {
  it('a DeepSeek config with n_routed_experts null is dense (its MoE fields are not read)', () => {
    const { keys } = mapped({
      ...LLAMA,
      model_type: 'deepseek_v2',
      n_routed_experts: null,
      num_experts_per_tok: null,
      moe_intermediate_size: 256,
      first_k_dense_replace: 1,
      kv_lora_rank: 64,
      q_lora_rank: null,
      qk_nope_head_dim: 32,
      qk_rope_head_dim: 16,
      v_head_dim: 32,
    });
    expect(keys).not.toHaveProperty('experts');
    expect(keys).not.toHaveProperty('expert_ffn');
    expect(keys).not.toHaveProperty('kv_heads'); // MLA: kv_heads would conflict (PP2014)
    expect(keys.kv_lora_rank).toBe(64);
  });
  it('llama: attention_bias with mlp_bias is bias = true; one without the other is PP2022', () => {
    expect(mapped({ ...LLAMA, attention_bias: true, mlp_bias: true }).keys.bias).toBe('true');
    expect(mapped({ ...LLAMA, attention_bias: true, mlp_bias: false }).codes).toEqual(['PP2022']);
  });
  it('an unknown activation is PP2022 naming the field', () => {
    const { diagnostics } = mapped({ ...LLAMA, hidden_act: 'relu' });
    expect(diagnostics.map((d) => d.message)).toEqual([
      "config field 'hidden_act' = \"relu\" cannot be expressed: parplan's activation reads silu, swish, gelu_pytorch_tanh, gelu_new, gelu_fast",
    ]);
  });
});

describe('keys in the block and the config', () => {
  it('a written key overrides the config (PP2024 note), and the same value is not noted', () => {
    const over = checked(LLAMA, '  max_seq = 2048');
    expect(over.codes).toEqual(['PP2024']);
    expect(over.out[0]!.message).toBe("'max_seq' = 2048 overrides the config's max_position_embeddings = 4096");
    expect(over.spec!.maxSeq).toBe(2048);
    expect(checked(LLAMA, '  max_seq = 4096').codes).toEqual([]);
  });
  it("a block that sets the enabling key anew drops the config's dependent keys (no PP3020)", () => {
    const fp8 = { ...LLAMA, quantization_config: { quant_method: 'fp8', weight_block_size: [128, 128] } };
    const none = checked(fp8, '  quantization = none');
    expect(none.codes).toEqual(['PP2024']);
    expect(none.spec!.quant).toBeUndefined();
    const llama3 = { ...LLAMA, rope_scaling: { rope_type: 'llama3', factor: 8, original_max_position_embeddings: 8192 } };
    const linear = checked(llama3, '  rope_scaling = linear');
    expect(linear.codes).toEqual(['PP2024']);
    expect(linear.spec!.ropeScaling).toEqual({ type: 'linear', factor: 8 });
  });
  it('a required field the config lacks is PP2023 once, unless the block gives the key', () => {
    const { vocab_size: _, ...noVocab } = LLAMA;
    expect(checked(noVocab).codes).toEqual(['PP2023']);
    expect(checked(noVocab, '  vocab = 1000').codes).toEqual([]);
  });
  it('hf_config of the wrong type is PP2006 alone', () => {
    const ast = parse('model m {\n  hf_config = 5\n}\n', '/c/m.plan').ast;
    const out: Diagnostic[] = [];
    checkModel(ast.declarations[0]!, out);
    expect(out.map((d) => d.code)).toEqual(['PP2006']);
  });
});

describe('Gemma: soft-capping, the attention scalar, embedding scale, norm offset', () => {
  const GEMMA2 = { ...LLAMA, model_type: 'gemma2', head_dim: 64, sliding_window: 512 };
  it("gemma2 without the fields gets Gemma2Config's defaults (50, 30, 256) and the modeling code's fixed facts", () => {
    const { keys, codes } = mapped(GEMMA2);
    expect(codes).toEqual([]);
    expect(keys).toMatchObject({
      attn_softcap: 50,
      logit_softcap: 30,
      query_pre_attn_scalar: 256,
      scale_embeddings: 'true',
      norm_offset: 1,
    });
  });
  it('written fields win; null soft-capping is none (not the default)', () => {
    const { keys } = mapped({ ...GEMMA2, attn_logit_softcapping: null, final_logit_softcapping: 20.0, query_pre_attn_scalar: 144 });
    expect(keys).not.toHaveProperty('attn_softcap');
    expect(keys).toMatchObject({ logit_softcap: 20, query_pre_attn_scalar: 144 });
  });
  it('gemma3_text: no soft-capping unless written; the model carries every fact', () => {
    const g3 = { ...GEMMA2, model_type: 'gemma3_text', attn_logit_softcapping: null, final_logit_softcapping: null };
    expect(mapped(g3).keys).not.toHaveProperty('logit_softcap');
    const { spec, codes } = checked({ ...GEMMA2, query_pre_attn_scalar: 144 });
    expect(codes).toEqual([]);
    expect(spec).toMatchObject({
      attnSoftcap: 50,
      logitSoftcap: 30,
      queryPreAttnScalar: 144,
      scaleEmbeddings: true,
      normOffset: 1,
      normsPerLayer: 4,
    });
    const plain = checked(LLAMA).spec!;
    for (const k of ['attnSoftcap', 'logitSoftcap', 'queryPreAttnScalar', 'scaleEmbeddings', 'normOffset'])
      expect(plain).not.toHaveProperty(k);
  });
});

describe('MoE routing: norm_topk', () => {
  const QWEN3_MOE = { ...LLAMA, model_type: 'qwen3_moe', head_dim: 64, num_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 256 };
  it("follows each config class: Qwen3MoeConfig's default false, the field when given, Mixtral and gpt-oss always true", () => {
    expect(mapped(QWEN3_MOE).keys).toMatchObject({ norm_topk: 'false' });
    expect(mapped({ ...QWEN3_MOE, norm_topk_prob: true }).keys).toMatchObject({ norm_topk: 'true' });
    expect(mapped({ ...LLAMA, model_type: 'mixtral', num_local_experts: 8, num_experts_per_tok: 2 }).keys).toMatchObject({
      norm_topk: 'true',
    });
    const spec = checked({ ...QWEN3_MOE, norm_topk_prob: true }).spec!;
    expect(spec.layer.mlp).toMatchObject({ kind: 'moe', normTopK: true });
    expect(checked(QWEN3_MOE).spec!.layer.mlp).toMatchObject({ kind: 'moe', normTopK: false });
  });
});
