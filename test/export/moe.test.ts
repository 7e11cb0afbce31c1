/**
 * Exports of MoE, MLA and sliding-window models: each engine's flags against an independent
 * reading of what the model is (the Hugging Face config's layer rules), and the expert grids each
 * engine cannot form as errors naming the knob.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExportResult } from '../../src/export/index.js';
import { exportChecked, moePlan } from './helpers.js';

const text = (r: ExportResult) => r.files.map((f) => f.text).join('\n');
const codes = (r: ExportResult) => r.diagnostics.filter((d) => d.severity !== 'note').map((d) => `${d.code} ${d.message}`);

/** The value of `--flag` in a script (quotes removed), or undefined. */
function flag(r: ExportResult, name: string): string | undefined {
  const m = new RegExp(`^\\s+${name}(?: (\\S+))?(?: \\\\)?$`, 'm').exec(text(r));
  return m ? (m[1] ?? '').replace(/^'|'$/g, '') : undefined;
}

/** Python's value of a list expression of the form Megatron's patterns take: ([a]*n+[b]*m+…)*k. Written here, not shared with src/. */
function pythonList(expr: string): number[] {
  const outer = /^\((.*)\)(?:\*(\d+))?$/.exec(expr);
  if (!outer) throw new Error(`not a pattern: ${expr}`);
  const inner = outer[1]!.split('+').flatMap((term) => {
    const t = /^\[(\d+)\](?:\*(\d+))?$/.exec(term);
    if (!t) throw new Error(`not a term: ${term}`);
    return Array<number>(Number(t[2] ?? 1)).fill(Number(t[1]));
  });
  return Array.from({ length: Number(outer[2] ?? 1) }, () => inner).flat();
}

const config = (name: string) => JSON.parse(readFileSync(`examples/configs/${name}.json`, 'utf8')) as Record<string, number>;

