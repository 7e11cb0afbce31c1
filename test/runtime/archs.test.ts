/**
 * Every architecture the WebGPU runtime runs (test/runtime/archs.ts: GPT-2, Llama with llama3
 * rope scaling, Mistral with a sliding window, Qwen2 with q/k/v biases, Qwen3 with q/k norms,
 * Mixtral and Qwen3-MoE with their experts, each with non-default eps and theta) gives the CPU reference's logits (within 1e-4, f32) and
 * greedy tokens, from a safetensors file with Hugging Face names, in every layout tensor 1/2 ×
 * pipeline 1/2 × data 1/2 (MoE: tensor 1, which is what the runtime runs them on), with every device allocating its memory plan. The prompts are
 * longer than the window and than one prefill chunk (max_prefill_tokens = 8), and generation
 * decodes past the window.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../runtime/index.js';
import { ARCH_CASES, tinyOf } from './archs.js';
import { compileTiny, maxRelError, weightsFor } from './models.js';

const LAYOUTS = [1, 2].flatMap((t) => [1, 2].flatMap((p) => [1, 2].map((d) => [t, p, d] as const)));

describe.each(ARCH_CASES.map((c) => [c.modelType, c] as const))('%s on WebGPU equals the CPU reference', (_, c) => {
  const prompts = [c.prompt, [66, 1], [40]];
  it.each(c.moeNaming ? LAYOUTS.filter(([t]) => t === 1) : LAYOUTS)(
    'tensor %i × pipeline %i × data %i: logits within 1e-4, same greedy tokens, allocation = plan',
    async (t, p, d) => {
      const tiny = tinyOf(c);
      const { path, reference } = weightsFor(tiny);
      const rt = await createRuntime(compileTiny(tiny, { tensor: t, pipeline: p, data: d }), { weights: path });
      try {
        for (const row of rt.memoryReport())
          expect(Math.abs(row.ratio - 1), `rank ${row.rank}: ${row.allocatedBytes} vs ${row.planBytes}`).toBeLessThan(0.01);
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
    },
  );
});
