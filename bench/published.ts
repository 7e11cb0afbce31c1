/**
 * The published-measurements table (test/published/rows/*.ts): each run's published memory,
 * parplan's estimate now and before issue 14, and the ratios. Reports, never asserts (the
 * test asserts). Usage: node --import tsx bench/published.ts [--json]
 */
import { readdirSync } from 'node:fs';
import { estimateGiB } from '../test/published/estimate.js';
import type { PublishedRow } from '../test/published/types.js';

const dir = new URL('../test/published/rows/', import.meta.url);
const rows: PublishedRow[] = [];
for (const f of readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .sort())
  rows.push(...((await import(new URL(f, dir).href)) as { rows: PublishedRow[] }).rows);

const out = rows.map((r) => {
  let now: number | string;
  try {
    now = estimateGiB(r);
  } catch (e) {
    now = (e as Error).message;
  }
  const before = r.beforeGiB;
  return {
    id: r.id,
    recipe: r.recipe,
    measure: r.measure ?? 'gpu',
    publishedGiB: r.publishedGiB,
    estimateGiB: typeof now === 'number' ? +now.toFixed(2) : null,
    ratio: typeof now === 'number' ? +(now / r.publishedGiB).toFixed(3) : null,
    beforeGiB: before ?? null,
    beforeRatio: typeof before === 'number' ? +(before / r.publishedGiB).toFixed(3) : null,
    tolerance: r.tolerance ?? 0.1,
    error: typeof now === 'string' ? now : undefined,
    source: r.source,
  };
});
if (process.argv.includes('--json')) console.log(JSON.stringify(out, null, 2));
else {
  console.log('| run | published GiB | estimate GiB | ratio | before GiB | before ratio | band |');
  console.log('|---|---|---|---|---|---|---|');
  const f = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
  for (const o of out)
    console.log(
      `| ${o.id}: ${o.recipe}${o.measure === 'host' ? ' (host)' : ''} | ${o.publishedGiB} | ${o.error ? `error: ${o.error}` : f(o.estimateGiB)} | ${f(o.ratio, 3)} | ${o.beforeGiB === null ? 'not expressible' : f(o.beforeGiB)} | ${f(o.beforeRatio, 3)} | ±${Math.round(o.tolerance * 100)}% |`,
    );
}
