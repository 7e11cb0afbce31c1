/**
 * Everything that ends a request other than finishing: invalid input, a full queue,
 * cancellation, deadlines, close (drain or not), device loss, engine failures. In each
 * case every promise settles, slots come back, and the stats agree.
 */
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  DeadlineError,
  DeviceLostError,
  EngineError,
  InvalidRequestError,
  QueueFullError,
  ServerClosedError,
  createServer,
  type Server,
} from '../../runtime/serving/index.js';
import { CpuEngine, cpuReference } from '../../runtime/testing/cpu-engine.js';
import { VOCAB, outcome, rejection, settleWithin, setup, sleep, waitFor } from './helpers.js';

/** submitted = every outcome + what is still pending. */
function expectBalanced(server: Server): void {
  const s = server.stats();
  const r = s.requests;
  expect(r.submitted).toBe(r.completed + r.rejected + r.cancelled + r.deadline + r.failed + s.queueDepth + s.active);
}

describe('validation', () => {
  const { server } = setup({ maxSeq: 16 });
  const cases: [string, unknown, unknown, RegExp][] = [
    ['empty prompt', [], { maxNewTokens: 1 }, /prompt is empty/],
    ['not an array', 'hello', { maxNewTokens: 1 }, /array of token ids/],
    ['fractional token', [1, 2.5], { maxNewTokens: 1 }, /prompt\[1\] = 2\.5 is not a token id/],
    ['negative token', [-1], { maxNewTokens: 1 }, /prompt\[0\] = -1/],
    ['string token', [1, '2'], { maxNewTokens: 1 }, /prompt\[1\] = "2"/],
    ['token outside the vocabulary', [VOCAB], { maxNewTokens: 1 }, /outside the vocabulary \(0 … 999\)/],
    ['no options', [1], undefined, /maxNewTokens are required/],
    ['zero new tokens', [1], { maxNewTokens: 0 }, /max new tokens = 0 must be an integer ≥ 1/],
    ['too long', [1, 2, 3, 4, 5, 6], { maxNewTokens: 11 }, /= 17 exceeds the sequence limit of 16 tokens; at most 10 new tokens fit/],
    ['prompt fills seq', Array(16).fill(1), { maxNewTokens: 1 }, /prompt may hold at most 15/],
    ['bad stop', [1], { maxNewTokens: 1, stop: [1.5] }, /stop\[0\] = 1\.5/],
    ['bad deadline', [1], { maxNewTokens: 1, deadlineMs: -5 }, /deadline = -5 ms/],
  ];
  for (const [name, prompt, options, message] of cases) {
    it(`rejects ${name} (as a rejected promise, never a throw)`, async () => {
      const err = await rejection(server.generate(prompt as number[], options as never));
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ code: 'invalid_request', status: 400, message: expect.stringMatching(message) });
    });
  }
  it('counts them as rejected', () => {
    expect(server.stats().requests).toMatchObject({ submitted: cases.length, rejected: cases.length });
  });
});

describe('bounded queue', () => {
  it('refuses beyond queue + free slots at once with QueueFullError, and takes requests again once it drains', async () => {
    const { server } = setup({ maxBatch: 2, queue: 3, maxWaitMs: 50 }, { decodeMs: 2 });
    // Idle with 2 free slots: 3 + 2 may wait; the sixth is refused.
    const accepted = [1, 2, 3, 4, 5].map((t) => outcome(server.generate([t], { maxNewTokens: 5 })));
    const err = await rejection(server.generate([6], { maxNewTokens: 5 }));
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err).toMatchObject({ status: 429, limit: 3, message: expect.stringMatching(/queue is full .*limit 3/) });
    expect((await Promise.all(accepted)).every((o) => o.ok)).toBe(true);
    expect((await outcome(server.generate([7], { maxNewTokens: 1 }))).ok).toBe(true);
    expect(server.stats().requests).toMatchObject({ submitted: 7, completed: 6, rejected: 1, queueFull: 1 });
    await server.close();
  });

  it('queue 0 takes requests only while slots are free', async () => {
    const { server } = setup({ maxBatch: 1, queue: 0 }, { decodeMs: 2 });
    const a = outcome(server.generate([1], { maxNewTokens: 20 }));
    expect(await rejection(server.generate([2], { maxNewTokens: 1 }))).toBeInstanceOf(QueueFullError); // a waits for its prefill: no free slot left
    expect((await a).ok).toBe(true);
    await server.close();
  });
});

