/**
 * The serving timeline (runtime/serving/timeline.ts), what bench/latency-validate.ts --timeline
 * attributes the latency gap with: checked against the CPU engine's own log of calls (kind,
 * batch, order, timing with a set latency) and the requests' own timings, and absent unless asked.
 */
import { describe, expect, it } from 'vitest';
import { createTimeline, promptKey } from '../../runtime/serving/timeline.js';
import { prompt, rng, setup } from './helpers.js';

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
});
