/**
 * The one model description (src/model.ts): per-layer structure through `layerAt` /
 * `layerRuns`, and the parameter and FLOP counts summed layer by layer. Non-uniform
 * models are built directly as the type (the .plan language cannot write them yet).
 */
import { describe, expect, it } from 'vitest';
import { modelForwardFlops } from '../src/cost/flops.js';
import { countParams, deviceParams, layerParams } from '../src/memory/params.js';
import {
  denseGqaAt,
  layerAt,
  layerRuns,
  llamaConfig,
  shardLayer,
  uniformLayer,
  type GqaAttention,
  type LayerSpec,
  type Model,
} from '../src/model.js';
import { ReferenceModel, randomWeights, weightShapes } from '../runtime/reference/model.js';
import { llama3_8b, LLAMA3_8B_SIZES, modelSpec, servePlan } from './memory/fixtures.js';

const h = 4096;
/** Llama-3-8B with the MLP of layers 0 … 3 narrowed to 8192 and of layers 28 … 31 to 4096. */
const mixed = modelSpec('llama', {
  ...LLAMA3_8B_SIZES,
  name: 'mixed',
  overrides: [
    { first: 0, last: 3, mlp: { kind: 'dense', activation: 'swiglu', ffn: 8192 } },
    { first: 28, last: 31, mlp: { kind: 'dense', activation: 'swiglu', ffn: 4096 } },
  ],
});

/** A run's dense MLP (the test models here have no MoE). */
function denseMlp(l: LayerSpec) {
  if (l.mlp.kind !== 'dense') throw new Error('expected a dense MLP');
  return l.mlp;
}

describe('per-layer structure', () => {
  it('layerAt applies the override covering a layer, the default elsewhere', () => {
    expect(denseGqaAt(mixed, 0).mlp.ffn).toBe(8192);
    expect(denseGqaAt(mixed, 3).mlp.ffn).toBe(8192);
    expect(denseGqaAt(mixed, 4).mlp.ffn).toBe(14336);
    expect(denseGqaAt(mixed, 27).mlp.ffn).toBe(14336);
    expect(denseGqaAt(mixed, 31).mlp.ffn).toBe(4096);
    expect(layerAt(mixed, 31).attention).toEqual({ kind: 'gqa', heads: 32, kvHeads: 8, headDim: 128 });
    expect(() => layerAt(mixed, 32)).toThrow(/no layer 32/);
  });

  it('layerRuns splits a range at every override boundary', () => {
    expect(layerRuns(mixed).map((r) => [r.first, r.last, denseMlp(r.layer).ffn])).toEqual([
      [0, 3, 8192],
      [4, 27, 14336],
      [28, 31, 4096],
    ]);
    expect(layerRuns(mixed, 2, 5).map((r) => [r.first, r.last, denseMlp(r.layer).ffn])).toEqual([
      [2, 3, 8192],
      [4, 5, 14336],
    ]);
    expect(layerRuns(llama3_8b).length).toBe(1);
  });

  it('overrides must be in range, in order and disjoint', () => {
    const sizes = { layers: 4, hidden: 8, heads: 2, ffn: 16, vocab: 10, maxSeq: 8 };
    const mlp = { kind: 'dense', activation: 'swiglu', ffn: 8 } as const;
    expect(() => llamaConfig({ ...sizes, overrides: [{ first: 2, last: 4, mlp }] })).toThrow(/must lie in 0 … 3/);
    expect(() =>
      llamaConfig({
        ...sizes,
        overrides: [
          { first: 0, last: 2, mlp },
          { first: 2, last: 3, mlp },
        ],
      }),
    ).toThrow(/without overlap/);
    expect(
      layerRuns(
        llamaConfig({
          ...sizes,
          overrides: [
            { first: 0, last: 1, mlp },
            { first: 2, last: 3, mlp },
          ],
        }),
      ).length,
    ).toBe(2);
  });

  it('uniformLayer refuses a model whose layers differ', () => {
    expect(uniformLayer(llama3_8b)).toBe(llama3_8b.layer);
    expect(() => uniformLayer(mixed, 'lowering')).toThrow("model 'mixed': lowering needs every layer alike");
    // Gemma-2's alternation: layers that differ only in their window share one shape.
    const full = llama3_8b.layer.attention as GqaAttention;
    const alternating: Model = {
      ...llama3_8b,
      layer: { ...llama3_8b.layer, attention: { ...full, window: 4 } },
      overrides: [{ first: 1, last: 1, attention: full }],
    };
    expect(uniformLayer(alternating)).toBe(alternating.layer);
    expect(denseGqaAt(alternating, 1).attention.window).toBeUndefined();
  });
});