describe('cancellation', () => {
  it('an already aborted signal rejects at once', async () => {
    const { server, engine } = setup();
    const err = await rejection(server.generate([1], { maxNewTokens: 3, signal: AbortSignal.abort() }));
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'cancelled', status: 499 });
    expect(engine.calls).toEqual([]);
    expect(server.stats().requests.cancelled).toBe(1);
    await server.close();
  });

  it('cancelling a waiting request removes it from the queue; it is never prefilled', async () => {
    const { server, engine } = setup({ maxBatch: 1 }, { decodeMs: 2 });
    const running = server.generate([1], { maxNewTokens: 10 });
    const ac = new AbortController();
    const waiting = outcome(server.generate([2, 2], { maxNewTokens: 10, signal: ac.signal }));
    const after = server.generate([3], { maxNewTokens: 2 });
    await sleep(5);
    expect(server.stats().queueDepth).toBe(2);
    ac.abort();
    const o = await waiting;
    expect(!o.ok && o.error).toBeInstanceOf(AbortError);
    expect(server.stats().queueDepth).toBe(1);
    await Promise.all([running, after]);
    expect(engine.calls.filter((c) => c.kind === 'prefill').map((c) => c.size)).toEqual([1, 1]); // not the 2-token prompt
    expect(server.stats().requests).toMatchObject({ completed: 2, cancelled: 1 });
    expectBalanced(server);
    await server.close();
  });

  it('cancelling mid-generation rejects at once with the partial tokens; the slot is released at the next step; others are unaffected', async () => {
    const { server, engine } = setup({ maxBatch: 2 }, { decodeMs: 3 });
    const ac = new AbortController();
    const victim = outcome(server.generate([1, 2], { maxNewTokens: 200, signal: ac.signal }));
    const other = server.generate([3, 4], { maxNewTokens: 30 });
    await waitFor(() => server.stats().decodeSteps >= 4, 2000, 'decode steps');
    ac.abort(new Error('user went away'));
    const o = await victim;
    expect(o.ok).toBe(false);
    const err = (o as { error: AbortError }).error;
    expect(err).toBeInstanceOf(AbortError);
    expect(err.tokens.length).toBeGreaterThanOrEqual(4);
    expect(err.tokens).toEqual(cpuReference([1, 2], err.tokens.length, { vocabSize: VOCAB }).tokens);
    expect((err.cause as Error).message).toBe('user went away');
    await waitFor(() => engine.occupiedSlots().length === 1, 1000, 'release');
    expect((await other).tokens).toEqual(cpuReference([3, 4], 30, { vocabSize: VOCAB }).tokens);
    expect(engine.occupiedSlots()).toEqual([]);
    expect(server.stats().active).toBe(0);
    await server.close();
  });
});

describe('deadlines', () => {
  it('a request whose deadline passes in the queue rejects with DeadlineError and no tokens', async () => {
    const { server } = setup({ maxBatch: 1 }, { decodeMs: 2 });
    const running = server.generate([1], { maxNewTokens: 30 });
    const t0 = performance.now();
    const err = await rejection(server.generate([2], { maxNewTokens: 5, deadlineMs: 20 }));
    expect(performance.now() - t0).toBeLessThan(20 + 40);
    expect(err).toBeInstanceOf(DeadlineError);
    expect(err).toMatchObject({
      status: 504,
      stage: 'queued',
      tokens: [],
      message: expect.stringMatching(/20 ms passed while the request was waiting/),
    });
    await running;
    expect(server.stats().requests).toMatchObject({ completed: 1, deadline: 1 });
    await server.close();
  });

  it('a request whose deadline passes mid-generation rejects with the tokens so far', async () => {
    const { server, engine } = setup({}, { decodeMs: 2 });
    const err = await rejection(server.generate([5, 6], { maxNewTokens: 200, deadlineMs: 40 }));
    expect(err).toBeInstanceOf(DeadlineError);
    const d = err as DeadlineError;
    expect(d.stage).toBe('running');
    expect(d.tokens.length).toBeGreaterThan(1);
    expect(d.tokens.length).toBeLessThan(200);
    expect(d.tokens).toEqual(cpuReference([5, 6], d.tokens.length, { vocabSize: VOCAB }).tokens);
    await waitFor(() => engine.occupiedSlots().length === 0, 1000, 'release');
    await server.close();
  });

  it('a request that finishes in time resolves normally', async () => {
    const { server } = setup();
    expect((await server.generate([1], { maxNewTokens: 3, deadlineMs: 5000 })).finish).toBe('length');
    await server.close();
  });
});