describe('Megatron-LM', () => {
  const dsv3 = exportChecked(
    'megatron',
    moePlan(
      'model = dsv3  cluster = two  mode = train  data = 16  expert = 16  expert_tensor = 1  zero = 1',
      'global = 64  micro = 1  seq = 4096',
    ),
  );

  it("writes --moe-layer-freq as the list of MoE layers of Hugging Face's DeepSeek-V3 rule", () => {
    const c = config('DeepSeek-V3');
    // transformers DeepseekV3DecoderLayer / vLLM deepseek_v2.py: layer i is MoE iff i >= first_k_dense_replace and i % moe_layer_freq == 0.
    const hf = Array.from({ length: c.num_hidden_layers! }, (_, i) =>
      i >= c.first_k_dense_replace! && i % c.moe_layer_freq! === 0 ? 1 : 0,
    );
    expect(pythonList(flag(dsv3, '--moe-layer-freq')!)).toEqual(hf);
  });

  it('carries experts, top-k, widths, the shared expert, MLA and the expert grid', () => {
    const c = config('DeepSeek-V3');
    expect(codes(dsv3)).toEqual([]);
    expect(flag(dsv3, '--num-experts')).toBe(String(c.n_routed_experts));
    expect(flag(dsv3, '--moe-router-topk')).toBe(String(c.num_experts_per_tok));
    expect(flag(dsv3, '--moe-ffn-hidden-size')).toBe(String(c.moe_intermediate_size));
    // Megatron's shared expert is one MLP of n_shared_experts × moe_intermediate_size (transformer_config.py's docstring).
    expect(flag(dsv3, '--moe-shared-expert-intermediate-size')).toBe(String(c.n_shared_experts! * c.moe_intermediate_size!));
    expect(flag(dsv3, '--multi-latent-attention')).toBe('');
    // transformers DeepseekV3Attention always has kv_a_layernorm (and q_a_layernorm with q_lora_rank): Megatron's --qk-layernorm with MLA.
    expect(flag(dsv3, '--qk-layernorm')).toBe('');
    expect(flag(dsv3, '--q-lora-rank')).toBe(String(c.q_lora_rank));
    expect(flag(dsv3, '--kv-lora-rank')).toBe(String(c.kv_lora_rank));
    expect(flag(dsv3, '--qk-head-dim')).toBe(String(c.qk_nope_head_dim));
    expect(flag(dsv3, '--qk-pos-emb-head-dim')).toBe(String(c.qk_rope_head_dim));
    expect(flag(dsv3, '--v-head-dim')).toBe(String(c.v_head_dim));
    expect(flag(dsv3, '--expert-model-parallel-size')).toBe('16');
    expect(flag(dsv3, '--expert-tensor-parallel-size')).toBeUndefined(); // = tensor (1), Megatron's default
    expect(flag(dsv3, '--moe-router-score-function')).toBe('sigmoid');
    expect(flag(dsv3, '--moe-router-enable-expert-bias')).toBe('');
  });

  it("top-k renormalization: Megatron's default (top-k, then softmax) renormalizes; norm_topk = false is softmax before top-k", () => {
    expect(flag(dsv3, '--moe-router-pre-softmax')).toBeUndefined();
    // Qwen1.5-MoE's norm_topk_prob = false: the chosen experts keep their softmax probabilities (Qwen2MoeSparseMoeBlock).
    const q = exportChecked(
      'megatron',
      moePlan('model = qwen_moe  cluster = node  mode = train  data = 8  expert = 4', 'global = 64  micro = 1  seq = 4096'),
    );
    expect(codes(q)).toEqual([]);
    expect(flag(q, '--moe-router-pre-softmax')).toBe('');
  });

  it("windows: Gemma-2's every-other-layer window as Megatron's window and skip frequency", () => {
    const r = exportChecked(
      'megatron',
      moePlan('model = gemma2  cluster = node  mode = train  data = 8', 'global = 64  micro = 1  seq = 4096'),
    );
    const c = config('gemma-2-9b');
    // Hugging Face's sliding mask keeps keys k with q - W < k <= q; Megatron's get_sliding_window_causal_mask keeps q - w0 <= k <= q + w1.
    const [w0, w1] = flag(r, '--window-size')!.split(',').map(Number) as [number, number];
    const q = 10_000;
    const kept = (lo: number, hi: number) => Array.from({ length: q + 1 }, (_, k) => k).filter((k) => lo <= k && k <= hi).length;
    expect(kept(q - w0, Math.min(q, q + w1))).toBe(kept(q - c.sliding_window! + 1, q));
    // transformers Gemma2Config: layer i slides iff (i + 1) % 2 (even i); Megatron: layer_number % N != 0 (1-based) slides.
    const n = Number(flag(r, '--window-attn-skip-freq'));
    for (let i = 0; i < c.num_hidden_layers!; i++) expect((i + 1) % n !== 0, `layer ${i}`).toBe(Boolean((i + 1) % 2));
  });

  it("rope: Llama-3.1's theta and llama3 scaling, DeepSeek-V3's yarn factor with MLA", () => {
    const c = JSON.parse(readFileSync('examples/configs/Llama-3.1-8B.json', 'utf8')) as {
      rope_theta: number;
      rope_scaling: { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number };
    };
    const r = exportChecked(
      'megatron',
      moePlan('model = mixtral  cluster = node  mode = train  data = 8  expert = 8', 'global = 64  micro = 1  seq = 4096').replace(
        'experts_per_token = 2 }',
        `experts_per_token = 2  rope_theta = ${c.rope_theta}  rope_scaling = llama3  rope_factor = ${c.rope_scaling.factor}
  rope_original_max_seq = ${c.rope_scaling.original_max_position_embeddings}  rope_low_freq_factor = ${c.rope_scaling.low_freq_factor}
  rope_high_freq_factor = ${c.rope_scaling.high_freq_factor} }`,
      ),
    );
    expect(codes(r)).toEqual([]);
    expect(flag(r, '--rotary-base')).toBe(String(c.rope_theta));
    expect(flag(r, '--use-rope-scaling')).toBe('');
    expect(flag(r, '--rope-scaling-factor')).toBe(String(c.rope_scaling.factor));
    const d = config('DeepSeek-V3') as unknown as { rope_scaling: { factor: number } };
    const y = exportChecked(
      'megatron',
      moePlan(
        'model = dsv3  cluster = two  mode = train  data = 16  expert = 16  expert_tensor = 1  zero = 1',
        'global = 64  micro = 1  seq = 4096',
      ).replace(
        'v_head_dim = 128 }',
        `v_head_dim = 128  rope_scaling = yarn  rope_factor = ${d.rope_scaling.factor}  rope_original_max_seq = 4096 }`,
      ),
    );
    expect(codes(y)).toEqual([]);
    expect(flag(y, '--rope-type')).toBe('yarn');
    expect(flag(y, '--rotary-scaling-factor')).toBe(String(d.rope_scaling.factor));
  });

  it("Qwen2's q/k/v-only bias: --add-qkv-bias with --disable-bias-linear; q/k norms: --qk-layernorm", () => {
    const r = exportChecked(
      'megatron',
      moePlan('model = mixtral  cluster = node  mode = train  data = 8', 'global = 64  micro = 1  seq = 4096').replace(
        'experts_per_token = 2 }',
        'experts_per_token = 2  qkv_bias = true  qk_norm = true }',
      ),
    );
    expect(codes(r)).toEqual([]);
    expect(flag(r, '--disable-bias-linear')).toBe('');
    expect(flag(r, '--add-qkv-bias')).toBe('');
    expect(flag(r, '--qk-layernorm')).toBe('');
  });

  it('capacity factor: the factor and padding to it', () => {
    const r = exportChecked(
      'megatron',
      moePlan(
        'model = mixtral  cluster = node  mode = train  data = 8  expert = 8  capacity_factor = 1.25',
        'global = 64  micro = 1  seq = 4096',
      ),
    );
    expect(flag(r, '--moe-expert-capacity-factor')).toBe('1.25');
    expect(flag(r, '--moe-pad-expert-input-to-capacity')).toBe('');
  });

  it('a learned router bias with experts split over tensor ranks is an error naming expert_tensor', () => {
    const r = exportChecked(
      'megatron',
      moePlan('model = mixtral  cluster = node  mode = train  tensor = 2  data = 4', 'global = 64  micro = 1  seq = 4096').replace(
        'experts_per_token = 2 }',
        'experts_per_token = 2  bias = true  router_bias = true }',
      ),
    );
    expect(codes(r)).toEqual([
      "PP8002 Megatron-LM cannot express expert_tensor = 2: its experts take biases only with --expert-tensor-parallel-size 1 ('Bias in Moe is only supported when ETP==1')",
    ]);
  });
});

