/**
 * Compile time and graph size (reported, not asserted). For each example plan:
 * lowering + serialising to JSON (what `parplan compile` writes), the graph's size,
 * and, separately, the validation by simulation.
 * Targets: the Megatron 1T plan (examples/megatron-1t-a100-train.plan) compiles in
 * under 1 s into at most 50 MB. With `--cpu`, compile and simulate times are CPU time
 * (process.cpuUsage: user + system), steadier than wall time on a shared machine; `--runs N`
 * compiles and simulates each plan N times (default 3), after one warm-up run, and keeps the best
 * of each (one cold run of a small plan measures the JIT more than the code).
 * Usage: node --import tsx bench/compile.ts [--cpu] [--runs N] [files…]
 */
import { analyze } from '../src/analyze.js';
import { ratesFor } from '../src/compile.js';
import { simulate } from '../src/graph/simulate.js';
import { lower } from '../src/lower/index.js';

const argv = process.argv.slice(2);
const cpu = argv.includes('--cpu');
const runsAt = argv.indexOf('--runs');
const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : 3;
const paths = argv.filter((a, i) => a !== '--cpu' && a !== '--runs' && i !== runsAt + 1);
if (!(runs >= 1)) throw new Error('--runs takes a count of at least 1');
/** Milliseconds now: of CPU time with --cpu, else of wall time. */
const now = cpu
  ? () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    }
  : () => performance.now();
const analysis = analyze(paths.length > 0 ? paths : ['examples/']);
const unit = cpu ? 'CPU ms' : 'ms';
const rows: string[][] = [['plan', 'devices', `compile ${unit}`, 'graph MB', 'programs', `simulate ${unit}`, 'sim ranks']];
for (const r of analysis.results) {
  lower(r.plan, r.memory); // warm up the JIT on this plan's shape
  let best = Infinity;
  let json = '';
  for (let i = 0; i < runs; i++) {
    const t0 = now();
    const g = lower(r.plan, r.memory);
    json = JSON.stringify(g);
    best = Math.min(best, now() - t0);
  }
  const graph = lower(r.plan, r.memory);
  simulate(graph, { rates: ratesFor(r.plan) }); // warm up, as for the lowering
  let simMs = Infinity;
  let sim!: ReturnType<typeof simulate>;
  for (let i = 0; i < runs; i++) {
    const t1 = now();
    sim = simulate(graph, { rates: ratesFor(r.plan) });
    simMs = Math.min(simMs, now() - t1);
  }
  rows.push([
    r.plan.name,
    String(graph.devices.length),
    best.toFixed(0),
    (json.length / 1e6).toFixed(2),
    String(Object.keys(graph.programs).length),
    simMs.toFixed(0),
    String(sim.ranks.length),
  ]);
  if (!sim.ok) console.error(`${r.plan.name}: simulation found problems: ${sim.problems.slice(0, 3).join('; ')}`);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
