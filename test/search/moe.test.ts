/**
 * Suggest on a MoE model searches the expert grid: candidates obey the expert rules, and when only
 * expert parallelism makes the experts fit (computed here from the model's sizes, not by parplan's
 * memory model), the plan it proposes is an expert-parallel one, pinned with `expert`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeHost } from '../../src/load.js';
import { exportPlan } from '../../src/export/index.js';
import { fitsAll } from '../../src/fit.js';
import { memoryPlan } from '../../src/memory/index.js';
import { checkCandidate, search, type SearchResult, type Workload } from '../../src/search/index.js';
import { pinnedText, recheck } from '../../src/search/pinned.js';
import { expertGrids } from '../../src/search/space.js';
import { allKnobs, FIXTURES, loadTarget } from './helpers.js';

// wide_moe in fixtures/moe.plan, as written there.
const LAYERS = 2;
const HIDDEN = 4096;
const EXPERTS = 64;
const EXPERT_FFN = 32766;
/** Gated experts (SwiGLU): gate, up and down, bf16. */
const EXPERT_LAYER_BYTES = EXPERTS * 3 * HIDDEN * EXPERT_FFN * 2;

describe('suggest on a MoE model (wide_moe, 8 × L4, serving)', () => {
  const target = loadTarget('moe.plan', 'wide_moe', 'l4x8');
  const work: Workload = { mode: 'serve', seq: 512, maxTpotSeconds: 0.1 };
  const usable = target.cluster.gpu.memoryBytes * 0.9; // reserve 10%, the default
  let r: SearchResult;
  beforeAll(() => {
    r = search(target, work);
  });

  it("training grids: exactly Megatron-Core's (expert tensor = tensor or 1, expert × expert tensor divides tensor × data)", () => {
    for (const t of [1, 2, 4, 8]) {
      for (const d of [1, 2, 4, 8].filter((x) => t * x <= 8)) {
        const want: string[] = [];
        for (const etp of [...new Set([t, 1])])
          for (let e = 1; e <= t * d; e++) if (EXPERTS % e === 0 && (t * d) % (e * etp) === 0) want.push(`${e}×${etp}`);
        expect(
          expertGrids(t, d, EXPERTS, 'train')
            .map((g) => `${g.expert}×${g.expertTensor}`)
            .sort(),
          `tensor ${t} data ${d}`,
        ).toEqual(want.sort());
      }
    }
  });

  it('serving grids: every candidate that checks is one vLLM can launch (no expert error from the export)', () => {
    const knobs = allKnobs(target, work);
    expect(knobs.every((k) => k.expert !== undefined && k.expertTensor !== undefined)).toBe(true);
    let exported = 0;
    for (const k of knobs.filter((k) => k.mode === 'serve' && k.maxBatch === 1)) {
      const { plan } = checkCandidate(k, target, work);
      if (!plan) continue;
      const out = exportPlan('vllm', plan);
      expect(
        out.diagnostics.filter((d) => d.code === 'PP8002'),
        JSON.stringify(k),
      ).toEqual([]);
      exported++;
    }
    expect(exported).toBeGreaterThan(3);
  });

  it('without expert parallelism the experts alone overflow every GPU', () => {
    // Without expert parallelism each expert splits over expert-tensor ranks, which must divide its width
    // (2 × 16383: at most 2 of the 8 GPUs), and the layers over at most 2 stages (one layer each).
    const etp = Math.max(...[1, 2, 4, 8].filter((x) => EXPERT_FFN % x === 0));
    const most = etp * LAYERS;
    expect(most).toBe(4);
    expect((LAYERS * EXPERT_LAYER_BYTES) / most).toBeGreaterThan(usable);
    for (const x of r.rejected.filter((x) => x.knobs.expert === 1)) expect(x.why.kind, JSON.stringify(x.knobs)).not.toBe('slow');
    expect(r.ranked.filter((f) => f.knobs.expert === 1)).toEqual([]);
  });

  it('with the experts split 8 ways they fit, and the winner is expert-parallel', () => {
    // Experts over 8 GPUs, plus every other weight (attention, router, embedding, output) unsplit, fit in a GPU.
    const others = LAYERS * (4 * HIDDEN * HIDDEN + HIDDEN * EXPERTS) * 2 + 2 * 32000 * HIDDEN * 2;
    expect((LAYERS * EXPERT_LAYER_BYTES) / 8 + others).toBeLessThan(usable);
    expect(r.ranked.length).toBeGreaterThan(0);
    const best = r.ranked[0]!;
    expect(best.knobs.expert! * best.knobs.expertTensor! * best.knobs.pipeline).toBeGreaterThanOrEqual(8);
    expect(best.plan.experts.expert).toBeGreaterThan(1);
  });

  it('pins the winner with expert and expert_tensor, and the file checks to the same plan', () => {
    const best = r.ranked[0]!;
    const dir = mkdtempSync(join(tmpdir(), 'parplan-moe-'));
    const file = join(dir, 'best.plan');
    const text = pinnedText(best.plan, { name: 'best', importPath: resolve(FIXTURES, 'moe.plan'), header: ['test'] });
    expect(text).toMatch(new RegExp(`\\n  expert += ${best.plan.experts.expert}\\n`));
    expect(text).toMatch(new RegExp(`\\n  expert_tensor += ${best.plan.experts.tensor}\\n`));
    writeFileSync(file, text);
    expect(recheck(text, file, best.plan, nodeHost, '/')).toBeUndefined();
  });
});

describe('suggest on a MoE model (small_moe, 8 × L4, training): pruning across expert grids', () => {
  const target = loadTarget('moe.plan', 'small_moe', 'l4x8');
  const work: Workload = { mode: 'train', global: 256, seq: 4096 };
  let r: SearchResult;
  beforeAll(() => {
    r = search(target, work);
  });

  it('searches several expert degrees and accounts for every candidate once', () => {
    const n = allKnobs(target, work).length;
    const seen = [...r.ranked.map((f) => f.index), ...r.rejected.map((x) => x.index)].sort((a, b) => a - b);
    expect(seen).toEqual([...Array(n).keys()]);
    expect(new Set(r.ranked.map((f) => f.knobs.expert)).size).toBeGreaterThan(2);
  });

  it('no candidate rejected as not fitting (sized or pruned) fits under the full memory model', () => {
    const gone = r.rejected.filter((x) => x.why.kind === 'misfit' || x.why.kind === 'pruned');
    expect(gone.filter((x) => x.why.kind === 'pruned').length).toBeGreaterThan(100);
    for (const x of gone) {
      const { plan } = checkCandidate(x.knobs, target, work);
      expect(fitsAll(memoryPlan(plan!)), JSON.stringify(x.knobs)).toBe(false);
    }
  });
});
