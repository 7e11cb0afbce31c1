/**
 * The batching server prefills on data-parallel replicas at the same time
 * (`WebgpuEngine.prefillMany`), asserted from the order of traced events (never from
 * durations): with data = 2, replica 1 submits its prefill before replica 0's first
 * prefill readback resolves, and one replica's prefills never interleave. The served
 * tokens equal the CPU reference's greedy tokens, with and without overlap, and those of
 * the one-prefill-at-a-time server path.
 */
import { describe, expect, it } from 'vitest';
import { meshOf } from '../../src/mesh.js';
import { createRuntime, createServer, policyFromPlan, Trace, type Runtime, type Span } from '../../runtime/index.js';
import { gpt2Config } from '../../runtime/reference/model.js';
import { compileTiny, sequentialView, weightsFor, type TinyModel } from './models.js';

const GPT2: TinyModel = {
  plan: 'arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32',
  config: gpt2Config({ layers: 2, hidden: 64, heads: 4, vocab: 97, maxSeq: 64 }),
};
// Two chunks each (max_prefill_tokens = 8 per replica), so one replica's passes could interleave if unguarded.
const PROMPTS = [
  [5, 17, 42, 3, 88, 61, 9, 23, 71, 2, 33],
  [96, 1, 7, 7, 12, 30, 44, 50, 51, 52],
  [40, 41, 42, 43, 44, 45, 46, 47, 48],
  [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
];
const LAYOUT = { tensor: 1, pipeline: 1, data: 2, batch: 'max_batch = 4  seq = 64  max_prefill_tokens = 8  max_wait = 5 ms' };

async function withRuntime<T>(overlap: boolean, trace: Trace | undefined, run: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await createRuntime(compileTiny(GPT2, LAYOUT), { weights: weightsFor(GPT2).path, overlap, ...(trace ? { trace } : {}) });
  try {
    return await run(rt);
  } finally {
    await rt.close();
  }
}

const generateAll = (generate: (p: number[]) => Promise<{ tokens: number[] }>) =>
  Promise.all(PROMPTS.map((p) => generate(p).then((r) => r.tokens)));

describe('prefill on data-parallel replicas at the same time', () => {
  it('data 2: replica 1 prefills while replica 0 waits on its first readback; one replica’s passes never interleave', async () => {
    const trace = new Trace();
    await withRuntime(true, trace, async (rt) => {
      trace.clear();
      // One token each: the whole run is the server's prefill step, no decode.
      await Promise.all(PROMPTS.map((p) => rt.generate(p, { maxNewTokens: 1 })));
      expect(rt.serve().stats().prefills).toBe(4);
    });
    const spans: Span[] = trace.spans;
    const of = (replica: number) => spans.filter((s) => s.replica === replica);
    const r0Readback = Math.min(
      ...of(0)
        .filter((s) => s.kind === 'readback')
        .map((s) => s.endSeq),
    );
    const r1Compute = Math.min(
      ...of(1)
        .filter((s) => s.kind === 'compute')
        .map((s) => s.endSeq),
    );
    expect(r1Compute).toBeLessThan(r0Readback);
    // Per replica: 2 prompts × 2 chunks, each pass a compute then its logits readback, never nested.
    for (const replica of [0, 1]) {
      const passes = of(replica).sort((a, b) => a.startSeq - b.startSeq);
      expect(
        passes.map((s) => s.kind),
        `replica ${replica}`,
      ).toEqual(['compute', 'readback', 'compute', 'readback', 'compute', 'readback', 'compute', 'readback']);
      passes.slice(1).forEach((s, i) => expect(s.startSeq, `replica ${replica} span ${i + 1}`).toBeGreaterThan(passes[i]!.endSeq));
    }
  });

  it('served tokens equal the CPU reference, with and without overlap, and the one-at-a-time path', async () => {
    const { reference } = weightsFor(GPT2);
    const want = PROMPTS.map((p) => reference.generate(p, 6));
    const on = await withRuntime(true, undefined, (rt) => generateAll((p) => rt.generate(p, { maxNewTokens: 6 })));
    const off = await withRuntime(false, undefined, (rt) => generateAll((p) => rt.generate(p, { maxNewTokens: 6 })));
    const sequential = await withRuntime(true, undefined, async (rt) => {
      const b = rt.graph.batch!;
      const server = createServer(
        sequentialView(rt.engine),
        policyFromPlan({ ...b, maxBatch: b.maxBatch * meshOf(rt.graph.mesh.axes).data }),
      );
      try {
        return await generateAll((p) => server.generate(p, { maxNewTokens: 6 }));
      } finally {
        await server.close();
      }
    });
    expect(on).toEqual(want);
    expect(off).toEqual(want);
    expect(sequential).toEqual(want);
  });
});