describe('counts summed layer by layer', () => {
  const mlp = (ffn: number) => 3 * h * ffn;
  it('parameters: each layer with its own ffn', () => {
    const perLayer = (ffn: number) =>
      layerParams(mixed, { attention: mixed.layer.attention, mlp: { kind: 'dense', activation: 'swiglu', ffn } }).total;
    expect(countParams(mixed)).toBe(
      countParams(llama3_8b) - 4 * perLayer(14336) + 4 * perLayer(8192) - 4 * perLayer(14336) + 4 * perLayer(4096),
    );
    // Llama-3-8B is 8,030,261,248 (Hugging Face); the narrowed MLPs remove 3h·Δffn each.
    expect(countParams(mixed)).toBe(8_030_261_248 - 4 * (mlp(14336) - mlp(8192)) - 4 * (mlp(14336) - mlp(4096)));
  });

  it('a device holds the sum of its own layers', () => {
    const plan = servePlan(mixed, { pipeline: 2, tensor: 2 });
    const shard = (ffn: number) =>
      layerParams(mixed, shardLayer({ attention: mixed.layer.attention, mlp: { kind: 'dense', activation: 'swiglu', ffn } }, 2)).total;
    expect(deviceParams(plan, plan.stages[0]!).layers).toBe(4 * shard(8192) + 12 * shard(14336));
    expect(deviceParams(plan, plan.stages[1]!).layers).toBe(12 * shard(14336) + 4 * shard(4096));
  });

  it('model FLOPs: 2 × parameters per token, layer by layer', () => {
    const s = 1024;
    expect(modelForwardFlops(llama3_8b, s) - modelForwardFlops(mixed, s)).toBe(2 * (countParams(llama3_8b) - countParams(mixed)) * s);
  });
});

describe('the CPU reference reads each layer', () => {
  const tiny: Model = llamaConfig({
    layers: 3,
    hidden: 16,
    heads: 4,
    kvHeads: 2,
    ffn: 24,
    vocab: 19,
    maxSeq: 8,
    overrides: [
      {
        first: 1,
        last: 1,
        attention: { kind: 'gqa', heads: 2, kvHeads: 1, headDim: 6 },
        mlp: { kind: 'dense', activation: 'swiglu', ffn: 40 },
      },
    ],
  });
  it('weight shapes and the KV cache follow the layer', () => {
    const shapes = weightShapes(tiny);
    expect(shapes.get('model.layers.0.mlp.up_proj.weight')).toEqual([24, 16]);
    expect(shapes.get('model.layers.1.mlp.up_proj.weight')).toEqual([40, 16]);
    expect(shapes.get('model.layers.1.self_attn.q_proj.weight')).toEqual([12, 16]);
    expect(shapes.get('model.layers.1.self_attn.k_proj.weight')).toEqual([6, 16]);
    expect(shapes.get('model.layers.2.mlp.down_proj.weight')).toEqual([16, 24]);
    const ref = new ReferenceModel(tiny, randomWeights(tiny, 3));
    const cache = ref.newCache(1);
    expect(cache.layers.map((c) => [c.shape.kvHeads, c.shape.headDim])).toEqual([
      [2, 4],
      [1, 6],
      [2, 4],
    ]);
    const logits = ref.prefill(cache, 0, [1, 5, 7]);
    expect(logits.length).toBe(3 * 19);
    expect(logits.every(Number.isFinite)).toBe(true);
  });
});
