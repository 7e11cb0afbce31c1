/**
 * What the batching server computes and when: every request gets exactly the tokens the
 * CPU engine generates for it alone (continuous batching never mixes sequences up),
 * batches form, max_wait bounds an idle server's wait, the prefill budget splits admissions.
 */
import { describe, expect, it } from 'vitest';
import { cpuReference } from '../../runtime/testing/cpu-engine.js';
import type { GenerateResult } from '../../runtime/serving/server.js';
import { VOCAB, outcome, prompt, randInt, rng, setup, sleep } from './helpers.js';

describe('correctness under continuous batching', () => {
  for (const seed of [1, 2, 3]) {
    it(`staggered requests of mixed lengths get their own sequential tokens (seed ${seed})`, async () => {
      const r = rng(seed);
      const { engine, server } = setup({ maxBatch: 4, maxWaitMs: 2, maxSeq: 64, maxPrefillTokens: 24 }, { decodeMs: 1 });
      const jobs: { prompt: number[]; n: number; stop: number[]; result: Promise<GenerateResult> }[] = [];
      for (let i = 0; i < 40; i++) {
        const p = prompt(r, randInt(r, 1, 20));
        const n = randInt(r, 1, 30);
        // A third of the requests stop early on a token their answer contains.
        const full = cpuReference(p, n, { vocabSize: VOCAB }).tokens;
        const stop = i % 3 === 0 ? [full[randInt(r, 0, full.length - 1)]!] : [];
        jobs.push({ prompt: p, n, stop, result: server.generate(p, { maxNewTokens: n, stop }) });
        if (r() < 0.5) await sleep(randInt(r, 0, 6));
      }
      const results = await Promise.all(jobs.map((j) => j.result));
      results.forEach((res, i) => {
        const j = jobs[i]!;
        const ref = cpuReference(j.prompt, j.n, { vocabSize: VOCAB, stop: j.stop });
        expect({ i, tokens: res.tokens, finish: res.finish }).toEqual({ i, tokens: ref.tokens, finish: ref.finish });
      });
      // Batching did happen, and every slot was released.
      const s = server.stats();
      expect(s.batchHistogram.slice(2).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(engine.occupiedSlots()).toEqual([]);
      expect(engine.releases.length).toBe(40);
      expect(s.requests).toMatchObject({ submitted: 40, completed: 40, rejected: 0, failed: 0 });
      expect(s.tokens.total).toBe(results.reduce((a, res) => a + res.tokens.length, 0));
      await server.close();
    });
  }

  it('a request that finishes at its prefill (one token, or a stop token first) never decodes', async () => {
    const { engine, server } = setup();
    const first = cpuReference([3, 4], 1, { vocabSize: VOCAB }).tokens[0]!;
    const [a, b] = await Promise.all([
      server.generate([3, 4], { maxNewTokens: 1 }),
      server.generate([3, 4], { maxNewTokens: 9, stop: [first] }),
    ]);
    expect(a).toMatchObject({ tokens: [first], finish: 'length' });
    expect(b).toMatchObject({ tokens: [first], finish: 'stop' });
    expect(engine.calls.filter((c) => c.kind === 'decode')).toEqual([]);
    await server.close();
  });

  it('fills a sequence up to maxSeq exactly', async () => {
    const { server } = setup({ maxSeq: 16 });
    const res = await server.generate([1, 2, 3, 4, 5, 6], { maxNewTokens: 10 });
    expect(res.tokens).toEqual(cpuReference([1, 2, 3, 4, 5, 6], 10, { vocabSize: VOCAB }).tokens);
    await server.close();
  });
});

describe('batching', () => {
  it('32 concurrent requests with maxBatch 32 decode together, far faster than one at a time', async () => {
    const latency = { prefillMs: 1, decodeMs: 2 };
    const r = rng(7);
    const prompts = Array.from({ length: 32 }, () => prompt(r, randInt(r, 4, 12)));
    const n = 12;

    const batched = setup({ maxBatch: 32, maxWaitMs: 5, maxSeq: 64 }, latency);
    let t0 = performance.now();
    const results = await Promise.all(prompts.map((p) => batched.server.generate(p, { maxNewTokens: n })));
    const batchedMs = performance.now() - t0;
    const s = batched.server.stats();
    const steps = s.decodeSteps;
    const multi = s.batchHistogram.slice(2).reduce((a, b) => a + b, 0);
    expect(multi / steps).toBeGreaterThan(0.8);
    expect(s.batchHistogram[32]).toBeGreaterThan(0);
    expect(s.meanBatch).toBeGreaterThan(16);
    expect(s.busyFraction).toBeGreaterThan(0.3);
    expect(s.busyFraction).toBeLessThanOrEqual(1);
    results.forEach((res, i) => expect(res.tokens).toEqual(cpuReference(prompts[i]!, n, { vocabSize: VOCAB }).tokens));
    await batched.server.close();

    const sequential = setup({ maxBatch: 1, maxWaitMs: 0, maxSeq: 64 }, latency);
    t0 = performance.now();
    for (const p of prompts) await sequential.server.generate(p, { maxNewTokens: n });
    const sequentialMs = performance.now() - t0;
    await sequential.server.close();

    const ratio = sequentialMs / batchedMs;
    console.log(
      `batching: 32 requests × ${n} tokens: batched ${batchedMs.toFixed(0)} ms (${steps} decode steps, mean batch ${s.meanBatch.toFixed(1)}, busy ${(s.busyFraction * 100).toFixed(0)}%), ` +
        `one at a time ${sequentialMs.toFixed(0)} ms: ${ratio.toFixed(1)}× faster`,
    );
    expect(ratio).toBeGreaterThan(3);
  });

  it('new requests join a running batch at the next step, without waiting max_wait', async () => {
    const { server } = setup({ maxBatch: 4, maxWaitMs: 2000 }, { decodeMs: 2 });
    const t0 = performance.now();
    const first = outcome(server.generate([1], { maxNewTokens: 4 })); // alone: waits max_wait…
    const [a, b, c] = [
      server.generate([2], { maxNewTokens: 4 }),
      server.generate([3], { maxNewTokens: 4 }),
      server.generate([4], { maxNewTokens: 60 }),
    ];
    await Promise.all([a, b]); // …but four requests make a full batch at once
    expect(performance.now() - t0).toBeLessThan(500);
    await sleep(10);
    const late = await server.generate([5], { maxNewTokens: 3 }); // c still runs: joins at once
    expect(late.timing.queuedMs).toBeLessThan(100);
    expect(server.stats().batchHistogram[2]! + server.stats().batchHistogram[1]!).toBeGreaterThan(0);
    await c;
    expect((await first).ok).toBe(true);
    await server.close();
  });
});

describe('max_wait', () => {
  it('a lone request starts after max_wait (and not much later)', async () => {
    const { engine, server } = setup({ maxBatch: 8, maxWaitMs: 40 });
    const t0 = performance.now();
    const res = await server.generate([1, 2, 3], { maxNewTokens: 2 });
    const started = engine.calls[0]!.at - t0;
    expect(started).toBeGreaterThanOrEqual(38);
    expect(started).toBeLessThan(40 + 60);
    expect(res.timing.queuedMs).toBeGreaterThanOrEqual(38);
    await server.close();
  });

  it('a partial batch waits for companions that arrive within max_wait, then runs them together', async () => {
    const { engine, server } = setup({ maxBatch: 8, maxWaitMs: 60 });
    const t0 = performance.now();
    const a = server.generate([1], { maxNewTokens: 3 });
    await sleep(15);
    const b = server.generate([2], { maxNewTokens: 3 });
    const c = server.generate([3], { maxNewTokens: 3 });
    await Promise.all([a, b, c]);
    const prefills = engine.calls.filter((x) => x.kind === 'prefill');
    expect(prefills.length).toBe(3);
    expect(prefills[0]!.at - t0).toBeGreaterThanOrEqual(58); // measured from a's arrival, not b's
    expect(prefills[0]!.at - t0).toBeLessThan(60 + 60);
    expect(engine.calls.find((x) => x.kind === 'decode')!.size).toBe(3);
    await server.close();
  });

  it('a full batch starts at once', async () => {
    const { engine, server } = setup({ maxBatch: 4, maxWaitMs: 5000 });
    const t0 = performance.now();
    await Promise.all([1, 2, 3, 4].map((t) => server.generate([t], { maxNewTokens: 2 })));
    expect(engine.calls[0]!.at - t0).toBeLessThan(50);
    await server.close();
  });
});

describe('prefill budget (maxPrefillTokens)', () => {
  it('admits prompts FIFO while their tokens fit the budget, the rest at the next step', async () => {
    const { engine, server } = setup({ maxBatch: 4, maxPrefillTokens: 10 });
    await Promise.all([1, 2, 3, 4].map((t) => server.generate([t, t, t, t], { maxNewTokens: 4 })));
    expect(engine.calls.slice(0, 6).map((c) => `${c.kind}:${c.size}`)).toEqual([
      'prefill:4',
      'prefill:4',
      'decode:2',
      'prefill:4',
      'prefill:4',
      'decode:4',
    ]);
    await server.close();
  });

  it('a prompt larger than the budget is prefilled alone', async () => {
    const { engine, server } = setup({ maxBatch: 4, maxPrefillTokens: 10 });
    const long = Array.from({ length: 15 }, (_, i) => i);
    const [a] = await Promise.all([server.generate(long, { maxNewTokens: 3 }), server.generate([1, 2, 3, 4], { maxNewTokens: 3 })]);
    expect(a.tokens).toEqual(cpuReference(long, 3, { vocabSize: VOCAB }).tokens);
    expect(engine.calls.slice(0, 4).map((c) => `${c.kind}:${c.size}`)).toEqual(['prefill:15', 'decode:1', 'prefill:4', 'decode:2']);
    await server.close();
  });
});
