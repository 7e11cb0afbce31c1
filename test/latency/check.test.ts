/**
 * `parplan check` on plans with traffic: the latency block, the SLO verdict and its help, the
 * bisected highest rate, the JSON fields, and the bounds on a huge load.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { predictLatency } from '../../src/latency/check.js';
import type { ServePlan } from '../../src/plan.js';
import { renderJson } from '../../src/render/json.js';
import { renderText } from '../../src/render/text.js';

const MEETS = 'examples/llama3-8b-h100-traffic-serve.plan';
const MISSES = 'examples/misfit/llama3-8b-h100-slo.plan';

describe('check with traffic', () => {
  const ok = analyze([MEETS]);
  const miss = analyze([MISSES]);

  it('a plan that meets its SLO: no error, the latency block in text and JSON', () => {
    expect(ok.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const l = ok.results[0]!.latency!;
    expect(l.slo.map((s) => [s.metric, s.ok])).toEqual([
      ['ttft_p99', true],
      ['tpot_p99', true],
      ['max_rejected', true],
    ]);
    // Below saturation the server serves what arrives.
    expect(l.throughput / l.rate).toBeGreaterThan(0.9);
    expect(l.throughput / l.rate).toBeLessThan(1.1);
    expect(l.maxRateMeetingSlo!).toBeGreaterThanOrEqual(l.rate);
    const json = JSON.parse(renderJson(ok)) as { plans: { latency: Record<string, unknown> }[] };
    expect(Object.keys(json.plans[0]!.latency)).toEqual([
      'rate',
      'throughput',
      'utilization',
      'meanBatch',
      'queue',
      'rejected',
      'ttft',
      'tpot',
      'e2e',
      'requests',
      'maxRateMeetingSlo',
      'stepTimes',
      'slo',
    ]);
    expect(l.stepTimes).toEqual({ source: 'cost model' });
    expect(renderText(ok, { color: false })).toMatch(/latency at 20 requests\/s .*\n.*TTFT p50 .*\n.*slo: ttft_p99 500 ms ok/);
  });

  it('a plan that misses it: PP4010 at the objective, with help naming a change that meets it', () => {
    const errors = miss.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map((d) => d.code)).toEqual(['PP4010']);
    expect(errors[0]!.message).toMatch(/misses ttft_p99 = 500 ms: predicted [\d.]+ s at 40 requests\/s/);
    expect(errors[0]!.help).toMatch(/these meet every objective at 40 requests\/s: data = \d+/);
    // The help's change does meet it, through the same prediction.
    const plan = miss.results[0]!.plan as ServePlan;
    const data = Number(/data = (\d+)/.exec(errors[0]!.help!)![1]);
    const fixed = predictLatency({ ...plan, mesh: { ...plan.mesh, data } });
    expect(fixed.diagnostics.filter((d) => d.code === 'PP4010')).toEqual([]);
  });

  it('the highest rate meeting the SLO is the edge: just above it, the same plan misses', () => {
    const plan = ok.results[0]!.plan as ServePlan;
    const max = ok.results[0]!.latency!.maxRateMeetingSlo!;
    const at = (rate: number) => predictLatency({ ...plan, traffic: { ...plan.traffic!, rate } });
    expect(at(max).diagnostics.filter((d) => d.code === 'PP4010')).toEqual([]);
    expect(at(max * 1.1).diagnostics.some((d) => d.code === 'PP4010')).toBe(true);
  });

  it('a plan without traffic has no latency field and runs no simulation', () => {
    const a = analyze(['examples/llama2-7b-a10g-serve.plan']);
    expect(a.results[0]!.latency).toBeUndefined();
    expect(JSON.parse(renderJson(a)).plans[0]).not.toHaveProperty('latency');
  });

  it('huge request counts are capped, with a note', () => {
    const plan = ok.results[0]!.plan as ServePlan;
    const r = predictLatency({ ...plan, traffic: { ...plan.traffic!, requests: 1_000_000 } });
    expect(r.diagnostics.map((d) => d.code)).toContain('PP4011');
    expect(r.latency!.requests).toBeLessThan(1_000_000);
  });
});

describe('a request trace', () => {
  const a = analyze(['test/cases/traffic/trace.plan']);
  const p = a.results.find((r) => r.plan.name === 'p')!;
  const plan = p.plan as ServePlan;

  it('drives the prediction with its own arrivals and lengths', () => {
    expect(plan.traffic!.trace!.length).toBe(200);
    expect(p.latency!.requests).toBe(200);
    // The trace's own rate: 199 gaps over its span (about 5 requests/s as generated).
    expect(p.latency!.rate).toBeGreaterThan(4);
    expect(p.latency!.rate).toBeLessThan(6.5);
    expect(plan.traffic!.trace![0]).toEqual({ at: 0, prompt: 114, output: 37 });
  });

  it('rate scales the trace: twice the rate, the same requests in half the time', () => {
    const at = (rate: number) => predictLatency({ ...plan, traffic: { ...plan.traffic!, rate } }).latency!;
    const slow = at(p.latency!.rate);
    const fast = at(p.latency!.rate * 20);
    expect(slow.throughput).toBeCloseTo(p.latency!.throughput, 6);
    expect(fast.throughput).toBeGreaterThan(slow.throughput * 5);
    expect(fast.queue.mean).toBeGreaterThan(slow.queue.mean);
  });
});
