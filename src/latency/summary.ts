/** The figures `parplan check` reports for a simulated run (seconds, requests per second). */
import type { SimulationResult } from './simulate.js';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

export interface LatencySummary {
  /** Offered arrival rate, requests/s. */
  rate: number;
  /** Completed requests per second over the run. */
  throughput: number;
  /** Fraction of the run the engine was in a call. */
  utilization: number;
  /** Mean sequences per decode step. */
  meanBatch: number;
  queue: { mean: number; p99: number };
  /** Fraction of requests refused by the queue limit. */
  rejected: number;
  ttft: Percentiles;
  tpot: Percentiles;
  e2e: Percentiles;
  /** Requests simulated. */
  requests: number;
  capped: boolean;
  /** Each completed request's TTFT, TPOT (when it has more than one output token), end-to-end, s (sorted), for other percentiles. */
  samples: { ttft: number[]; tpot: number[]; e2e: number[] };
}

/** The q-quantile (0 … 1) of sorted values: the nearest rank, ⌈q·n⌉-th. NaN for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

function percentiles(sorted: readonly number[]): Percentiles {
  return { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99) };
}

export function summarize(run: SimulationResult, rate: number): LatencySummary {
  const ttft: number[] = [];
  const tpot: number[] = [];
  const e2e: number[] = [];
  let rejected = 0;
  let completed = 0;
  for (const r of run.requests) {
    if (r.rejected) {
      rejected++;
      continue;
    }
    if (!Number.isFinite(r.done)) continue;
    completed++;
    ttft.push(r.firstToken - r.at);
    e2e.push(r.done - r.at);
    // TPOT as vLLM's benchmarks define it: the time after the first token per further token.
    if (r.output > 1) tpot.push((r.done - r.firstToken) / (r.output - 1));
  }
  const by = (a: number, b: number) => a - b;
  ttft.sort(by);
  tpot.sort(by);
  e2e.sort(by);
  let total = 0;
  let weighted = 0;
  for (const [d, t] of run.queueTime) {
    total += t;
    weighted += d * t;
  }
  // p99 of the time-weighted queue depth: the depth at or below which the queue spends 99% of the time.
  let p99 = 0;
  let acc = 0;
  for (const [d, t] of [...run.queueTime].sort((a, b) => a[0] - b[0])) {
    acc += t;
    p99 = d;
    if (acc >= 0.99 * total) break;
  }
  const n = run.requests.length;
  return {
    rate,
    throughput: run.span > 0 ? completed / run.span : 0,
    utilization: run.span > 0 ? Math.min(1, run.busy / run.span) : 0,
    meanBatch: run.decodeSteps > 0 ? run.decodeSequences / run.decodeSteps : 0,
    queue: { mean: total > 0 ? weighted / total : 0, p99 },
    rejected: n > 0 ? rejected / n : 0,
    ttft: percentiles(ttft),
    tpot: percentiles(tpot),
    e2e: percentiles(e2e),
    requests: n,
    capped: run.capped,
    samples: { ttft, tpot, e2e },
  };
}
