/**
 * KV-cache write + causal grouped-query attention against the reference, in the order
 * the executor runs them (both dispatches in one compute pass): prefill of one slot,
 * a chunked prefill (the second chunk attends over the first, already cached), then
 * decode steps over a batch of slots with different lengths, for several head layouts
 * (GQA 2:1, MQA 3:1, MHA with headDim 70 > the workgroup and a 150-token prefill longer
 * than one 128-key chunk) and every cache storage type.
 *
 * The cache read back must hold what the reference writes (f32: exactly; bf16/f16: the
 * value rounded to the format, within one unit of its last place — WGSL lets f32→f16
 * conversion round either way). The reference then attends over the GPU's cache values, so
 * the attention tolerance is f32's: max|v|·(4(D+4)·u·scale·D·max|q|·max|k| + 4(L+8)·u),
 * from the score error through the softmax and the L-term weighted sum (u = 2⁻²⁴).
 */
import { describe, expect, it } from 'vitest';
import { attentionProgram, kvCacheElements, kvWriteProgram } from '../../runtime/kernels/attention.js';
import { emptyBuffer, readBuffer, uploadBuffer } from '../../runtime/testing/gpu.js';
import { RefKvCache, attention } from '../../runtime/reference/attention.js';
import { decode } from '../../runtime/reference/dtype.js';
import { storageBytes, type TensorType } from '../../runtime/wgsl/dtype.js';
import { expectClose, rng, tensorTypes, testGpu, U32, uniform } from './util.js';

interface Layout {
  heads: number;
  kvHeads: number;
  headDim: number;
  slots: number;
  maxSeq: number;
}

interface Step {
  slots: number[];
  positions: number[];
}

/** The schedule: prefill slot 1, chunked prefill of slot 0, a 1-token prefill of slot 2, then decode steps over all three. */
function schedule(long: boolean): Step[] {
  const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);
  const steps: Step[] = [];
  const p1 = long ? 150 : 5;
  steps.push({ slots: Array(p1).fill(1), positions: range(0, p1) });
  steps.push({ slots: [0, 0, 0], positions: [0, 1, 2] });
  steps.push({ slots: [0, 0, 0, 0], positions: [3, 4, 5, 6] });
  steps.push({ slots: [2], positions: [0] });
  const len = [7, p1, 1];
  for (let s = 0; s < 3; s++) {
    const order = [2, 0, 1];
    steps.push({ slots: order, positions: order.map((sl) => len[sl]!++) });
  }
  // a decode step where one sequence sits out
  steps.push({ slots: [1, 2], positions: [len[1]!++, len[2]!++] });
  return steps;
}

async function run(
  layout: Layout,
  cache: TensorType,
  long: boolean,
  seed: number,
  window?: number,
  gemma: { scale?: number; softcap?: number } = {},
): Promise<void> {
  const g = await testGpu();
  const { heads: H, kvHeads: KVH, headDim: D } = layout;
  const shape = { slots: layout.slots, maxSeq: layout.maxSeq, kvHeads: KVH, headDim: D, cache };
  const write = kvWriteProgram(shape);
  const attend = attentionProgram({ ...shape, heads: H, ...(window === undefined ? {} : { window }), ...gemma });
  await g.runner.compile(write);
  await g.runner.compile(attend);
  const elements = kvCacheElements(shape);
  const bytes = storageBytes(cache.format, elements);
  const kCache = emptyBuffer(g.device, bytes, 'kCache');
  const vCache = emptyBuffer(g.device, bytes, 'vCache');
  const ref = new RefKvCache({ slots: layout.slots, maxSeq: layout.maxSeq, kvHeads: KVH, headDim: D }, cache.format);
  const r = rng(seed);
  const scale = gemma.scale ?? 1 / Math.sqrt(D);
  for (const [si, step] of schedule(long).entries()) {
    const T = step.slots.length;
    const q = uniform(r, T * H * D);
    const k = uniform(r, T * KVH * D);
    const v = uniform(r, T * KVH * D, -2, 2);
    const bufs = {
      q: uploadBuffer(g.device, q),
      k: uploadBuffer(g.device, k),
      v: uploadBuffer(g.device, v),
      slots: uploadBuffer(g.device, Uint32Array.from(step.slots)),
      positions: uploadBuffer(g.device, Uint32Array.from(step.positions)),
      out: emptyBuffer(g.device, T * H * D * 4),
      kCache,
      vCache,
    };
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    g.runner.encode(pass, write, bufs, { T });
    g.runner.encode(pass, attend, bufs, { T });
    pass.end();
    g.runner.submit(enc);
    const out = new Float32Array(await readBuffer(g.device, bufs.out, T * H * D * 4));
    // the cache
    ref.write(k, v, step.slots, step.positions);
    for (const [name, buf, want] of [
      ['K', kCache, ref.k],
      ['V', vCache, ref.v],
    ] as const) {
      const got = decode(cache.format, new Uint32Array(await readBuffer(g.device, buf, bytes)), elements);
      if (cache.format === 'f32') {
        expectClose(got, want, () => 0, `step ${si}: ${name} cache`);
      } else {
        const ulp = cache.format === 'bf16' ? 2 ** -7 : 2 ** -10;
        expectClose(got, want, (i) => ulp * Math.abs(want[i]!) + 2 ** -24, `step ${si}: ${name} cache (${cache.format})`);
        want.set(got); // attend over exactly what the GPU holds
      }
    }
    const wantOut = attention(q, ref, H, step.slots, step.positions, gemma.scale, window, gemma.softcap);
    const maxAbs = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const maxQ = maxAbs(q);
    const maxK = maxAbs(ref.k);
    const maxV = maxAbs(ref.v);
    expectClose(
      out,
      wantOut,
      (i) => {
        const L = step.positions[Math.floor(i / (H * D))]! + 1;
        return maxV * (4 * (D + 4) * U32 * scale * D * maxQ * maxK + 4 * (L + 8) * U32) + 1e-30;
      },
      `step ${si} (T=${T}, slots ${step.slots.slice(0, 4).join(',')}…, positions ${step.positions.slice(0, 4).join(',')}…)`,
    );
    for (const b of [bufs.q, bufs.k, bufs.v, bufs.slots, bufs.positions, bufs.out]) b.destroy();
    g.runner.forgetBindGroups();
  }
  kCache.destroy();
  vCache.destroy();
  expect(g.errors).toEqual([]);
}

