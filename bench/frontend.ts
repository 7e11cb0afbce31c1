/**
 * The front end's scaling: parse + check time and peak memory for generated valid plan
 * text of 1, 10 and 100 MB (test/hostile/large-plans.ts), through the library: `parse()`
 * of the whole text as one string, then `analyze()` of the same text as files of at most
 * LIMITS.planFileBytes in an in-memory Host (the CLI refuses larger files; the library
 * must still scale linearly). Each size runs in its own process: peak memory is its
 * maxRSS above the RSS once everything is loaded and warmed up.
 * Usage: node --import tsx bench/frontend.ts [--sizes 1,10,100] [--json]
 *        (the measuring child: bench/frontend.ts --child MB)
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse } from '../grammar/index.js';
import { analyze } from '../src/analyze.js';
import { LIMITS } from '../src/facts/limits.js';
import { projectHost, validPlanText } from '../test/hostile/large-plans.js';

export interface FrontendFigures {
  mb: number;
  /** Milliseconds: parse of the whole text, then analyze of the files. */
  parseMs: number;
  checkMs: number;
  /** Peak RSS above the warmed-up process, in MB. */
  peakMB: number;
  declarations: number;
  plans: number;
  diagnostics: number;
}

function measure(mb: number): FrontendFigures {
  const bytes = mb * 1e6;
  const text = validPlanText(bytes);
  const project = projectHost(bytes, LIMITS.planFileBytes);
  const paths = Array.from({ length: project.files - 1 }, (_, k) => `/part${k}.plan`);
  // Warm up: load every module and JIT the paths on a small input.
  const small = projectHost(20_000, LIMITS.planFileBytes);
  parse(validPlanText(20_000), '/warm.plan');
  analyze(['/part0.plan'], { host: small.host });
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  // Only the count is kept: the two halves are measured one after the other, not together.
  const declarations = parse(text, '/big.plan').ast.declarations.length;
  const t1 = performance.now();
  const a = analyze(paths, { host: project.host });
  const t2 = performance.now();
  const peakMB = (process.resourceUsage().maxRSS * 1024 - rss0) / 1e6;
  return { mb, parseMs: t1 - t0, checkMs: t2 - t1, peakMB, declarations, plans: a.results.length, diagnostics: a.diagnostics.length };
}

/** Runs `measure(mb)` in a fresh process (with --expose-gc and room for the heap). */
export function measureInChild(mb: number, heapMB = 16_384): FrontendFigures {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', `--max-old-space-size=${heapMB}`, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(mb)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as FrontendFigures;
}

const argv = process.argv;
if (argv[1] && fileURLToPath(import.meta.url) === argv[1]) {
  const child = argv.indexOf('--child');
  if (child >= 0) {
    console.log(JSON.stringify(measure(Number(argv[child + 1]))));
  } else {
    const sizesArg = argv.indexOf('--sizes');
    const sizes = (sizesArg >= 0 ? argv[sizesArg + 1]! : '1,10,100').split(',').map(Number);
    const rows: FrontendFigures[] = [];
    for (const mb of sizes) {
      try {
        rows.push(measureInChild(mb));
      } catch (e) {
        console.error(`${mb} MB: the child failed (${(e as Error).message.split('\n')[0]})`);
      }
    }
    if (argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
    else {
      console.log('MB     parse ms  check ms  peak MB  peak B/B  ms/MB  declarations  plans');
      for (const r of rows) {
        const ms = r.parseMs + r.checkMs;
        console.log(
          `${String(r.mb).padEnd(5)} ${r.parseMs.toFixed(0).padStart(9)} ${r.checkMs.toFixed(0).padStart(9)} ${r.peakMB.toFixed(0).padStart(8)} ${(r.peakMB / r.mb).toFixed(0).padStart(9)} ${(ms / r.mb).toFixed(0).padStart(6)} ${String(r.declarations).padStart(13)} ${String(r.plans).padStart(6)}`,
        );
      }
    }
  }
}
