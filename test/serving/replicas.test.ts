/**
 * Prefill on data-parallel replicas at the same time: with an engine that has
 * `prefillMany` and `replicaOf` (the CPU engine with `replicas`), a step's admitted
 * prompts go to the engine in one call, spread over replicas, and prefills of different
 * replicas are in flight together while one replica's never are; each request gets its
 * own first token or error; cancellation, deadlines, device loss and close behave as on
 * the one-at-a-time path. Overlap is read from the engine's log (which entries were in
 * flight when each started), never from durations.
 */
import { describe, expect, it } from 'vitest';
import { cpuReference, type CpuEngineCall } from '../../runtime/testing/cpu-engine.js';
import { place } from '../../runtime/serving/placement.js';
import { AbortError, DeadlineError, DeviceLostError, EngineError, ServerClosedError } from '../../runtime/serving/errors.js';
import type { GenerateResult } from '../../runtime/serving/server.js';
import { VOCAB, outcome, prompt, randInt, rejection, rng, settleWithin, setup, sleep, waitFor } from './helpers.js';

const byHalf = (slot: number) => Math.floor(slot / 2); // 4 slots, 2 replicas
const prefillsOf = (calls: readonly CpuEngineCall[]) => calls.filter((c) => c.kind === 'prefill');
const ref = (p: number[], n: number) => cpuReference(p, n, { vocabSize: VOCAB }).tokens;

describe('place: FIFO admission into slots', () => {
  it('one replica: free slots in order, one shared budget, stops at the first prompt that does not fit', () => {
    const one = { free: [1, 2, 3], replicaOf: () => 0, load: new Map([[0, 1]]), budget: 10 };
    expect(place([4, 6, 1], one)).toEqual([1, 2]); // 4 + 6 = 10 fit; the 1 would go over the budget
    expect(place([30, 1], one)).toEqual([1]); // a prompt over the budget goes alone
    expect(place([2, 2, 2, 2], one)).toEqual([1, 2, 3]); // no more than the free slots
  });

  it('two replicas: the least loaded replica first, a budget per replica, no overtaking', () => {
    const two = { free: [0, 1, 2, 3], replicaOf: byHalf, load: new Map<number, number>(), budget: 10 };
    expect(place([1, 1, 1, 1], two)).toEqual([0, 2, 1, 3]);
    expect(place([30, 30, 1], two)).toEqual([0, 2]); // each replica takes one long prompt; the 1 waits behind them
    expect(place([8, 8, 2, 2], two)).toEqual([0, 2, 1, 3]);
    expect(place([1, 1], { ...two, free: [1, 2, 3], load: new Map([[0, 1]]) })).toEqual([2, 1]);
  });
});

