/**
 * One timing model (issue 14): for every example plan, the report's timing line (the cost
 * model) and the simulated schedule on the same page agree, read back from the page's data
 * attributes; and the simulated memory peak is the memory plan's where the simulation is exact.
 *
 * Tolerances, and why they are not 0:
 * - serving, 1%: the simulation also runs the elementwise steps (RoPE, the MLP activation, the
 *   residual adds, the embedding lookup, sampling) that the cost model leaves out as Megatron's
 *   FLOP count does (src/cost/flops.ts); measured ≤ 0.1% on every example.
 * - training, 2%: the simulation also runs the optimizer update (10 FLOPs per parameter), the
 *   loss's and the embedding's collectives and the elementwise steps, and it overlaps the
 *   data-parallel collectives (ZeRO-3's per-layer gathers and reduce-scatters, the gradient
 *   buckets of the last backward) on a communication stream in the order the graph issues them,
 *   where the cost model exposes what the microbatch's compute (ZeRO-3) or the last microbatch's
 *   backward does not hide; measured ≤ 1.7% (AMP, FSDP2 and fp8 examples ≤ 0.9%).
 * Memory: a training simulation allocates and releases exactly the memory plan's activations
 * (the schedule's held microbatches × M_B, pending W × M_W, and one layer's backward transients:
 * the recompute workspace and the context exchange), so its peak is the plan's to the byte.
 * KNOWN_GAPS lists the plans whose recipe the graph does not carry yet. A serving plan's activations are the larger of the prefill and decode working sets,
 * which the simulation sees as whole tensors: its peak is at most the plan's.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { compilable, compilePlan } from '../../src/compile.js';
import { renderReport } from '../../src/report/html.js';

const ROOT = join(import.meta.dirname, '..', '..');

function planFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...planFiles(p));
    else if (e.name.endsWith('.plan')) out.push(p);
  }
  return out.sort();
}

/** The `timing` row's data attributes of each plan section, by plan name. */
function timings(html: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const section of html.split('<section class="card plan"').slice(1)) {
    const name = /data-plan="([^"]*)"/.exec(section)![1]!;
    const dd = /<dt>timing<\/dt><dd([^>]*)>/.exec(section);
    const attrs: Record<string, number> = {};
    if (dd) for (const m of dd[1]!.matchAll(/data-([\w-]+)="([^"]*)"/g)) attrs[m[1]!] = Number(m[2]);
    out.set(name, attrs);
  }
  return out;
}

/**
 * Plans whose graph does not carry all of what the cost model or the memory plan counts yet (issue 14's
 * recipes reached memory and cost first). Each entry is asserted to still disagree, so a fix fails
 * here until its entry is removed.
 */
const KNOWN_GAPS: Record<string, { step?: string; memory?: string }> = {};
const gapsSeen = new Set<string>();

const files = planFiles(join(ROOT, 'examples'));
/** Plans whose times were compared (the cost model knows the GPU's rates). */
const compared: string[] = [];

describe('the report shows one timing: simulated steps = the cost line, every example', () => {
  it('finds the examples', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  for (const file of files) {
    it(file.slice(ROOT.length + 1), () => {
      const analysis = analyze([file]);
      const { results } = compilable(analysis.results);
      const compiled = results.map((r) => compilePlan(r.plan, r.memory));
      const html = renderReport({ analysis: { ...analysis, results }, compiled });
      const byPlan = timings(html);
      results.forEach((r, i) => {
        const c = compiled[i]!;
        const t = byPlan.get(r.plan.name)!;
        const known = r.cost?.known ?? false;
        if (r.plan.mode === 'serve') {
          if (known) {
            compared.push(r.plan.name);
            expect(t['sim-prefill-step'], `${r.plan.name}: prefill step`).toBeDefined();
            expect(t['sim-prefill-step']! / t['cost-prefill-step']!, `${r.plan.name}: prefill step`).toBeCloseTo(1, 2);
            expect(t['sim-decode-step']! / t['cost-decode-step']!, `${r.plan.name}: decode step`).toBeCloseTo(1, 2);
            expect(Math.abs(t['sim-prefill-step']! / t['cost-prefill-step']! - 1)).toBeLessThan(0.01);
            expect(Math.abs(t['sim-decode-step']! / t['cost-decode-step']! - 1)).toBeLessThan(0.01);
          }
          for (const rank of c.simulation.ranks)
            expect(rank.peakBytes, `${r.plan.name} rank ${rank.rank}`).toBeLessThanOrEqual(rank.planBytes);
        } else {
          const gap = KNOWN_GAPS[r.plan.name];
          if (gap) gapsSeen.add(r.plan.name);
          if (known) {
            compared.push(r.plan.name);
            const off = Math.abs(t['sim-step']! / t['cost-step']! - 1);
            if (gap?.step) expect(off, `${r.plan.name}: a known gap (${gap.step}) that now agrees: remove it`).toBeGreaterThanOrEqual(0.02);
            else expect(off, `${r.plan.name}: step`).toBeLessThan(0.02);
          }
          if (gap?.memory) {
            for (const rank of c.simulation.ranks)
              expect(rank.peakBytes, `${r.plan.name} rank ${rank.rank}`).toBeLessThanOrEqual(rank.planBytes);
            expect(
              c.simulation.ranks.some((rank) => rank.peakBytes !== rank.planBytes),
              `${r.plan.name}: a known gap (${gap.memory}) that now agrees: remove it`,
            ).toBe(true);
          } else for (const rank of c.simulation.ranks) expect(rank.peakBytes, `${r.plan.name} rank ${rank.rank}`).toBe(rank.planBytes);
        }
      });
    });
  }

  it('every known gap is an example plan', () => {
    expect([...gapsSeen].sort()).toEqual(Object.keys(KNOWN_GAPS).sort());
  });

  it('compared the times of the examples with known rates', () => {
    expect(compared).toContain('llama3_8b_zb_h1');
    expect(compared.length).toBeGreaterThan(18);
  });
});
