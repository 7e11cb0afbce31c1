/**
 * Optimizer kernels against the f64 reference (itself equal to torch.optim and
 * clip_grad_norm_ in backward-oracle.test.ts): the global norm chain (sum of squares per
 * workgroup chunk → one total accumulated over two gradient buffers → clip factor) on sizes
 * spanning several chunks; AdamW and SGD over 3 steps with a clip factor read from a buffer,
 * f32 weights in place and a bf16 weight copy rounded (to nearest even) from an f32 master;
 * odd n; the same on a slice of whole weight and gradient buffers at element offsets (ZeRO's shard of a full
 * tensor), the elements around it untouched, and the sum of squares over a slice. Tolerances: the norm (chunk stride + tree depth + 8)·2⁻²⁴ relative; parameters
 * 64·2⁻²⁴·(|p| + 3·lr·max|update ratio|), moments 32·2⁻²⁴·(|m| + |g|) and (|v| + g²).
 */
import { describe, expect, it } from 'vitest';
import {
  adamwDims,
  adamwProgram,
  clipFactorProgram,
  reduceSumProgram,
  sgdProgram,
  SUM_SQUARES_CHUNK,
  sumSquaresProgram,
} from '../../runtime/kernels/optimizer.js';
import { decode, encode, roundAll } from '../../runtime/reference/dtype.js';
import { adamwStep, clipFactor, sgdStep, sumSquares } from '../../runtime/reference/optimizer.js';
import { expectClose, f32s, normal, rng, runOnce, testGpu, U32 } from './util.js';