describe('server on an engine with replicas', () => {
  it('prefills of different replicas are in flight together, one replica’s never; tokens are exact', async () => {
    const { engine, server } = setup({ maxBatch: 4, maxWaitMs: 0, maxPrefillTokens: 16 }, { replicas: 2, prefillMs: 5, decodeMs: 1 });
    const prompts = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10]];
    const n = [1, 4, 4, 4]; // the first finishes at its prefill, while the others still run
    const results = await Promise.all(prompts.map((p, i) => server.generate(p, { maxNewTokens: n[i]! })));
    results.forEach((r, i) => expect(r.tokens, `request ${i}`).toEqual(ref(prompts[i]!, n[i]!)));
    const prefills = prefillsOf(engine.calls);
    expect(prefills.map((c) => c.slots[0])).toEqual([0, 2, 1, 3]); // spread over the replicas, FIFO
    expect(prefills.some((c) => c.alongside!.some((s) => byHalf(s) !== c.replica))).toBe(true);
    for (const c of prefills)
      expect(
        c.alongside!.filter((s) => byHalf(s) === c.replica),
        `slot ${c.slots[0]}`,
      ).toEqual([]);
    // Each request's first token came when its own prefill ended: the second on a replica after the first.
    expect(results[0]!.timing.firstTokenMs).toBeLessThan(results[2]!.timing.firstTokenMs);
    expect(server.stats().prefills).toBe(4);
    await server.close();
    expect(engine.occupiedSlots()).toEqual([]);
    expect(engine.violations).toEqual([]); // no slot was released under the call
  });

  it('a failing prompt rejects only its own request', async () => {
    const { engine, server } = setup({ maxBatch: 4 }, { replicas: 2, prefillMs: 2, fail: (c) => c.kind === 'prefill' && c.size === 2 });
    const [a, b, c] = [[1, 2, 3], [4, 5], [6]].map((p) => server.generate(p, { maxNewTokens: 3 }));
    const failed = await rejection(b!);
    expect((await a!).tokens).toEqual(ref([1, 2, 3], 3));
    expect((await c!).tokens).toEqual(ref([6], 3));
    expect(failed).toBeInstanceOf(EngineError);
    expect((failed as EngineError).call).toBe('prefill');
    expect(server.stats().requests).toMatchObject({ completed: 2, failed: 1 });
    await server.close();
    expect(engine.occupiedSlots()).toEqual([]);
  });

  it('cancellation and a deadline during the prefill reject at once; the slots are released after the call', async () => {
    const { engine, server } = setup({ maxBatch: 4 }, { replicas: 2, prefillMs: 40 });
    const ac = new AbortController();
    const cancelled = outcome(server.generate([1, 2], { maxNewTokens: 3, signal: ac.signal }));
    const late = outcome(server.generate([3, 4], { maxNewTokens: 3, deadlineMs: 10 }));
    const kept = server.generate([5, 6], { maxNewTokens: 3 });
    await waitFor(() => prefillsOf(engine.calls).length === 2, 1000, 'two prefills in flight');
    ac.abort();
    const t = await cancelled;
    expect(t.ok ? undefined : t.error).toBeInstanceOf(AbortError);
    const d = await late;
    expect(d.ok ? undefined : d.error).toBeInstanceOf(DeadlineError);
    expect((d as { error: DeadlineError }).error.stage).toBe('running');
    expect(prefillsOf(engine.calls).length).toBeLessThan(3); // the third (same replica as the first) has not started
    expect((await kept).tokens).toEqual(ref([5, 6], 3));
    await server.close();
    expect(engine.occupiedSlots()).toEqual([]);
    expect(server.stats().requests).toMatchObject({ completed: 1, cancelled: 1, deadline: 1 });
  });

  it('device loss during the prefills fails every request with DeviceLostError; close resolves', async () => {
    const { engine, server } = setup({ maxBatch: 4, queue: 8 }, { replicas: 2, prefillMs: 30 });
    const all = [[1], [2], [3], [4], [5]].map((p) => server.generate(p, { maxNewTokens: 2 }));
    await waitFor(() => prefillsOf(engine.calls).length === 2, 1000, 'prefills in flight');
    engine.loseDevice('test');
    const settled = await settleWithin(all, 1000);
    for (const s of settled) expect(s.status === 'rejected' ? s.reason : s.value).toBeInstanceOf(DeviceLostError);
    await settleWithin([server.close()], 1000);
    expect(server.healthy).toBe(false);
  });

  it('close without drain during the prefills rejects them all and resolves once the call has ended', async () => {
    const { engine, server } = setup({ maxBatch: 4 }, { replicas: 2, prefillMs: 20 });
    const all = [[1], [2], [3]].map((p) => server.generate(p, { maxNewTokens: 5 }));
    await waitFor(() => prefillsOf(engine.calls).length === 2, 1000, 'prefills in flight');
    const closed = server.close({ drain: false });
    for (const p of all) expect(await rejection(p)).toBeInstanceOf(ServerClosedError);
    await settleWithin([closed], 1000);
    expect(engine.occupiedSlots()).toEqual([]);
    // The engine contract held: no call started while the prefills ran.
    expect(engine.calls.filter((c) => c.kind === 'decode')).toEqual([]);
  });

  for (const seed of [4, 5]) {
    it(`staggered requests of mixed lengths get their own sequential tokens (seed ${seed})`, async () => {
      const r = rng(seed);
      const { engine, server } = setup(
        { maxBatch: 8, maxWaitMs: 2, maxSeq: 64, maxPrefillTokens: 24 },
        { replicas: 2, prefillMs: 1, decodeMs: 1 },
      );
      const jobs: { prompt: number[]; n: number; result: Promise<GenerateResult> }[] = [];
      for (let i = 0; i < 40; i++) {
        const p = prompt(r, randInt(r, 1, 20));
        const n = randInt(r, 1, 30);
        jobs.push({ prompt: p, n, result: server.generate(p, { maxNewTokens: n }) });
        if (r() < 0.5) await sleep(randInt(r, 0, 6));
      }
      const results = await Promise.all(jobs.map((j) => j.result));
      results.forEach((res, i) => expect({ i, tokens: res.tokens }).toEqual({ i, tokens: ref(jobs[i]!.prompt, jobs[i]!.n) }));
      const s = server.stats();
      expect(s.prefills).toBe(40);
      expect(s.busyFraction).toBeLessThanOrEqual(1);
      expect(prefillsOf(engine.calls).some((c) => c.alongside!.length > 0)).toBe(true);
      expect(engine.occupiedSlots()).toEqual([]);
      expect(engine.violations).toEqual([]);
      await server.close();
    });
  }
});
