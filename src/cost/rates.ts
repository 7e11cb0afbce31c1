/**
 * Effective hardware rates (peak × efficiency) and nullable-time arithmetic. A rate the
 * hardware does not declare (0) is `null`, and any time that needs it is `null` too: the
 * model never divides by zero.
 */
import type { CheckedPlan } from '../plan.js';
import { EFFICIENCY, LATENCY_S } from './constants.js';
import type { Hardware, LinkKind } from './types.js';

/** A duration in seconds, or null when unknown. */
export type Time = number | null;

/** Effective rates: FLOP/s and bytes/s after efficiency; null when the peak is unknown (0). */
export interface Rates {
  flops: number | null;
  /** Effective FLOP/s of fp8 GEMMs (tflops8 × e_compute); absent: they run at `flops`. */
  fp8?: number | null;
  memory: number | null;
  link: number | null;
  network: number | null;
}

/** Whether the plan computes in fp32 (training precision, or the served model's dtype); everything else uses 16-bit tensor cores. */
export function usesFp32(plan: CheckedPlan): boolean {
  return plan.mode === 'train' ? plan.precision === 'fp32' : plan.model.dtype === 'fp32';
}

/** The peaks the model uses: tflops16 (tflops32 for fp32), memory bandwidth, link and network bandwidth. */
export function hardwareOf(plan: CheckedPlan): Hardware {
  const g = plan.cluster.gpu;
  // A training plan with fp8 runs its linear GEMMs on the fp8 tensor cores (src/cost/flops.ts `fp8`).
  const fp8 = plan.mode === 'train' && plan.fp8 !== 'none' && g.tflops8 !== undefined ? { tflops8: g.tflops8 } : {};
  return {
    tflops: usesFp32(plan) ? g.tflops32 : g.tflops16,
    ...fp8,
    memoryBandwidthGBs: g.memoryBandwidthGBs,
    link: g.link.kind,
    linkBandwidthGBs: g.link.bandwidthGBs,
    networkGBs: plan.cluster.networkGBs,
  };
}

const positive = (x: number, scale: number, eff: number): number | null => (x > 0 ? x * scale * eff : null);

/** flops = TFLOP/s × 10^12 × e_compute; memory = GB/s × 10^9 × e_memory; link, network = GB/s × 10^9 × e_link. */
export function ratesOf(hw: Hardware): Rates {
  return {
    flops: positive(hw.tflops, 1e12, EFFICIENCY.compute),
    ...(hw.tflops8 !== undefined ? { fp8: positive(hw.tflops8, 1e12, EFFICIENCY.compute) } : {}),
    memory: positive(hw.memoryBandwidthGBs, 1e9, EFFICIENCY.memory),
    link: positive(hw.linkBandwidthGBs, 1e9, EFFICIENCY.link),
    network: positive(hw.networkGBs, 1e9, EFFICIENCY.link),
  };
}

/** amount / rate; 0 for no work whatever the rate; null when there is work and the rate is unknown. */
export function over(amount: number, rate: number | null): Time {
  if (amount === 0) return 0;
  return rate === null ? null : amount / rate;
}

/** α–β time of a transfer: bytes / bandwidth + ops × α (α: LATENCY_S, intra-node or network). */
export function transferSeconds(bytes: number, ops: number, link: LinkKind, rates: Rates): Time {
  if (bytes === 0 && ops === 0) return 0;
  const beta = over(bytes, link === 'network' ? rates.network : rates.link);
  return beta === null ? null : beta + ops * (link === 'network' ? LATENCY_S.network : LATENCY_S.intraNode);
}

/** Sum; null if any term is null. */
export function sum(...xs: Time[]): Time {
  let s = 0;
  for (const x of xs) {
    if (x === null) return null;
    s += x;
  }
  return s;
}

/** Maximum; null if any term is null. */
export function max(...xs: Time[]): Time {
  let m = 0;
  for (const x of xs) {
    if (x === null) return null;
    m = Math.max(m, x);
  }
  return m;
}

/** k × x; null if x is null. */
export function scale(k: number, x: Time): Time {
  return x === null ? null : k * x;
}

/** a − b floored at 0 (the part of a not hidden behind b); null if either is null. */
export function exposed(a: Time, b: Time): Time {
  return a === null || b === null ? null : Math.max(0, a - b);
}
