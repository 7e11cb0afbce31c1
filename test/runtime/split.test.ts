/**
 * Tensors larger than one storage binding. On a real adapter the limit is 128 MiB
 * (lavapipe) or 2 GiB (H200); here `maxBindingBytes` emulates a 12 KiB binding, so
 * the tiny models' embedding tables, output heads and projections are split into row
 * blocks (odd counts, a ragged last block) — and the logits, the greedy tokens and the
 * memory report are still those of the unsplit run. What cannot be split is refused
 * before anything is allocated, naming the buffer, its size, the limit and what to do.
 */
import { describe, expect, it } from 'vitest';
import { AllocationError, bindingLimit } from '../../runtime/allocate.js';
import type { RankDevice } from '../../runtime/device.js';
import { createRuntime, type SplitReportRow } from '../../runtime/index.js';
import { gpt2Config, llamaConfig, randomWeights, ReferenceModel } from '../../runtime/reference/model.js';
import { roundAll } from '../../runtime/reference/dtype.js';
import { bufferBytes, splitRows } from '../../runtime/split.js';
import { compileTiny, maxRelError, weightsFor, type TinyModel } from './models.js';

/** 48 rows of 64 f32 (256 B) per block; 96 rows of 64 bf16. */
const LIMIT = 12 * 1024;

// vocab 397: an odd vocabulary (398 padded rows under tensor 2, 199 per rank); one slot
// and seq 32 keep the KV cache of a layer (8 KiB) within the limit.
const BATCH = 'max_batch = 1  seq = 32  max_prefill_tokens = 8';
const MODELS = {
  gpt2: {
    plan: 'arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 397  max_seq = 64  dtype = fp32',
    config: gpt2Config({ layers: 2, hidden: 64, heads: 4, vocab: 397, maxSeq: 64 }),
  },
  llama: {
    plan: 'arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = 397  max_seq = 64  dtype = fp32',
    config: llamaConfig({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, ffn: 160, vocab: 397, maxSeq: 64 }),
  },
} satisfies Record<string, TinyModel>;
type Arch = keyof typeof MODELS;

const PROMPTS = [[5, 17, 42, 3, 88, 61, 9, 23, 71, 2, 333], [396, 1], [200]];

/** Rows of each block of a weight on a rank, from the runtime's split report. */
function blocksOf(report: SplitReportRow[], rank: number, weight: string): number[] | undefined {
  return report.find((r) => r.rank === rank && r.weight === weight)?.blockRows;
}

/**
 * The blocks expected (worked out by hand from the limit): f32 tables [199 or 397, 64]
 * take 48 rows per block, so rank 0 holds 9 blocks (8 × 48 + 13) under tensor 1 and 5
 * (4 × 48 + 7) under tensor 2; bf16 takes 96 rows per block.
 */
const EXPECTED: Record<string, number[]> = {
  'fp32 t1 table': [48, 48, 48, 48, 48, 48, 48, 48, 13],
  'fp32 t2 table': [48, 48, 48, 48, 7],
  'bf16 t1 table': [96, 96, 96, 96, 13],
  'bf16 t2 table': [96, 96, 7],
  // GPT-2 mlp.up [256 / t, 64] and mlp.down [64, 256 / t] (rows of 1 KiB / t: 12 or 24 per block)
  'fp32 t1 gpt2 up': [48, 48, 48, 48, 48, 16],
  'fp32 t1 gpt2 down': [12, 12, 12, 12, 12, 4],
  'fp32 t2 gpt2 down': [24, 24, 16],
  // Llama mlp.gate / mlp.up [160 / t, 64]
  'fp32 t1 llama up': [48, 48, 48, 16],
  'fp32 t2 llama up': [48, 32],
};

