/**
 * MoE checkpoint directories as Hugging Face writes them (config.json + model.safetensors with
 * Mixtral's or Qwen3-MoE's names): createRuntime accepts the matching config and generates the
 * CPU reference's greedy tokens; a Qwen3-MoE config whose norm_topk_prob differs from the
 * plan is refused, naming the field, before a device is opened.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRuntime, RuntimeInputError } from '../../runtime/index.js';
import { ARCH_CASES, tinyOf, type ArchCase } from '../runtime/archs.js';
import { compileTiny, weightsFor } from '../runtime/models.js';

const root = mkdtempSync(join(tmpdir(), 'parplan-ckpt-moe-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The case's config.json as transformers' MixtralConfig / Qwen3MoeConfig write it. */
function hfConfig(c: ArchCase): Record<string, unknown> {
  const m = tinyOf(c).config;
  const a = m.layer.attention;
  const mlp = m.layer.mlp;
  if (a.kind !== 'gqa' || mlp.kind !== 'moe') throw new Error('a MoE case');
  const common = {
    num_hidden_layers: m.layers,
    hidden_size: m.hidden,
    num_attention_heads: a.heads,
    num_key_value_heads: a.kvHeads,
    vocab_size: m.vocab,
    max_position_embeddings: m.maxSeq,
    rms_norm_eps: m.normEps,
    rope_theta: m.ropeTheta,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    num_experts_per_tok: mlp.topK,
  };
  return c.modelType === 'mixtral'
    ? {
        ...common,
        architectures: ['MixtralForCausalLM'],
        model_type: 'mixtral',
        num_local_experts: mlp.experts,
        intermediate_size: mlp.expertFfn,
        sliding_window: a.window ?? null,
      }
    : {
        ...common,
        architectures: ['Qwen3MoeForCausalLM'],
        model_type: 'qwen3_moe',
        head_dim: a.headDim,
        num_experts: mlp.experts,
        moe_intermediate_size: mlp.expertFfn,
        intermediate_size: 48,
        norm_topk_prob: mlp.normTopK,
        decoder_sparse_step: 1,
        mlp_only_layers: [],
        use_sliding_window: false,
      };
}

function checkpoint(c: ArchCase, name: string, config: object): string {
  const dir = join(root, name);
  mkdirSync(dir);
  copyFileSync(weightsFor(tinyOf(c)).path, join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

describe.each(ARCH_CASES.filter((c) => c.moeNaming).map((c) => [c.modelType, c] as const))('%s checkpoint directory', (_, c) => {
  it('matching config.json: loads without a warning and generates the reference tokens (expert 2)', { timeout: 120_000 }, async () => {
    const tiny = tinyOf(c);
    const dir = checkpoint(c, `${c.modelType}-good`, hfConfig(c));
    const warnings: string[] = [];
    const rt = await createRuntime(compileTiny(tiny, { tensor: 2, pipeline: 1, data: 1, expert: 2, expertTensor: 1 }), {
      weights: dir,
      onWarning: (w) => warnings.push(w),
    });
    try {
      expect((await rt.generate(c.prompt, { maxNewTokens: 4 })).tokens).toEqual(weightsFor(tiny).reference.generate(c.prompt, 4));
    } finally {
      await rt.close();
    }
    expect(warnings).toEqual([]);
  });

  if (c.modelType === 'qwen3_moe')
    it('norm_topk_prob other than the plan’s: invalid_checkpoint naming the field', async () => {
      const config = { ...hfConfig(c), norm_topk_prob: true };
      const dir = checkpoint(c, 'qwen-bad', config);
      const e = await createRuntime(compileTiny(tinyOf(c), { tensor: 1, pipeline: 1, data: 1 }), { weights: dir }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(RuntimeInputError);
      expect((e as RuntimeInputError).code).toBe('invalid_checkpoint');
      expect((e as Error).message).toContain('norm_topk_prob (norm_topk): config true, graph false');
    });
});
