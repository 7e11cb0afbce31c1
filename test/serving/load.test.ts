/**
 * 10,000 requests through a small queue: each one either resolves with the right tokens
 * or is refused with QueueFullError; none is lost, all settle, and the stats agree.
 */
import { expect, it } from 'vitest';
import { cpuReference } from '../../runtime/testing/cpu-engine.js';
import { QueueFullError } from '../../runtime/serving/errors.js';
import type { GenerateResult } from '../../runtime/serving/server.js';
import { VOCAB, prompt, randInt, rng, settleWithin, setup, sleep } from './helpers.js';

it('10,000 requests, queue 64, maxBatch 8: every request resolves or is refused, none is lost', async () => {
  const N = 10_000;
  const r = rng(42);
  const { server, engine } = setup({ maxBatch: 8, queue: 64, maxWaitMs: 1, maxSeq: 64, maxPrefillTokens: 64 }, { log: false });
  const jobs: { prompt: number[]; n: number; result: Promise<GenerateResult> }[] = [];
  const settledCount = { n: 0 };
  const t0 = performance.now();
  // Arrivals in bursts of 1 … 150 requests, one burst a millisecond: faster than the server
  // serves them, so the queue fills and refuses some, and drains between bursts, so many get in.
  while (jobs.length < N) {
    const burst = Math.min(N - jobs.length, randInt(r, 1, 150));
    for (let i = 0; i < burst; i++) {
      const p = prompt(r, randInt(r, 1, 8));
      const n = randInt(r, 1, 8);
      const result = server.generate(p, { maxNewTokens: n });
      // Observe every promise at once: refusals reject immediately.
      result.then(
        () => settledCount.n++,
        () => settledCount.n++,
      );
      jobs.push({ prompt: p, n, result });
    }
    await sleep(1);
  }
  const settled = await settleWithin(
    jobs.map((j) => j.result),
    15_000,
  );
  const ms = performance.now() - t0;

  let resolved = 0;
  let refused = 0;
  let tokens = 0;
  settled.forEach((s, i) => {
    const j = jobs[i]!;
    if (s.status === 'fulfilled') {
      resolved++;
      tokens += s.value.tokens.length;
      expect(s.value.tokens).toEqual(cpuReference(j.prompt, j.n, { vocabSize: VOCAB }).tokens);
    } else {
      expect(s.reason).toBeInstanceOf(QueueFullError);
      refused++;
    }
  });
  expect(resolved + refused).toBe(N);
  expect(settledCount.n).toBe(N);
  expect(resolved).toBeGreaterThan(200);
  expect(refused).toBeGreaterThan(200);

  const s = server.stats();
  console.log(
    `load: ${N} requests in ${ms.toFixed(0)} ms: ${resolved} resolved, ${refused} refused (queue full); ` +
      `${s.decodeSteps} decode steps, mean batch ${s.meanBatch.toFixed(2)}, ${s.tokens.total} tokens`,
  );
  expect(s.requests).toEqual({
    submitted: N,
    completed: resolved,
    rejected: refused,
    queueFull: refused,
    cancelled: 0,
    deadline: 0,
    failed: 0,
  });
  expect(s.queueDepth).toBe(0);
  expect(s.active).toBe(0);
  expect(s.tokens.total).toBe(tokens);
  expect(s.prefills).toBe(resolved);
  expect(s.batchHistogram.slice(2).reduce((a, b) => a + b, 0)).toBeGreaterThan(s.decodeSteps / 2);
  expect(engine.occupiedSlots()).toEqual([]);
  expect(engine.releases.length).toBe(resolved);
  await settleWithin([server.close()], 1000);
}, 30_000);

it('chaos: cancellations, deadlines, engine failures and a close mid-run; every promise settles, the books balance', async () => {
  const N = 3000;
  const r = rng(9);
  const { server, engine } = setup(
    { maxBatch: 8, queue: 32, maxWaitMs: 1, maxSeq: 64, maxPrefillTokens: 40 },
    { log: false, fail: () => r() < 0.01 },
  );
  const all: Promise<unknown>[] = [];
  const tokensOf = new Map<number, { prompt: number[]; n: number }>();
  let i = 0;
  while (i < N) {
    const burst = Math.min(N - i, randInt(r, 1, 40));
    for (let k = 0; k < burst; k++, i++) {
      const p = prompt(r, randInt(r, 1, 10));
      const n = randInt(r, 1, 20);
      const ac = new AbortController();
      const roll = r();
      const opts = { maxNewTokens: n, signal: ac.signal, ...(roll < 0.1 ? { deadlineMs: randInt(r, 1, 20) } : {}) };
      if (roll > 0.9) setTimeout(() => ac.abort(), randInt(r, 0, 20));
      if (roll > 0.98) ac.abort();
      tokensOf.set(all.length, { prompt: p, n });
      const result = server.generate(p, opts);
      result.catch(() => {});
      all.push(result);
    }
    await sleep(1);
    if (i >= N * 0.8 && !server.closed) void server.close({ drain: false });
  }
  const settled = await settleWithin(all, 10_000);
  await settleWithin([server.close()], 1000);
  const kinds = new Map<string, number>();
  settled.forEach((s, j) => {
    const kind = s.status === 'fulfilled' ? 'ok' : (s.reason as Error).name;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    if (s.status === 'fulfilled') {
      const { prompt: p, n } = tokensOf.get(j)!;
      expect((s.value as { tokens: number[] }).tokens).toEqual(cpuReference(p, n, { vocabSize: VOCAB }).tokens);
    }
  });
  console.log(`chaos: ${N} requests: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const s = server.stats();
  const c = s.requests;
  expect(c.submitted).toBe(N);
  expect(c.completed + c.rejected + c.cancelled + c.deadline + c.failed).toBe(N);
  expect(c.completed).toBe(kinds.get('ok'));
  expect(c.cancelled).toBe(kinds.get('AbortError'));
  expect(c.deadline).toBe(kinds.get('DeadlineError') ?? 0);
  expect(c.queueFull).toBe(kinds.get('QueueFullError') ?? 0);
  expect(c.failed + c.rejected - c.queueFull).toBe((kinds.get('EngineError') ?? 0) + (kinds.get('ServerClosedError') ?? 0));
  for (const k of ['ok', 'AbortError', 'DeadlineError', 'EngineError', 'ServerClosedError']) expect(kinds.get(k) ?? 0).toBeGreaterThan(0);
  expect(s.queueDepth + s.active).toBe(0);
  expect(engine.occupiedSlots()).toEqual([]);
}, 30_000);
