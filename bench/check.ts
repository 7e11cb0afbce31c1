/**
 * How fast is `parplan check`? Reports (never asserts):
 *  - cold: median wall time of `node dist/src/cli/main.js check examples/` over N runs,
 *    divided by the median of `node -e 0` (target ≤ 3×: load only what checking needs);
 *  - warm: plans checked per second in one process (parse + check + memory + fit).
 * Run `npm run build` first. Usage: npx tsx bench/check.ts [--runs 15]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { analyze } from '../src/analyze.js';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 15;
const cli = 'dist/src/cli/main.js';
if (!existsSync(cli)) {
  console.error(`${cli} is missing: run \`npm run build\` first`);
  process.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function wall(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// Interleave the two commands so machine noise hits both alike.
const base: number[] = [];
const check: number[] = [];
wall([cli, 'check', 'examples/']); // warm the file cache
for (let i = 0; i < runs; i++) {
  base.push(wall(['-e', '0']));
  check.push(wall([cli, 'check', 'examples/']));
}
const b = median(base);
const c = median(check);
console.log(`cold: node -e 0 ${b.toFixed(0)} ms; parplan check examples/ ${c.toFixed(0)} ms; ratio ${(c / b).toFixed(2)}× (target ≤ 3×), median of ${runs}`);

// Warm: the same directory analysed repeatedly in this process.
let plans = 0;
analyze(['examples/']);
const t0 = performance.now();
while (performance.now() - t0 < 3000) plans += analyze(['examples/']).results.length;
const s = (performance.now() - t0) / 1000;
console.log(`warm: ${Math.round(plans / s)} plans/s (${plans} plans in ${s.toFixed(1)} s, files re-read and re-parsed each time)`);
