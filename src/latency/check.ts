/**
 * `parplan check` for a serving plan with a `traffic` block: simulate the server's policy under
 * the traffic (./simulate.ts, the cost model's step times), report the figures, bisect the
 * highest rate that meets the `slo` block with the same seed, and turn each missed objective
 * into a PP4010 error whose help names single changes that meet every objective, found by
 * simulating them (more data replicas, max_batch up or down, max_wait, max_prefill_tokens).
 */
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { LIMITS } from '../facts/limits.js';
import type { ServePlan, ServeSlo } from '../plan.js';
import { costStepTimes } from './cost-times.js';
import { profileCoverage, profileMismatch, profileStepTimes } from './profile.js';
import { simulate, type SimulationResult, type StepTimes } from './simulate.js';
import { InternalError } from '../diagnostics/codes.js';
import { quantile, summarize, type LatencySummary } from './summary.js';
import { generateRequests, type TrafficRequest } from './traffic.js';
import { traceRate } from '../check/traffic.js';

/** One objective against its prediction (seconds, or a fraction for rejected). */
export interface SloResult {
  metric: string;
  target: number;
  predicted: number;
  ok: boolean;
}

/** `plans[].latency` of the JSON output (seconds, requests per second): the run's summary without its samples, and the objectives. */
export type LatencyResult = Omit<LatencySummary, 'capped' | 'samples'> & {
  /** The highest arrival rate that meets every objective (null without an slo block, or when none does). */
  maxRateMeetingSlo: number | null;
  /** Where the step times came from: the cost model's roofline, or a measured profile (`gpu { profile }`: its file and device). */
  stepTimes: { source: 'cost model' } | { source: 'profile'; file: string; device: string };
  slo: SloResult[];
};

/** Relative precision of the bisection for the highest rate meeting the SLO. */
const RATE_PRECISION = 0.02;

/** How much `predictLatency` simulates. `parplan check` uses the defaults; `suggest` fewer requests and no fixes. */
export interface LatencyOptions {
  /** Most requests simulated (default LIMITS.latencyRequests); fewer than the traffic's is a PP4011 note. */
  requests?: number;
  /** Look for single changes that meet a missed objective, for PP4010's help (default true). */
  fixes?: boolean;
  /** Bisect the highest rate meeting the SLO always (the default), only when the plan's rate meets it, or never (then null). */
  maxRate?: 'always' | 'when-met' | 'never';
}

/** The server's knobs a run varies (the plan's, or a candidate change's). */
export interface Knobs {
  data: number;
  maxBatch: number;
  maxWaitMs: number;
  maxPrefillTokens: number;
}

/**
 * Runs of one plan's traffic at any rate, sharing one budget of engine calls
 * (LIMITS.latencyEvents): the prediction, the bisection and the candidate changes of `check`,
 * or the rate sweep of the report (src/latency/sweep.ts).
 */
export interface LatencyRunner {
  /** Requests per run: the traffic's, cut to the bound. */
  requests: number;
  knobs: Knobs;
  times: StepTimes;
  /** Engine calls left in the budget. */
  left(): number;
  run(rate: number, k?: Knobs, t?: StepTimes, seriesPoints?: number): { summary: LatencySummary; result: SimulationResult };
}

/**
 * The step times a plan's latency is predicted with: its gpu block's measured profile when it
 * has one that covers the plan, else the cost model's roofline (with the profile's PP3090 /
 * PP3091 into `out`; 'mismatch' when the profile is for another plan).
 */
export function planStepTimes(
  plan: ServePlan,
  out: Diagnostic[],
): { times: StepTimes; measured: boolean } | { unknown: string } | 'mismatch' {
  const measured = measuredTimes(plan, out);
  if (measured === 'mismatch') return 'mismatch';
  if (measured) return { times: measured, measured: true };
  const times = costStepTimes(plan);
  return 'unknown' in times ? times : { times, measured: false };
}