describe('close', () => {
  async function loaded(policy = {}) {
    const ctx = setup({ maxBatch: 2, maxWaitMs: 0, ...policy }, { decodeMs: 2 });
    const running = [1, 2].map((t) => outcome(ctx.server.generate([t], { maxNewTokens: 15 })));
    const waiting = [3, 4, 5].map((t) => outcome(ctx.server.generate([t], { maxNewTokens: 15 })));
    await waitFor(() => ctx.server.stats().decodeSteps >= 2, 2000, 'decode steps');
    return { ...ctx, running, waiting };
  }

  it('drain: running requests finish, waiting ones reject, new ones are refused', async () => {
    const { server, engine, running, waiting } = await loaded();
    const closed = server.close({ drain: true });
    expect(await rejection(server.generate([9], { maxNewTokens: 1 }))).toBeInstanceOf(ServerClosedError);
    await settleWithin([closed], 2000);
    for (const o of await Promise.all(running)) expect(o.ok && o.value.tokens.length).toBe(15);
    for (const o of await Promise.all(waiting)) {
      expect(!o.ok && o.error).toBeInstanceOf(ServerClosedError);
      expect(!o.ok && (o.error as Error).message).toMatch(/closed before the request was admitted/);
    }
    expect(engine.occupiedSlots()).toEqual([]);
    expect(server.stats()).toMatchObject({ closed: true, queueDepth: 0, active: 0, requests: { completed: 2, failed: 3, rejected: 1 } });
    expectBalanced(server);
  });

  it('no drain: running requests reject too, and close resolves once the engine is idle', async () => {
    const { server, engine, running, waiting } = await loaded();
    await settleWithin([server.close({ drain: false })], 2000);
    for (const o of await Promise.all([...running, ...waiting])) expect(!o.ok && o.error).toBeInstanceOf(ServerClosedError);
    expect(engine.occupiedSlots()).toEqual([]);
    expect(server.stats().requests).toMatchObject({ completed: 0, failed: 5 });
    expectBalanced(server);
  });

  it('close on an idle server (or with requests waiting for max_wait) resolves at once; twice is fine', async () => {
    const { server } = setup({ maxWaitMs: 10_000 });
    const w = outcome(server.generate([1], { maxNewTokens: 1 }));
    await settleWithin([server.close(), server.close({ drain: false })], 500);
    const o = await w;
    expect(!o.ok && o.error).toBeInstanceOf(ServerClosedError);
  });
});

describe('device lost', () => {
  it('rejects in-flight and queued requests, marks the server unhealthy, refuses new ones', async () => {
    const { server, engine } = setup({ maxBatch: 2 }, { decodeMs: 3 });
    const all = [1, 2, 3, 4, 5].map((t) => server.generate([t], { maxNewTokens: 50 }));
    await waitFor(() => server.stats().decodeSteps >= 3, 2000, 'decode steps');
    engine.loseDevice('GPU fell off the bus');
    const settled = await settleWithin(all, 1000);
    for (const r of settled) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as DeviceLostError;
      expect(err).toBeInstanceOf(DeviceLostError);
      expect(err.message).toMatch(/GPU device was lost \(GPU fell off the bus\)/);
      expect(err.status).toBe(503);
    }
    expect(server.healthy).toBe(false);
    expect(server.stats()).toMatchObject({ healthy: false, lostReason: 'GPU fell off the bus', queueDepth: 0, active: 0 });
    expect(await rejection(server.generate([1], { maxNewTokens: 1 }))).toBeInstanceOf(DeviceLostError);
    await settleWithin([server.close()], 500);
    expectBalanced(server);
  });

  it('a server on an engine whose device is already lost is unhealthy from the start', async () => {
    const engine = new CpuEngine({ slots: 1, maxSeq: 8 });
    engine.loseDevice('gone');
    const server = createServer(engine, { maxBatch: 1, maxWaitMs: 0, queue: 1, maxSeq: 8, maxPrefillTokens: 8 });
    expect(server.healthy).toBe(false);
    expect(await rejection(server.generate([1], { maxNewTokens: 1 }))).toBeInstanceOf(DeviceLostError);
  });
});

