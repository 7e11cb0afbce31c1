import { describe, expect, it } from 'vitest';
import { meshOf } from '../../src/mesh.js';
import type { Graph } from '../../src/graph/types.js';
import { toF32 } from '../../runtime/weights/convert.js';
import { loadWeights, type DeviceCoords, type LoadedWeight, type LoadOptions } from '../../runtime/weights/load.js';
import { initFor, randomRegion, randomValue, unitValue, tensorKey } from '../../runtime/weights/random.js';
import { serveGraph, zero3Graph } from './models.js';

async function loadAll(graph: Graph, device: DeviceCoords, seed: number, options: LoadOptions = {}): Promise<LoadedWeight[]> {
  const out: LoadedWeight[] = [];
  for await (const w of loadWeights(graph, device, { kind: 'random', seed }, { progress: false, ...options })) out.push(w);
  return out;
}

/** Every weight instance of a graph assembled from all its devices' shards (checking that replicas agree). */
async function assemble(graph: Graph, seed: number, options: LoadOptions = {}): Promise<Map<string, Float32Array>> {
  const full = new Map<string, Float32Array>();
  const written = new Map<string, Uint8Array>();
  const disagree: string[] = [];
  for (let stage = 0; stage < meshOf(graph.mesh.axes).pipeline; stage++) {
    for (let tr = 0; tr < meshOf(graph.mesh.axes).tensor; tr++) {
      for (const w of await loadAll(graph, { pipeline: stage, tensor: tr }, seed, options)) {
        const [rows, cols] = w.globalShape.length === 2 ? (w.globalShape as [number, number]) : [1, w.globalShape[0]!];
        let dst = full.get(w.name);
        if (!dst) full.set(w.name, (dst = new Float32Array(rows * cols).fill(NaN)));
        const seen = written.get(w.name) ?? new Uint8Array(rows * cols);
        written.set(w.name, seen);
        const v = toF32(w.data, w.dtype);
        const [[r0, r1], [c0, c1]] =
          w.globalShape.length === 2 ? (w.region as [[number, number], [number, number]]) : [[0, 1], w.region[0]!];
        let i = 0;
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++, i++) {
            const k = r * cols + c;
            if (seen[k] && !Object.is(v[i], dst[k])) disagree.push(`${w.name}[${k}]`);
            dst[k] = v[i]!;
            seen[k] = 1;
          }
        }
      }
    }
  }
  expect(disagree, 'replicas agree').toEqual([]);
  for (const [name, v] of full) expect(v.some(Number.isNaN), `${name} fully covered`).toBe(false);
  return full;
}

function stats(v: Float32Array) {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, max: v.reduce((a, b) => Math.max(a, Math.abs(b)), 0) };
}

