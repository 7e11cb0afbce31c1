/**
 * Every architecture the WebGPU runtime runs (test/runtime/archs.ts: GPT-2, Llama with llama3
 * rope scaling, Mistral with a sliding window, Qwen2 with q/k/v biases, Qwen3 with q/k norms,
 * Gemma-2 with four offset norms, GeGLU, soft-caps, its attention scalar, scaled embeddings and
 * a window on every other layer; Mixtral and Qwen3-MoE with their experts; each with non-default eps and theta) gives the CPU reference's
 * logits (within 1e-4, f32) and greedy tokens, from a safetensors file with Hugging Face names, in every layout tensor 1/2 ×
 * pipeline 1/2 × data 1/2 (MoE: MOE_LAYOUTS, with expert parallelism), with every device allocating its memory plan. The prompts are
 * longer than the window and than one prefill chunk (max_prefill_tokens = 8), and generation
 * decodes past the window.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../runtime/index.js';
import { roundAll } from '../../runtime/reference/dtype.js';
import { randomWeights, ReferenceModel } from '../../runtime/reference/model.js';
import { ARCH_CASES, tinyOf } from './archs.js';
import { compileTiny, maxRelError, weightsFor, type Layout } from './models.js';

const LAYOUTS = [1, 2].flatMap((t) => [1, 2].flatMap((p) => [1, 2].map((d) => [t, p, d] as const)));
/**
 * MoE: expert × expert_tensor = tensor (the runtime's expert grid is a replica's tensor ranks):
 * every expert on one device; split over tensor 2 by width (expert_tensor 2) or by experts
 * (expert 2), with pipeline 2 or data 2; and tensor 4 as expert 2 × expert_tensor 2.
 */
const MOE_LAYOUTS = [
  [1, 1, 1, 1, 1],
  [1, 1, 2, 1, 1],
  [1, 2, 2, 1, 1],
  [2, 1, 1, 1, 2],
  [2, 1, 1, 2, 1],
  [2, 2, 1, 2, 1],
  [2, 1, 2, 2, 1],
  [4, 1, 1, 2, 2],
] as const;

describe.each(ARCH_CASES.map((c) => [c.modelType, c] as const))('%s on WebGPU equals the CPU reference', (_, c) => {
  const prompts = [c.prompt, [66, 1], [40]];
  const check = async (layout: Layout) => {
    const tiny = tinyOf(c);
    const { path, reference } = weightsFor(tiny);
    const rt = await createRuntime(compileTiny(tiny, layout), { weights: path });
    try {
      // Exactly: Gemma-2's two output norms are 0.2 % of its tiny model, under any tolerance a ratio would allow.
      for (const row of rt.memoryReport()) expect(row.allocatedBytes, `rank ${row.rank}`).toBe(row.planBytes);
      const logits = await rt.forward(prompts);
      for (const [i, prompt] of prompts.entries()) {
        const want = reference.prefill(reference.newCache(1), 0, prompt, 0, { logitsRows: [prompt.length - 1] });
        expect(maxRelError(logits[i]!, want), `prompt ${i}`).toBeLessThan(1e-4);
      }
      const results = await Promise.all(prompts.map((prompt) => rt.generate(prompt, { maxNewTokens: 6 })));
      for (const [i, prompt] of prompts.entries()) expect(results[i]!.tokens, `prompt ${i}`).toEqual(reference.generate(prompt, 6));
    } finally {
      await rt.close();
    }
  };
  if (c.moeNaming)
    it.each(MOE_LAYOUTS)(
      'tensor %i × pipeline %i × data %i, expert %i × expert_tensor %i: logits within 1e-4, same greedy tokens, allocation = plan',
      (tensor, pipeline, data, expert, expertTensor) => check({ tensor, pipeline, data, expert, expertTensor }),
    );
  else
    it.each(LAYOUTS)(
      'tensor %i × pipeline %i × data %i: logits within 1e-4, same greedy tokens, allocation = plan',
      (tensor, pipeline, data) => check({ tensor, pipeline, data }),
    );
});

/**
 * Gemma-2 with bf16 weights and cache: the gains stored minus one in bf16, the embedding
 * normalizer rounded to bf16 (√32 = 5.65625), against the reference on the same rounded
 * weights and a bf16 cache (1e-3, as test/runtime/e2e.test.ts's bf16 runs).
 */
describe('gemma2 with bf16 weights and cache equals the CPU reference', () => {
  it('tensor 2 × pipeline 2 × data 1: logits within 1e-3, same greedy tokens', async () => {
    const c = ARCH_CASES.find((x) => x.modelType === 'gemma2')!;
    const tiny = tinyOf(c);
    const { path } = weightsFor(tiny);
    const graph = compileTiny(tiny, { tensor: 2, pipeline: 2, data: 1, dtype: 'bf16' });
    expect(graph.model.dtype).toBe('bf16');
    const rounded = new Map([...randomWeights(tiny.config, 7, 0.1)].map(([n, w]) => [n, roundAll('bf16', w)]));
    const reference = new ReferenceModel(graph.model, rounded, { cacheFormat: 'bf16' });
    const rt = await createRuntime(graph, { weights: path });
    try {
      const prompts = [c.prompt, [66, 1]];
      const logits = await rt.forward(prompts);
      for (const [i, prompt] of prompts.entries()) {
        const want = reference.prefill(reference.newCache(1), 0, prompt, 0, { logitsRows: [prompt.length - 1] });
        expect(maxRelError(logits[i]!, want), `prompt ${i}`).toBeLessThan(1e-3);
      }
      const results = await Promise.all(prompts.map((prompt) => rt.generate(prompt, { maxNewTokens: 6 })));
      for (const [i, prompt] of prompts.entries()) expect(results[i]!.tokens, `prompt ${i}`).toEqual(reference.generate(prompt, 6));
    } finally {
      await rt.close();
    }
  });
});
