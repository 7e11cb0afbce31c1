/**
 * MoE checkpoints: Mixtral's (`block_sparse_moe.gate`, `experts.{e}.w1/w3/w2`) and Qwen3-MoE's
 * (`mlp.gate`, `experts.{e}.gate_proj/up_proj/down_proj`) names map to the graph's router and
 * stacked [experts, …] tensors and back; each device of an expert-parallel plan loads only its
 * own experts (and, with expert_tensor, only its part of their width), equal to the
 * checkpoint's values.
 */
import { describe, expect, it } from 'vitest';
import { diffModels } from '../../runtime/weights/config.js';
import { loadWeights } from '../../runtime/weights/load.js';
import { detectNaming, graphNamesFor, sourceFor } from '../../runtime/weights/names.js';
import { randomWeights } from '../../runtime/reference/model.js';
import { ARCH_CASES, tinyOf } from '../runtime/archs.js';
import { compileTiny, weightsFor } from '../runtime/models.js';

const mixtral = ARCH_CASES.find((c) => c.modelType === 'mixtral')!;
const qwen = ARCH_CASES.find((c) => c.modelType === 'qwen3_moe')!;

describe('MoE weight names', () => {
  it('Mixtral and Qwen3-MoE spellings, both ways', () => {
    const m = compileTiny(tinyOf(mixtral), { tensor: 1, pipeline: 1, data: 1 }).model;
    const mx = detectNaming('llama', ['model.layers.0.block_sparse_moe.gate.weight', 'model.embed_tokens.weight']);
    expect(mx).toEqual({ arch: 'llama', prefix: 'model.', moe: 'mixtral' });
    expect(sourceFor(m, 'layers.1.mlp.router.weight', mx)).toMatchObject({
      source: 'model.layers.1.block_sparse_moe.gate.weight',
      sourceShape: [8, 32],
    });
    const up = sourceFor(m, 'layers.1.mlp.experts.up.weight', mx)!;
    expect(up.experts).toEqual(Array.from({ length: 8 }, (_, e) => `model.layers.1.block_sparse_moe.experts.${e}.w3.weight`));
    expect(sourceFor(m, 'layers.0.mlp.experts.down.weight', mx)).toMatchObject({ sourceShape: [32, 24] });
    const qw = detectNaming('llama', ['model.layers.0.mlp.gate.weight']);
    expect(qw.moe).toBeUndefined();
    expect(sourceFor(m, 'layers.0.mlp.router.weight', qw)!.source).toBe('model.layers.0.mlp.gate.weight');
    expect(sourceFor(m, 'layers.0.mlp.experts.gate.weight', qw)!.experts![3]).toBe('model.layers.0.mlp.experts.3.gate_proj.weight');
    expect(graphNamesFor('llama', 'model.layers.2.block_sparse_moe.experts.5.w2.weight')).toEqual(['layers.2.mlp.experts.down.weight']);
    expect(graphNamesFor('llama', 'model.layers.2.block_sparse_moe.gate.weight')).toEqual(['layers.2.mlp.router.weight']);
    expect(graphNamesFor('llama', 'model.layers.0.mlp.gate.weight')).toEqual(['layers.0.mlp.router.weight']);
    expect(graphNamesFor('llama', 'model.layers.0.mlp.experts.1.up_proj.weight')).toEqual(['layers.0.mlp.experts.up.weight']);
    // a dense MLP's gate is still gate_proj
    expect(graphNamesFor('llama', 'model.layers.0.mlp.gate_proj.weight')).toEqual(['layers.0.mlp.gate.weight']);
  });

  it('a checkpoint whose norm_topk_prob differs from the plan is a mismatch named by its key', () => {
    const m = tinyOf(qwen).config;
    const mlp = m.layer.mlp;
    if (mlp.kind !== 'moe') throw new Error('a MoE case');
    const other = { ...m, layer: { ...m.layer, mlp: { ...mlp, normTopK: !mlp.normTopK } } };
    expect(diffModels(other, m).map((x) => [x.key, x.config, x.graph])).toEqual([['norm_topk', 'true', 'false']]);
  });

  it.each([
    ['expert 2', 2, 1],
    ['expert_tensor 2', 1, 2],
  ] as const)(
    '%s: each device loads only its experts (and its part of their width), equal to the checkpoint',
    async (_, expert, expertTensor) => {
      for (const c of [mixtral, qwen]) {
        const tiny = tinyOf(c);
        const graph = compileTiny(tiny, { tensor: 2, pipeline: 1, data: 1, expert, expertTensor });
        const { path } = weightsFor(tiny);
        const want = randomWeights(tiny.config, 7, 0.1, { moeNaming: c.moeNaming! });
        const mlp = tiny.config.layer.mlp;
        if (mlp.kind !== 'moe') throw new Error('a MoE case');
        const [E, f, h] = [mlp.experts, mlp.expertFfn, tiny.config.hidden];
        for (const tensor of [0, 1]) {
          const held = E / expert;
          const e0 = tensor * (expert > 1 ? held : 0);
          const w = (f / expertTensor) | 0;
          const f0 = expertTensor > 1 ? tensor * w : 0;
          for await (const x of loadWeights(graph, { tensor }, { kind: 'safetensors', paths: [path] }, { progress: false })) {
            if (!x.name.includes('.mlp.experts.up.')) continue;
            expect(x.shape).toEqual([held, w, h]);
            const got = new Float32Array(x.data.buffer, x.data.byteOffset, x.data.byteLength / 4);
            const l = x.name.split('.')[1];
            const prefix = c.moeNaming === 'mixtral' ? `model.layers.${l}.block_sparse_moe.experts` : `model.layers.${l}.mlp.experts`;
            const leaf = c.moeNaming === 'mixtral' ? 'w3' : 'up_proj';
            for (let e = 0; e < held; e++) {
              const src = want.get(`${prefix}.${e0 + e}.${leaf}.weight`)!;
              expect(Array.from(got.subarray(e * w * h, (e + 1) * w * h))).toEqual(Array.from(src.subarray(f0 * h, (f0 + w) * h)));
            }
          }
        }
      }
    },
  );
});
