/** parplan's estimate for a published row: the plan checked from its text, the largest device (or host) total. */
import { analyze } from '../../src/analyze.js';
import { GiB } from '../../src/format.js';
import { memoryHost } from '../fuzz/mutate.js';
import type { PublishedRow } from './types.js';

export function estimateGiB(row: PublishedRow): number {
  const path = `/published/${row.id}.plan`;
  const a = analyze([path], { host: memoryHost(new Map([[path, row.plan]])) });
  const errors = a.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`${row.id}: the plan does not check: ${errors.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  const results = row.planName === undefined ? a.results : a.results.filter((r) => r.plan.name === row.planName);
  if (results.length !== 1)
    throw new Error(`${row.id}: expected one plan${row.planName ? ` named ${row.planName}` : ''}, found ${results.length}`);
  const r = results[0]!;
  if ((row.measure ?? 'gpu') === 'gpu') return Math.max(...r.memory.devices.map((d) => d.totalBytes)) / GiB;
  // host: the largest per-node CPU total of an offload plan (memory.hosts, src/memory/offload.ts).
  if (r.memory.hosts.length === 0) throw new Error(`${row.id}: measure 'host' needs a plan that offloads (offload = …)`);
  return Math.max(...r.memory.hosts.map((h) => h.totalBytes)) / GiB;
}
