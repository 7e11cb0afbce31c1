/**
 * 100,000 mutated plans through parse → check → memory → fit. Reports failures
 * with their seed (replay: `npx tsx bench/fuzz.ts --seed N --count 1`).
 */
import { corpus, fuzzOnce } from '../test/fuzz/mutate.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const count = arg('count', 100_000);
const first = arg('seed', 1);
const files = corpus();
const t0 = performance.now();
let failures = 0;
for (let seed = first; seed < first + count; seed++) {
  const r = fuzzOnce(files, seed);
  if (r.problems.length > 0) {
    failures++;
    if (failures <= 10) console.log(`seed ${seed} (${r.path}): ${r.problems.join('; ')}`);
  }
  if ((seed - first + 1) % 10_000 === 0) console.log(`${seed - first + 1} mutants, ${failures} failures, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const s = (performance.now() - t0) / 1000;
console.log(`fuzz: ${count} mutants in ${s.toFixed(1)} s (${Math.round(count / s)}/s), ${failures} failures`);
process.exitCode = failures > 0 ? 1 : 0;
