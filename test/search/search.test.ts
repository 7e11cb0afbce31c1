/**
 * The search against the checker, the full memory model and the cost model: every
 * candidate accounted for once, nothing rejected as a misfit (pruned or sized) that
 * fits, every invalid one invalid, and a winner no fitting candidate beats.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { planCost } from '../../src/cost/index.js';
import { fitsAll } from '../../src/fit.js';
import { memoryPlan } from '../../src/memory/index.js';
import { checkCandidate, search, type SearchResult, type Target, type Workload } from '../../src/search/index.js';
import { allKnobs, exhaustive, loadTarget } from './helpers.js';

/** Each index 0..n−1 once, in ranked or in rejected. */
function expectAccounted(r: SearchResult, n: number): void {
  const seen = [...r.ranked.map((f) => f.index), ...r.rejected.map((x) => x.index)].sort((a, b) => a - b);
  expect(seen).toEqual([...Array(n).keys()]);
  const s = r.summary;
  expect(s.considered).toBe(n);
  expect(s.fit + s.misfit + s.pruned + s.slow + s.invalid.reduce((a, x) => a + x.count, 0)).toBe(n);
}

/** Every candidate rejected as not fitting, pruned ones included, re-run through the whole memory model. */
function expectMisfitsDoNotFit(r: SearchResult, target: Target, work: Workload): number {
  let n = 0;
  for (const x of r.rejected) {
    if (x.why.kind !== 'misfit' && x.why.kind !== 'pruned') continue;
    const { plan } = checkCandidate(x.knobs, target, work);
    expect(plan, JSON.stringify(x.knobs)).toBeDefined();
    expect(fitsAll(memoryPlan(plan!)), JSON.stringify(x.knobs)).toBe(false);
    n++;
  }
  return n;
}

function expectInvalidAreInvalid(r: SearchResult, target: Target, work: Workload): void {
  for (const x of r.rejected) {
    if (x.why.kind !== 'invalid') continue;
    const { plan, diagnostics } = checkCandidate(x.knobs, target, work);
    expect(plan).toBeUndefined();
    expect(diagnostics.find((d) => d.severity === 'error')?.code).toBe(x.why.code);
  }
}

describe('Llama-2-70B × 64 H100, training (global 1,024 × seq 4,096)', () => {
  const target = loadTarget('llama2-70b-h100x64.plan', 'llama2_70b', 'h100_8n');
  const work: Workload = { mode: 'train', global: 1024, seq: 4096 };
  let r: SearchResult;
  beforeAll(() => {
    r = search(target, work);
  });

  it('accounts for every candidate once and prunes a good share without sizing', () => {
    expectAccounted(r, allKnobs(target, work).length);
    expect(r.summary.fit).toBeGreaterThan(100);
    expect(r.summary.pruned).toBeGreaterThan(1000);
  });

  it('no candidate rejected as not fitting (sized or pruned) fits under the full memory model', () => {
    expect(expectMisfitsDoNotFit(r, target, work)).toBe(r.summary.misfit + r.summary.pruned);
  });

  it('every candidate rejected as invalid is rejected by the checker with that code', () => {
    expectInvalidAreInvalid(r, target, work);
  });

  it('no fitting candidate has a shorter estimated step than the winner (costs recomputed)', () => {
    const best = r.ranked[0]!;
    expect(best.warnings).toEqual([]);
    const winner = best.cost.train!.stepSeconds!;
    for (const f of r.ranked) {
      const { plan } = checkCandidate(f.knobs, target, work);
      const step = planCost(plan!, memoryPlan(plan!)).train!.stepSeconds!;
      expect(step).toBeGreaterThanOrEqual(f.warnings.length > 0 ? -Infinity : winner);
    }
    // Roughly 6 · 70e9 · 4.2M tokens at half of 64 H100s' peak: about a minute.
    expect(winner).toBeGreaterThan(40);
    expect(winner).toBeLessThan(120);
  });

  it('is deterministic', () => {
    const again = search(target, work);
    expect(again.ranked.map((f) => f.index)).toEqual(r.ranked.map((f) => f.index));
    expect(again.summary).toEqual(r.summary);
  });
});

