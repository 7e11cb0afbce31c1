/**
 * How fast is `parplan check`? Reports (never asserts):
 *  - cold: median wall time of `node dist/src/cli/main.js check` on every `.plan` file under
 *    examples/ over N runs, divided by the median of `node -e 0` (target ≤ 3×: load only what
 *    checking needs); and of `check examples/`, which also reads examples/embedded/*.ts
 *    (and so loads the TypeScript compiler);
 *  - warm: plans checked per second in one process (parse + check + memory + fit);
 *  - embedded: median wall time of `parplan check DIR` on 50 generated TypeScript files with
 *    embedded plans (builders, a template, a constant imported from a neighbour), cold (one
 *    process each: ts-morph loaded, one TypeScript program), beside the same plans as 50 `.plan` files.
 * With `--cpu`, each cold figure also gets the median CPU time (user + system) of its
 * processes, and warm its CPU time per plan: steadier than wall time on a shared machine.
 * Run `npm run build` first. Usage: npx tsx bench/check.ts [--runs 15] [--cli dist/src/cli/main.js] [--cpu]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../src/analyze.js';
import { expandPaths, nodeHost } from '../src/load.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const runs = Number(arg('--runs') ?? 15);
const cli = arg('--cli') ?? 'dist/src/cli/main.js';
if (!existsSync(cli)) {
  console.error(`${cli} is missing: run \`npm run build\` first`);
  process.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const cpu = process.argv.includes('--cpu');
/** CPU ms of each cold process (--cpu), in the order run: the child writes its process.cpuUsage() at exit to fd 3. */
const cpuTimes = new Map<string[], number[]>();
const REPORT_CPU =
  'data:text/javascript,import{writeSync}from"node:fs";' +
  'process.on("exit",()=>{const u=process.cpuUsage();writeSync(3,String((u.user+u.system)/1000))})';

function wall(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = cpu
    ? spawnSync(process.execPath, ['--import', REPORT_CPU, ...args], {
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      })
    : spawnSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  if (cpu) {
    const list = cpuTimes.get(args) ?? [];
    list.push(Number(String(r.output[3])));
    cpuTimes.set(args, list);
  }
  return ms;
}

/** "; CPU 123 ms" (median) with --cpu, for the runs of these arguments. */
function cpuText(args: string[]): string {
  const list = cpuTimes.get(args);
  return list === undefined ? '' : `; CPU ${median(list).toFixed(0)} ms`;
}

// Interleave the commands so machine noise hits them alike.
const planFiles = expandPaths(['examples/'], nodeHost, []);
const base: number[] = [];
const check: number[] = [];
const withTs: number[] = [];
const nodeArgs = ['-e', '0'];
const checkArgs = [cli, 'check', ...planFiles];
const withTsArgs = [cli, 'check', 'examples/'];
wall([cli, 'check', 'examples/']); // warm the file cache
for (let i = 0; i < runs; i++) {
  base.push(wall(nodeArgs));
  check.push(wall(checkArgs));
  withTs.push(wall(withTsArgs));
}
const b = median(base);
const c = median(check);
const t = median(withTs);
console.log(
  `cold: node -e 0 ${b.toFixed(0)} ms${cpuText(nodeArgs)}; parplan check on the ${planFiles.length} .plan files of examples/ ${c.toFixed(0)} ms${cpuText(checkArgs)}; ratio ${(c / b).toFixed(2)}× (target ≤ 3×), median of ${runs}`,
);
console.log(
  `cold: parplan check examples/ (the same, plus examples/embedded/*.ts: loads TypeScript) ${t.toFixed(0)} ms${cpuText(withTsArgs)}; ratio ${(t / b).toFixed(2)}×`,
);

// Warm: the same directory analysed repeatedly in this process.
let plans = 0;
analyze(['examples/']);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
while (performance.now() - t0 < 3000) plans += analyze(['examples/']).results.length;
const s = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
const cpuPerPlan = cpu ? `; CPU ${((used.user + used.system) / 1000 / plans).toFixed(3)} ms per plan` : '';
console.log(
  `warm: ${Math.round(plans / s)} plans/s (${plans} plans in ${s.toFixed(1)} s, files re-read and re-parsed each time)${cpuPerPlan}`,
);

// Embedded: 50 TypeScript files (2 plans each) against the same 100 plans as 50 .plan files.
const EMBEDDED_FILES = 50;
const dir = mkdtempSync(join(tmpdir(), 'parplan-bench-'));
try {
  const ts = join(dir, 'ts');
  const plans = join(dir, 'plans');
  for (const d of [ts, plans]) mkdirSync(d);
  writeFileSync(
    join(ts, 'shared.ts'),
    "export const SEQ = 4096;\nexport const CHAT = { max_batch: 32, max_wait: '5 ms', seq: SEQ } as const;\n",
  );
  for (let i = 0; i < EMBEDDED_FILES; i++) {
    const tensor = [1, 2, 4, 8][i % 4]!;
    writeFileSync(join(ts, `service${i}.ts`), embeddedSource(i, tensor));
    writeFileSync(join(plans, `service${i}.plan`), planSource(i, tensor));
  }
  wall([cli, 'check', ts]);
  const tsTimes: number[] = [];
  const planTimes: number[] = [];
  const embeddedRuns = Math.max(3, Math.ceil(runs / 3));
  for (let i = 0; i < embeddedRuns; i++) {
    tsTimes.push(wall([cli, 'check', ts]));
    planTimes.push(wall([cli, 'check', plans]));
  }
  const checked = analyze([plans]).results.length;
  console.log(
    `embedded: parplan check on ${EMBEDDED_FILES} TypeScript files (${checked} plans) ${median(tsTimes).toFixed(0)} ms cold; ` +
      `the same plans as ${EMBEDDED_FILES} .plan files ${median(planTimes).toFixed(0)} ms; median of ${embeddedRuns}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function embeddedSource(i: number, tensor: number): string {
  return `import { cluster, model, plan } from 'parplan';
import { CHAT, SEQ } from './shared.js';

export const llama = model('llama3_8b_${i}', {
  arch: 'llama', layers: 32, hidden: 4096, heads: 32, kv_heads: 8,
  ffn: 14336, vocab: 128256, max_seq: 8192, dtype: 'bf16',
});
export const node = cluster('node_${i}', { gpu: 'H100_SXM_80GB', gpus: 8 });
export const chat = plan('chat_${i}', { model: llama, cluster: node, mode: 'serve', tensor: ${tensor}, data: ${8 / tensor}, batch: { ...CHAT } });
export const train = plan\`train_${i} {
  model = \${llama}  cluster = \${node}  mode = train
  tensor = 2  pipeline = 2  data = 2  zero = 1
  batch { global = 256  micro = 1  seq = \${SEQ} }
  recompute = selective
}\`;
`;
}

function planSource(i: number, tensor: number): string {
  return `model llama3_8b_${i} {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8
  ffn = 14336  vocab = 128256  max_seq = 8192  dtype = bf16
}
cluster node_${i} { gpu = H100_SXM_80GB  gpus = 8 }
plan chat_${i} {
  model = llama3_8b_${i}  cluster = node_${i}  mode = serve  tensor = ${tensor}  data = ${8 / tensor}
  batch { max_batch = 32  max_wait = 5 ms  seq = 4096 }
}
plan train_${i} {
  model = llama3_8b_${i}  cluster = node_${i}  mode = train
  tensor = 2  pipeline = 2  data = 2  zero = 1
  batch { global = 256  micro = 1  seq = 4096 }
  recompute = selective
}
`;
}
