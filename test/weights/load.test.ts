import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { meshOf } from '../../src/mesh.js';
import type { Graph } from '../../src/graph/types.js';
import { openCheckpoint, CheckpointError } from '../../runtime/weights/checkpoint.js';
import { convertBytes, toF32 } from '../../runtime/weights/convert.js';
import { openFile, type RandomAccessFile } from '../../runtime/weights/file.js';
import {
  deviceWeights,
  loadWeights,
  parseWeightsSource,
  readMapped,
  WeightsError,
  type LoadedWeight,
  type DeviceCoords,
  type LoadOptions,
  type WeightShard,
  type WeightsSource,
} from '../../runtime/weights/load.js';
import type { Range } from '../../runtime/weights/slice.js';
import { sourceFor } from '../../runtime/weights/names.js';
import { ProgressBar, formatProgress, type LoadProgress } from '../../runtime/weights/progress.js';
import { openSafetensors, SafetensorsError } from '../../runtime/weights/safetensors.js';
import { hfCheckpoint, referenceShard, referenceTensor, serveGraph, toWrite, zero3Graph, type Checkpoint } from './models.js';
import { f32Tensor, tempDir, writeSafetensors } from './write.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function loadAll(graph: Graph, device: DeviceCoords, source: WeightsSource, options: LoadOptions = {}): Promise<LoadedWeight[]> {
  const out: LoadedWeight[] = [];
  for await (const w of loadWeights(graph, device, source, { progress: false, ...options })) out.push(w);
  return out;
}

