/**
 * The serving timeline (runtime/serving/timeline.ts), what bench/latency-validate.ts --timeline
 * attributes the latency gap with: checked against the CPU engine's own log of calls (kind,
 * batch, order, timing with a set latency) and the requests' own timings, and absent unless asked.
 */
import { describe, expect, it } from 'vitest';
import { startHttpServer } from '../../runtime/serving/http.js';
import { createTimeline, promptKey } from '../../runtime/serving/timeline.js';
import { loadPrompt, runLoad } from '../../src/latency/load-client.js';
import { prompt, rng, setup } from './helpers.js';
import { testCodec } from './text-codec.js';

describe('serving timeline', () => {
  it('records every engine call, loop run and request as the engine and the requests saw them', async () => {
    const timeline = createTimeline();
    const { engine, server } = setup({ maxBatch: 4 }, { prefillMs: 4, decodeMs: 3 }, { timeline });
    const r = rng(5);
    const prompts = Array.from({ length: 6 }, (_, i) => prompt(r, 3 + i));
    const results = await Promise.all(prompts.map((p, i) => server.generate(p, { maxNewTokens: 2 + (i % 3) })));
    await server.close(); // the loop's last run ends (and is recorded) after the last result

    // The same calls, in order, as the engine logged them: kind and batch (prefill: one call per prompt here).
    expect(timeline.calls.map((c) => [c.kind, c.kind === 'prefill' ? c.tokens : c.batch])).toEqual(
      engine.calls.map((c) => [c.kind, c.size]),
    );
    const stats = server.stats();
    expect(timeline.calls.filter((c) => c.kind === 'decode')).toHaveLength(stats.decodeSteps);
    // Each call lasts at least the engine's set latency, and calls never overlap.
    for (const [i, c] of timeline.calls.entries()) {
      expect(c.end - c.start).toBeGreaterThanOrEqual((c.kind === 'prefill' ? 4 : 3) - 1);
      if (i > 0) expect(c.start).toBeGreaterThanOrEqual(timeline.calls[i - 1]!.end);
    }
    // Decode tokens are Σ context (position + 1) over the batch.
    const first = timeline.calls.find((c) => c.kind === 'decode')!;
    expect(first.tokens).toBeGreaterThanOrEqual(first.batch * 4);
    // Every call lies inside a loop run; turns count the turns that made calls.
    for (const c of timeline.calls) expect(timeline.loops.some((l) => c.start >= l.start && c.end <= l.end)).toBe(true);
    const turns = timeline.loops.reduce((n, l) => n + l.turns, 0);
    expect(turns).toBeGreaterThanOrEqual(stats.decodeSteps);
    expect(turns).toBeLessThanOrEqual(timeline.calls.length);
    // One record per request, keyed by its prompt, its times those of its own result.
    expect(timeline.requests.map((q) => q.key).sort()).toEqual(prompts.map(promptKey).sort());
    for (const [i, p] of prompts.entries()) {
      const q = timeline.requests.find((x) => x.key === promptKey(p))!;
      const t = results[i]!.timing;
      expect(q.admitted - q.submitted).toBeCloseTo(t.queuedMs, 6);
      expect(q.firstToken - q.submitted).toBeCloseTo(t.firstTokenMs, 6);
      expect(q.done - q.submitted).toBeGreaterThanOrEqual(t.totalMs - 1e-6);
      expect(q.done - q.submitted).toBeLessThan(t.totalMs + 1);
    }
  });

  it('records nothing unless asked for', async () => {
    const timeline = createTimeline();
    const { server } = setup({ maxBatch: 2 }, {});
    await server.generate([1, 2, 3], { maxNewTokens: 3 });
    await server.close();
    expect(timeline).toEqual({ origin: timeline.origin, calls: [], loops: [], requests: [], http: [] });
  });

  it("records each streamed completion at the front, joined to the server's record and the client's by prompt", async () => {
    const timeline = createTimeline();
    const { codec, vocabSize } = testCodec();
    const { server } = setup({ maxBatch: 2, maxSeq: 64 }, { vocabSize, decodeMs: 2 }, { vocabSize, timeline });
    const http = await startHttpServer(server, { port: 0, codec, timeline });
    const requests = Array.from({ length: 5 }, (_, i) => ({ at: i * 0.01, prompt: 4, output: 3 }));
    const load = await runLoad({ url: http.url, requests, maxInFlight: 8 });
    await http.close();
    await server.close();
    expect(load.completed).toBe(5);
    expect(timeline.http).toHaveLength(5);
    for (const [i, c] of load.log.entries()) {
      const key = promptKey(loadPrompt(i, 4));
      const h = timeline.http.find((x) => x.key === key)!;
      const q = timeline.requests.find((x) => x.key === key)!;
      // In order: arrival at the front, parsed, submitted to the server, first token, its event written, the end.
      expect(h.arrived).toBeLessThanOrEqual(h.parsed);
      expect(h.parsed).toBeLessThanOrEqual(q.submitted);
      expect(q.firstToken).toBeLessThanOrEqual(h.firstWrite);
      expect(h.firstWrite).toBeLessThanOrEqual(h.end);
      // The same moments on the client's clock (time 0 = startedAt): sent before the front saw it, first event read after it was written.
      const clientMs = (t: number) => timeline.origin + t - load.startedAt!;
      expect(c.sent * 1000).toBeLessThanOrEqual(clientMs(h.arrived) + 1);
      expect(c.firstToken * 1000).toBeGreaterThanOrEqual(clientMs(h.firstWrite) - 1);
    }
  });
});
