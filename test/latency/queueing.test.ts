/**
 * The latency simulation (src/latency/) against hand-computed queueing cases: M/D/1, arrivals
 * below capacity, a hand-traced batch timeline with max_wait, the queue limit under overload,
 * and determinism.
 */
import { describe, expect, it } from 'vitest';
import { simulate, type StepTimes } from '../../src/latency/simulate.js';
import { summarize } from '../../src/latency/summary.js';
import { generateRequests, lognormalFit, type TrafficRequest } from '../../src/latency/traffic.js';
import type { SchedulerPolicy } from '../../src/serving/scheduler.js';

const policy = (p: Partial<SchedulerPolicy> = {}): SchedulerPolicy => ({
  maxBatch: 1,
  maxWaitMs: 0,
  queue: 1_000_000,
  maxPrefillTokens: 1 << 20,
  ...p,
});
const constant = (prefill: number, decode: (b: number) => number = () => 0): StepTimes => ({ prefill: () => prefill, decode });
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('M/D/1: one slot, constant service time, Poisson arrivals', () => {
  // A request of one output token is served by its prefill alone: service S, deterministic.
  const S = 0.01;
  for (const rho of [0.5, 0.8]) {
    it(`mean wait is ρS/(2(1−ρ)) at ρ = ${rho}`, () => {
      const n = 200_000;
      const reqs = generateRequests({
        rate: rho / S,
        process: 'poisson',
        burst: 1,
        prompt: { kind: 'fixed', value: 16 },
        output: { kind: 'fixed', value: 1 },
        seed: 7,
        requests: n,
      });
      const run = simulate(reqs, { policy: policy(), replicas: 1, times: constant(S) });
      const waits = run.requests.map((r) => r.admitted - r.at);
      const expected = (rho * S) / (2 * (1 - rho));
      // Tolerance from the run length: the batch-means standard error of 200 000 requests is
      // about 1% at ρ = 0.5 and 3% at ρ = 0.8 (waits are correlated over a busy period); 3 and 8% here.
      expect(Math.abs(mean(waits) - expected) / expected).toBeLessThan(rho === 0.5 ? 0.03 : 0.08);
      // Utilization is ρ.
      expect(run.busy / run.span).toBeCloseTo(rho, 2);
    });
  }
});

describe("the server's host time per loop turn (StepTimes.host)", () => {
  it('the hand-traced timeline: host time delays the next call, not the tokens of the last', () => {
    // Prefill 10 ms, decode 5 ms, host 1 ms per turn. A (output 3) at 0: turn 1 prefills it (first
    // token at 10) and decodes (15), host → 16. B (output 3) arrives at 12, during turn 1's decode:
    // admitted at 16 (turn 2), first token 26, decoded with A at 31 (A done: without B it would be 21),
    // host → 32; turn 3 decodes B alone: 37.
    const reqs: TrafficRequest[] = [
      { at: 0, prompt: 4, output: 3 },
      { at: 0.012, prompt: 4, output: 3 },
    ];
    const times: StepTimes = { prefill: () => 0.01, decode: () => 0.005, host: () => 0.001 };
    const run = simulate(reqs, { policy: policy({ maxBatch: 2 }), replicas: 1, times });
    const [a, b] = run.requests;
    expect(a!.firstToken).toBeCloseTo(0.01, 12);
    expect(b!.admitted).toBeCloseTo(0.016, 12);
    expect(b!.firstToken).toBeCloseTo(0.026, 12);
    expect(a!.done).toBeCloseTo(0.031, 12);
    expect(b!.done).toBeCloseTo(0.037, 12);
    // Engine time only: 2 prefills and 3 decode steps.
    expect(run.busy).toBeCloseTo(0.035, 12);
  });

  it('M/D/1 with host time: the service time is S + h (mean wait ρ(S+h)/(2(1−ρ)), ρ = λ(S+h))', () => {
    const S = 0.008;
    const h = 0.002;
    const rho = 0.6;
    const reqs = generateRequests({
      rate: rho / (S + h),
      process: 'poisson',
      burst: 1,
      prompt: { kind: 'fixed', value: 16 },
      output: { kind: 'fixed', value: 1 },
      seed: 7,
      requests: 200_000,
    });
    const run = simulate(reqs, { policy: policy(), replicas: 1, times: { ...constant(S), host: () => h } });
    const waits = run.requests.map((r) => r.admitted - r.at);
    const expected = (rho * (S + h)) / (2 * (1 - rho));
    expect(Math.abs(mean(waits) - expected) / expected).toBeLessThan(0.04);
    // The engine is busy S of every S + h.
    expect(run.busy / run.span).toBeCloseTo((rho * S) / (S + h), 2);
  });
});