/** The plan's runner, or why its step times are unknown. `requests` bounds each run (default LIMITS.latencyRequests). */
export function latencyRunner(plan: ServePlan, requests: number = LIMITS.latencyRequests): LatencyRunner | { unknown: string } {
  const traffic = plan.traffic;
  if (!traffic) throw new InternalError('a latency prediction needs a traffic block');
  const chosen = planStepTimes(plan, []);
  if (chosen === 'mismatch') return { unknown: `the gpu block's profile was measured for another plan (parplan check says which)` };
  if ('unknown' in chosen) return chosen;
  const times = chosen.times;
  const n = Math.min(traffic.requests, requests);
  // Requests at rate 1: a rate r divides the arrival times by r (same seed, same draws).
  const unit = clipToSeq(
    traffic.trace ? traceAtRate1(traffic.trace, n) : generateRequests({ ...traffic, rate: 1, requests: n }),
    plan.batch.seq,
  );
  const knobs: Knobs = {
    data: plan.mesh.data,
    maxBatch: plan.batch.maxBatch,
    maxWaitMs: plan.batch.maxWaitMs,
    maxPrefillTokens: plan.batch.maxPrefillTokens,
  };
  let budget = LIMITS.latencyEvents;
  return {
    requests: n,
    knobs,
    times,
    left: () => budget,
    run(rate, k = knobs, t = times, seriesPoints) {
      const reqs = unit.map((r) => ({ ...r, at: r.at / rate }));
      const result = simulate(reqs, {
        policy: { maxBatch: k.maxBatch * k.data, maxWaitMs: k.maxWaitMs, queue: plan.batch.queue, maxPrefillTokens: k.maxPrefillTokens },
        replicas: k.data,
        times: t,
        maxEvents: Math.max(0, budget),
        ...(seriesPoints !== undefined ? { seriesPoints } : {}),
      });
      budget -= result.events;
      return { summary: summarize(result, rate), result };
    },
  };
}

