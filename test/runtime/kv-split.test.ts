/**
 * A layer's KV cache larger than one storage binding (one layer at tensor 1 on an H200:
 * 8 KV heads × 128 × 2 B × seq 4096 × 256 slots is 2 GiB for K alone, the binding limit).
 * Here `maxBindingBytes` emulates a binding of 2½ slots, so every layer's K and V are
 * split into slot blocks [2, 2, 2, 1] (a ragged last block) — and sequences prefilled in
 * any block, and decode batches spanning several blocks, give the reference's logits and
 * greedy tokens, bit for bit the unsplit runtime's; the blocks add up to the memory plan.
 * One slot larger than a binding is refused, naming the cache, its size, the limit and
 * the seq that fits.
 */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/types.js';
import { AllocationError } from '../../runtime/allocate.js';
import { createRuntime, type DecodeEntry, type Runtime } from '../../runtime/index.js';
import { gpt2Config, llamaConfig } from '../../runtime/reference/model.js';
import { bufferBytes, splitSlots } from '../../runtime/split.js';
import { compileTiny, maxRelError, weightsFor, type TinyModel } from './models.js';

// 7 slots of seq 32: K per slot is 32 × kvHeads × 16 × 4 B.
const BATCH = 'max_batch = 7  seq = 32  max_prefill_tokens = 8';
const MODELS = {
  gpt2: {
    plan: 'arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 101  max_seq = 64  dtype = fp32',
    config: gpt2Config({ layers: 2, hidden: 64, heads: 4, vocab: 101, maxSeq: 64 }),
  },
  llama: {
    plan: 'arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = 101  max_seq = 64  dtype = fp32',
    config: llamaConfig({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, ffn: 160, vocab: 101, maxSeq: 64 }),
  },
} satisfies Record<string, TinyModel>;
type Arch = keyof typeof MODELS;

/** Bytes of one slot's K on a device: seq × KV heads on the rank × headDim × 4 B. */
const slotBytes = (arch: Arch, t: number) => 32 * ((arch === 'gpt2' ? 4 : 2) / t) * 16 * 4;
/** 2½ slots: blocks of 2 slots, the 7th alone. */
const limitFor = (arch: Arch, t: number) => slotBytes(arch, t) * 2.5;
const BLOCKS = [2, 2, 2, 1];

/** Prompts of different lengths (one longer than a prefill chunk), one per slot. */
const PROMPTS = [[5, 17, 42, 3, 88, 61, 9, 23, 71, 2, 33], [96, 1], [40], [7, 7, 8], [100, 0, 50, 25], [3], [11, 12, 13, 14, 15, 16]];

/** The block (by index) holding `slot` of a replica. */
const blockOf = (slot: number) => Math.floor(slot / 2);

/** Record the slots the server prefills and the slots of each decode batch. */
function watch(rt: Runtime): { prefilled: number[]; decodes: number[][] } {
  const seen = { prefilled: [] as number[], decodes: [] as number[][] };
  const engine = rt.engine;
  const prefill = engine.prefill.bind(engine);
  const decode = engine.decode.bind(engine);
  engine.prefill = (slot, prompt) => {
    seen.prefilled.push(slot);
    return prefill(slot, prompt);
  };
  engine.decode = (batch: readonly DecodeEntry[]) => {
    seen.decodes.push(batch.map((e) => e.slot));
    return decode(batch);
  };
  return seen;
}

/** Last-token logits of prompt i prefilled into slot i (every block, the ragged last one too). */
async function prefillEverySlot(rt: Runtime): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const [slot, prompt] of PROMPTS.entries()) out.push(await rt.engine.prefillLogits(slot, prompt));
  return out;
}

async function unsplitLogits(graph: Graph, path: string): Promise<Float32Array[]> {
  const rt = await createRuntime(graph, { weights: path });
  try {
    expect(rt.splitReport()).toEqual([]);
    return await prefillEverySlot(rt);
  } finally {
    await rt.close();
  }
}

