/**
 * The plan that was checked is the plan that runs: a tiny GPT-2-style and a tiny
 * Llama-style model, with the same weights (a safetensors file with Hugging Face
 * names), give the same logits and greedy tokens on the WebGPU runtime in every
 * layout — tensor 1/2/4 × pipeline 1/2 × data 1/2 — as the single-device CPU
 * reference; and every device allocates what its memory plan says.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../runtime/index.js';
import { gpt2Config, llamaConfig, randomWeights, ReferenceModel } from '../../runtime/reference/model.js';
import { roundAll } from '../../runtime/reference/dtype.js';
import { compileTiny, maxRelError, weightsFor, type TinyModel } from './models.js';

const MODELS = {
  gpt2: {
    plan: 'arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32',
    config: gpt2Config({ layers: 2, hidden: 64, heads: 4, vocab: 97, maxSeq: 64 }),
  },
  llama: {
    plan: 'arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = 97  max_seq = 64  dtype = fp32',
    config: llamaConfig({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, ffn: 160, vocab: 97, maxSeq: 64 }),
  },
} satisfies Record<string, TinyModel>;

const compile = (arch: keyof typeof MODELS, tensor: number, pipeline: number, data: number, dtype = 'fp32') =>
  compileTiny(MODELS[arch], { tensor, pipeline, data, dtype });

const PROMPTS = [[5, 17, 42, 3, 88, 61, 9, 23, 71, 2, 33], [96, 1], [40]];
/** Every layout tensor 1/2/4 × pipeline 1/2 × data 1/2. */
const LAYOUTS = [1, 2, 4].flatMap((t) => [1, 2].flatMap((p) => [1, 2].map((d) => [t, p, d] as const)));

describe.each(Object.keys(MODELS) as (keyof typeof MODELS)[])('%s on WebGPU equals the CPU reference', (arch) => {
  it.each(LAYOUTS)(`tensor %i × pipeline %i × data %i: logits within 1e-4, same greedy tokens, allocation = plan`, async (t, p, d) => {
    const { path, reference } = weightsFor(MODELS[arch]);
    const graph = compile(arch, t, p, d);
    const rt = await createRuntime(graph, { weights: path });
    try {
      for (const row of rt.memoryReport())
        expect(Math.abs(row.ratio - 1), `rank ${row.rank}: ${row.allocatedBytes} vs ${row.planBytes}`).toBeLessThan(0.01);
      const logits = await rt.forward(PROMPTS);
      for (const [i, prompt] of PROMPTS.entries()) {
        const cache = reference.newCache(1);
        const want = reference.prefill(cache, 0, prompt, 0, { logitsRows: [prompt.length - 1] });
        expect(maxRelError(logits[i]!, want), `prompt ${i}`).toBeLessThan(1e-4);
      }
      // Greedy generation through the batching server: several sequences at once, over every replica.
      const results = await Promise.all(PROMPTS.map((prompt) => rt.generate(prompt, { maxNewTokens: 6 })));
      for (const [i, prompt] of PROMPTS.entries()) expect(results[i]!.tokens, `prompt ${i}`).toEqual(reference.generate(prompt, 6));
    } finally {
      await rt.close();
    }
  });
});

/**
 * bf16 weights and KV cache (packed two per u32, widened in the shader, f32 compute):
 * against the reference run on the same bf16-rounded weights and a bf16 cache, the
 * remaining difference is the order of f32 accumulation and the cache writes' rounding
 * of slightly different K/V values; 1e-3 relative covers it.
 */
describe.each(Object.keys(MODELS) as (keyof typeof MODELS)[])('%s with bf16 weights and cache', (arch) => {
  it.each([
    [1, 1, 1],
    [2, 2, 1],
  ] as const)('tensor %i × pipeline %i × data %i: logits within 1e-3, same greedy tokens', async (t, p, d) => {
    const { path } = weightsFor(MODELS[arch]);
    const config = MODELS[arch].config;
    const rounded = new Map([...randomWeights(config, 7, 0.1)].map(([n, w]) => [n, roundAll('bf16', w)]));
    const reference = new ReferenceModel(config, rounded, { cacheFormat: 'bf16' });
    const graph = compile(arch, t, p, d, 'bf16');
    const rt = await createRuntime(graph, { weights: path });
    try {
      const logits = await rt.forward(PROMPTS);
      for (const [i, prompt] of PROMPTS.entries()) {
        const want = reference.prefill(reference.newCache(1), 0, prompt, 0, { logitsRows: [prompt.length - 1] });
        expect(maxRelError(logits[i]!, want), `prompt ${i}`).toBeLessThan(1e-3);
      }
      const results = await Promise.all(PROMPTS.map((prompt) => rt.generate(prompt, { maxNewTokens: 6 })));
      for (const [i, prompt] of PROMPTS.entries()) expect(results[i]!.tokens, `prompt ${i}`).toEqual(reference.generate(prompt, 6));
    } finally {
      await rt.close();
    }
  });
});
