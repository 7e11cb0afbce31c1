/**
 * Helpers shared by the renderers: number formatting, the tightest device of a plan,
 * the verdict and summary sentences, grouping of identical devices and compact rank lists.
 * Pure functions of the analysis, so every format says the same thing in the same words.
 */
import type { Analysis, PlanResult } from '../analyze.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { DeviceMemory } from '../memory/types.js';
import { gibText as gib } from '../format.js';
import { modelAdapterParams } from '../memory/adapter.js';
import type { TrainPlan } from '../plan.js';

/** Bytes as GiB with 2 decimals, never "-0.00" (src/format.ts). */
export { gib };

/** part / whole as a percentage: 1 decimal below 100% ("12.5%"), none above ("-225%"); "n/a" when whole is 0. */
export function percent(part: number, whole: number): string {
  if (whole === 0) return 'n/a';
  const p = (part / whole) * 100;
  const s = p.toFixed(Math.abs(p) >= 99.95 ? 0 : 1);
  return `${s === '-0.0' ? '0.0' : s}%`;
}

/** 8_030_261_248 → "8.03B"; below a billion, millions: 124_439_808 → "124.44M". */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  return String(n);
}

export function headroom(d: DeviceMemory): number {
  return d.usableBytes - d.totalBytes;
}

/** The device with the least headroom (the lowest rank among equals); undefined for no devices. */
export function tightest(devices: readonly DeviceMemory[]): DeviceMemory | undefined {
  let worst: DeviceMemory | undefined;
  for (const d of devices) {
    if (worst === undefined || headroom(d) < headroom(worst) || (headroom(d) === headroom(worst) && d.rank < worst.rank)) {
      worst = d;
    }
  }
  return worst;
}

/**
 * One sentence on whether the plan fits:
 * `fits: tightest is rank 0, 39.98 GiB of 75.96 GiB usable (35.98 GiB headroom, 47.4%)`, or
 * `DOES NOT FIT: rank 0 needs 95.12 GiB of 75.96 GiB usable`.
 */