describe.each([
  ['gpt2', 1, 1],
  ['gpt2', 2, 1],
  ['llama', 1, 1],
  ['llama', 2, 1],
  ['llama', 1, 2],
] as [Arch, number, number][])('%s, tensor %i × data %i, KV cache in slot blocks', (arch, t, d) => {
  it('splits each layer into slot blocks [2, 2, 2, 1]; logits equal the reference and the unsplit runtime, same greedy tokens, allocation = plan', async () => {
    const model = MODELS[arch];
    const { path, reference } = weightsFor(model);
    const graph = compileTiny(model, { tensor: t, pipeline: 1, data: d, batch: BATCH });
    const limit = limitFor(arch, t);
    const rt = await createRuntime(graph, { weights: path, maxBindingBytes: limit });
    try {
      const kv = rt.splitReport().filter((r) => r.kind === 'kv-cache');
      const kvHeads = (arch === 'gpt2' ? 4 : 2) / t;
      for (const dev of graph.devices) {
        for (const layer of [0, 1]) {
          expect(
            kv.find((r) => r.rank === dev.rank && r.weight === `kv.${layer}`),
            `rank ${dev.rank} layer ${layer}`,
          ).toEqual({
            rank: dev.rank,
            kind: 'kv-cache',
            weight: `kv.${layer}`,
            shape: [7, 32, kvHeads, 16],
            blockRows: BLOCKS,
            limitBytes: limit,
          });
        }
      }
      expect(kv).toHaveLength(graph.devices.length * 2);

      // The blocks add up to the unsplit cache: every device allocates exactly its plan.
      for (const row of rt.memoryReport()) {
        expect(row.allocatedBytes, `rank ${row.rank}`).toBe(row.planBytes);
        expect(row.ratio.toFixed(3)).toBe('1.000');
      }

      // One prompt per slot (replica 0): every block, each with its own slots rebased.
      const logits = await prefillEverySlot(rt);
      for (const [slot, prompt] of PROMPTS.entries()) {
        const want = reference.prefill(reference.newCache(1), 0, prompt, 0, { logitsRows: [prompt.length - 1] });
        expect(maxRelError(logits[slot]!, want), `slot ${slot}`).toBeLessThan(1e-4);
      }
      if (d === 1) {
        // The same kernels with the same accumulation per sequence: bit for bit the unsplit run.
        const whole = await unsplitLogits(graph, path);
        for (const slot of PROMPTS.keys()) expect(Array.from(logits[slot]!), `slot ${slot}`).toEqual(Array.from(whole[slot]!));
      }

      // Greedy generation through the batching server: every slot busy at once, so the
      // decode batches span every block.
      const seen = watch(rt);
      const prompts = d === 1 ? PROMPTS : [...PROMPTS, ...PROMPTS.map((p) => p.slice().reverse())];
      const results = await Promise.all(prompts.map((prompt) => rt.generate(prompt, { maxNewTokens: 5 })));
      for (const [i, prompt] of prompts.entries()) expect(results[i]!.tokens, `prompt ${i}`).toEqual(reference.generate(prompt, 5));
      const local = (slot: number) => slot % 7;
      expect(new Set(seen.prefilled.map((s) => blockOf(local(s)))).size).toBe(4);
      expect(Math.max(...seen.decodes.map((b) => new Set(b.map((s) => blockOf(local(s)))).size))).toBe(4);
    } finally {
      await rt.close();
    }
  });
});

