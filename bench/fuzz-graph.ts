/**
 * `bench/fuzz.ts --target graph`: mutated serving graphs (test/fuzz/graph.ts) through the
 * graph validator that `parplan serve` and `createRuntime` run; reports crashes (a throw, a
 * problem without a path), hangs (a case over 5 s), accepted mutants and peak memory.
 * `--runtime N`: the first N mutants the validator accepts go on to createRuntime (WebGPU:
 * lavapipe here) with random weights and one generation; every failure there must be one
 * of the runtime's typed errors, within 5 s plus the load.
 * Usage: node --import tsx bench/fuzz.ts --target graph [--count N] [--seed N] [--runtime N [--why]] [--show]
 */
import { fuzzGraphOnce, graphCorpus, GRAPH_HANG_MS, runtimeOnce } from '../test/fuzz/graph.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const count = arg('count', 100_000);
const first = arg('seed', 1);
const runtimeSample = arg('runtime', 0);
const show = process.argv.includes('--show');
/** Print why each accepted mutant the runtime did not serve failed. */
const why = process.argv.includes('--why');

const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
const corpus = graphCorpus();
const t0 = performance.now();
let failures = 0;
let reached = 0;
let accepted = 0;
let slowest = 0;
let peakRss = process.memoryUsage().rss;
const acceptedSeeds: number[] = [];
const every = Math.max(1, Math.min(10_000, Math.round(count / 10)));
for (let seed = first; seed < first + count; seed++) {
  const c0 = performance.now();
  const r = fuzzGraphOnce(corpus, seed);
  slowest = Math.max(slowest, performance.now() - c0);
  if (r.reached) reached++;
  if (r.accepted) {
    accepted++;
    if (acceptedSeeds.length < runtimeSample) acceptedSeeds.push(seed);
  }
  if (show) console.log(`--- seed ${seed} (${r.path}) ---\n${r.text}`);
  if (r.problems.length > 0) {
    failures++;
    if (failures <= 10) console.log(`seed ${seed} (${r.path}): ${r.problems.join('; ')}`);
  }
  if ((seed - first + 1) % 100 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  if ((seed - first + 1) % every === 0)
    console.log(
      `${seed - first + 1} mutants, ${failures} failures, ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${mib(process.memoryUsage().rss)}`,
    );
}
const s = (performance.now() - t0) / 1000;
console.log(
  `fuzz --target graph: ${count} mutants in ${s.toFixed(1)} s (${Math.round(count / s)}/s), ${reached} reached the validator, ${accepted} accepted, ${failures} failures (throws, unplaced problems, over ${GRAPH_HANG_MS} ms); slowest case ${slowest.toFixed(1)} ms; peak RSS ${mib(peakRss)}`,
);

if (runtimeSample > 0) {
  // Accepted mutants on to the runtime: each either serves a generation or fails with a typed error.
  const outcomes = new Map<string, number>();
  let crashes = 0;
  for (const seed of acceptedSeeds) {
    const r = await runtimeOnce(corpus, seed);
    const kind = r.outcome.split(':')[0]!;
    outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    if (r.problems.length > 0 && ++crashes <= 10) console.log(`runtime seed ${seed}: ${r.problems.join('; ')}`);
    else if (why && r.outcome !== 'served') console.log(`runtime seed ${seed}: ${r.outcome}`);
  }
  console.log(
    `runtime sample: ${acceptedSeeds.length} accepted mutants through createRuntime + generate: ${[...outcomes].map(([k, v]) => `${v} ${k}`).join(', ')}; ${crashes} crashes`,
  );
  if (crashes > 0) failures++;
}
process.exitCode = failures > 0 ? 1 : 0;
