/**
 * Mutated inputs through one part of parplan; reports failures with their seed.
 * Targets (test/fuzz/targets.ts): `plan` (default: parse → check → memory → fit, 100,000),
 * `ts` (TypeScript with embedded plans → the static reader), `fmt` (formatPlanText),
 * `export` (every exporter on every plan that checks), `suggest` (the search, small clusters),
 * `imports` (hostile import paths on a real temporary repository) and `huge` (large and deep
 * inputs; peak memory is reported): test/fuzz/hostile.ts. `hfconfig` (10,000 mutated
 * Hugging Face configs through hf_config and `parplan import`): test/fuzz/hfconfig.ts.
 * `http` (test/fuzz/http.ts): hostile clients against a loopback server, then a shutdown.
 * `graph` (bench/fuzz-graph.ts: mutated serving graphs through the graph validator, 100,000;
 * `--runtime N`: N accepted ones on to createRuntime and a generation).
 * Usage: node --import tsx bench/fuzz.ts [--target plan|ts|fmt|export|suggest|imports|huge|hfconfig|http|graph] [--count N] [--seed N]
 * Replay one failure: add `--seed N --count 1 --show`.
 */
import { corpus, fuzzOnce } from '../test/fuzz/mutate.js';
import { tsCorpus } from '../test/fuzz/ts-corpus.js';
import {
  fuzzExportOnce,
  fuzzFmtOnce,
  fuzzSuggestOnce,
  fuzzTsOnce,
  TARGETS,
  tsWorkspace,
  type Outcome,
  type Target,
} from '../test/fuzz/targets.js';
import { fuzzHugeOnce, fuzzImportsOnce, hugeStats, importsWorkspace } from '../test/fuzz/hostile.js';
import { configCorpus, fuzzHfConfigOnce } from '../test/fuzz/hfconfig.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const targetArg = process.argv.indexOf('--target');
const target = (targetArg >= 0 ? process.argv[targetArg + 1] : 'plan') as Target;
if ((target as string) === 'http') process.exit(await fuzzHttpMain());
if ((target as string) === 'graph') {
  await import('./fuzz-graph.js');
  process.exit();
}
if (!TARGETS.includes(target)) {
  console.error(`unknown --target '${target}'; one of ${TARGETS.join(', ')}, graph`);
  process.exit(2);
}
const DEFAULT_COUNT: Record<Target, number> = {
  plan: 100_000,
  ts: 20_000,
  fmt: 100_000,
  export: 50_000,
  suggest: 500,
  imports: 100_000,
  huge: 2_000,
  hfconfig: 10_000,
};
const count = arg('count', DEFAULT_COUNT[target]);
const first = arg('seed', 1);
const show = process.argv.includes('--show');

const plans = corpus();
const workspace = target === 'ts' ? tsWorkspace(tsCorpus()) : undefined;
const importsWs = target === 'imports' ? importsWorkspace() : undefined;
const configs = target === 'hfconfig' ? configCorpus() : new Map<string, string>();
const once = (seed: number): Outcome | Promise<Outcome> => {
  switch (target) {
    case 'plan':
      return { ...fuzzOnce(plans, seed), reached: true };
    case 'ts':
      return fuzzTsOnce(workspace!, seed);
    case 'fmt':
      return fuzzFmtOnce(plans, seed);
    case 'export':
      return fuzzExportOnce(plans, seed);
    case 'suggest':
      return fuzzSuggestOnce(plans, seed);
    case 'imports':
      return fuzzImportsOnce(importsWs!, seed);
    case 'huge':
      return fuzzHugeOnce(seed);
    case 'hfconfig':
      return fuzzHfConfigOnce(configs, seed);
  }
};

const t0 = performance.now();
let failures = 0;
let reached = 0;
const every = Math.max(1, Math.min(10_000, Math.round(count / 10)));
for (let seed = first; seed < first + count; seed++) {
  const r = await once(seed);
  if (r.reached) reached++;
  if (show) console.log(`--- seed ${seed} (${r.path}) ---\n${r.text}`);
  if (r.problems.length > 0) {
    failures++;
    if (failures <= 10) console.log(`seed ${seed} (${r.path}): ${r.problems.join('; ')}`);
  }
  if ((seed - first + 1) % every === 0)
    console.log(`${seed - first + 1} mutants, ${failures} failures, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
workspace?.cleanup();
importsWs?.cleanup();
const s = (performance.now() - t0) / 1000;
console.log(
  `fuzz --target ${target}: ${count} mutants in ${s.toFixed(1)} s (${Math.round(count / s)}/s), ${reached} reached the part under test, ${failures} failures, peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`,
);
if (target === 'huge')
  console.log(
    `huge: slowest case ${Math.round(hugeStats.maxMs)} ms; most output ${hugeStats.maxOutputRatio.toFixed(1)} bytes per input byte (${hugeStats.worstKind})`,
  );
process.exitCode = failures > 0 ? 1 : 0;

/** `--target http`: its own loop (cases run concurrently against one server); the exit code. */
async function fuzzHttpMain(): Promise<number> {
  const { fuzzHttp, HANG_MS, RSS_GROWTH_BOUND } = await import('../test/fuzz/http.js');
  const count = arg('count', 100_000);
  const start = performance.now();
  const r = await fuzzHttp({
    count,
    first: arg('seed', 1),
    concurrency: arg('concurrency', 32),
    progress: (done, failures) =>
      console.log(
        `${done} cases, ${failures} failures, ${((performance.now() - start) / 1000).toFixed(1)} s, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
      ),
  });
  for (const f of r.failures.slice(0, 10)) console.log(f);
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  console.log(
    `fuzz --target http: ${r.cases} cases in ${r.seconds.toFixed(1)} s (${Math.round(r.cases / r.seconds)}/s), ${r.failures.length} failures; ` +
      `answers ${statuses}; ${r.unanswered} cut or refused; slowest case ${Math.round(r.slowestMs)} ms (hang: ${HANG_MS} ms); ` +
      `peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB (+${(r.rssGrowth / 2 ** 20).toFixed(0)} MiB, bound +${RSS_GROWTH_BOUND / 2 ** 20} MiB); shutdown ${Math.round(r.shutdownMs)} ms`,
  );
  return r.failures.length > 0 ? 1 : 0;
}