describe('a KV cache that cannot be split', () => {
  it('one slot larger than a binding is refused before anything is allocated: the cache, its size, the limit, the seq that fits', async () => {
    // seq 64: one slot's K of GPT-2 at tensor 1 is 64 × 4 × 16 × 4 B = 16 KiB; everything else fits 12 KiB.
    const graph = compileTiny(MODELS.gpt2, { tensor: 1, pipeline: 1, data: 1, batch: 'max_batch = 7  seq = 64  max_prefill_tokens = 8' });
    const err = await createRuntime(graph, { weights: 'random:1', maxBindingBytes: 12 * 1024 }).then(
      (rt) => rt.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AllocationError);
    expect((err as Error).message).toBe(
      'rank 0: kv.{l}: the K (and the V) cache of one layer [7, 64, 4, 16] needs 114,688 B, more than one binding of 12,288 B, ' +
        "and it is split by slots (sequences), but one slot (one sequence's K, or its V) already takes 16,384 B: " +
        "the emulated binding limit (maxBindingBytes) of 12,288 B, below this adapter's 134,217,728 B; " +
        'lower seq (now 64) to at most 48, or use a larger tensor degree (which shards the KV heads)',
    );
  });
});

describe('splitSlots: slot blocks under a binding limit', () => {
  const kv = { name: 'kv.{l}', slots: 7, seq: 32, kvHeads: 2, headDim: 16, elementBytes: 4 };

  it('one block when the cache fits; else the most whole slots per block, the rest last', () => {
    expect(splitSlots(kv, 7 * 4096)).toEqual({ ok: true, blocks: [[0, 7]] });
    expect(splitSlots(kv, 7 * 4096 - 4)).toEqual({
      ok: true,
      blocks: [
        [0, 6],
        [6, 7],
      ],
    });
    expect(splitSlots(kv, 3 * 4096 + 100)).toEqual({
      ok: true,
      blocks: [
        [0, 3],
        [3, 6],
        [6, 7],
      ],
    });
    expect(splitSlots(kv, 4096)).toEqual({
      ok: true,
      blocks: [
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 4],
        [4, 5],
        [5, 6],
        [6, 7],
      ],
    });
  });

  it('the blocks add up to the bytes of the unsplit cache (bf16: 2-byte values, whole words per slot)', () => {
    for (const [c, limit] of [
      [kv, 10_000],
      [{ ...kv, elementBytes: 2, headDim: 6, kvHeads: 1, seq: 5 }, 130],
      [{ ...kv, slots: 256, seq: 4096, kvHeads: 8, headDim: 128, elementBytes: 2 }, 2 ** 30],
    ] as [typeof kv, number][]) {
      const r = splitSlots(c, limit);
      if (!r.ok) throw new Error(r.problem);
      expect(r.blocks.length).toBeGreaterThan(1);
      const slot = c.seq * c.kvHeads * c.headDim * c.elementBytes;
      const sizes = r.blocks.map(([b, e]) => bufferBytes((e - b) * slot));
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(bufferBytes(c.slots * slot));
      for (const s of sizes) expect(s).toBeLessThanOrEqual(limit);
    }
  });

  it('the H200 example: 256 slots of seq 4096 with 8 KV heads of 128 in bf16 — K alone is 2 GiB: one binding of 2 GiB, two of anything less', () => {
    expect(splitSlots({ ...kv, slots: 256, seq: 4096, kvHeads: 8, headDim: 128, elementBytes: 2 }, 2 ** 31)).toEqual({
      ok: true,
      blocks: [[0, 256]],
    });
    expect(splitSlots({ ...kv, slots: 256, seq: 4096, kvHeads: 8, headDim: 128, elementBytes: 2 }, 2 ** 31 - 4)).toEqual({
      ok: true,
      blocks: [
        [0, 255],
        [255, 256],
      ],
    });
  });

  it('one slot larger than the limit is not splittable', () => {
    expect(splitSlots(kv, 4092)).toEqual({
      ok: false,
      problem:
        "kv.{l}: the K (and the V) cache of one layer [7, 32, 2, 16] needs 28,672 B, more than one binding of 4,092 B, and it is split by slots (sequences), but one slot (one sequence's K, or its V) already takes 4,096 B",
    });
  });
});
