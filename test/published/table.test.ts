/**
 * Published measurements against parplan's estimates (issue 14): every row in rows/*.ts is
 * one run someone measured and published; its plan must check clean and its estimate must be
 * within the row's tolerance (±10% unless the row says why not).
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { estimateGiB } from './estimate.js';
import type { PublishedRow } from './types.js';

const dir = new URL('./rows/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .sort();
const rows: PublishedRow[] = [];
for (const f of files) rows.push(...((await import(new URL(f, dir).href)) as { rows: PublishedRow[] }).rows);

describe('published measurements', () => {
  it('has rows, with unique ids', () => {
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });

  for (const row of rows) {
    it(`${row.id}: ${row.recipe}`, () => {
      const tolerance = row.tolerance ?? 0.1;
      if (tolerance > 0.1) expect(row.note, 'a band wider than ±10% says why').toBeTruthy();
      const got = estimateGiB(row);
      const ratio = got / row.publishedGiB;
      expect(
        Math.abs(ratio - 1),
        `${row.id}: estimate ${got.toFixed(2)} GiB vs published ${row.publishedGiB} GiB (ratio ${ratio.toFixed(3)})`,
      ).toBeLessThanOrEqual(tolerance);
    });
  }
});
