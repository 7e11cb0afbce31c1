/**
 * The report's latency-versus-load picture (docs/latency.md, "In the report"): the plan's
 * traffic run at a sweep of arrival rates from light load to past saturation, and the queue
 * and decode batch over time at the plan's own rate. Every run is the simulation `check` makes
 * (`latencyRunner`: same requests, same seed, same step times), so the point at the plan's
 * rate is check's prediction.
 */
import { LIMITS } from '../facts/limits.js';
import type { ServePlan } from '../plan.js';
import { latencyRunner, type LatencyRunner } from './check.js';
import type { SeriesPoint } from './simulate.js';
import type { LatencySummary, Percentiles } from './summary.js';

/**
 * The sweep's rates as fractions of the predicted saturation rate: sparse at light load,
 * dense around the knee (70%–110%), one point past it.
 */
export const SWEEP_FRACTIONS = [0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95, 1, 1.05, 1.1, 1.2] as const;
/** Most points of the time series at the plan's rate. */
export const SERIES_POINTS = 500;
/** A run serves less than this share of what arrives: the server is saturated. */
const SATURATED = 0.9;

export interface SweepPoint {
  /** Arrival rate, requests/s. */
  rate: number;
  throughput: number;
  rejected: number;
  utilization: number;
  ttft: Percentiles;
  tpot: Percentiles;
  e2e: Percentiles;
  /** The budget of engine calls ended this run early: its figures cover the requests that finished. */
  capped: boolean;
}

export interface LatencySweep {
  /** The plan's rate, requests/s. */
  rate: number;
  /**
   * The predicted saturation rate: the throughput of the first run (the plan's rate, then
   * doubling it) whose engine is busy at least 90% of the time yet serves under 90% of what
   * arrives; null when none does up to 2^12 × the rate.
   */
  saturation: number | null;
  /** Requests per run. */
  requests: number;
  /** By rate, ascending; the plan's rate is one of them. */
  points: SweepPoint[];
  /** Queue depth and decode batch over time at the plan's rate (at most SERIES_POINTS points). */
  series: SeriesPoint[];
  /** Why the sweep is short or some runs were cut (the engine-call budget), for a note; absent when complete. */
  note?: string;
}

function point(s: LatencySummary): SweepPoint {
  return {
    rate: s.rate,
    throughput: s.throughput,
    rejected: s.rejected,
    utilization: s.utilization,
    ttft: s.ttft,
    tpot: s.tpot,
    e2e: s.e2e,
    capped: s.capped,
  };
}

/** The sweep of a serving plan with traffic, or why its step times are unknown. */
export function latencySweep(plan: ServePlan): LatencySweep | { unknown: string } {
  const traffic = plan.traffic;
  if (!traffic) return { unknown: 'the plan has no traffic block' };
  const runner: LatencyRunner | { unknown: string } = latencyRunner(plan);
  if ('unknown' in runner) return runner;
  const at = runner.run(traffic.rate, undefined, undefined, SERIES_POINTS);
  const points = new Map<number, SweepPoint>([[traffic.rate, point(at.summary)]]);
  const saturation = saturationRate(runner, traffic.rate, at.summary);
  let cut = false;
  if (saturation !== null) {
    for (const f of SWEEP_FRACTIONS) {
      const rate = saturation * f;
      if (points.has(rate)) continue;
      if (runner.left() <= 0) {
        cut = true;
        break;
      }
      points.set(rate, point(runner.run(rate).summary));
    }
  }
  const sorted = [...points.values()].sort((a, b) => a.rate - b.rate);
  const capped = sorted.filter((p) => p.capped).length;
  const notes: string[] = [];
  if (cut) notes.push(`the sweep stopped at ${sorted.length} rates`);
  if (capped > 0) notes.push(`${capped} run${capped === 1 ? '' : 's'} cut short (their figures cover the requests that finished)`);
  const out: LatencySweep = {
    rate: traffic.rate,
    saturation,
    requests: runner.requests,
    points: sorted,
    series: at.result.series ?? [],
  };
  if (notes.length > 0)
    out.note = `${notes.join('; ')}: the runs share a budget of ${LIMITS.latencyEvents.toLocaleString('en-US')} engine calls (LIMITS.latencyEvents)`;
  if (saturation === null) out.note = `no rate up to ${(traffic.rate * 2 ** 12).toPrecision(3)} requests/s saturates the plan: no sweep`;
  return out;
}

/** The throughput where the server stops keeping up, trying the plan's rate, then doubling it. */
function saturationRate(runner: LatencyRunner, rate: number, first: LatencySummary): number | null {
  let s = first;
  let r = rate;
  for (let i = 0; i <= 12; i++) {
    // Busy nearly all the time and serving less than arrives; a short run's tail alone (idle at the end) is not saturation.
    if (s.throughput > 0 && s.throughput < SATURATED * r && s.utilization >= SATURATED) return s.throughput;
    if (runner.left() <= 0) return null;
    r *= 2;
    s = runner.run(r).summary;
  }
  return null;
}
