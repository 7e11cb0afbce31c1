/**
 * Requests of a traffic description, drawn from a seeded stream: arrival times (Poisson, or
 * Poisson bursts of `burst` requests at once, or a trace's own times) and prompt and output
 * lengths (fixed, uniform, or lognormal fitted to a mean and a p99). Deterministic for a seed.
 */
import { mulberry32 } from '../util/random.js';

/** A length distribution in tokens. */
export type Lengths =
  | { kind: 'fixed'; value: number }
  | { kind: 'uniform'; min: number; max: number }
  /** Lognormal with this mean and 99th percentile (`lognormalFit`). */
  | { kind: 'lognormal'; mean: number; p99: number };

export interface TrafficSpec {
  /** Requests per second (mean over time). */
  rate: number;
  /** poisson: independent arrivals; burst: Poisson arrivals of `burst` requests each (same mean rate). */
  process: 'poisson' | 'burst';
  burst: number;
  prompt: Lengths;
  output: Lengths;
  seed: number;
  /** How many requests (the smaller of this and rate × duration when both are known). */
  requests: number;
}

/** One request: arrival time (s from the start), prompt and output tokens. */
export interface TrafficRequest {
  at: number;
  prompt: number;
  output: number;
}

/** z of the standard normal's 99th percentile. */
const Z99 = 2.3263478740408408;

/**
 * μ, σ of ln X for a lognormal X with this mean and p99: mean = e^(μ + σ²/2), p99 = e^(μ + z·σ),
 * so σ²/2 − zσ + ln(p99/mean) = 0, σ = z − √(z² − 2 ln(p99/mean)) (the root with p99 above the
 * median). None when p99 < mean or p99/mean > e^(z²/2) ≈ 15 (no lognormal has that shape).
 */
export function lognormalFit(mean: number, p99: number): { mu: number; sigma: number } | undefined {
  if (!(mean > 0) || !(p99 >= mean)) return undefined;
  const d = Z99 * Z99 - 2 * Math.log(p99 / mean);
  if (d < 0) return undefined;
  const sigma = Z99 - Math.sqrt(d);
  return { mu: Math.log(mean) - (sigma * sigma) / 2, sigma };
}

/** The largest p99/mean ratio a lognormal can have (`lognormalFit`). */
export const LOGNORMAL_MAX_P99_RATIO = Math.exp((Z99 * Z99) / 2);

/** A length sampler over `rand`; lengths are whole tokens ≥ 1. */
export function lengthSampler(l: Lengths, rand: () => number): () => number {
  switch (l.kind) {
    case 'fixed':
      return () => l.value;
    case 'uniform':
      return () => l.min + Math.floor(rand() * (l.max - l.min + 1));
    case 'lognormal': {
      const fit = lognormalFit(l.mean, l.p99);
      if (!fit)
        throw new Error(
          `internal error: lognormal lengths with mean ${l.mean} and p99 ${l.p99} were not checked (this is a bug in parplan)`,
        );
      return () => Math.max(1, Math.round(Math.exp(fit.mu + fit.sigma * normal(rand))));
    }
  }
}

function normal(rand: () => number): number {
  const u1 = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rand());
}

/** Exponential gap with this rate (per second). */
function exponential(rand: () => number, rate: number): number {
  return -Math.log(1 - rand()) / rate;
}

/** The spec's requests, in arrival order. Separate streams for arrivals and lengths, so changing the rate keeps the lengths. */
export function generateRequests(spec: TrafficSpec): TrafficRequest[] {
  const arrivals = mulberry32(spec.seed);
  const lengths = mulberry32((spec.seed ^ 0x9e3779b9) >>> 0);
  const prompt = lengthSampler(spec.prompt, lengths);
  const output = lengthSampler(spec.output, lengths);
  const group = spec.process === 'burst' ? spec.burst : 1;
  const out: TrafficRequest[] = [];
  let t = 0;
  while (out.length < spec.requests) {
    t += exponential(arrivals, spec.rate / group);
    for (let i = 0; i < group && out.length < spec.requests; i++) out.push({ at: t, prompt: prompt(), output: output() });
  }
  return out;
}