describe('deterministic arrivals', () => {
  it('below capacity nobody waits', () => {
    const reqs: TrafficRequest[] = Array.from({ length: 100 }, (_, i) => ({ at: i * 0.02, prompt: 8, output: 1 }));
    const run = simulate(reqs, { policy: policy(), replicas: 1, times: constant(0.01) });
    for (const r of run.requests) {
      expect(r.admitted - r.at).toBeCloseTo(0, 12);
      expect(r.firstToken - r.at).toBeCloseTo(0.01, 12);
    }
    const s = summarize(run, 50);
    expect(s.queue.mean).toBe(0);
    expect(s.rejected).toBe(0);
  });

  it('batch formation with max_wait: the hand-traced timeline', () => {
    // max_batch 4, max_wait 10 ms; arrivals at 0, 2, 4 ms; prefill 1 ms each; decode (1 + b) ms; 3 tokens each.
    // The idle server waits for the oldest request's max_wait (10 ms: 3 < 4 free slots), admits all
    // three, prefills them one after another (first tokens at 11, 12, 13 ms), then decodes the batch of
    // 3 twice (4 ms each): every request ends at 21 ms.
    const reqs: TrafficRequest[] = [0, 0.002, 0.004].map((at) => ({ at, prompt: 4, output: 3 }));
    const run = simulate(reqs, {
      policy: policy({ maxBatch: 4, maxWaitMs: 10 }),
      replicas: 1,
      times: constant(0.001, (b) => 0.001 * (1 + b)),
    });
    expect(run.requests.map((r) => r.admitted)).toEqual([0.01, 0.01, 0.01]);
    expect(run.requests.map((r) => r.firstToken)).toEqual([0.011, 0.012, 0.013].map((x) => expect.closeTo(x, 12)));
    expect(run.requests.map((r) => r.done)).toEqual([0.021, 0.021, 0.021].map((x) => expect.closeTo(x, 12)));
    expect(run.decodeSteps).toBe(2);
    expect(run.decodeSequences).toBe(6);
  });

  it('a full batch does not wait for max_wait', () => {
    const reqs: TrafficRequest[] = [0, 0.001].map((at) => ({ at, prompt: 4, output: 1 }));
    const run = simulate(reqs, { policy: policy({ maxBatch: 2, maxWaitMs: 50 }), replicas: 1, times: constant(0.001) });
    // Both slots can be filled at 1 ms: no wait for the 50 ms.
    expect(run.requests.map((r) => r.admitted)).toEqual([0.001, 0.001]);
  });

  it('the prefill budget spreads prompts over steps', () => {
    // Budget 8: of two 8-token prompts only the first is prefilled before the decode step.
    const reqs: TrafficRequest[] = [0, 0].map((at) => ({ at, prompt: 8, output: 2 }));
    const run = simulate(reqs, { policy: policy({ maxBatch: 2, maxPrefillTokens: 8 }), replicas: 1, times: constant(0.001, () => 0.002) });
    expect(run.requests.map((r) => r.admitted)).toEqual([0, 0.003].map((x) => expect.closeTo(x, 12)));
  });

  it('queue limit: under 10× overload about 90% are refused', () => {
    // Service 10 ms, one arrival per ms, queue 2: the server takes one request per 10 ms.
    const reqs: TrafficRequest[] = Array.from({ length: 2000 }, (_, i) => ({ at: i * 0.001, prompt: 8, output: 1 }));
    const s = summarize(simulate(reqs, { policy: policy({ queue: 2 }), replicas: 1, times: constant(0.01) }), 1000);
    expect(s.rejected).toBeGreaterThan(0.89);
    expect(s.rejected).toBeLessThan(0.91);
    expect(s.queue.p99).toBeLessThanOrEqual(2);
  });
});

describe('replicas', () => {
  it('prefill on two replicas at once: the call lasts one prompt, not two', () => {
    const reqs: TrafficRequest[] = [0, 0].map((at) => ({ at, prompt: 8, output: 1 }));
    const run = simulate(reqs, { policy: policy({ maxBatch: 2 }), replicas: 2, times: constant(0.005) });
    expect(run.requests.map((r) => r.firstToken)).toEqual([0.005, 0.005]);
  });
});

describe('determinism and traffic', () => {
  const spec = {
    rate: 80,
    process: 'poisson' as const,
    burst: 1,
    prompt: { kind: 'lognormal' as const, mean: 200, p99: 1000 },
    output: { kind: 'uniform' as const, min: 10, max: 50 },
    requests: 2000,
  };
  const times = constant(0.002, (b) => 0.005 + 0.0005 * b);
  const run = (seed: number) =>
    summarize(simulate(generateRequests({ ...spec, seed }), { policy: policy({ maxBatch: 8, maxWaitMs: 2 }), replicas: 1, times }), 80);

  it('same seed, same result; another seed, another', () => {
    expect(run(1)).toEqual(run(1));
    expect(run(2).e2e.p99).not.toBe(run(1).e2e.p99);
  });

  it('lognormal lengths have the asked mean and p99', () => {
    const xs = generateRequests({ ...spec, requests: 100_000, seed: 3 })
      .map((r) => r.prompt)
      .sort((a, b) => a - b);
    expect(mean(xs) / 200).toBeCloseTo(1, 1);
    expect(xs[Math.ceil(0.99 * xs.length) - 1]! / 1000).toBeCloseTo(1, 1);
    expect(lognormalFit(100, 2000)).toBeUndefined();
  });

  it('burst arrivals: groups share an arrival time, the mean rate stays', () => {
    const reqs = generateRequests({ ...spec, process: 'burst', burst: 4, requests: 40_000, seed: 5 });
    expect(reqs[0]!.at).toBe(reqs[3]!.at);
    expect(reqs[4]!.at).toBeGreaterThan(reqs[3]!.at);
    expect(reqs.length / reqs[reqs.length - 1]!.at).toBeCloseTo(80, -1);
  });
});