describe('optimizer', async () => {
  const g = await testGpu();
  let seed = 23000;
  const buffer = (data: Float32Array | Uint32Array | number) => {
    const bytes = typeof data === 'number' ? data : data.byteLength;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const b = g.device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage });
    if (typeof data !== 'number') g.device.queue.writeBuffer(b, 0, data);
    return b;
  };

  it('global norm: Σ g² over two buffers (several chunks), then clip_grad_norm_’s factor', async () => {
    const r = rng(seed++);
    const grads = [normal(r, 2 * SUM_SQUARES_CHUNK + 1001), normal(r, 37, 0.3)];
    const total = buffer(4);
    for (const gr of grads) {
      const n = gr.length;
      const parts = Math.ceil(n / SUM_SQUARES_CHUNK);
      const partials = buffer(parts * 4);
      await runOnce(g, sumSquaresProgram(), { x: gr, partials }, { n }, []);
      await runOnce(g, reduceSumProgram({ accumulate: true }), { x: partials, out: total }, { n: parts }, []);
      partials.destroy();
    }
    for (const maxNorm of [1, 1000]) {
      const out = await runOnce(g, clipFactorProgram({ maxNorm }), { sumsq: total, clip: { bytes: 8 } }, {}, ['clip', 'sumsq']);
      const want = sumSquares(...grads);
      const got = f32s(out['sumsq']!, 1)[0]!;
      expect(Math.abs(got - want), `Σg² ${got} vs ${want}`).toBeLessThanOrEqual(64 * U32 * want);
      const c = clipFactor(want, maxNorm);
      const [factor, norm] = f32s(out['clip']!, 2);
      expect(Math.abs(norm! - c.norm)).toBeLessThanOrEqual(64 * U32 * c.norm);
      expect(Math.abs(factor! - c.factor)).toBeLessThanOrEqual(64 * U32 * c.factor);
      if (maxNorm === 1000) expect(factor).toBe(1);
    }
    total.destroy();
  });

  it("sum of squares over a slice at an element offset (ZeRO-1's shard of a full gradient), the rest of the buffer ignored", async () => {
    const r = rng(seed++);
    // Odd offset and length over a chunk boundary; large values outside the slice that any misplaced read would add.
    const off = 1237;
    const n = SUM_SQUARES_CHUNK + 77;
    const whole = normal(r, off + n + 301);
    whole.fill(1e3, 0, off);
    whole.fill(1e3, off + n);
    const parts = Math.ceil(n / SUM_SQUARES_CHUNK);
    const total = buffer(4);
    const partials = buffer(parts * 4);
    await runOnce(g, sumSquaresProgram(), { x: whole, partials }, { n, offset: off }, []);
    const out = await runOnce(g, reduceSumProgram(), { x: partials, out: total }, { n: parts }, ['out']);
    const want = sumSquares(whole.subarray(off, off + n));
    const got = f32s(out['out']!, 1)[0]!;
    expect(Math.abs(got - want), `Σg² ${got} vs ${want}`).toBeLessThanOrEqual(64 * U32 * want);
    for (const b of [total, partials]) b.destroy();
  });

  const h = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  // Offsets: none, and a slice of whole weight and gradient buffers (ZeRO-1/2's shard of a full tensor: odd, not
  // 256-byte aligned; a 16-bit weight's even, as its words are written whole).
  for (const kind of ['adamw', 'sgd'] as const)
    for (const master of [false, true])
      for (const sliced of [false, true])
        it(`${kind}, ${master ? 'bf16 weights from an f32 master' : 'f32 weights in place'}${sliced ? ', a slice of whole weight and gradient buffers' : ''}: 3 steps, clipped gradients`, async () => {
          const r = rng(seed++);
          const n = 1001;
          const pOff = sliced ? (master ? 38 : 37) : 0;
          const gOff = sliced ? 301 : 0;
          // Elements around the slice: the weight's must stay as they were, the gradient's are huge (a misplaced read shows).
          const pTail = sliced ? 21 : 0;
          const p0 = normal(r, n);
          const around = normal(r, pOff + n + pTail);
          around.set(p0, pOff);
          const grads = [0, 1, 2].map(() => normal(r, n, 0.5));
          const wholeGrad = (gr: Float32Array) => {
            if (!sliced) return gr;
            const w = new Float32Array(gOff + n + 13).fill(1e4);
            w.set(gr, gOff);
            return w;
          };
          const cf = Math.fround(0.7);
          const clip = buffer(Float32Array.of(cf, 0));
          const sections = (kind === 'adamw' ? 2 : 0) + (master ? 1 : 0);
          const state = new Float32Array(Math.max(1, sections) * n);
          if (master) state.set(p0);
          const stateBuf = buffer(state);
          const words = master ? encode('bf16', roundAll('bf16', around)) : undefined;
          const param = master ? buffer(words!) : buffer(around);
          const prog =
            kind === 'adamw'
              ? adamwProgram(master ? { master: { format: 'bf16' } } : {})
              : sgdProgram(master ? { master: { format: 'bf16' } } : {});
          const p = Float64Array.from(p0);
          const m = new Float64Array(n);
          const v = new Float64Array(n);
          let out!: Record<string, ArrayBuffer>;
          for (const [i, gr] of grads.entries()) {
            const base = kind === 'adamw' ? adamwDims(h, i + 1, n) : { n, lr: h.lr, weightDecay: h.weightDecay };
            const dims = sliced ? { ...base, paramOffset: pOff, gradOffset: gOff } : base;
            const bufs = { [master ? 'weight' : 'param']: param, grad: wholeGrad(gr), ...(sections > 0 ? { state: stateBuf } : {}), clip };
            out = await runOnce(g, prog, bufs, dims, [master ? 'weight' : 'param', ...(sections > 0 ? ['state'] : [])]);
            if (kind === 'adamw') adamwStep(p, m, v, gr, i + 1, h, cf);
            else sgdStep(p, gr, h.lr, h.weightDecay, cf);
          }
          const st = sections > 0 ? f32s(out['state']!, sections * n) : undefined;
          const wholeP = master ? decode('bf16', new Uint32Array(out['weight']!), pOff + n + pTail) : f32s(out['param']!, pOff + n + pTail);
          const gotP = master ? st!.subarray(0, n) : wholeP.subarray(pOff, pOff + n);
          const tolP = (i: number) => 64 * U32 * (Math.abs(p[i]!) + 3 * h.lr * 20);
          expectClose(gotP, p, tolP, `${kind} parameters`);
          if (kind === 'adamw') {
            const o = master ? n : 0;
            const gmax = (i: number) => Math.max(...grads.map((gr) => Math.abs(gr[i]!)));
            expectClose(st!.subarray(o, o + n), m, (i) => 32 * U32 * (Math.abs(m[i]!) + gmax(i)), 'adamw m');
            expectClose(st!.subarray(o + n, o + 2 * n), v, (i) => 32 * U32 * (Math.abs(v[i]!) + gmax(i) ** 2), 'adamw v');
          }
          // the bf16 copy is exactly the master rounded to nearest even
          if (master) expect(Array.from(wholeP.subarray(pOff, pOff + n))).toEqual(Array.from(roundAll('bf16', gotP)));
          // outside the slice the weight buffer is untouched
          const before = master ? roundAll('bf16', around) : around;
          expect(Array.from(wholeP.subarray(0, pOff))).toEqual(Array.from(before.subarray(0, pOff)));
          expect(Array.from(wholeP.subarray(pOff + n))).toEqual(Array.from(before.subarray(pOff + n)));
          for (const b of [clip, stateBuf, param]) b.destroy();
        });

  it('refuses an odd paramOffset into a 16-bit weight (its words are written whole)', () => {
    expect(() => adamwProgram({ master: { format: 'bf16' } }).dispatch({ n: 4, paramOffset: 3 })).toThrow(/paramOffset must be even/);
  });

  it('refuses an f32 master (nothing to round to)', () => {
    expect(() => adamwProgram({ master: { format: 'f32' } })).toThrow(/16-bit weight format/);
  });
});