describe('engine failures', () => {
  it('a failed decode rejects that batch only; the loop carries on', async () => {
    const { server, engine } = setup({ maxBatch: 2 }, { decodeMs: 1 });
    const r1 = outcome(server.generate([1], { maxNewTokens: 10 }));
    const r2 = outcome(server.generate([2], { maxNewTokens: 10 }));
    const r3 = outcome(server.generate([3], { maxNewTokens: 10 })); // waits for a slot
    await waitFor(() => server.stats().decodeSteps >= 2, 2000, 'decode steps');
    engine.failNext('decode', new Error('kernel timeout'));
    const [o1, o2] = await Promise.all([r1, r2]);
    for (const o of [o1!, o2!]) {
      expect(!o.ok && o.error).toBeInstanceOf(EngineError);
      expect(!o.ok && (o.error as Error).message).toBe("the engine's decode failed: kernel timeout");
      expect(!o.ok && (o.error as EngineError).status).toBe(500);
    }
    const o3 = await r3;
    expect(o3.ok && o3.value.tokens).toEqual(cpuReference([3], 10, { vocabSize: VOCAB }).tokens);
    expect((await server.generate([4], { maxNewTokens: 3 })).tokens).toHaveLength(3);
    expect(engine.occupiedSlots()).toEqual([]);
    expect(server.stats()).toMatchObject({ healthy: true, requests: { failed: 2, completed: 2 } });
    await server.close();
  });

  it('a failed prefill rejects that request only', async () => {
    const { server, engine } = setup({ maxBatch: 4 });
    engine.failNext('prefill', new Error('out of memory'));
    const [a, b] = await Promise.all([
      outcome(server.generate([1], { maxNewTokens: 4 })),
      outcome(server.generate([2], { maxNewTokens: 4 })),
    ]);
    expect(!a.ok && (a.error as Error).message).toBe("the engine's prefill failed: out of memory");
    expect(b.ok && b.value.tokens).toEqual(cpuReference([2], 4, { vocabSize: VOCAB }).tokens);
    expect(engine.occupiedSlots()).toEqual([]);
    await server.close();
  });

  it('an engine call that fails with EngineLostError counts as device loss', async () => {
    const { server, engine } = setup({}, { decodeMs: 1 });
    const p = outcome(server.generate([1], { maxNewTokens: 10 }));
    await waitFor(() => server.stats().decodeSteps >= 1, 2000, 'decode steps');
    const { EngineLostError } = await import('../../runtime/engine.js');
    engine.failNext('decode', new EngineLostError('reset'));
    const o = await p;
    expect(!o.ok && o.error).toBeInstanceOf(DeviceLostError);
    expect(server.healthy).toBe(false);
  });
});

describe('stats', () => {
  it('reports queue depth, active sequences, tokens/s and busy fraction', async () => {
    const { server } = setup({ maxBatch: 2, queue: 8 }, { decodeMs: 2 });
    const ps = [1, 2, 3, 4, 5].map((t) => server.generate([t], { maxNewTokens: 10 }));
    await waitFor(() => server.stats().decodeSteps >= 1, 2000, 'decode steps');
    const mid = server.stats();
    expect(mid.active).toBe(2);
    expect(mid.queueDepth).toBe(3);
    expectBalanced(server);
    await Promise.all(ps);
    const s = server.stats();
    expect(s.tokens.total).toBe(50);
    expect(s.tokens.perSecond).toBeGreaterThan(0);
    expect(s.tokens.perSecondRecent).toBeGreaterThanOrEqual(s.tokens.perSecond * 0.9);
    expect(s.busyFraction).toBeGreaterThan(0);
    expect(s.busyFraction).toBeLessThanOrEqual(1);
    expect(s.batchHistogram).toHaveLength(3);
    expect(s.prefills).toBe(5);
    expect(s.batchHistogram.reduce((a, b) => a + b, 0)).toBe(s.decodeSteps);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    await server.close();
  });
});