describe('attention with a KV cache', async () => {
  const g = await testGpu();
  const types = tensorTypes(g);
  describe.each(types)('cache $tag', ({ t }) => {
    it('GQA 4 heads : 2 KV heads, headDim 8 — prefill, chunked prefill, decode over 3 slots', async () => {
      await run({ heads: 4, kvHeads: 2, headDim: 8, slots: 3, maxSeq: 40 }, t, false, 8000);
    });
  });
  it('MQA 3 heads : 1 KV head, headDim 6 (f32 and bf16 caches)', async () => {
    for (const t of types.slice(0, 2)) await run({ heads: 3, kvHeads: 1, headDim: 6, slots: 3, maxSeq: 20 }, t.t, false, 8100);
  });
  it('MHA 2 heads, headDim 70, a 150-token prefill (two key chunks), f32 cache', async () => {
    await run({ heads: 2, kvHeads: 2, headDim: 70, slots: 3, maxSeq: 170 }, { format: 'f32' }, true, 8200);
  });

  it('a sliding window of 3 and of 130 (past the first 128-key chunk) against the reference, f32 cache', async () => {
    await run({ heads: 4, kvHeads: 2, headDim: 8, slots: 3, maxSeq: 40 }, { format: 'f32' }, false, 8400, 3);
    await run({ heads: 2, kvHeads: 1, headDim: 8, slots: 3, maxSeq: 170 }, { format: 'f32' }, true, 8500, 130);
  });

  it("Gemma-2's scores: query_pre_attn_scalar^−½ as the scale, soft-capped at 0.5 (tanh bends every score), windowed", async () => {
    await run({ heads: 4, kvHeads: 2, headDim: 8, slots: 3, maxSeq: 40 }, { format: 'f32' }, false, 8600, undefined, {
      scale: 24 ** -0.5,
      softcap: 0.5,
    });
    await run({ heads: 2, kvHeads: 1, headDim: 8, slots: 3, maxSeq: 170 }, { format: 'f32' }, true, 8700, 5, { scale: 0.1, softcap: 2 });
  });

  it('the window boundary: a query at position p sees p − window + 1 … p (window positions, itself included)', async () => {
    // Keys 0 … 4 in one slot, values one-hot by position: the output is the mean of the visible values' positions.
    const shape = { slots: 1, maxSeq: 8, kvHeads: 1, headDim: 2 };
    const seen = async (window: number) => {
      const write = kvWriteProgram(shape);
      const attend = attentionProgram({ ...shape, heads: 1, window });
      const bufs = {
        q: uploadBuffer(g.device, Float32Array.from([0, 0])),
        k: uploadBuffer(g.device, new Float32Array(10)),
        v: uploadBuffer(g.device, Float32Array.from([0, 0, 1, 0, 2, 0, 3, 0, 4, 0])),
        slots: uploadBuffer(g.device, new Uint32Array(5)),
        positions: uploadBuffer(g.device, Uint32Array.from([0, 1, 2, 3, 4])),
        out: emptyBuffer(g.device, 5 * 2 * 4),
        kCache: emptyBuffer(g.device, 8 * 2 * 4),
        vCache: emptyBuffer(g.device, 8 * 2 * 4),
      };
      const enc = g.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      g.runner.encode(pass, write, bufs, { T: 5 });
      g.runner.encode(pass, attend, bufs, { T: 5 });
      pass.end();
      g.runner.submit(enc);
      const out = new Float32Array(await readBuffer(g.device, bufs.out));
      return Array.from({ length: 5 }, (_, t) => out[2 * t]!);
    };
    // Equal scores: the mean of the visible positions. window 2 at p = 4: positions 3, 4 → 3.5 (a window of 3 would give 3).
    expect(await seen(2)).toEqual([0, 0.5, 1.5, 2.5, 3.5]);
    expect(await seen(3)).toEqual([0, 0.5, 1, 2, 3]);
    expect(await seen(5)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(g.errors).toEqual([]);
  });

  it('tokens outside the cache: not written, and attend to nothing (zeros)', async () => {
    const shape = { slots: 2, maxSeq: 4, kvHeads: 1, headDim: 2 };
    const write = kvWriteProgram(shape);
    const attend = attentionProgram({ ...shape, heads: 1 });
    const kCache = emptyBuffer(g.device, 2 * 4 * 2 * 4);
    const vCache = emptyBuffer(g.device, 2 * 4 * 2 * 4);
    const bufs = {
      q: uploadBuffer(g.device, Float32Array.from([1, 1, 1, 1])),
      k: uploadBuffer(g.device, Float32Array.from([5, 5, 6, 6])),
      v: uploadBuffer(g.device, Float32Array.from([7, 7, 8, 8])),
      slots: uploadBuffer(g.device, Uint32Array.from([2, 1])),
      positions: uploadBuffer(g.device, Uint32Array.from([0, 4])),
      out: uploadBuffer(g.device, Float32Array.from([9, 9, 9, 9])),
      kCache,
      vCache,
    };
    const enc = g.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    g.runner.encode(pass, write, bufs, { T: 2 });
    g.runner.encode(pass, attend, bufs, { T: 1 });
    pass.end();
    g.runner.submit(enc);
    expect(Array.from(new Float32Array(await readBuffer(g.device, kCache)))).toEqual(new Array(16).fill(0));
    expect(Array.from(new Float32Array(await readBuffer(g.device, bufs.out)))).toEqual([0, 0, 9, 9]);
    expect(g.errors).toEqual([]);
  });

  it('a cache in slot blocks (slot0, slots, slotBlock): the same cache contents and outputs, bit for bit, as the whole cache', async () => {
    // 3 slots split as [0, 2) and [2, 3); a chunk of 3 tokens in slots 2, 0, 2 attends in both blocks.
    const shape = { slots: 3, maxSeq: 4, kvHeads: 1, headDim: 2 };
    const r = rng(8300);
    const inputs = { q: uniform(r, 3 * 2 * 2), k: uniform(r, 3 * 2), v: uniform(r, 3 * 2) };
    const slotIds = Uint32Array.from([2, 0, 2]);
    const positions = Uint32Array.from([0, 0, 1]);
    const slotBytes = 4 * 2 * 4;
    const run = async (blocks: [number, number][], slotBlock: boolean) => {
      const caches = blocks.map(([b, e]) => ({
        k: emptyBuffer(g.device, (e - b) * slotBytes),
        v: emptyBuffer(g.device, (e - b) * slotBytes),
        b,
        e,
      }));
      const bufs = {
        q: uploadBuffer(g.device, inputs.q),
        k: uploadBuffer(g.device, inputs.k),
        v: uploadBuffer(g.device, inputs.v),
        slots: uploadBuffer(g.device, slotIds),
        positions: uploadBuffer(g.device, positions),
        out: uploadBuffer(g.device, new Float32Array(12).fill(9)),
      };
      const enc = g.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const c of caches) {
        const dims: Record<string, number> = slotBlock ? { T: 3, slot0: c.b, slots: c.e - c.b } : { T: 3 };
        // Block programs are made for the largest block (2 slots); the dims give each block's own.
        const blockShape = slotBlock ? { ...shape, slots: 2, slotBlock } : shape;
        g.runner.encode(pass, kvWriteProgram(blockShape), { ...bufs, kCache: c.k, vCache: c.v }, dims);
        g.runner.encode(pass, attentionProgram({ ...blockShape, heads: 2 }), { ...bufs, kCache: c.k, vCache: c.v }, dims);
      }
      pass.end();
      g.runner.submit(enc);
      const concat = async (which: 'k' | 'v') =>
        (await Promise.all(caches.map(async (c) => Array.from(new Float32Array(await readBuffer(g.device, c[which])))))).flat();
      return { out: Array.from(new Float32Array(await readBuffer(g.device, bufs.out))), k: await concat('k'), v: await concat('v') };
    };
    const whole = await run([[0, 3]], false);
    const split = await run(
      [
        [0, 2],
        [2, 3],
      ],
      true,
    );
    expect(split).toEqual(whole);
    expect(whole.out).not.toContain(9);
    // One block alone writes only its own tokens' rows (token 1, slot 0); the rest stay as they were.
    const first = await run([[0, 2]], true);
    expect(first.out.slice(4, 8)).toEqual(whole.out.slice(4, 8));
    expect([...first.out.slice(0, 4), ...first.out.slice(8)]).toEqual(new Array(8).fill(9));
    expect(first.k).toEqual(whole.k.slice(0, 16));
    expect(g.errors).toEqual([]);
  });
});