describe.each([
  ['gpt2', 1, 1, 'fp32'],
  ['gpt2', 2, 1, 'fp32'],
  ['gpt2', 2, 2, 'fp32'],
  ['llama', 1, 1, 'fp32'],
  ['llama', 2, 1, 'fp32'],
  ['llama', 2, 2, 'fp32'],
  ['gpt2', 1, 1, 'bf16'],
  ['llama', 2, 1, 'bf16'],
] as [Arch, number, number, string][])('%s, tensor %i × pipeline %i, %s weights, 12 KiB bindings', (arch, t, p, dtype) => {
  it('splits the tables and projections into row blocks; logits equal the reference, same greedy tokens, allocation = plan', async () => {
    const model = MODELS[arch];
    const { path, reference: f32Reference } = weightsFor(model);
    const reference =
      dtype === 'fp32'
        ? f32Reference
        : new ReferenceModel(model.config, new Map([...randomWeights(model.config, 7, 0.1)].map(([n, w]) => [n, roundAll('bf16', w)])), {
            cacheFormat: 'bf16',
          });
    const graph = compileTiny(model, { tensor: t, pipeline: p, data: 1, dtype, batch: BATCH });
    const rt = await createRuntime(graph, { weights: path, maxBindingBytes: LIMIT });
    try {
      const report = rt.splitReport();
      const last = graph.devices.find((d) => d.coords.pipeline === p - 1 && d.coords.tensor === 0)!.rank;
      const table = EXPECTED[`${dtype} t${t} table`]!;
      expect(blocksOf(report, 0, 'embedding.weight')).toEqual(table);
      // the head: Llama's own output layer; GPT-2's tied embedding itself, or its copy on the last stage
      if (arch === 'llama' || p > 1) expect(blocksOf(report, last, 'output.weight')).toEqual(table);
      else expect(report.some((r) => r.weight === 'output.weight')).toBe(false);
      if (arch === 'gpt2' && t === 1 && dtype === 'fp32') {
        expect(blocksOf(report, 0, 'positions.weight')).toEqual([48, 16]);
        expect(blocksOf(report, 0, 'layers.0.mlp.up.weight')).toEqual(EXPECTED['fp32 t1 gpt2 up']);
        expect(blocksOf(report, 0, 'layers.0.mlp.down.weight')).toEqual(EXPECTED['fp32 t1 gpt2 down']);
      }
      if (arch === 'gpt2' && t === 2 && dtype === 'fp32')
        expect(blocksOf(report, 1, 'layers.0.mlp.down.weight')).toEqual(EXPECTED['fp32 t2 gpt2 down']);
      if (arch === 'llama' && dtype === 'fp32') {
        expect(blocksOf(report, 0, 'layers.0.mlp.up.weight')).toEqual(EXPECTED[`fp32 t${t} llama up`]);
        expect(blocksOf(report, 0, 'layers.0.mlp.gate.weight')).toEqual(EXPECTED[`fp32 t${t} llama up`]);
      }
      for (const r of report) expect(r.limitBytes).toBe(LIMIT);

      // Splitting moves no bytes: every device allocates exactly its memory plan.
      for (const row of rt.memoryReport()) {
        expect(row.allocatedBytes, `rank ${row.rank}`).toBe(row.planBytes);
        expect(row.ratio.toFixed(3)).toBe('1.000');
      }

      const tol = dtype === 'fp32' ? 1e-4 : 1e-3;
      // max_batch = 1: forward takes one prompt per call.
      const logits: Float32Array[] = [];
      for (const prompt of PROMPTS) logits.push(...(await rt.forward([prompt])));
      for (const [i, prompt] of PROMPTS.entries()) {
        const want = reference.prefill(reference.newCache(1), 0, prompt, 0, { logitsRows: [prompt.length - 1] });
        expect(maxRelError(logits[i]!, want), `prompt ${i}`).toBeLessThan(tol);
      }
      const results = await Promise.all(PROMPTS.map((prompt) => rt.generate(prompt, { maxNewTokens: 5 })));
      for (const [i, prompt] of PROMPTS.entries()) expect(results[i]!.tokens, `prompt ${i}`).toEqual(reference.generate(prompt, 5));
    } finally {
      await rt.close();
    }
  });
});

describe('what cannot be split is refused before anything is allocated', () => {
  it('an activation buffer larger than a binding: its name, size, the limit and the batch that fits', async () => {
    const graph = compileTiny(MODELS.gpt2, { tensor: 1, pipeline: 1, data: 1, batch: BATCH });
    const err = await createRuntime(graph, { weights: 'random:1', maxBindingBytes: 1024 }).then(
      (rt) => rt.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AllocationError);
    const msg = (err as Error).message;
    // hidden: 8 tokens × 64 × 4 B
    expect(msg).toMatch(/rank 0: \d+ buffers do not fit/);
    expect(msg).toContain(
      'the hidden buffer needs 2,048 B, more than one binding: the emulated binding limit (maxBindingBytes) of 1,024 B',
    );
    expect(msg).toContain('it holds max(max_prefill_tokens, max_batch) = 8 tokens; lower both to at most 4');
    // the MLP's up projection can also shrink with the tensor degree
    expect(msg).toMatch(/the up buffer needs 8,192 B.*lower both to at most 1, or use a larger tensor degree/);
    expect(msg).toMatch(
      /kv.{l}: the K \(and the V\) cache of one layer \[1, 32, 4, 16\] needs 8,192 B.*one slot .* already takes 8,192 B.*lower seq \(now 32\) to at most 4,/,
    );
    // weights are split, not refused
    expect(msg).not.toMatch(/weight embedding/);
  });
});