describe('Llama-3-8B × 2 L4, serving (seq 8,192, TPOT ≤ 100 ms)', () => {
  const target = loadTarget('llama3-8b-l4x2.plan', 'llama3_8b', 'g2');
  const work: Workload = { mode: 'serve', seq: 8192, maxTpotSeconds: 0.1 };
  const r = search(target, work);
  const all = exhaustive(target, work);

  it('ranks exactly the candidates that fit within the bound, and the winner has the most tokens/s', () => {
    expectAccounted(r, all.length);
    const ok = all.filter((e) => e.fits && e.tpot! <= 0.1);
    expect(r.ranked.map((f) => f.index).sort((a, b) => a - b)).toEqual(ok.map((e) => e.index));
    expect(r.ranked[0]!.cost.serve!.decodeTokensPerSecond).toBe(-Math.min(...ok.map((e) => e.score!)));
    expect(r.ranked[0]!.cost.serve!.tpotSeconds!).toBeLessThanOrEqual(0.1);
  });

  it('rejects as misfits exactly those that do not fit, and as slow those over the bound', () => {
    expect(expectMisfitsDoNotFit(r, target, work)).toBe(all.filter((e) => e.valid && !e.fits).length);
    const slow = r.rejected.filter((x) => x.why.kind === 'slow').map((x) => x.index);
    expect(slow).toEqual(all.filter((e) => e.fits && e.tpot! > 0.1).map((e) => e.index));
  });

  it('a tighter bound lowers max_batch; an impossible one ranks nothing and names the fastest plan', () => {
    const tight = search(target, { ...work, maxTpotSeconds: 0.04 });
    const b = tight.ranked[0]!.knobs;
    expect(b.mode === 'serve' && b.maxBatch).toBeLessThan(r.ranked[0]!.knobs.mode === 'serve' ? r.ranked[0]!.knobs.maxBatch : 0);
    const none = search(target, { ...work, maxTpotSeconds: 0.001 });
    expect(none.ranked).toEqual([]);
    expect(none.summary.slow).toBe(r.summary.fit + r.summary.slow);
    const fastest = Math.min(...all.filter((e) => e.fits).map((e) => e.tpot!));
    expect(none.closest && 'cost' in none.closest && none.closest.cost.serve!.tpotSeconds).toBe(fastest);
  });
});

/** Small spaces, searched exhaustively: same fitting set, same best score. */
describe.each([
  ['llama3_8b', 'a100x8', { mode: 'train', global: 64, seq: 8192 }],
  // Embedding-heavy: ZeRO-3's gather buffer makes it heavier than ZeRO-2 on some meshes.
  ['wide_vocab', 'a100x8', { mode: 'train', global: 32, seq: 4096 }],
  ['tinyllama_1b', 'rtx4090x2', { mode: 'train', global: 32, seq: 2048 }],
  ['gpt2', 'l4x4', { mode: 'train', global: 64, seq: 1024 }],
  ['llama2_7b', 'l4x4', { mode: 'serve', seq: 4096, maxTpotSeconds: 0.1 }],
  ['llama2_70b', 'l4x4', { mode: 'train', global: 64, seq: 4096 }],
] as const)('%s on %s, exhaustively', (model, cluster, w) => {
  const work = w as Workload;
  const target = loadTarget('small.plan', model, cluster);
  const r = search(target, work);
  const all = exhaustive(target, work);
  const within = (e: (typeof all)[number]) => e.fits && (work.mode === 'train' || e.tpot! <= work.maxTpotSeconds);

  it('finds exactly the candidates that fit, and no pruned one fits', () => {
    expectAccounted(r, all.length);
    expect(r.ranked.map((f) => f.index).sort((a, b) => a - b)).toEqual(all.filter(within).map((e) => e.index));
    for (const x of r.rejected) if (x.why.kind === 'pruned' || x.why.kind === 'misfit') expect(all[x.index]!.fits).toBe(false);
  });

  it('ranks first a plan no clean fitting plan beats on the cost model', () => {
    if (r.ranked.length === 0) {
      expect(all.some(within)).toBe(false);
      expect(r.closest).toBeDefined();
      return;
    }
    const clean = new Set(r.ranked.filter((f) => f.warnings.length === 0).map((f) => f.index));
    const pool = all.filter((e) => within(e) && (clean.size === 0 || clean.has(e.index)));
    const score = all[r.ranked[0]!.index]!.score!;
    expect(score).toBe(Math.min(...pool.map((e) => e.score!)));
  });
});

it('ZeRO-3 is not always lighter than ZeRO-2 (why pruning compares it only with itself)', () => {
  const target = loadTarget('small.plan', 'wide_vocab', 'a100x8');
  const work: Workload = { mode: 'train', global: 32, seq: 4096 };
  const heavier = allKnobs(target, work).some((k) => {
    if (k.mode !== 'train' || k.zero !== 3) return false;
    const z3 = checkCandidate(k, target, work).plan;
    const z2 = checkCandidate({ ...k, zero: 2 }, target, work).plan;
    if (!z3 || !z2) return false;
    const m2 = memoryPlan(z2).devices;
    return memoryPlan(z3).devices.some((d, i) => d.totalBytes > m2[i]!.totalBytes);
  });
  expect(heavier).toBe(true);
});
