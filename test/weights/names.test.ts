import { describe, expect, it } from 'vitest';
import { deviceWeights } from '../../runtime/weights/load.js';
import { canonicalNaming, detectNaming, graphNamesFor, mappedShape, sourceFor, sourceSlice } from '../../runtime/weights/names.js';
import { hfCheckpoint, serveGraph } from './models.js';

describe('Hugging Face names ↔ graph names', () => {
  const llama = serveGraph('llama_micro', 1, 1);
  const gpt = serveGraph('gpt_micro', 1, 1);
  const instances = (g: typeof llama) => deviceWeights(g, { pipeline: 0, tensor: 0 }).map((w) => w.name);

  it('Llama: every graph weight maps to its transformers name and back', () => {
    const names = instances(llama);
    expect(names).toContain('layers.2.mlp.gate.weight');
    for (const prefix of ['model.', '']) {
      const naming = { arch: 'llama' as const, prefix };
      for (const g of names) {
        const m = sourceFor(llama.model, g, naming)!;
        expect(m, g).toBeDefined();
        expect(graphNamesFor('llama', m.source)).toEqual([g]);
        expect(
          mappedShape(m)[0]! <= (llama.tensors.find((t) => t.name === g.replace(/^layers\.\d+/, 'layers.{l}'))!.shape[0] as number),
        ).toBe(true);
      }
    }
    const table: [string, string][] = [
      ['model.embed_tokens.weight', 'embedding.weight'],
      ['model.layers.1.input_layernorm.weight', 'layers.1.attn_norm.weight'],
      ['model.layers.1.self_attn.q_proj.weight', 'layers.1.attn.q.weight'],
      ['model.layers.1.self_attn.k_proj.weight', 'layers.1.attn.k.weight'],
      ['model.layers.1.self_attn.v_proj.weight', 'layers.1.attn.v.weight'],
      ['model.layers.1.self_attn.o_proj.weight', 'layers.1.attn.o.weight'],
      ['model.layers.1.post_attention_layernorm.weight', 'layers.1.mlp_norm.weight'],
      ['model.layers.1.mlp.gate_proj.weight', 'layers.1.mlp.gate.weight'],
      ['model.layers.1.mlp.up_proj.weight', 'layers.1.mlp.up.weight'],
      ['model.layers.1.mlp.down_proj.weight', 'layers.1.mlp.down.weight'],
      ['model.norm.weight', 'final_norm.weight'],
      ['lm_head.weight', 'output.weight'],
    ];
    for (const [hf, g] of table) {
      expect(graphNamesFor('llama', hf)).toEqual([g]);
      expect(sourceFor(llama.model, g)!.source).toBe(hf);
    }
    // Every name of a real checkpoint layout maps, except buffers the graph does not use.
    for (const hf of hfCheckpoint(llama.model, { extra: true }).tensors.keys()) {
      const g = graphNamesFor('llama', hf);
      if (hf.endsWith('rotary_emb.inv_freq')) expect(g).toEqual([]);
      else expect(sourceFor(llama.model, g[0]!)!.source).toBe(hf);
    }
    // Qwen-style biases on a Llama layout.
    expect(graphNamesFor('llama', 'model.layers.0.self_attn.q_proj.bias')).toEqual(['layers.0.attn.q.bias']);
    expect(sourceFor(llama.model, 'layers.0.attn.k.bias')).toMatchObject({
      source: 'model.layers.0.self_attn.k_proj.bias',
      sourceShape: [32],
    });
    // Gemma-2's four norms (Gemma2DecoderLayer): post_attention_layernorm is the attention output's norm there.
    const gemma = { ...llama.model, normsPerLayer: 4 };
    const gemmaTable: [string, string][] = [
      ['model.layers.1.input_layernorm.weight', 'layers.1.attn_norm.weight'],
      ['model.layers.1.post_attention_layernorm.weight', 'layers.1.attn_post_norm.weight'],
      ['model.layers.1.pre_feedforward_layernorm.weight', 'layers.1.mlp_norm.weight'],
      ['model.layers.1.post_feedforward_layernorm.weight', 'layers.1.mlp_post_norm.weight'],
    ];
    for (const [hf, g] of gemmaTable) {
      expect(graphNamesFor('llama', hf, 4)).toEqual([g]);
      expect(sourceFor(gemma, g)).toMatchObject({ source: hf, sourceShape: [llama.model.hidden] });
    }
    expect(graphNamesFor('llama', 'model.layers.1.pre_feedforward_layernorm.weight')).toEqual([]);
    // Qwen3's q/k norms: a gain over head_dim.
    const headDim = (llama.model.layer.attention as { headDim: number }).headDim;
    for (const x of ['q', 'k']) {
      expect(graphNamesFor('llama', `model.layers.1.self_attn.${x}_norm.weight`)).toEqual([`layers.1.attn.${x}_norm.weight`]);
      expect(sourceFor(llama.model, `layers.1.attn.${x}_norm.weight`)).toMatchObject({
        source: `model.layers.1.self_attn.${x}_norm.weight`,
        sourceShape: [headDim],
      });
    }
  });

  it('Llama shapes: vocabulary padded in the graph, the checkpoint may hold either', () => {
    const m = sourceFor(llama.model, 'embedding.weight')!;
    expect(m).toMatchObject({ source: 'model.embed_tokens.weight', sourceShape: [101, 64], maxSourceRows: 101, rows: 101 });
    const padded = sourceFor(serveGraph('llama_micro', 4, 1).model, 'output.weight')!;
    expect(padded).toMatchObject({ source: 'lm_head.weight', sourceShape: [101, 64], maxSourceRows: 104, rows: 101 });
    expect(sourceFor(llama.model, 'layers.0.attn.k.weight')).toMatchObject({ sourceShape: [32, 64] });
    expect(sourceFor(llama.model, 'positions.weight')).toBeUndefined();
    // Tied embeddings: the output layer reads the embedding.
    expect(sourceFor(serveGraph('llama_tied', 1, 2).model, 'output.weight')).toMatchObject({
      source: 'model.embed_tokens.weight',
      note: 'tied to the embedding',
    });
  });

  it('GPT-2: names with and without the transformer. prefix', () => {
    const table: [string, string[]][] = [
      ['transformer.wte.weight', ['embedding.weight']],
      ['wte.weight', ['embedding.weight']],
      ['transformer.wpe.weight', ['positions.weight']],
      ['h.0.ln_1.weight', ['layers.0.attn_norm.weight']],
      ['transformer.h.1.ln_1.bias', ['layers.1.attn_norm.bias']],
      ['h.1.attn.c_attn.weight', ['layers.1.attn.q.weight', 'layers.1.attn.k.weight', 'layers.1.attn.v.weight']],
      ['h.1.attn.c_attn.bias', ['layers.1.attn.q.bias', 'layers.1.attn.k.bias', 'layers.1.attn.v.bias']],
      ['h.1.attn.c_proj.weight', ['layers.1.attn.o.weight']],
      ['h.1.ln_2.bias', ['layers.1.mlp_norm.bias']],
      ['h.1.mlp.c_fc.weight', ['layers.1.mlp.up.weight']],
      ['h.1.mlp.c_proj.bias', ['layers.1.mlp.down.bias']],
      ['transformer.ln_f.weight', ['final_norm.weight']],
      ['h.0.attn.bias', []], // the causal-mask buffer
      ['h.0.attn.masked_bias', []],
      ['lm_head.weight', ['output.weight']],
    ];
    for (const [hf, g] of table) expect(graphNamesFor('gpt2', hf), hf).toEqual(g);
    for (const prefix of ['transformer.', '']) {
      for (const g of instances(gpt)) {
        const m = sourceFor(gpt.model, g, { arch: 'gpt2', prefix })!;
        expect(m, g).toBeDefined();
        expect(m.source.startsWith(prefix) || m.source === 'lm_head.weight').toBe(true);
        expect(graphNamesFor('gpt2', m.source)).toContain(g);
      }
    }
  });

  it('GPT-2 Conv1D mappings: a column range of c_attn and a transpose', () => {
    const h = 64;
    expect(sourceFor(gpt.model, 'layers.1.attn.q.weight')).toMatchObject({
      source: 'transformer.h.1.attn.c_attn.weight',
      sourceShape: [h, 3 * h],
      range: { axis: 1, begin: 0, end: h },
      transpose: true,
    });
    expect(sourceFor(gpt.model, 'layers.1.attn.k.weight')).toMatchObject({ range: { axis: 1, begin: h, end: 2 * h }, transpose: true });
    expect(sourceFor(gpt.model, 'layers.1.attn.v.bias')).toMatchObject({
      source: 'transformer.h.1.attn.c_attn.bias',
      sourceShape: [3 * h],
      range: { axis: 0, begin: 2 * h, end: 3 * h },
    });
    expect(sourceFor(gpt.model, 'layers.0.attn.o.weight')).toMatchObject({
      source: 'transformer.h.0.attn.c_proj.weight',
      sourceShape: [h, h],
      transpose: true,
    });
    expect(sourceFor(gpt.model, 'layers.0.mlp.up.weight')).toMatchObject({
      source: 'transformer.h.0.mlp.c_fc.weight',
      sourceShape: [h, 4 * h],
      transpose: true,
    });
    expect(mappedShape(sourceFor(gpt.model, 'layers.0.mlp.up.weight')!)).toEqual([4 * h, h]);
    expect(sourceFor(gpt.model, 'layers.0.mlp.down.weight')).toMatchObject({
      source: 'transformer.h.0.mlp.c_proj.weight',
      sourceShape: [4 * h, h],
      transpose: true,
    });
    expect(sourceFor(gpt.model, 'positions.weight')).toMatchObject({ source: 'transformer.wpe.weight', sourceShape: [32, h], rows: 32 });
    expect(sourceFor(gpt.model, 'layers.0.mlp.gate.weight')).toBeUndefined();
  });

  it('a tensor-parallel shard of q reads a column range of c_attn: a strided read', () => {
    const h = 64;
    const t = 4;
    for (const [part, offset] of [
      ['q', 0],
      ['k', h],
      ['v', 2 * h],
    ] as const) {
      const m = sourceFor(gpt.model, `layers.0.attn.${part}.weight`)!;
      for (let r = 0; r < t; r++) {
        const ss = sourceSlice(m, [
          [(r * h) / t, ((r + 1) * h) / t],
          [0, h],
        ]);
        expect(ss.slice).toEqual([
          [0, h],
          [offset + (r * h) / t, offset + ((r + 1) * h) / t],
        ]);
        expect(ss).toMatchObject({ readShape: [h, h / t], transpose: true, validRows: h / t });
      }
    }
    // Row-parallel attn.o: a shard of its input dimension is a contiguous row range of c_proj.
    expect(
      sourceSlice(sourceFor(gpt.model, 'layers.0.attn.o.weight')!, [
        [0, h],
        [16, 32],
      ]).slice,
    ).toEqual([
      [16, 32],
      [0, h],
    ]);
    // Vocabulary padding: rows past the vocabulary are not read.
    const emb = sourceFor(serveGraph('gpt_micro', 4, 1).model, 'embedding.weight')!;
    expect(
      sourceSlice(emb, [
        [75, 100],
        [0, h],
      ]),
    ).toMatchObject({
      slice: [
        [75, 99],
        [0, h],
      ],
      validRows: 24,
    });
  });

  it('detects the spelling a checkpoint uses', () => {
    expect(detectNaming('gpt2', ['wte.weight', 'h.0.ln_1.weight'])).toEqual({ arch: 'gpt2', prefix: '' });
    expect(detectNaming('gpt2', ['transformer.wte.weight', 'lm_head.weight'])).toEqual({ arch: 'gpt2', prefix: 'transformer.' });
    expect(detectNaming('llama', ['lm_head.weight', 'layers.0.input_layernorm.weight'])).toEqual({ arch: 'llama', prefix: '' });
    expect(detectNaming('llama', ['model.norm.weight'])).toEqual(canonicalNaming('llama'));
    expect(detectNaming('llama', [])).toEqual(canonicalNaming('llama'));
  });
});