describe('splitRows: row blocks under a binding limit', () => {
  it('one block when the tensor fits; full blocks of a multiple of 4 rows, then the rest', () => {
    expect(splitRows({ name: 'w', shape: [10, 8], elementBytes: 4 }, 320)).toEqual({ ok: true, blocks: [[0, 10]] });
    // 13 rows fit 416 B; blocks of 12
    expect(splitRows({ name: 'w', shape: [30, 8], elementBytes: 4 }, 416)).toEqual({
      ok: true,
      blocks: [
        [0, 12],
        [12, 24],
        [24, 30],
      ],
    });
  });

  it('rows too large for 4 per block: the fewest rows that fill whole 4-byte words', () => {
    // f32 rows of 100 B, 3 fit 300 B: blocks of 3 rows
    expect(splitRows({ name: 'w', shape: [7, 25], elementBytes: 4 }, 300)).toEqual({
      ok: true,
      blocks: [
        [0, 3],
        [3, 6],
        [6, 7],
      ],
    });
    // packed 16-bit rows of 5 values (10 B): pairs of rows, so blocks never end in half a word
    expect(splitRows({ name: 'w', shape: [7, 5], elementBytes: 2 }, 36)).toEqual({
      ok: true,
      blocks: [
        [0, 2],
        [2, 4],
        [4, 6],
        [6, 7],
      ],
    });
  });

  it('the blocks add up to the bytes of the unsplit buffer (the memory plan)', () => {
    for (const [shape, eb, limit] of [
      [[397, 64], 4, 12288],
      [[397, 63], 2, 1000],
      [[101, 7], 2, 60],
      [[33, 3], 4, 40],
    ] as [number[], number, number][]) {
      const r = splitRows({ name: 'w', shape, elementBytes: eb }, limit);
      if (!r.ok) throw new Error(r.problem);
      expect(r.blocks.length).toBeGreaterThan(1);
      const row = shape[1]! * eb;
      const sizes = r.blocks.map(([b, e]) => bufferBytes((e - b) * row));
      expect(
        sizes.reduce((a, b) => a + b, 0),
        `${shape} ${eb} B`,
      ).toBe(bufferBytes(shape[0]! * row));
      for (const s of sizes) expect(s).toBeLessThanOrEqual(limit);
    }
  });

  it('a row larger than the limit, or a 1-D tensor, is not splittable: the message names it, its size and the limit', () => {
    expect(splitRows({ name: 'layers.0.mlp.down.weight', shape: [64, 256], elementBytes: 4 }, 1000)).toEqual({
      ok: false,
      problem:
        'layers.0.mlp.down.weight [64, 256] needs 65,536 B, more than one binding of 1,000 B, and it is split by rows, but one row already takes 1,024 B',
    });
    expect(splitRows({ name: 'w', shape: [9, 5], elementBytes: 2 }, 16)).toMatchObject({
      ok: false,
      problem: expect.stringContaining('2 rows (the fewest that fill whole 4-byte words) already take 20 B'),
    });
    expect(splitRows({ name: 'b', shape: [1000], elementBytes: 4 }, 100)).toMatchObject({
      ok: false,
      problem: expect.stringContaining('only tensors of two or more dimensions are split'),
    });
  });
});

describe('bindingLimit', () => {
  const rd = { limits: { maxStorageBufferBindingSize: 4096 }, description: 'test adapter' } as unknown as RankDevice;
  it("is the adapter's limit unless maxBindingBytes lowers it; it never raises it", () => {
    expect(bindingLimit(rd).bytes).toBe(4096);
    expect(bindingLimit(rd, 1 << 30)).toEqual({
      bytes: 4096,
      source: "this adapter's maxStorageBufferBindingSize of 4,096 B (test adapter)",
    });
    expect(bindingLimit(rd, 1026).bytes).toBe(1024);
    expect(() => bindingLimit(rd, 0)).toThrow(/maxBindingBytes must be an integer of at least 4 bytes, got 0/);
    expect(() => bindingLimit(rd, 1.5)).toThrow(RangeError);
  });
});
