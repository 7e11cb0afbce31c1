/**
 * The MoE kernels against the f64 reference (runtime/reference/moe.ts): the router's choices
 * (experts exactly, weights within 1e-5 relative: the kernel sums the logits in f32) with and without normTopK, on random
 * logits and on ties — equal logits choose the lower expert indices first, in index order
 * (our rule: torch.topk leaves ties unspecified); the expert matmul over rows routed to the experts a weight
 * holds (rows of other experts untouched), the experts' SwiGLU and the weighted combine.
 */
import { describe, expect, it } from 'vitest';
import { combineProgram, expertMatmulProgram, expertSwigluProgram, routerProgram } from '../../runtime/kernels/moe.js';
import { matmul } from '../../runtime/reference/matmul.js';
import { route } from '../../runtime/reference/moe.js';
import { silu } from '../../runtime/reference/activations.js';
import { encode, roundAll } from '../../runtime/reference/dtype.js';
import { expectClose, f32s, rng, runOnce, tensorTypes, testGpu, U32, u32s, uniform } from './util.js';

describe('MoE kernels', async () => {
  const g = await testGpu();
  const h = 24;

  /** The router's routes as (experts, weights) per row. */
  async function routeOnGpu(x: Float32Array, W: Float32Array, T: number, E: number, k: number, normTopK: boolean) {
    const p = routerProgram({ hidden: h, experts: E, topK: k, normTopK, w: { format: 'f32' } });
    const out = await runOnce(g, p, { x, W, routes: { bytes: T * k * 8 }, dispatch: { bytes: T * k * h * 4 } }, { T, t0: 0 }, [
      'routes',
      'dispatch',
    ]);
    const r = u32s(out['routes']!, 2 * T * k);
    const experts = Uint32Array.from({ length: T * k }, (_, i) => r[2 * i]!);
    const weights = new Float32Array(Uint32Array.from({ length: T * k }, (_, i) => r[2 * i + 1]!).buffer);
    return { experts, weights, dispatch: f32s(out['dispatch']!, T * k * h) };
  }

  for (const normTopK of [true, false])
    it(`router: top-k experts and weights${normTopK ? ', renormalised' : ''}; dispatch holds each token's row k times`, async () => {
      const r = rng(normTopK ? 41 : 42);
      const [T, E, k] = [37, 8, 3];
      const x = uniform(r, T * h);
      const W = uniform(r, E * h, -2, 2);
      const got = await routeOnGpu(x, W, T, E, k, normTopK);
      const want = route(matmul(x, W, T, E, h), T, E, k, normTopK);
      expect(Array.from(got.experts)).toEqual(Array.from(want.experts));
      // the GPU sums the logits in f32 (h terms): a few ulps of the logits move each weight by as much, relatively
      expectClose(got.weights, want.weights, (i) => 1e-5 * Math.abs(want.weights[i]!) + 1e-7, 'routing weights');
      for (let t = 0; t < T; t++)
        for (let j = 0; j < k; j++)
          expect(Array.from(got.dispatch.subarray((t * k + j) * h, (t * k + j + 1) * h))).toEqual(
            Array.from(x.subarray(t * h, (t + 1) * h)),
          );
    });

  it("router and combine on a token slice (t0): only the slice's rows and tokens are written", async () => {
    const r = rng(44);
    const [T, E, k, t0, n] = [12, 6, 2, 5, 4];
    const x = uniform(r, T * h);
    const W = uniform(r, E * h, -2, 2);
    const p = routerProgram({ hidden: h, experts: E, topK: k, normTopK: true, w: { format: 'f32' } });
    const routes0 = new Uint32Array(2 * T * k).fill(0xdead);
    const out = await runOnce(g, p, { x, W, routes: routes0, dispatch: { bytes: T * k * h * 4 } }, { T: n, t0 }, ['routes']);
    const got = u32s(out['routes']!, 2 * T * k);
    const want = route(matmul(x, W, T, E, h), T, E, k, true);
    for (let row = 0; row < T * k; row++) {
      const inSlice = row >= t0 * k && row < (t0 + n) * k;
      expect(got[2 * row], `row ${row}`).toBe(inSlice ? want.experts[row] : 0xdead);
    }
    const hidden = uniform(r, T * h);
    const y = uniform(r, T * k * h);
    const comb = f32s(
      (await runOnce(g, combineProgram({ hidden: h, topK: k }), { hidden, y, routes: got }, { T: n, t0 }, ['hidden']))['hidden']!,
      T * h,
    );
    for (let t = 0; t < T; t++) {
      const w = [0, 1].map((j) => new Float32Array(Uint32Array.of(got[2 * (t * k + j) + 1]!).buffer)[0]!);
      for (let c = 0; c < h; c++) {
        const want =
          t >= t0 && t < t0 + n ? hidden[t * h + c]! + w[0]! * y[t * k * h + c]! + w[1]! * y[(t * k + 1) * h + c]! : hidden[t * h + c]!;
        expect(Math.abs(comb[t * h + c]! - want)).toBeLessThan(8 * U32 * (Math.abs(want) + 2) + 1e-6);
      }
    }
  });

  it('router: ties keep the lower expert index first (equal logits: experts 0 … k−1; a tie behind a winner: the lower one next)', async () => {
    const [E, k] = [6, 3];
    const W = new Float32Array(E * h);
    // token 0: all logits 0; token 1: expert 4 first, then 1, 3 and 5 tie (the lower two, in order)
    const x = new Float32Array(2 * h);
    x[h] = 1;
    for (const [e, v] of [
      [4, 2],
      [1, 1],
      [3, 1],
      [5, 1],
    ] as const)
      W[e * h] = v;
    const got = await routeOnGpu(x, W, 2, E, k, true);
    expect(Array.from(got.experts)).toEqual([0, 1, 2, 4, 1, 3]);
    const want = route(matmul(x, W, 2, E, h), 2, E, k, true);
    expect(Array.from(want.experts)).toEqual([0, 1, 2, 4, 1, 3]);
    expectClose(got.weights, want.weights, (i) => 16 * U32 * Math.abs(want.weights[i]!), 'tied weights');
  });

  it('expert matmul (every weight format), swiglu and combine: the experts a weight holds, on the rows routed to them', async () => {
    const r = rng(43);
    const [T, k, E, f] = [9, 2, 5, 12];
    const R = T * k;
    const experts = Uint32Array.from({ length: R }, () => Math.floor(r() * E));
    const weights = uniform(r, R, 0, 1);
    const routes = new Uint32Array(2 * R);
    for (let i = 0; i < R; i++)
      [routes[2 * i], routes[2 * i + 1]] = [experts[i]!, new Uint32Array(Float32Array.of(weights[i]!).buffer)[0]!];
    const A = uniform(r, R * h);
    // a weight holding experts 1 … 3 only: rows of experts 0 and 4 keep their sentinel
    const [e0, held] = [1, 3];
    const W0 = uniform(r, held * f * h);
    for (const { tag, t } of tensorTypes(g)) {
      // the weight as stored (rounded to its format): the kernel widens it exactly
      const W = roundAll(t.format, W0);
      const C0 = new Float32Array(R * 2 * f).fill(7);
      const mm = expertMatmulProgram({ N: f, K: h, lda: h, aOff: 0, ldc: 2 * f, cOff: f, e0, held, w: t });
      const C = f32s((await runOnce(g, mm, { A, W: encode(t.format, W0), routes, C: C0 }, { R }, ['C']))['C']!, R * 2 * f);
      for (let i = 0; i < R; i++) {
        const e = experts[i]!;
        const row = C.subarray(i * 2 * f + f, (i + 1) * 2 * f);
        if (e < e0 || e >= e0 + held) expect(Array.from(row)).toEqual(Array(f).fill(7));
        else {
          const want = matmul(A.subarray(i * h, (i + 1) * h), W.subarray((e - e0) * f * h, (e - e0 + 1) * f * h), 1, f, h);
          expectClose(row, want, (j) => 8 * h * U32 * Math.abs(want[j]!) + 1e-6, `${tag} row ${i}`);
        }
        expect(Array.from(C.subarray(i * 2 * f, i * 2 * f + f))).toEqual(Array(f).fill(7));
      }
    }
    const ue = uniform(r, R * 2 * f, -4, 4);
    const act = f32s((await runOnce(g, expertSwigluProgram({ ffn: f }), { ue }, { n: R * f }, ['ue']))['ue']!, R * 2 * f);
    for (let i = 0; i < R; i++)
      for (let j = 0; j < f; j++) {
        const want = silu(ue[i * 2 * f + j]!) * ue[i * 2 * f + f + j]!;
        expect(Math.abs(act[i * 2 * f + j]! - want)).toBeLessThan(8 * U32 * Math.abs(want) + 1e-6);
        expect(act[i * 2 * f + f + j]).toBe(ue[i * 2 * f + f + j]);
      }
    const hidden = uniform(r, T * h);
    const y = uniform(r, R * h);
    const out = f32s(
      (await runOnce(g, combineProgram({ hidden: h, topK: k }), { hidden, y, routes }, { T, t0: 0 }, ['hidden']))['hidden']!,
      T * h,
    );
    for (let t = 0; t < T; t++)
      for (let c = 0; c < h; c++) {
        let want = hidden[t * h + c]!;
        for (let j = 0; j < k; j++) want += weights[t * k + j]! * y[(t * k + j) * h + c]!;
        expect(Math.abs(out[t * h + c]! - want)).toBeLessThan(8 * U32 * (Math.abs(want) + 2) + 1e-6);
      }
  });
});