async function loadError(graph: Graph, source: WeightsSource, options: LoadOptions = {}): Promise<Error> {
  try {
    await loadAll(graph, { pipeline: 0, tensor: 0 }, source, options);
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the load to fail');
}

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Every device of `graph` loads shards equal to the reference shards of the checkpoint. */
async function checkAllDevices(graph: Graph, ck: Checkpoint, paths: string[], prefix?: string, dtype: LoadOptions['dtype'] = 'f32') {
  let count = 0;
  for (let stage = 0; stage < meshOf(graph.mesh.axes).pipeline; stage++) {
    for (let tr = 0; tr < meshOf(graph.mesh.axes).tensor; tr++) {
      const loaded = await loadAll(graph, { pipeline: stage, tensor: tr }, { kind: 'safetensors', paths }, { dtype });
      expect(loaded.map((w) => w.name)).toEqual(deviceWeights(graph, { pipeline: stage, tensor: tr }).map((w) => w.name));
      for (const w of loaded) {
        const full = referenceTensor(graph.model, ck, w.name, w.globalShape, prefix);
        const want = referenceShard(full, w.globalShape, w.tensor, tr);
        expect(w.shape.reduce((a, b) => a * b, 1)).toBe(want.length);
        const got = toF32(w.data, w.dtype);
        expect(same(got, want), `${w.name} on stage ${stage} tensor rank ${tr} (${w.from})`).toBe(true);
        count++;
      }
    }
  }
  return count;
}

describe('loading a checkpoint', () => {
  it('GPT-2 fused c_attn: the q, k, v shards of tensor ranks 0…3 equal the transpose and split of the full tensor', async () => {
    const graph = serveGraph('gpt_micro', 4, 1);
    const ck = hfCheckpoint(graph.model);
    const path = writeSafetensors(tmp.file('gpt-c_attn.safetensors'), toWrite(ck));
    const h = 64;
    const cAttn = ck.tensors.get('transformer.h.1.attn.c_attn.weight')!.values; // [h, 3h]
    for (let r = 0; r < 4; r++) {
      const loaded = await loadAll(graph, { pipeline: 0, tensor: r }, { kind: 'safetensors', paths: [path] }, { dtype: 'f32' });
      for (const [i, part] of ['q', 'k', 'v'].entries()) {
        const w = loaded.find((x) => x.name === `layers.1.attn.${part}.weight`)!;
        expect(w.shape).toEqual([h / 4, h]);
        expect(w.from).toBe(`transformer.h.1.attn.c_attn.weight[:, ${i * h + (r * h) / 4}:${i * h + ((r + 1) * h) / 4}]ᵀ in ${path}`);
        const got = toF32(w.data, 'f32');
        // Linear [out, in]: row o of the shard is output feature i·h + r·h/4 + o, i.e. column of c_attn.
        const want = new Float32Array((h / 4) * h);
        for (let o = 0; o < h / 4; o++) for (let inp = 0; inp < h; inp++) want[o * h + inp] = cAttn[inp * 3 * h + i * h + (r * h) / 4 + o]!;
        expect(same(got, want), `${part} rank ${r}`).toBe(true);
        const bias = loaded.find((x) => x.name === `layers.1.attn.${part}.bias`)!;
        expect([...toF32(bias.data, 'f32')]).toEqual([
          ...ck.tensors.get('transformer.h.1.attn.c_attn.bias')!.values.subarray(i * h + (r * h) / 4, i * h + ((r + 1) * h) / 4),
        ]);
      }
    }
  });

  it('a shard of the fused c_attn reads only its own columns', async () => {
    const graph = serveGraph('gpt_micro', 4, 1);
    const ck = hfCheckpoint(graph.model);
    const path = writeSafetensors(tmp.file('gpt-count.safetensors'), toWrite(ck));
    const stats = { bytes: 0 };
    const inner = await openFile(path);
    const file: RandomAccessFile = {
      size: inner.size,
      read: async (b, p) => {
        const n = await inner.read(b, p);
        stats.bytes += n;
        return n;
      },
      close: () => inner.close(),
    };
    const f = await openSafetensors(path, { file });
    stats.bytes = 0;
    const m = sourceFor(graph.model, 'layers.0.attn.k.weight')!;
    const bytes = await readMapped(
      f,
      m,
      [
        [16, 32],
        [0, 64],
      ],
      'f32',
      { maxGap: 0 },
    );
    expect(bytes.length).toBe(16 * 64 * 4);
    expect(stats.bytes).toBe(16 * 64 * 4); // 64 rows × 16 columns of the 192-column c_attn
    await f.close();
  });

  describe('row blocks (a weight larger than one storage binding)', () => {
    /** Blocks of 5 rows; Llama's last output shard [78, 104) as 5 + 18 + 3 rows, the last wholly vocabulary padding. */
    const blocksOf = (s: WeightShard): Range[] | undefined => {
      if (s.shape.length < 2) return undefined;
      if (s.name === 'output.weight' && s.region[0]![0] === 78)
        return [
          [0, 5],
          [5, 23],
          [23, 26],
        ];
      const out: Range[] = [];
      for (let r = 0; r < s.shape[0]!; r += 5) out.push([r, Math.min(s.shape[0]!, r + 5)]);
      return out;
    };

    /** The blocks of each weight, in order, joined: they must equal the whole shard. */
    async function checkBlocks(graph: Graph, device: DeviceCoords, source: WeightsSource, dtype: LoadOptions['dtype']) {
      const whole = await loadAll(graph, device, source, { dtype });
      const seen: LoadProgress[] = [];
      const pieces = await loadAll(graph, device, source, { dtype, rowBlocks: blocksOf, onProgress: (p) => seen.push(p) });
      let i = 0;
      for (const w of whole) {
        const want = blocksOf(w) ?? [[0, w.shape[0]!]];
        const mine = pieces.slice(i, i + (want.length > 1 ? want.length : 1));
        i += mine.length;
        expect(mine.every((p) => p.name === w.name && p.dtype === w.dtype)).toBe(true);
        if (want.length > 1) {
          expect(mine.map((p) => p.block)).toEqual(want.map((rows, index) => ({ index, count: want.length, rows })));
          const row = w.data.length / w.shape[0]!;
          mine.forEach((p) => expect(p.data.length, `${w.name} block ${p.block!.index}`).toBe((p.block!.rows[1] - p.block!.rows[0]) * row));
        } else expect(mine[0]!.block).toBeUndefined();
        expect(
          Buffer.concat(mine.map((p) => p.data)).equals(Buffer.from(w.data)),
          `${w.name} (${mine.map((p) => p.from).join(' | ')})`,
        ).toBe(true);
      }
      expect(i).toBe(pieces.length);
      // progress counts each weight once, when its last block is done
      expect(seen).toHaveLength(pieces.length);
      expect(seen.at(-1)!.tensorsDone).toBe(whole.length);
      expect(seen.at(-1)!.bytesDone).toBe(seen.at(-1)!.bytesTotal);
      return pieces;
    }

    it('read block by block, the blocks join to the whole shard: GPT-2 (transposed Conv1D, strided reads), Llama (padded vocabulary), random', async () => {
      const gpt = serveGraph('gpt_micro', 2, 1);
      const gptPath = writeSafetensors(tmp.file('gpt-blocks.safetensors'), toWrite(hfCheckpoint(gpt.model)));
      const pieces = await checkBlocks(gpt, { pipeline: 0, tensor: 1 }, { kind: 'safetensors', paths: [gptPath] }, 'f32');
      // a block of the q projection is a column range of c_attn, transposed
      expect(pieces.find((p) => p.name === 'layers.0.attn.q.weight' && p.block?.index === 1)!.from).toBe(
        `transformer.h.0.attn.c_attn.weight[:, 37:42]ᵀ in ${gptPath}`,
      );
      const llama = serveGraph('llama_micro', 4, 2);
      const llamaPath = writeSafetensors(tmp.file('llama-blocks.safetensors'), toWrite(hfCheckpoint(llama.model), 'BF16'));
      const last = await checkBlocks(llama, { pipeline: 1, tensor: 3 }, { kind: 'safetensors', paths: [llamaPath] }, 'bf16');
      const pad = last.find((p) => p.name === 'output.weight' && p.block?.index === 2)!;
      expect(pad.data.length).toBe(3 * 64 * 2);
      expect(pad.data.every((b) => b === 0)).toBe(true);
      await checkBlocks(gpt, { pipeline: 0, tensor: 0 }, { kind: 'random', seed: 5 }, 'bf16');
    });

    it('blocks that do not cover the rows in order are refused, naming the weight', async () => {
      const graph = serveGraph('gpt_micro', 1, 1);
      const bad = (s: WeightShard): Range[] | undefined =>
        s.name === 'embedding.weight'
          ? [
              [0, 5],
              [6, s.shape[0]!],
            ]
          : undefined;
      await expect(loadAll(graph, { pipeline: 0, tensor: 0 }, { kind: 'random', seed: 1 }, { rowBlocks: bad })).rejects.toThrow(
        /embedding.weight: cannot produce row blocks \[0, 5\) \[6, \d+\): the blocks must be consecutive/,
      );
      const short = (s: WeightShard): Range[] | undefined =>
        s.name === 'embedding.weight'
          ? [
              [0, 5],
              [5, 6],
            ]
          : undefined;
      await expect(loadAll(graph, { pipeline: 0, tensor: 0 }, { kind: 'random', seed: 1 }, { rowBlocks: short })).rejects.toThrow(
        /must end at its last row/,
      );
    });
  });

  it('GPT-2 over tensor 4 × pipeline 2: every device, both spellings, F32, BF16 and F16 files', async () => {
    const graph = serveGraph('gpt_micro', 4, 2);
    for (const prefix of ['transformer.', '']) {
      const ck = hfCheckpoint(graph.model, { prefix, extra: true });
      for (const dtype of ['F32', 'BF16', 'F16'] as const) {
        const path = writeSafetensors(tmp.file(`gpt-${prefix}-${dtype}.safetensors`), toWrite(ck, dtype));
        const n = await checkAllDevices(graph, ck, [path], prefix);
        expect(n).toBe(4 * (2 + 16 + 16 + 3)); // stage 0: embedding, positions, 16 per layer; stage 1: 16, final norm ×2, output
      }
    }
  });

  it('Llama over tensor 4 × pipeline 2 (KV heads replicated over pairs of ranks, vocabulary padded 101 → 104)', async () => {
    const graph = serveGraph('llama_micro', 4, 2);
    const ck = hfCheckpoint(graph.model);
    const path = writeSafetensors(tmp.file('llama.safetensors'), toWrite(ck, 'BF16'));
    await checkAllDevices(graph, ck, [path]);
    // The padding rows of the last output shard are zero, the others come from lm_head.
    const last = (await loadAll(graph, { pipeline: 1, tensor: 3 }, { kind: 'safetensors', paths: [path] }, { dtype: 'f32' })).find(
      (w) => w.name === 'output.weight',
    )!;
    expect(last.region).toEqual([
      [78, 104],
      [0, 64],
    ]);
    const v = toF32(last.data, 'f32');
    expect([...v.subarray(23 * 64)].every((x) => x === 0)).toBe(true);
    expect(v.subarray(0, 23 * 64).some((x) => x !== 0)).toBe(true);
    // KV heads: ranks 0 and 1 hold the same k rows.
    const k = async (tr: number) =>
      (await loadAll(graph, { pipeline: 0, tensor: tr }, { kind: 'safetensors', paths: [path] })).find(
        (w) => w.name === 'layers.0.attn.k.weight',
      )!;
    const [k0, k1, k2] = await Promise.all([k(0), k(1), k(2)]);
    expect(k0.region).toEqual([
      [0, 16],
      [0, 64],
    ]);
    expect(k0.data).toEqual(k1.data);
    expect(k2.region).toEqual([
      [16, 32],
      [0, 64],
    ]);
  });

  it('Llama with tied embeddings split over two stages: the output layer is the embedding, lm_head absent', async () => {
    const graph = serveGraph('llama_tied', 1, 2);
    const ck = hfCheckpoint(graph.model);
    expect(ck.tensors.has('lm_head.weight')).toBe(false);
    const path = writeSafetensors(tmp.file('llama-tied.safetensors'), toWrite(ck));
    const [emb] = await loadAll(graph, { pipeline: 0, tensor: 0 }, { kind: 'safetensors', paths: [path] });
    const out = (await loadAll(graph, { pipeline: 1, tensor: 0 }, { kind: 'safetensors', paths: [path] })).at(-1)!;
    expect([emb!.name, out.name]).toEqual(['embedding.weight', 'output.weight']);
    expect(out.data).toEqual(emb!.data);
  });

  it('produces the graph dtype by default (bf16 here), f32 / f16 / the source format on request', async () => {
    const graph = serveGraph('llama_micro', 1, 1);
    const ck = hfCheckpoint(graph.model);
    const path = writeSafetensors(tmp.file('llama-f32.safetensors'), toWrite(ck, 'F32'));
    const src: WeightsSource = { kind: 'safetensors', paths: [path] };
    const [bf] = await loadAll(graph, { pipeline: 0, tensor: 0 }, src);
    expect(graph.model.dtype).toBe('bf16');
    expect(bf!.dtype).toBe('bf16');
    const [f] = await loadAll(graph, { pipeline: 0, tensor: 0 }, src, { dtype: 'f32' });
    expect(bf!.data).toEqual(convertBytes(f!.data, 'f32', 'bf16'));
    const [h] = await loadAll(graph, { pipeline: 0, tensor: 0 }, src, { dtype: 'f16' });
    expect(h!.dtype).toBe('f16');
    expect(h!.data.length).toBe(f!.data.length / 2);
    const [s] = await loadAll(graph, { pipeline: 0, tensor: 0 }, src, { dtype: 'source' });
    expect(s!.dtype).toBe('f32');
  });

  it('ZeRO-3: the data ranks’ flat shards concatenate to the tensor-parallel shard', async () => {
    const graph = zero3Graph('llama_micro', 2, 4);
    const ck = hfCheckpoint(graph.model);
    const path = writeSafetensors(tmp.file('llama-z3.safetensors'), toWrite(ck));
    for (let tr = 0; tr < 2; tr++) {
      const parts = await Promise.all(
        [0, 1, 2, 3].map((dr) =>
          loadAll(graph, { pipeline: 0, tensor: tr, data: dr }, { kind: 'safetensors', paths: [path] }, { dtype: 'f32' }),
        ),
      );
      for (const [i, w] of parts[0]!.entries()) {
        const full = referenceTensor(graph.model, ck, w.name, w.globalShape);
        const want = referenceShard(full, w.globalShape, w.tensor, tr);
        const size = Math.ceil(want.length / 4);
        const cat = new Float32Array(size * 4);
        parts.forEach((p, dr) => {
          expect(p[i]!.shape).toEqual([size]);
          cat.set(toF32(p[i]!.data, 'f32'), dr * size);
        });
        expect(same(cat.subarray(0, want.length), want), w.name).toBe(true);
        expect(cat.subarray(want.length).every((x) => x === 0)).toBe(true);
      }
    }
  });

  describe('validation: every problem reported before the first weight, naming the tensor', () => {
    const graph = serveGraph('llama_micro', 1, 1);
    const ck = hfCheckpoint(graph.model);

    it('missing, wrongly shaped and unconvertible tensors, all at once', async () => {
      const tensors = toWrite(ck);
      delete tensors['model.layers.1.mlp.up_proj.weight'];
      tensors['model.layers.0.self_attn.k_proj.weight'] = f32Tensor([64, 64]);
      tensors['model.norm.weight'] = { dtype: 'I8', shape: [64], data: new Int8Array(64) };
      const path = writeSafetensors(tmp.file('llama-bad.safetensors'), tensors);
      const e = await loadError(graph, { kind: 'safetensors', paths: [path] });
      expect(e).toBeInstanceOf(WeightsError);
      expect((e as WeightsError).problems).toEqual([
        `model.layers.0.self_attn.k_proj.weight in ${path} (for graph tensor layers.0.attn.k.weight): expected shape [32, 64], found [64, 64]`,
        `model.layers.1.mlp.up_proj.weight (for graph tensor layers.1.mlp.up.weight) is not in the checkpoint ${path}`,
        `model.norm.weight in ${path} (for graph tensor final_norm.weight) has dtype I8; the loader converts F32, F16, BF16`,
      ]);
      expect(e.message).toMatch(/^cannot load weights \(3 problems\):\n  - model.layers.0/);
    });

    it('an untied model without lm_head: a hint about tied_embeddings', async () => {
      const tensors = toWrite(ck);
      delete tensors['lm_head.weight'];
      const path = writeSafetensors(tmp.file('llama-nohead.safetensors'), tensors);
      const e = await loadError(graph, { kind: 'safetensors', paths: [path] });
      expect(e.message).toMatch(
        /lm_head.weight \(for graph tensor output.weight\) is not in the checkpoint .*say tied_embeddings = true in the plan/,
      );
    });

    it('a GPT-2 checkpoint for a bigger model: the Conv1D shape in the message', async () => {
      const g = serveGraph('gpt_micro', 1, 1);
      const t = toWrite(hfCheckpoint(g.model));
      t['transformer.h.0.attn.c_attn.weight'] = f32Tensor([64, 64]);
      const path = writeSafetensors(tmp.file('gpt-bad.safetensors'), t);
      const e = await loadError(g, { kind: 'safetensors', paths: [path] });
      expect((e as WeightsError).problems).toEqual([
        `transformer.h.0.attn.c_attn.weight in ${path} (for graph tensor layers.0.attn.q.weight): expected shape [64, 192], found [64, 64] — the q part of the fused c_attn (Conv1D [in, out], transposed)`,
        `transformer.h.0.attn.c_attn.weight in ${path} (for graph tensor layers.0.attn.k.weight): expected shape [64, 192], found [64, 64] — the k part of the fused c_attn (Conv1D [in, out], transposed)`,
        `transformer.h.0.attn.c_attn.weight in ${path} (for graph tensor layers.0.attn.v.weight): expected shape [64, 192], found [64, 64] — the v part of the fused c_attn (Conv1D [in, out], transposed)`,
      ]);
    });

    it('vocabulary: the checkpoint may hold the padded rows; more is an error', async () => {
      const g = serveGraph('llama_micro', 4, 1);
      const t = toWrite(hfCheckpoint(g.model));
      t['model.embed_tokens.weight'] = f32Tensor([104, 64], (i) => (i < 101 * 64 ? 1 : 7));
      t['lm_head.weight'] = f32Tensor([105, 64]);
      const path = writeSafetensors(tmp.file('llama-vocab.safetensors'), t);
      const e = await loadError(g, { kind: 'safetensors', paths: [path] });
      expect((e as WeightsError).problems).toEqual([
        `lm_head.weight in ${path} (for graph tensor output.weight): expected shape [101, 64] (the first dimension may be up to 104), found [105, 64]`,
      ]);
      delete t['lm_head.weight'];
      t['lm_head.weight'] = f32Tensor([101, 64]);
      const ok = writeSafetensors(tmp.file('llama-vocab-ok.safetensors'), t);
      const emb = (await loadAll(g, { pipeline: 0, tensor: 3 }, { kind: 'safetensors', paths: [ok] }, { dtype: 'f32' }))[0]!;
      const v = toF32(emb.data, 'f32');
      expect(v.subarray(0, 23 * 64).every((x) => x === 1)).toBe(true);
      expect(v.subarray(23 * 64).every((x) => x === 0)).toBe(true); // padding rows are zero even when the file has them
    });

    it('an architecture without a mapping, a quantized graph dtype, bad device coordinates', async () => {
      const path = writeSafetensors(tmp.file('llama-ok.safetensors'), toWrite(ck));
      const mpt = { ...graph, model: { ...graph.model, arch: 'mpt' } } as unknown as typeof graph;
      expect((await loadError(mpt, { kind: 'safetensors', paths: [path] })).message).toBe(
        'cannot load weights: no Hugging Face name mapping for arch "mpt" (known: llama, gpt2)',
      );
      const int4 = { ...graph, tensors: graph.tensors.map((t) => (t.name === 'final_norm.weight' ? { ...t, dtype: 'int4' as const } : t)) };
      expect((await loadError(int4, { kind: 'random', seed: 1 })).message).toMatch(
        /final_norm.weight: the graph's dtype int4 is not one the loader produces \(f32, f16, bf16\); pass a dtype/,
      );
      expect((await loadAll(int4, { pipeline: 0, tensor: 0 }, { kind: 'random', seed: 1 }, { dtype: 'f16' })).at(-1)!.dtype).toBe('f16');
      await expect(loadAll(graph, { pipeline: 1, tensor: 0 }, { kind: 'random', seed: 1 })).rejects.toThrow(
        /device pipeline coordinate 1 is not in 0…0/,
      );
      await expect(loadAll(graph, { pipeline: 0, tensor: 0, data: 2 }, { kind: 'random', seed: 1 })).rejects.toThrow(
        /device data coordinate 2 is not in 0…0/,
      );
    });

    it('a corrupt file is a SafetensorsError naming it', async () => {
      const path = tmp.file('corrupt.safetensors');
      writeFileSync(path, new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]));
      const e = await loadError(graph, { kind: 'safetensors', paths: [path] });
      expect(e).toBeInstanceOf(SafetensorsError);
      expect(e.message).toBe(`${path}: truncated: header length 200 but only 1 bytes follow the length`);
    });
  });

  describe('sharded checkpoints', () => {
    const graph = serveGraph('llama_micro', 2, 2);
    const ck = hfCheckpoint(graph.model);
    const names = [...ck.tensors.keys()];
    // Three files: embedding and layer 0; layer 1; layer 2, norm and head.
    const groups = [
      names.filter((n) => n.startsWith('model.embed') || n.includes('layers.0.')),
      names.filter((n) => n.includes('layers.1.')),
      names.filter((n) => n.includes('layers.2.') || n === 'model.norm.weight' || n === 'lm_head.weight'),
    ];
    const dir = join(tmp.dir, 'sharded');
    mkdirSync(dir);
    const files = groups.map((g, i) => writeSafetensors(join(dir, `model-0000${i + 1}-of-00003.safetensors`), toWrite(ck, 'BF16', g)));
    const index = join(dir, 'model.safetensors.index.json');
    writeFileSync(
      index,
      JSON.stringify({
        metadata: { total_size: 0 },
        weight_map: Object.fromEntries(groups.flatMap((g, i) => g.map((n) => [n, `model-0000${i + 1}-of-00003.safetensors`]))),
      }),
    );

    it('several files, an index file, or the directory', async () => {
      expect(groups.flat().sort()).toEqual([...names].sort());
      await checkAllDevices(graph, ck, files);
      await checkAllDevices(graph, ck, [index]);
      await checkAllDevices(graph, ck, [dir]);
    });

    it('with an index, a stage opens only the files it needs', async () => {
      // Stage 1 holds layers 1–2 and the head: files 2 and 3; point file 1 at nothing.
      const sparse = join(tmp.dir, 'sparse');
      mkdirSync(sparse);
      files.slice(1).forEach((f, i) => copyFileSync(f, join(sparse, `model-0000${i + 2}-of-00003.safetensors`)));
      copyFileSync(index, join(sparse, 'model.safetensors.index.json'));
      const loaded = await loadAll(graph, { pipeline: 1, tensor: 1 }, { kind: 'safetensors', paths: [sparse] });
      expect(loaded.map((w) => w.name)).toContain('output.weight');
      const e = await loadError(graph, { kind: 'safetensors', paths: [sparse] });
      expect(e.message).toMatch(/model-00001-of-00003.safetensors: cannot open: ENOENT/);
    });

    it('a tensor in two files, a bad index, a missing path', async () => {
      const twice = await openCheckpoint([files[0]!, files[0]!]); // the same file twice is fine
      expect(twice.names.size).toBe(groups[0]!.length);
      await twice.close();
      const dup = writeSafetensors(join(tmp.dir, 'dup.safetensors'), toWrite(ck, 'F32', ['model.norm.weight']));
      await expect(openCheckpoint([files[2]!, dup])).rejects.toThrow(
        new CheckpointError(`tensor "model.norm.weight" is in both ${files[2]} and ${dup} (file headers)`),
      );
      const badIndex = join(tmp.dir, 'bad.index.json');
      writeFileSync(badIndex, JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
      await expect(openCheckpoint([badIndex])).rejects.toThrow(
        /weight_map\["a"\] = "..\/..\/etc\/passwd" is outside the index's directory/,
      );
      writeFileSync(badIndex, '{"weight_map": [1]}');
      await expect(openCheckpoint([badIndex])).rejects.toThrow(/an index must be a JSON object with a "weight_map" object/);
      writeFileSync(badIndex, '{');
      await expect(openCheckpoint([badIndex])).rejects.toThrow(/bad.index.json: not valid JSON/);
      await expect(openCheckpoint([join(tmp.dir, 'nope.safetensors')])).rejects.toThrow(/nope.safetensors: no such file or directory/);
      mkdirSync(join(tmp.dir, 'empty'));
      await expect(openCheckpoint([join(tmp.dir, 'empty')])).rejects.toThrow(
        /no model.safetensors.index.json and no .safetensors files in this directory/,
      );
      // An index naming a tensor its file lacks.
      const liar = join(dir, 'liar.index.json');
      writeFileSync(liar, JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00001-of-00003.safetensors' } }));
      const c = await openCheckpoint([liar]);
      await expect(c.locate('model.norm.weight')).rejects.toThrow(
        /tensor "model.norm.weight": the index lists this tensor in model-00001-of-00003.safetensors, but the file does not have it/,
      );
      await c.close();
    });
  });

  it('closes its files when the caller stops early', async () => {
    const graph = serveGraph('llama_micro', 1, 1);
    const path = writeSafetensors(tmp.file('llama-close.safetensors'), toWrite(hfCheckpoint(graph.model)));
    let closed = 0;
    const inner = await openFile(path);
    const file: RandomAccessFile = {
      size: inner.size,
      read: (b, p) => inner.read(b, p),
      close: async () => {
        closed++;
        await inner.close();
      },
    };
    for await (const w of loadWeights(
      graph,
      { pipeline: 0, tensor: 0 },
      { kind: 'safetensors', paths: [path] },
      { open: { file }, progress: false },
    )) {
      expect(w.name).toBe('embedding.weight');
      break;
    }
    expect(closed).toBe(1);
  });

  it('parses weight sources', () => {
    expect(parseWeightsSource('random:42')).toEqual({ kind: 'random', seed: 42 });
    expect(parseWeightsSource('random')).toEqual({ kind: 'random', seed: 0 });
    expect(parseWeightsSource('a.safetensors, b.safetensors')).toEqual({ kind: 'safetensors', paths: ['a.safetensors', 'b.safetensors'] });
    expect(() => parseWeightsSource('random:x')).toThrow(/random:SEED needs a non-negative integer seed, not "x"/);
  });
});

describe('progress', () => {
  it('reports bytes and tensors after each weight, ending at the total', async () => {
    const graph = serveGraph('gpt_micro', 2, 2);
    const seen: LoadProgress[] = [];
    const loaded = await loadAll(graph, { pipeline: 0, tensor: 1 }, { kind: 'random', seed: 3 }, { onProgress: (p) => seen.push(p) });
    expect(seen).toHaveLength(loaded.length);
    expect(seen.map((p) => p.tensorsDone)).toEqual(loaded.map((_, i) => i + 1));
    expect(seen.at(-1)!.bytesDone).toBe(seen.at(-1)!.bytesTotal);
    expect(seen.at(-1)!.bytesTotal).toBe(loaded.reduce((a, w) => a + w.data.length, 0));
    expect(seen.every((p, i) => i === 0 || p.bytesDone >= seen[i - 1]!.bytesDone)).toBe(true);
    expect(seen[0]!.current).toBe('embedding.weight');
  });

  it('the bar appears only after a second, redraws in place, and ends its line', () => {
    const writes: string[] = [];
    let now = 0;
    const bar = new ProgressBar({ stream: { write: (s) => writes.push(s), isTTY: true, columns: 200 }, now: () => now });
    const p = (done: number, elapsedMs: number): LoadProgress => ({
      bytesDone: done,
      bytesTotal: 2e9,
      tensorsDone: 1,
      tensorsTotal: 4,
      elapsedMs,
      bytesPerSecond: (done * 1000) / elapsedMs,
      current: 'layers.3.mlp.up.weight',
    });
    bar.update(p(1e8, 500));
    expect(writes).toEqual([]);
    now = 1200;
    bar.update(p(9e8, 1200));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\rweights \[█+·+\]  45%  900 MB \/ 2.00 GB  750 MB\/s  layers.3.mlp.up.weight\x1b\[K$/);
    now = 1250;
    bar.update(p(1e9, 1250)); // throttled
    expect(writes).toHaveLength(1);
    now = 2400;
    bar.finish(p(2e9, 2400));
    expect(writes.slice(1)).toEqual([
      expect.stringMatching(/^\rweights \[█{24}\] 100%  2.00 GB \/ 2.00 GB  833 MB\/s  done in 2.4 s/),
      '\n',
    ]);
    // A quick load shows nothing at all.
    const quiet: string[] = [];
    const q = new ProgressBar({ stream: { write: (s) => quiet.push(s), isTTY: true } });
    q.update(p(2e9, 300));
    q.finish(p(2e9, 300));
    expect(quiet).toEqual([]);
    expect(formatProgress({ bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0, elapsedMs: 0, bytesPerSecond: 0 })).toMatch(
      /100%/,
    );
  });

  it('`auto` draws nothing when the stream is not a terminal', async () => {
    const writes: string[] = [];
    const graph = serveGraph('gpt_micro', 1, 1);
    await loadAll(
      graph,
      { pipeline: 0, tensor: 0 },
      { kind: 'random', seed: 1 },
      { progress: 'auto', progressStream: { write: (s) => writes.push(s), isTTY: false } },
    );
    expect(writes).toEqual([]);
  });
});