describe('random:SEED weights', () => {
  it('are the same whatever the sharding: GPT-2 tensor 4 × pipeline 2 equals one device', async () => {
    const one = await assemble(serveGraph('gpt_micro', 1, 1), 7);
    const many = await assemble(serveGraph('gpt_micro', 4, 2), 7);
    // The split graph has a separate output layer (tied embeddings over two stages): it equals the embedding.
    expect(many.get('output.weight')).toEqual(many.get('embedding.weight'));
    many.delete('output.weight');
    // Vocabulary padding differs (99 → 100 rows under tensor 4): compare the real rows, the padding is zero.
    const e1 = one.get('embedding.weight')!;
    const e4 = many.get('embedding.weight')!;
    expect(e1.length).toBe(99 * 64);
    expect(e4.subarray(0, 99 * 64)).toEqual(e1);
    expect(e4.subarray(99 * 64).every((x) => x === 0)).toBe(true);
    one.delete('embedding.weight');
    many.delete('embedding.weight');
    expect([...many.keys()].sort()).toEqual([...one.keys()].sort());
    for (const [name, v] of one) expect(many.get(name), name).toEqual(v);
  });

  it('are the same whatever the sharding: Llama with replicated KV heads, in f32', async () => {
    const one = await assemble(serveGraph('llama_micro', 1, 1), 11, { dtype: 'f32' });
    const many = await assemble(serveGraph('llama_micro', 4, 2), 11, { dtype: 'f32' });
    for (const [name, v] of one) {
      const w = many.get(name)!;
      expect(w.subarray(0, v.length), name).toEqual(v);
      expect(w.subarray(v.length).every((x) => x === 0)).toBe(true);
    }
  });

  it('are the same under ZeRO-3 flat shards', async () => {
    const graph = zero3Graph('llama_micro', 2, 4);
    const single = await loadAll(serveGraph('llama_micro', 2, 1), { pipeline: 0, tensor: 1 }, 5, { dtype: 'f32' });
    const parts = await Promise.all([0, 1, 2, 3].map((dr) => loadAll(graph, { pipeline: 0, tensor: 1, data: dr }, 5, { dtype: 'f32' })));
    for (const w of single) {
      if (w.name === 'embedding.weight' || w.name === 'output.weight') continue; // padded to 102 rows here, 104 there
      const flat = parts.map((p) => toF32(p.find((x) => x.name === w.name)!.data, 'f32'));
      const cat = new Float32Array(flat.reduce((a, f) => a + f.length, 0));
      flat.reduce((o, f) => (cat.set(f, o), o + f.length), 0);
      expect(cat.subarray(0, w.elements), w.name).toEqual(toF32(w.data, 'f32'));
    }
  });

  it('are deterministic, differ by seed, layer and tensor, and match randomValue element by element', async () => {
    const model = { layers: 2, vocab: 99 };
    const a = randomRegion(1, 'layers.0.attn.q.weight', [64, 64], undefined, model);
    expect(randomRegion(1, 'layers.0.attn.q.weight', [64, 64], undefined, model)).toEqual(a);
    expect(randomRegion(2, 'layers.0.attn.q.weight', [64, 64], undefined, model)).not.toEqual(a);
    expect(randomRegion(1, 'layers.1.attn.q.weight', [64, 64], undefined, model)).not.toEqual(a);
    expect(randomRegion(1, 'layers.0.attn.k.weight', [64, 64], undefined, model)).not.toEqual(a);
    for (const i of [0, 1, 63, 64, 4095]) expect(a[i]).toBe(Math.fround(randomValue(1, 'layers.0.attn.q.weight', i, model)));
    const part = randomRegion(
      1,
      'layers.0.attn.q.weight',
      [64, 64],
      [
        [3, 9],
        [40, 50],
      ],
      model,
    );
    expect(part[0]).toBe(a[3 * 64 + 40]);
    expect(part[part.length - 1]).toBe(a[8 * 64 + 49]);
    // Indices past 2^32 (a 70B model's embedding has ~10^9 elements; the hash takes up to 2^53).
    const k = tensorKey(3, 'x');
    expect(unitValue(k, 2 ** 32 + 5)).not.toBe(unitValue(k, 5));
    expect(tensorKey(2 ** 40, 'x')).not.toBe(tensorKey(0, 'x'));
    expect(() => tensorKey(1.5, 'x')).toThrow(/seed must be an integer/);
  });

  it('have sensible scales: N(0, 0.02)-ish weights, smaller residual projections, unit norms, zero padding', async () => {
    const model = { layers: 8, vocab: 1000 };
    const q = stats(randomRegion(9, 'layers.0.attn.q.weight', [256, 256], undefined, model));
    expect(Math.abs(q.mean)).toBeLessThan(0.0005);
    expect(q.std).toBeGreaterThan(0.0195);
    expect(q.std).toBeLessThan(0.0205);
    expect(q.max).toBeLessThanOrEqual(0.02 * 2 * Math.sqrt(3));
    expect(q.max).toBeGreaterThan(0.05); // tails: not a uniform
    const o = stats(randomRegion(9, 'layers.0.attn.o.weight', [256, 256], undefined, model));
    expect(o.std).toBeCloseTo(0.02 / 4, 3);
    expect(initFor('layers.3.mlp.down.weight', model)).toEqual({ kind: 'normal', std: 0.005 });
    expect(initFor('layers.3.mlp_norm.weight', model)).toEqual({ kind: 'constant', value: 1 });
    expect(initFor('final_norm.bias', model)).toEqual({ kind: 'constant', value: 0 });
    expect(initFor('layers.0.attn.q.bias', model)).toEqual({ kind: 'normal', std: 0.01 });
    expect([...randomRegion(9, 'layers.0.attn_norm.weight', [8], undefined, model)]).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    const emb = randomRegion(
      9,
      'embedding.weight',
      [1004, 4],
      [
        [998, 1004],
        [0, 4],
      ],
      model,
    );
    expect([...emb.subarray(8)].every((x) => x === 0)).toBe(true);
    expect(emb.subarray(0, 8).every((x) => x !== 0)).toBe(true);
  });
});