export function verdict(r: PlanResult): string {
  const w = tightest(r.memory.devices);
  if (w === undefined) return r.fits ? 'fits' : 'DOES NOT FIT';
  if (!r.fits) {
    // Every GPU fits, so a node's CPU memory (offload) is what does not.
    const host =
      w.totalBytes <= w.usableBytes
        ? r.memory.hosts.find((h) => h.capacityBytes !== undefined && h.totalBytes > h.capacityBytes)
        : undefined;
    if (host)
      return `DOES NOT FIT: node ${host.node} needs ${gib(host.totalBytes)} GiB of CPU memory, host_memory ${gib(host.capacityBytes!)} GiB`;
    return `DOES NOT FIT: rank ${w.rank} needs ${gib(w.totalBytes)} GiB of ${gib(w.usableBytes)} GiB usable`;
  }
  return (
    `fits: tightest is rank ${w.rank}, ${gib(w.totalBytes)} GiB of ${gib(w.usableBytes)} GiB usable ` +
    `(${gib(headroom(w))} GiB headroom, ${percent(headroom(w), w.usableBytes)})`
  );
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export interface Counts {
  plans: number;
  fit: number;
  notFit: number;
  errors: number;
  warnings: number;
  notes: number;
}

export function counts(a: Analysis): Counts {
  const fit = a.results.filter((r) => r.fits).length;
  return {
    plans: a.results.length,
    fit,
    notFit: a.results.length - fit,
    errors: a.diagnostics.filter((d) => d.severity === 'error').length,
    warnings: a.diagnostics.filter((d) => d.severity === 'warning').length,
    notes: a.diagnostics.filter((d) => d.severity === 'note').length,
  };
}

/** `3 plans checked: 2 fit, 1 does not fit; 1 error, 0 warnings`. */
export function summaryLine(a: Analysis): string {
  const c = counts(a);
  return (
    `${plural(c.plans, 'plan', 'plans')} checked: ${c.fit} ${c.fit === 1 ? 'fits' : 'fit'}, ` +
    `${c.notFit} ${c.notFit === 1 ? 'does' : 'do'} not fit; ` +
    `${plural(c.errors, 'error', 'errors')}, ${plural(c.warnings, 'warning', 'warnings')}`
  );
}

/** True when the analysis passes: no error diagnostics and every plan fits. */
export function isOk(a: Analysis): boolean {
  return !a.diagnostics.some((d) => d.severity === 'error') && a.results.every((r) => r.fits);
}

/** The file a diagnostic is about: its span's, else its `file`, else undefined. */
export function diagnosticFile(d: Diagnostic): string | undefined {
  return d.span?.file ?? d.file;
}

/** Devices with the same stage, capacity and breakdown, in order of their lowest rank. */
export interface DeviceGroup {
  /** The group's lowest-ranked device (all are identical but for their coordinates). */
  device: DeviceMemory;
  ranks: number[];
}

export function groupDevices(devices: readonly DeviceMemory[]): DeviceGroup[] {
  const sorted = increasing(devices, (d) => d.rank) ? devices : [...devices].sort((a, b) => a.rank - b.rank);
  const groups = new Map<string, DeviceGroup>();
  // The group each stage's last device joined: a stage's devices are usually all alike, and
  // comparing numbers is much cheaper than formatting a key for each of thousands of devices.
  const lastOfStage = new Map<number, DeviceGroup>();
  for (const d of sorted) {
    const last = lastOfStage.get(d.stage);
    if (last !== undefined && sameMemory(last.device, d)) {
      last.ranks.push(d.rank);
      continue;
    }
    const b = d.breakdown;
    const key = `${d.stage}/${d.gpu}/${d.capacityBytes}/${d.usableBytes}/${d.totalBytes}/${b.weights}/${b.gradients}/${b.optimizer}/${b.activations}/${b.kvCache}/${b.workspace}`;
    let g = groups.get(key);
    if (g) g.ranks.push(d.rank);
    else groups.set(key, (g = { device: d, ranks: [d.rank] }));
    lastOfStage.set(d.stage, g);
  }
  return [...groups.values()];
}

/** Equal in every field of groupDevices' key (so equal keys: a shortcut, never a different grouping). */
function sameMemory(a: DeviceMemory, d: DeviceMemory): boolean {
  if (a.stage !== d.stage || a.gpu !== d.gpu || a.capacityBytes !== d.capacityBytes || a.usableBytes !== d.usableBytes) return false;
  if (a.totalBytes !== d.totalBytes) return false;
  const x = a.breakdown;
  const y = d.breakdown;
  return (
    x === y ||
    (x.weights === y.weights &&
      x.gradients === y.gradients &&
      x.optimizer === y.optimizer &&
      x.activations === y.activations &&
      x.kvCache === y.kvCache &&
      x.workspace === y.workspace)
  );
}

/**
 * Ranks as runs: [0,1,4,5] → "0-1,4-5". When that is longer than `maxWidth`, keeps the
 * first two runs and the last ("0-1,4-5,…,60-61"), then the first and last ("0-1,…,60-61"),
 * then just the count ("64 ranks").
 */
export function compactRanks(ranks: readonly number[], maxWidth = Infinity): string {
  // groupDevices' lists are already in increasing order (no copy, no Set for thousands of ranks).
  const sorted = increasing(ranks, (r) => r) ? ranks : [...new Set(ranks)].sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    runs.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  const candidates = [runs.join(',')];
  if (runs.length > 3) candidates.push(`${runs[0]},${runs[1]},…,${runs[runs.length - 1]}`);
  if (runs.length > 2) candidates.push(`${runs[0]},…,${runs[runs.length - 1]}`);
  for (const c of candidates) if (c.length <= maxWidth) return c;
  return `${sorted.length} ranks`;
}

/** Whether `key` strictly increases along `xs` (then sorting would change nothing and removes no duplicate). */
function increasing<T>(xs: readonly T[], key: (x: T) => number): boolean {
  for (let i = 1; i < xs.length; i++) if (!(key(xs[i - 1]!) < key(xs[i]!))) return false;
  return true;
}

/** A LoRA plan's adapters in one line: what trains, on what frozen base. */
export function adapterText(plan: TrainPlan): string {
  const a = plan.adapter!;
  const q = plan.model.quant;
  const base = q ? `${q.method}${q.double ? ' (double quant)' : ''}` : plan.model.dtype;
  return `LoRA rank ${a.rank} on ${a.targets.join(', ')} (alpha ${a.alpha}, dropout ${a.dropout}): ${formatParams(modelAdapterParams(plan))} trainable params, base frozen in ${base}`;
}