describe('vLLM', () => {
  it('expert = tensor × data with expert_tensor = 1 is one engine with --enable-expert-parallel', () => {
    const r = exportChecked(
      'vllm',
      moePlan(
        'model = mixtral  cluster = node  mode = serve  tensor = 4  data = 2  expert = 8  expert_tensor = 1',
        'max_batch = 16  seq = 4096',
      ),
    );
    expect(codes(r)).toEqual([]);
    expect(flag(r, '--tensor-parallel-size')).toBe('4');
    expect(flag(r, '--data-parallel-size')).toBe('2');
    expect(flag(r, '--enable-expert-parallel')).toBe('');
    expect(text(r).match(/vllm serve/g)).toHaveLength(1);
    expect(text(r)).toContain('CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 vllm serve');
  });

  it('over two nodes: node 0 serves, node 1 runs its data-parallel ranks headless', () => {
    const r = exportChecked(
      'vllm',
      moePlan('model = mixtral  cluster = two  mode = serve  tensor = 8  data = 2  expert_tensor = 16', 'max_batch = 16  seq = 4096'),
    );
    expect(codes(r)).toEqual([]);
    const t = text(r);
    expect(t.match(/vllm serve/g)).toHaveLength(2);
    expect(t).toContain('--headless');
    expect(t).toContain('--data-parallel-start-rank 1');
    expect(t.match(/--data-parallel-size-local 1/g)).toHaveLength(2);
  });

  it('kv_block as --block-size only when the plan sets it', () => {
    const plan = (extra: string) =>
      moePlan(`model = mixtral  cluster = node  mode = serve  tensor = 8  ${extra}`, 'max_batch = 16  seq = 4096');
    expect(flag(exportChecked('vllm', plan('kv_block = 32')), '--block-size')).toBe('32');
    expect(flag(exportChecked('vllm', plan('')), '--block-size')).toBeUndefined();
  });

  it('an expert grid vLLM cannot form is an error naming the knob', () => {
    const r = exportChecked(
      'vllm',
      moePlan(
        'model = mixtral  cluster = node  mode = serve  tensor = 2  data = 4  expert = 2  expert_tensor = 1',
        'max_batch = 16  seq = 4096',
      ),
    );
    expect(codes(r)).toHaveLength(1);
    expect(codes(r)[0]).toMatch(/^PP8002 vLLM cannot express expert = 2 with expert_tensor = 1: /);
    expect(r.diagnostics.find((d) => d.code === 'PP8002')!.help).toBe(
      'set expert = 8 and expert_tensor = 1, or remove expert and expert_tensor',
    );
    expect(r.files).toEqual([]);
  });
});

