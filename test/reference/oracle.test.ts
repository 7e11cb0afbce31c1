/**
 * The CPU reference model (runtime/reference/model.ts) against an independent oracle: plain
 * torch in float64 (test/reference/oracle.py, written from the Hugging Face modeling files),
 * one causal pass over a prompt longer than the sliding window, every position's logits, for
 * each architecture of test/runtime/archs.ts with its non-default eps, theta, rope scaling,
 * window, biases and q/k norms. Skipped, saying why, when /usr/bin/python3 has no torch.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { embeddingNormalizer, embeddingScale } from '../../runtime/reference/embedding.js';
import { randomWeights, ReferenceModel, weightShapes, type Model, type MoeNaming } from '../../runtime/reference/model.js';

type Naming = { moeNaming?: MoeNaming };
import { ARCH_CASES, tinyOf, type ModelType } from '../runtime/archs.js';

const PYTHON = '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('./oracle.py', import.meta.url));
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`skipping the torch oracle: ${PYTHON} cannot import torch (Debian: apt-get install python3-torch)`);

/** The Hugging Face config fields the oracle reads, from the model description. */
function hfConfig(m: Model, modelType: ModelType): Record<string, unknown> {
  const a = m.layer.attention;
  if (a.kind !== 'gqa') throw new Error('the oracle runs grouped-query attention only');
  const s = m.ropeScaling;
  return {
    model_type: modelType,
    hidden_size: m.hidden,
    num_attention_heads: a.heads,
    num_key_value_heads: a.kvHeads,
    head_dim: a.headDim,
    num_hidden_layers: m.layers,
    vocab_size: m.vocab,
    eps: m.normEps,
    rope_theta: m.ropeTheta,
    rope_scaling: s
      ? {
          rope_type: s.type,
          factor: s.factor,
          original_max_position_embeddings: s.originalMaxSeq,
          low_freq_factor: s.lowFreqFactor,
          high_freq_factor: s.highFreqFactor,
        }
      : null,
    sliding_window: a.window ?? null,
    tie_word_embeddings: m.tiedEmbeddings,
    ...(modelType === 'gemma2'
      ? {
          query_pre_attn_scalar: m.queryPreAttnScalar ?? a.headDim,
          attn_logit_softcapping: m.attnSoftcap ?? null,
          final_logit_softcapping: m.logitSoftcap ?? null,
          torch_dtype: { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' }[m.dtype as string],
        }
      : {}),
    ...(m.layer.mlp.kind === 'moe'
      ? {
          num_experts: m.layer.mlp.experts,
          num_experts_per_tok: m.layer.mlp.topK,
          moe_intermediate_size: m.layer.mlp.expertFfn,
          norm_topk_prob: m.layer.mlp.normTopK,
        }
      : {}),
  };
}

function oracle(
  m: Model,
  modelType: ModelType,
  weights: ReadonlyMap<string, Float32Array>,
  tokens: number[],
  naming: Naming,
): Float64Array {
  const shapes = weightShapes(m, naming);
  const job = {
    config: hfConfig(m, modelType),
    weights: Object.fromEntries([...weights].map(([name, data]) => [name, [shapes.get(name), Array.from(data)]])),
    tokens,
  };
  const r = spawnSync(PYTHON, [ORACLE], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`oracle.py failed: ${r.stderr}`);
  return Float64Array.from((JSON.parse(r.stdout) as number[][]).flat());
}

describe.skipIf(!hasTorch)('the CPU reference against plain torch (float64, from the HF modeling code)', () => {
  it.each(ARCH_CASES.map((c) => [c.modelType, c] as const))('%s: every position’s logits within 1e-5 (relative)', (_, c) => {
    const m = tinyOf(c).config;
    const naming = c.moeNaming ? { moeNaming: c.moeNaming } : {};
    const weights = randomWeights(m, 11, 0.2, naming);
    const ref = new ReferenceModel(m, weights, naming);
    const got = ref.prefill(ref.newCache(1), 0, c.prompt);
    const want = oracle(m, c.modelType, weights, c.prompt, naming);
    expect(got.length).toBe(want.length);
    let scale = 0;
    let err = 0;
    for (let i = 0; i < want.length; i++) {
      scale = Math.max(scale, Math.abs(want[i]!));
      err = Math.max(err, Math.abs(got[i]! - want[i]!));
    }
    expect(err / scale).toBeLessThan(1e-5);
  });
});

describe.skipIf(!hasTorch)("Gemma's embedding normalizer as torch rounds it", () => {
  // Gemma2Model: torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype); bf16 gives √3584 = 59.75.
  it.each([
    ['f32', 'float32'],
    ['f16', 'float16'],
    ['bf16', 'bfloat16'],
  ] as const)('%s: √hidden for Gemma-2 and -3 sizes and the tiny one', (format, torchDtype) => {
    const sizes = [32, 2304, 3584, 4608, 5376];
    const code = `import torch, json; print(json.dumps([torch.tensor(h**0.5, dtype=torch.${torchDtype}).item() for h in ${JSON.stringify(sizes)}]))`;
    const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(sizes.map((h) => embeddingNormalizer(h, format))).toEqual(JSON.parse(r.stdout));
  });

  it("the factor the runtime and the reference use follows the model's dtype (Gemma-2-9B: 59.75 in bf16)", () => {
    expect(embeddingScale({ hidden: 3584, dtype: 'bf16', scaleEmbeddings: true })).toBe(59.75);
    expect(embeddingScale({ hidden: 3584, dtype: 'fp16', scaleEmbeddings: true })).toBe(59.875);
    expect(embeddingScale({ hidden: 3584, dtype: 'fp32', scaleEmbeddings: true })).toBe(Math.fround(Math.sqrt(3584)));
    expect(embeddingScale({ hidden: 3584, dtype: 'bf16' })).toBeUndefined();
  });
});
