/**
 * How fast is `parplan suggest`? Reports (never asserts), per case: candidates searched per
 * second and the wall time of the search in one warm process (median of N runs), and the
 * cold wall time of the whole command (`node --import tsx src/cli/main.ts suggest …`, which
 * includes loading TypeScript: the built CLI is faster).
 * Target: a few seconds at most for Llama-2-70B × 64 H100. Usage: node --import tsx bench/suggest.ts [--runs 5] [--only TEXT]
 * (--only: the cases whose name contains TEXT). The traffic case simulates every fitting candidate's latency.
 */
import { spawnSync } from 'node:child_process';
import type { Diagnostic } from '../src/diagnostics/diagnostic.js';
import { analyze } from '../src/analyze.js';
import { loadProgram, nodeHost } from '../src/load.js';
import { search, targetOf, type Workload } from '../src/search/index.js';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 5;
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? process.argv[onlyArg + 1]! : '';

interface Case {
  name: string;
  file: string;
  model: string;
  cluster: string;
  work: Workload;
  /** Serving under this plan's traffic and slo blocks (as the command finds them). */
  trafficPlan?: string;
}

const CASES: Case[] = [
  {
    name: 'Llama-2-70B × 64 H100, training (global 1,024 × seq 4,096)',
    file: 'test/search/fixtures/llama2-70b-h100x64.plan',
    model: 'llama2_70b',
    cluster: 'h100_8n',
    work: { mode: 'train', global: 1024, seq: 4096 },
  },
  {
    name: 'Llama-3-8B × 2 L4, serving (seq 8,192, TPOT ≤ 100 ms)',
    file: 'test/search/fixtures/llama3-8b-l4x2.plan',
    model: 'llama3_8b',
    cluster: 'g2',
    work: { mode: 'serve', seq: 8192, maxTpotSeconds: 0.1 },
  },
  {
    name: 'Llama-3-8B × 8 H100, serving under traffic (plan chat_peak: 60 requests/s, TTFT p99 ≤ 500 ms, TPOT p99 ≤ 50 ms)',
    file: 'test/search/fixtures/llama3-8b-h100x8-traffic.plan',
    model: 'llama3_8b',
    cluster: 'h100_node',
    work: { mode: 'serve', seq: 4096, maxTpotSeconds: Infinity },
    trafficPlan: 'chat_peak',
  },
  {
    name: 'Llama-2-70B × 64 H100, serving (seq 4,096, TPOT ≤ 100 ms)',
    file: 'test/search/fixtures/llama2-70b-h100x64.plan',
    model: 'llama2_70b',
    cluster: 'h100_8n',
    work: { mode: 'serve', seq: 4096, maxTpotSeconds: 0.1 },
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function targetFor(c: Case) {
  const out: Diagnostic[] = [];
  const program = loadProgram(c.file, nodeHost, new Map(), out);
  const decls = program?.files.flatMap((f) => f.declarations) ?? [];
  const find = (kind: string, name: string) => decls.find((d) => d.keyword === kind && d.name === name)!;
  const target = targetOf(find('model', c.model), find('cluster', c.cluster), out);
  if (!target) throw new Error(`${c.file}: ${out.map((d) => d.message).join('; ')}`);
  return target;
}

/** The workload with the traffic plan's blocks, as `suggest` builds it. */
function workFor(c: Case): Workload {
  if (!c.trafficPlan || c.work.mode !== 'serve') return c.work;
  const plan = analyze([c.file]).results.find((r) => r.plan.name === c.trafficPlan)?.plan;
  if (!plan || plan.mode !== 'serve' || !plan.traffic || !plan.slo)
    throw new Error(`${c.file}: no serving plan ${c.trafficPlan} with traffic and slo`);
  return {
    ...c.work,
    traffic: { plan: plan.name, traffic: plan.traffic, slo: plan.slo, maxWaitMs: plan.batch.maxWaitMs, queue: plan.batch.queue },
  };
}

for (const c of CASES.filter((x) => x.name.includes(only))) {
  const target = targetFor(c);
  c.work = workFor(c);
  search(target, c.work); // warm up the JIT
  const times: number[] = [];
  const cpu: number[] = [];
  let considered = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const u0 = process.cpuUsage();
    const r = search(target, c.work);
    const u = process.cpuUsage(u0);
    times.push(performance.now() - t0);
    cpu.push((u.user + u.system) / 1000);
    considered = r.summary.considered;
  }
  const ms = median(times);
  const t0 = performance.now();
  const cli = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'suggest', c.file, '--model', c.model, '--cluster', c.cluster, '--mode', c.work.mode],
    { encoding: 'utf8' },
  );
  const cold = performance.now() - t0;
  if (cli.status !== 0) throw new Error(`suggest exited ${cli.status}: ${cli.stderr}`);
  console.log(`${c.name}`);
  console.log(
    `  warm: ${considered} candidates in ${ms.toFixed(0)} ms wall, ${median(cpu).toFixed(0)} ms CPU (medians of ${runs}) = ${Math.round((considered / ms) * 1000)} candidates/s`,
  );
  console.log(`  cold: the whole command ${cold.toFixed(0)} ms (node + tsx + search + output)`);
}
