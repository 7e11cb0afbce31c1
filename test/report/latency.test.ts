/**
 * The report's latency pictures (issue 17, item 4): the rate sweep is the simulation `check`
 * runs (the point at the plan's rate is check's prediction; another point equals a run of
 * `simulate` made here), the knee lies inside the sweep, the charts' points, SLO lines and
 * rate line are the sweep's figures (read back from the SVG), and the time series is bounded
 * without losing the queue's peaks.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import { costStepTimes } from '../../src/latency/cost-times.js';
import { simulate } from '../../src/latency/simulate.js';
import { summarize } from '../../src/latency/summary.js';
import { SERIES_POINTS, SWEEP_FRACTIONS, latencySweep, type LatencySweep } from '../../src/latency/sweep.js';
import { generateRequests } from '../../src/latency/traffic.js';
import type { ServePlan } from '../../src/plan.js';
import { renderReport } from '../../src/report/html.js';
import { logTicks } from '../../src/report/latency.js';

const MEETS = 'examples/llama3-8b-h100-traffic-serve.plan';

function attrsOf(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}
const tags = (html: string, name: string, attr: string) =>
  [...html.matchAll(new RegExp(`<${name}\\b[^>]*\\b${attr}="[^"]*"[^>]*>`, 'g'))].map((m) => attrsOf(m[0]));

describe('the latency sweep', () => {
  const a = analyze([MEETS]);
  const r = a.results[0]!;
  const plan = r.plan as ServePlan;
  const sweep = latencySweep(plan) as LatencySweep;

  it('runs from light load to past saturation, the knee inside, and holds the plan rate', () => {
    expect('unknown' in sweep).toBe(false);
    const sat = sweep.saturation!;
    // The example holds 20 requests/s and check bisects ≈ 21.9 meeting the SLO: saturation lies above both.
    expect(sat).toBeGreaterThan(r.latency!.maxRateMeetingSlo!);
    expect(sweep.points[0]!.rate).toBeCloseTo(SWEEP_FRACTIONS[0] * sat, 9);
    expect(sweep.points.at(-1)!.rate).toBeCloseTo(SWEEP_FRACTIONS.at(-1)! * sat, 9);
    expect(sweep.points.map((p) => p.rate)).toContain(plan.traffic!.rate);
    const rates = sweep.points.map((p) => p.rate);
    expect(rates).toEqual([...rates].sort((x, y) => x - y));
    // The knee: p99 TTFT grows more than tenfold from 10% to 120% of saturation, past it the server serves no more than saturation.
    expect(sweep.points.at(-1)!.ttft.p99 / sweep.points[0]!.ttft.p99).toBeGreaterThan(10);
    expect(sweep.points.at(-1)!.throughput).toBeLessThan(sat * 1.02);
    expect(sweep.note).toBeUndefined();
  });

  it("the point at the plan's rate is check's prediction", () => {
    const at = sweep.points.find((p) => p.rate === plan.traffic!.rate)!;
    const l = r.latency!;
    expect({ ttft: at.ttft, tpot: at.tpot, e2e: at.e2e, throughput: at.throughput, rejected: at.rejected }).toEqual({
      ttft: l.ttft,
      tpot: l.tpot,
      e2e: l.e2e,
      throughput: l.throughput,
      rejected: l.rejected,
    });
  });

  it('a point past the knee equals a run of the simulation made here', () => {
    const p = sweep.points.find((x) => x.rate > plan.traffic!.rate * 1.1)!;
    const t = plan.traffic!;
    const reqs = generateRequests({ ...t, rate: 1, requests: Math.min(t.requests, 5000) }).map((q) => {
      const prompt = Math.min(q.prompt, plan.batch.seq - 1);
      return { at: q.at / p.rate, prompt, output: Math.max(1, Math.min(q.output, plan.batch.seq - prompt)) };
    });
    const times = costStepTimes(plan);
    if ('unknown' in times) throw new Error(times.unknown);
    const run = simulate(reqs, {
      policy: {
        maxBatch: plan.batch.maxBatch,
        maxWaitMs: plan.batch.maxWaitMs,
        queue: plan.batch.queue,
        maxPrefillTokens: plan.batch.maxPrefillTokens,
      },
      replicas: 1,
      times,
    });
    const s = summarize(run, p.rate);
    expect([p.ttft, p.tpot, p.e2e, p.throughput]).toEqual([s.ttft, s.tpot, s.e2e, s.throughput]);
  });

  it('the time series is bounded, covers every engine call and keeps the deepest queue', () => {
    expect(sweep.series.length).toBeGreaterThan(SERIES_POINTS / 4);
    expect(sweep.series.length).toBeLessThanOrEqual(SERIES_POINTS);
    const t = plan.traffic!;
    const times = costStepTimes(plan);
    if ('unknown' in times) throw new Error(times.unknown);
    const reqs = generateRequests({ ...t, requests: Math.min(t.requests, 5000) }).map((q) => ({ ...q, prompt: Math.min(q.prompt, 4095) }));
    const opts = {
      policy: { maxBatch: 32, maxWaitMs: plan.batch.maxWaitMs, queue: plan.batch.queue, maxPrefillTokens: plan.batch.maxPrefillTokens },
      replicas: 1,
      times,
    };
    const full = simulate(reqs, { ...opts, seriesPoints: Number.MAX_SAFE_INTEGER }).series!;
    const small = simulate(reqs, { ...opts, seriesPoints: 100 });
    // Unmerged: one point per engine call; the decode steps' batches average to the run's mean batch.
    expect(full.length).toBe(small.events);
    const decodes = full.filter((p) => p.batch > 0);
    expect(decodes.length).toBe(small.decodeSteps);
    expect(decodes.reduce((s, p) => s + p.batch, 0)).toBe(small.decodeSequences);
    const s = small.series!;
    expect(s.length).toBeLessThanOrEqual(100);
    expect(s.reduce((x, p) => x + p.calls, 0)).toBe(small.events);
    // Each point is its calls' first time, deepest queue and mean decode batch.
    let at = 0;
    for (const p of s) {
      const part = full.slice(at, at + p.calls);
      at += p.calls;
      const dec = part.filter((x) => x.batch > 0);
      expect(p.t).toBe(part[0]!.t);
      expect(p.queue).toBe(Math.max(...part.map((x) => x.queue)));
      expect(p.batch).toBeCloseTo(dec.length > 0 ? dec.reduce((x, y) => x + y.batch, 0) / dec.length : 0, 9);
    }
    expect(s.map((p) => p.t)).toEqual(s.map((p) => p.t).sort((x, y) => x - y));
  });
});

describe('the latency charts in the report', () => {
  const a = analyze([MEETS]);
  const compiled = a.results.map((r) => compilePlan(r.plan, r.memory));
  const html = renderReport({ analysis: a, compiled });
  const plan = a.results[0]!.plan as ServePlan;
  const sweep = latencySweep(plan) as LatencySweep;

  it('every point drawn is a sweep figure, p50 and p99 of TTFT, TPOT and E2E at every rate', () => {
    const pts = tags(html, 'circle', 'data-metric');
    expect(pts.length).toBe(sweep.points.length * 3 * 2);
    for (const m of ['ttft', 'tpot', 'e2e'] as const)
      for (const q of ['p50', 'p99'] as const) {
        const drawn = pts
          .filter((p) => p['data-metric'] === m && p['data-q'] === q)
          .map((p) => [Number(p['data-rate']), Number(p['data-value'])]);
        expect(drawn).toEqual(sweep.points.map((p) => [p.rate, p[m][q]]));
      }
    // Higher latency is drawn higher (smaller y) on each chart.
    const ttft99 = pts.filter((p) => p['data-metric'] === 'ttft' && p['data-q'] === 'p99');
    expect(Number(ttft99.at(-1)!.cy)).toBeLessThan(Number(ttft99[0]!.cy));
  });

  it("the SLO's targets are horizontal lines on their metric's chart, the plan's rate a vertical line on each", () => {
    const slo = tags(html, 'line', 'data-slo');
    expect(slo.map((l) => [l['data-slo'], Number(l['data-target'])])).toEqual([
      ['ttft_p99', 0.5],
      ['tpot_p99', 0.05],
    ]);
    for (const l of slo) expect(l.y1).toBe(l.y2);
    const rate = tags(html, 'line', 'data-rate');
    expect(rate.length).toBe(3);
    for (const l of rate) {
      expect(Number(l['data-rate'])).toBe(20);
      expect(l.x1).toBe(l.x2);
    }
    expect(html).toMatch(
      /<svg[^>]*role="img"[^>]*aria-label="time to first token \(p50 and p99\) against the arrival rate, with the objective ttft_p99 500 ms"/,
    );
  });

  it('the queue and batch charts draw the series, and the table lists every rate', () => {
    const series = tags(html, 'polyline', 'data-series');
    expect(series.map((s) => s['data-series'])).toEqual(['queue', 'batch']);
    expect(series[0]!['data-values']!.split(' ').map(Number)).toEqual(sweep.series.map((p) => p.queue));
    expect(series[1]!['data-values']!.split(' ').map(Number)).toEqual(sweep.series.map((p) => p.batch));
    const rows = tags(html, 'tr', 'data-rate').map((t) => Number(t['data-rate']));
    expect(rows).toEqual(sweep.points.map((p) => p.rate));
  });

  it('a plan without traffic has no latency section', () => {
    const b = analyze(['examples/gpt2-t4-serve.plan']);
    const h = renderReport({ analysis: b, compiled: b.results.map((r) => compilePlan(r.plan, r.memory)) });
    expect(h).not.toContain('Latency under load');
  });

  it('log ticks are 1, 2, 5 × 10^k within the range', () => {
    expect(logTicks(0.004, 0.3)).toEqual([0.005, 0.01, 0.02, 0.05, 0.1, 0.2]);
  });
});