export function predictLatency(plan: ServePlan, opts: LatencyOptions = {}): { latency?: LatencyResult; diagnostics: Diagnostic[] } {
  const traffic = plan.traffic;
  if (!traffic) return { diagnostics: [] };
  const diagnostics: Diagnostic[] = [];
  const anchor = plan.spans['traffic.rate'] ?? plan.span;
  const chosen = planStepTimes(plan, diagnostics);
  if (chosen === 'mismatch') return { diagnostics };
  if ('unknown' in chosen) {
    diagnostics.push(diag('PP4012', anchor, { plan: plan.name, reason: chosen.unknown }));
    return { diagnostics };
  }
  const measured = chosen.measured;
  const runner = latencyRunner(plan, opts.requests);
  if ('unknown' in runner) throw new InternalError(`the plan's step times were found, then not: ${runner.unknown}`);
  const { times, knobs } = runner;
  const n = runner.requests;
  if (n < traffic.requests) {
    diagnostics.push(
      diag('PP4011', anchor, {
        detail: `it simulates ${n.toLocaleString('en-US')} of ${traffic.requests.toLocaleString('en-US')} requests (${opts.requests === undefined ? 'LIMITS.latencyRequests' : 'the bound of the search'})`,
      }),
    );
  }
  const run = (rate: number, k: Knobs, t: StepTimes = times) => runner.run(rate, k, t).summary;
  const s = run(traffic.rate, knobs);
  if (s.capped) {
    diagnostics.push(
      diag('PP4011', anchor, {
        detail: `its ${LIMITS.latencyEvents.toLocaleString('en-US')} engine steps (LIMITS.latencyEvents) end before the requests do: the figures cover the requests that finished`,
      }),
    );
  }
  const slo = plan.slo ? judge(s, plan.slo) : [];
  // A run cut short by the budget decides nothing: it counts as a miss.
  const meets = (x: LatencySummary) => plan.slo !== undefined && !x.capped && judge(x, plan.slo).every((r) => r.ok);
  const bisect = opts.maxRate === 'never' ? false : opts.maxRate === 'when-met' ? meets(s) : true;
  const maxRate = plan.slo && bisect ? highestRate(traffic.rate, meets(s), (r) => meets(run(r, knobs))) : null;
  const { capped: _capped, samples: _samples, ...figures } = s;
  const p = plan.cluster.profile;
  const stepTimes: LatencyResult['stepTimes'] =
    measured && p ? { source: 'profile', file: p.path, device: p.profile.device.description } : { source: 'cost model' };
  const latency: LatencyResult = { ...figures, rate: traffic.rate, maxRateMeetingSlo: maxRate, stepTimes, slo };
  const missed = slo.filter((r) => !r.ok);
  if (missed.length > 0) {
    const fixes = (opts.fixes === false ? [] : candidates(plan, knobs))
      .filter((c) => {
        // A measured profile's step times do not depend on max_batch; the roofline's do (its memory traffic).
        const t =
          c.knobs.maxBatch !== knobs.maxBatch && !measured
            ? costStepTimes({ ...plan, batch: { ...plan.batch, maxBatch: c.knobs.maxBatch } })
            : times;
        return !('unknown' in t) && meets(run(traffic.rate, c.knobs, t));
      })
      .map((c) => c.text);
    const help =
      fixes.length > 0
        ? `these meet every objective at ${num(traffic.rate)} requests/s: ${fixes.slice(0, 3).join('; or ')}`
        : `no single change of data, max_batch, max_wait or max_prefill_tokens meets it${maxRate !== null ? `; the plan holds ${num(maxRate)} requests/s` : ''}: a faster GPU, more tensor parallelism, or less traffic`;
    for (const r of missed) {
      diagnostics.push(
        diag(
          'PP4010',
          plan.spans[`slo.${r.metric}`] ?? plan.span,
          {
            plan: plan.name,
            key: r.metric,
            target: show(r.metric, r.target),
            predicted: show(r.metric, r.predicted),
            rate: num(traffic.rate),
          },
          { help },
        ),
      );
    }
  }
  return { latency, diagnostics };
}

/**
 * The gpu block's measured profile as step times (src/latency/profile.ts): 'mismatch' (PP3090,
 * an error) when it was measured for another model or layout, undefined when there is none or the
 * plan reaches far past its grid (PP3091, a warning: the cost model predicts instead).
 */
function measuredTimes(plan: ServePlan, out: Diagnostic[]): StepTimes | 'mismatch' | undefined {
  const p = plan.cluster.profile;
  if (!p) return undefined;
  const mismatch = profileMismatch(p.profile, plan);
  if (mismatch) {
    out.push(
      diag(
        'PP3090',
        p.span,
        { path: p.path, plan: plan.name, reason: mismatch },
        {
          help: `measure this plan's graph: parplan compile … --plan ${plan.name}, then parplan profile GRAPH --weights random:1 -o FILE.json`,
        },
      ),
    );
    return 'mismatch';
  }
  const beyond = profileCoverage(p.profile, plan);
  if (beyond) {
    out.push(
      diag(
        'PP3091',
        p.span,
        { path: p.path, plan: plan.name, reason: beyond },
        { help: 'measure a grid that reaches the plan: parplan profile GRAPH --batches … --contexts … --prompts …' },
      ),
    );
    return undefined;
  }
  return profileStepTimes(p.profile);
}

/** The trace's first n requests with times scaled to a mean rate of 1 request/s (its own rate, `traceRate`, becomes 1). */
function traceAtRate1(trace: readonly TrafficRequest[], n: number): TrafficRequest[] {
  const r0 = traceRate(trace);
  return trace.slice(0, n).map((r) => ({ ...r, at: r.at * r0 }));
}

