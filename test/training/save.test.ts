/**
 * saveCheckpoint (runtime/training/save.ts): the directory it writes loads in the serving
 * runtime's loader exactly as the checkpoint it came from (every graph weight byte for byte),
 * its config.json matches the graph's model by the serving runtime's own comparison, and the
 * torch oracle reads it (test/oracle/train.test.ts runs every case through a saved directory).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomWeights, weightShapes } from '../../runtime/reference/model.js';
import { SaveError, saveCheckpoint } from '../../runtime/training/save.js';
import { checkCheckpointConfig } from '../../runtime/weights/config.js';
import { loadWeights, type WeightsSource } from '../../runtime/weights/load.js';
import type { Graph } from '../../src/graph/types.js';
import { ARCH_CASES, tinyOf } from '../runtime/archs.js';
import { compileTiny } from '../runtime/models.js';
import { safetensorsBytes } from '../weights/write.js';

const root = mkdtempSync(join(tmpdir(), 'parplan-save-'));

async function loaded(graph: Graph, source: WeightsSource): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const w of loadWeights(graph, { tensor: 0, pipeline: 0 }, source, { progress: false })) out.set(w.name, w.data);
  return out;
}

const CASES = {
  'GPT-2 (tied, LayerNorm eps 0.001)': ARCH_CASES.find((c) => c.modelType === 'gpt2')!,
  'Llama (GQA, llama3 rope scaling, untied)': ARCH_CASES.find((c) => c.modelType === 'llama')!,
};

describe('saveCheckpoint', () => {
  it.each(Object.entries(CASES))('%s: the serving loader reads it as the original, its config.json matches the graph', async (name, c) => {
    const tiny = tinyOf(c);
    const graph = compileTiny(tiny, { tensor: 2, pipeline: 1, data: 1 });
    const weights = randomWeights(graph.model, 3, 0.1);
    const shapes = weightShapes(graph.model);
    const original = join(root, `${c.modelType}-original.safetensors`);
    writeFileSync(
      original,
      safetensorsBytes(Object.fromEntries([...weights].map(([n, d]) => [n, { dtype: 'F32', shape: shapes.get(n)!, data: d }]))),
    );
    const dir = join(root, c.modelType);
    saveCheckpoint(dir, weights, graph.model);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
    const source: WeightsSource = { kind: 'safetensors', paths: [dir] };
    expect(checkCheckpointConfig(graph, source).checked).toEqual([join(dir, 'config.json')]);
    const want = await loaded(graph, { kind: 'safetensors', paths: [original] });
    const got = await loaded(graph, source);
    expect([...got.keys()].sort(), name).toEqual([...want.keys()].sort());
    for (const [n, bytes] of want) expect(Buffer.compare(Buffer.from(got.get(n)!), Buffer.from(bytes)), n).toBe(0);
  });

  it("config.json has transformers' field names", () => {
    const graph = compileTiny(tinyOf(CASES['Llama (GQA, llama3 rope scaling, untied)']), { tensor: 1, pipeline: 1, data: 1 });
    const dir = join(root, 'fields');
    saveCheckpoint(dir, randomWeights(graph.model, 1), graph.model);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      num_hidden_layers: 2,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 48,
      rms_norm_eps: 0.01,
      rope_theta: 500,
      rope_scaling: { rope_type: 'llama3', factor: 8, original_max_position_embeddings: 32, low_freq_factor: 1, high_freq_factor: 4 },
      tie_word_embeddings: false,
    });
  });

  it("GPT-2's config.json: GPT2Config's names, and no dropout (its defaults are 0.1; parplan trains without)", () => {
    const graph = compileTiny(tinyOf(CASES['GPT-2 (tied, LayerNorm eps 0.001)']), { tensor: 1, pipeline: 1, data: 1 });
    const dir = join(root, 'gpt2-fields');
    saveCheckpoint(dir, randomWeights(graph.model, 1), graph.model);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toMatchObject({
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_layer: 2,
      n_embd: 32,
      n_head: 4,
      n_positions: 64,
      vocab_size: 67,
      layer_norm_epsilon: 0.001,
      activation_function: 'gelu_new',
      attn_pdrop: 0,
      embd_pdrop: 0,
      resid_pdrop: 0,
      tie_word_embeddings: true,
    });
  });

  it('a missing, extra or wrongly sized weight, and a model it cannot describe, are SaveErrors', () => {
    const graph = compileTiny(tinyOf(CASES['GPT-2 (tied, LayerNorm eps 0.001)']), { tensor: 1, pipeline: 1, data: 1 });
    const w = randomWeights(graph.model, 1);
    const without = new Map(w);
    without.delete('transformer.ln_f.bias');
    expect(() => saveCheckpoint(join(root, 'x'), without, graph.model)).toThrow(
      new SaveError('weight transformer.ln_f.bias [32] is missing'),
    );
    const extra = new Map(w).set('lm_head.weight', new Float32Array(1));
    expect(() => saveCheckpoint(join(root, 'x'), extra, graph.model)).toThrow('weights the model does not have: lm_head.weight');
    const short = new Map(w).set('transformer.ln_f.bias', new Float32Array(31));
    expect(() => saveCheckpoint(join(root, 'x'), short, graph.model)).toThrow('has 31 values, its shape [32] has 32');
    const gemma = tinyOf(ARCH_CASES.find((c) => c.modelType === 'gemma2')!).config;
    expect(() => saveCheckpoint(join(root, 'g'), randomWeights(gemma, 1), gemma)).toThrow(/not supported yet/);
  });
});