describe('torchtitan', () => {
  it('capacity factor: dropless MoE is a warning at 1 or more, an error below', () => {
    const plan = (cf: number) =>
      moePlan(
        `model = dsv3  cluster = two  mode = train  data = 16  expert = 16  expert_tensor = 1  zero = 2  capacity_factor = ${cf}`,
        'global = 64  micro = 1  seq = 4096',
      );
    expect(codes(exportChecked('torchtitan', plan(1.25)))[0]).toMatch(
      /^PP8003 torchtitan runs capacity_factor = 1.25 differently: its MoE layers are dropless/,
    );
    expect(codes(exportChecked('torchtitan', plan(0.5)))[0]).toMatch(/^PP8002 torchtitan cannot express capacity_factor = 0.5/);
  });

  it('expert degrees from FSDP-sharded data ranks', () => {
    const r = exportChecked(
      'torchtitan',
      moePlan(
        'model = dsv3  cluster = two  mode = train  data = 16  expert = 16  expert_tensor = 1  zero = 2',
        'global = 64  micro = 1  seq = 4096',
      ),
    );
    expect(codes(r)).toEqual([]);
    const toml = r.files.find((f) => f.name.endsWith('.toml'))!.text;
    expect(toml).toContain('name = "deepseek_v3"');
    expect(toml).toContain('expert_parallel_degree = 16');
    expect(toml).toContain('expert_tensor_parallel_degree = 1');
  });

  it('with zero = 0 the data ranks are replicas, so an expert group over them is an error', () => {
    const r = exportChecked(
      'torchtitan',
      moePlan(
        'model = dsv3  cluster = node  mode = train  data = 8  expert = 8  expert_tensor = 1  zero = 0',
        'global = 64  micro = 1  seq = 4096',
      ),
    );
    expect(codes(r)[0]).toMatch(
      /^PP8002 torchtitan cannot express expert = 8: its expert groups are drawn from the FSDP-sharded data ranks/,
    );
  });
});

describe('DeepSpeed', () => {
  it('MoE layers are built in the script: a warning with the arguments', () => {
    const r = exportChecked(
      'deepspeed',
      moePlan('model = mixtral  cluster = node  mode = train  data = 8  expert = 4  zero = 1', 'global = 64  micro = 1  seq = 4096'),
    );
    expect(codes(r)).toEqual([
      'PP8003 DeepSpeed runs the 8 experts differently: the config has no expert settings: build each MoE layer as deepspeed.moe.layer.MoE(hidden_size, expert, num_experts=8, ep_size=4, k=2, drop_tokens=False) in the training script',
    ]);
  });

  it('an expert group that takes tensor ranks is an error naming expert', () => {
    const r = exportChecked(
      'deepspeed',
      moePlan(
        // Sequence parallelism: Megatron's rule for experts with tensor > 1, which the checker enforces (DeepSpeed refuses it too).
        'model = mixtral  cluster = node  mode = train  tensor = 2  data = 4  expert = 8  expert_tensor = 1  sequence_parallel = true',
        'global = 64  micro = 1  seq = 4096',
      ),
    );
    expect(codes(r)).toContain(
      'PP8002 DeepSpeed cannot express expert = 8: its expert-parallel groups (ep_size) are cut from the 4 data-parallel ranks, never the tensor ranks',
    );
  });
});

describe('quantized weights', () => {
  it('a training export of a quantized model (trained through adapters) is an error in every training engine', () => {
    const plan = moePlan(
      'model = mixtral  cluster = node  mode = train  data = 8  expert = 8  adapter { rank = 16 }',
      'global = 64  micro = 1  seq = 4096',
    ).replace('experts_per_token = 2 }', 'experts_per_token = 2  quantization = awq }');
    for (const engine of ['megatron', 'torchtitan', 'deepspeed'] as const)
      expect(codes(exportChecked(engine, plan)), engine).toContain(
        `PP8002 ${engine === 'megatron' ? 'Megatron-LM' : engine === 'deepspeed' ? 'DeepSpeed' : 'torchtitan'} cannot express quantization = awq: its config cannot hold a frozen awq-quantized base (QLoRA's base is quantized when the model is loaded, e.g. transformers' BitsAndBytesConfig), and it would train weights in the training precision`,
      );
  });

  it('vLLM reads the method from the checkpoint: no --quantization flag, a header line', () => {
    const r = exportChecked(
      'vllm',
      moePlan('model = mixtral  cluster = node  mode = serve  tensor = 8', 'max_batch = 16  seq = 4096').replace(
        'experts_per_token = 2 }',
        'experts_per_token = 2  quantization = awq }',
      ),
    );
    expect(codes(r)).toEqual([]);
    expect(flag(r, '--quantization')).toBeUndefined();
    expect(text(r)).toContain(
      "# Weights: awq, group 128; vLLM reads the method from the checkpoint's quantization_config (no --quantization flag).",
    );
  });
});