/** Requests the server would refuse (prompt + output > seq) are cut to fit, as a client would. */
function clipToSeq(reqs: TrafficRequest[], seq: number): TrafficRequest[] {
  return reqs.map((r) => {
    const prompt = Math.min(r.prompt, seq - 1);
    return { at: r.at, prompt, output: Math.max(1, Math.min(r.output, seq - prompt)) };
  });
}

export function judge(s: LatencySummary, slo: ServeSlo): SloResult[] {
  const out: SloResult[] = [];
  for (const o of slo.latency) {
    const predicted = quantile(s.samples[o.metric], o.quantile);
    // No completed request (or none with a second token for TPOT) cannot meet an objective.
    out.push({
      metric: o.key,
      target: o.seconds,
      predicted,
      ok: Number.isFinite(predicted) ? predicted <= o.seconds : o.metric === 'tpot' && s.samples.e2e.length > 0,
    });
  }
  if (slo.maxRejected !== undefined)
    out.push({ metric: 'max_rejected', target: slo.maxRejected, predicted: s.rejected, ok: s.rejected <= slo.maxRejected });
  return out;
}

/**
 * The highest rate meeting the objectives, to RATE_PRECISION: from the plan's rate, doubling
 * (or halving) to bracket it, then bisection. null when even rate / 1024 misses.
 */
function highestRate(rate: number, meetsAtRate: boolean, meets: (rate: number) => boolean): number | null {
  let lo: number;
  let hi: number;
  if (meetsAtRate) {
    lo = rate;
    hi = rate * 2;
    for (let i = 0; i < 10 && meets(hi); i++) [lo, hi] = [hi, hi * 2];
    if (lo === hi / 2 && meets(hi)) return hi;
  } else {
    hi = rate;
    lo = rate / 2;
    let found = false;
    for (let i = 0; i < 10; i++) {
      if (meets(lo)) {
        found = true;
        break;
      }
      [hi, lo] = [lo, lo / 2];
    }
    if (!found) return null;
  }
  while ((hi - lo) / lo > RATE_PRECISION) {
    const mid = (lo + hi) / 2;
    if (meets(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Single changes to try, least disruptive first. */
function candidates(plan: ServePlan, k: Knobs): { knobs: Knobs; text: string }[] {
  const out: { knobs: Knobs; text: string }[] = [];
  const gpus = plan.mesh.tensor * plan.mesh.pipeline * plan.mesh.context;
  if (k.maxWaitMs > 0) out.push({ knobs: { ...k, maxWaitMs: 0 }, text: 'batch.max_wait = 0 ms' });
  if (k.maxPrefillTokens > 256)
    out.push({
      knobs: { ...k, maxPrefillTokens: Math.max(256, k.maxPrefillTokens / 2) },
      text: `batch.max_prefill_tokens = ${Math.max(256, k.maxPrefillTokens / 2)}`,
    });
  if (k.maxBatch > 1)
    out.push({ knobs: { ...k, maxBatch: Math.floor(k.maxBatch / 2) }, text: `batch.max_batch = ${Math.floor(k.maxBatch / 2)}` });
  out.push({ knobs: { ...k, maxBatch: k.maxBatch * 2 }, text: `batch.max_batch = ${k.maxBatch * 2} (check that it fits)` });
  const has = plan.cluster.gpus;
  for (const f of [2, 4, 8]) {
    const need = k.data * f * gpus;
    const room = need > has ? `, cluster '${plan.cluster.name}' has ${has}` : '';
    out.push({ knobs: { ...k, data: k.data * f }, text: `data = ${k.data * f} (${need} GPUs${room})` });
  }
  return out;
}

function num(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

/** Seconds as ms or s; a fraction as a percentage. */
function show(metric: string, x: number): string {
  if (metric === 'max_rejected') return `${num(x * 100)}%`;
  if (!Number.isFinite(x)) return 'no completed request';
  return x < 1 ? `${num(x * 1000)} ms` : `${num(x)} s`;
}
