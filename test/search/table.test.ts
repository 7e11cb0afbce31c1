/**
 * `suggest`'s serving tables: every cell stands under its header. Both serving tables share
 * their plan columns (SERVE_PLAN_HEADERS in src/search/render.ts); each row's cells are read
 * back by header name and compared with the candidate they describe.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { worstDevice } from '../../src/fit.js';
import type { ServePlan } from '../../src/plan.js';
import { gib } from '../../src/render/common.js';
import { search, type Workload } from '../../src/search/index.js';
import { gpusOf } from '../../src/search/rank.js';
import { table } from '../../src/search/render.js';
import { FIXTURES, loadTarget } from './helpers.js';

function setup() {
  const target = loadTarget('llama3-8b-h100x8-traffic.plan', 'llama3_8b', 'h100_node');
  const plan = analyze([join(FIXTURES, 'llama3-8b-h100x8-traffic.plan')]).results[0]!.plan as ServePlan;
  return { target, plan };
}

describe('suggest --mode serve tables', () => {
  const { target, plan } = setup();
  const cases: [string, Workload][] = [
    ['without traffic', { mode: 'serve', seq: plan.batch.seq, maxTpotSeconds: 0.1 }],
    [
      'under traffic',
      {
        mode: 'serve',
        seq: plan.batch.seq,
        maxTpotSeconds: Infinity,
        traffic: { plan: plan.name, traffic: plan.traffic!, slo: plan.slo!, maxWaitMs: plan.batch.maxWaitMs, queue: plan.batch.queue },
      },
    ],
  ];
  for (const [name, work] of cases)
    it(`${name}: each cell under its header`, () => {
      const ranked = search(target, work).ranked.slice(0, 5);
      expect(ranked.length).toBeGreaterThan(1);
      const lines = table(ranked, 'serve', work.mode === 'serve' && work.traffic !== undefined);
      // Columns are two or more spaces apart; no cell but the last (warnings) holds two spaces or is empty.
      const headers = lines[0]!.split(/\s{2,}/);
      expect(headers.slice(1, 4)).toContain('tensor');
      lines.slice(1).forEach((line, i) => {
        const f = ranked[i]!;
        const cells = line.trim().split(/\s{2,}/);
        const at = (h: string) => {
          expect(headers, h).toContain(h);
          return cells[headers.indexOf(h)];
        };
        const p = f.plan as ServePlan;
        expect(at('#')).toBe(String(i + 1));
        if (work.mode === 'serve' && work.traffic) expect(at('GPUs')).toBe(String(gpusOf(f)));
        expect(at('tensor')).toBe(String(p.mesh.tensor));
        expect(at('pipeline')).toBe(String(p.mesh.pipeline));
        expect(at('replicas')).toBe(String(p.mesh.data));
        expect(at('max_batch')).toBe(String(p.batch.maxBatch));
        expect(at('prefill chunk')).toBe(String(p.batch.maxPrefillTokens));
        expect(at('memory/GPU')).toBe(`${gib(worstDevice(f.memory).totalBytes)} GiB`);
        expect(at('headroom')).toBe(`${gib(f.size.headroomBytes)} GiB`);
      });
    });
});
