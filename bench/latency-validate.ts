/**
 * Predicted vs measured latency on this machine's WebGPU device (issue 17, "Done when"): a
 * small GPT-2 serving graph is profiled (`parplan profile`), its saturation rate predicted
 * (`parplan check`'s simulation with `gpu { profile }`: the throughput under overload), then
 * served (`parplan serve`, its own process) and loaded (`parplan load`, another process) at
 * 30%, 60% and 90% of that rate and past it; the table compares predicted and measured TTFT and
 * E2E p50/p99, throughput, and the measured saturation rate, against the issue's tolerances
 * (p50 within 10%, p99 within 20%, throughput within 5%, saturation within 10%).
 *
 * The arrivals are the same in both: `parplan load` draws them from the simulation's seeded
 * stream (src/latency/traffic.ts), and the plan's traffic block names the same seed and count.
 *
 * Usage: node --import tsx bench/latency-validate.ts [--duration 30] [--prompt 16] [--output 16]
 *          [--max-batch 4] [--layers 2] [--hidden 64] [--seed 1] [--short] [--json]
 * `--short` (CI): 3 s per rate, a small grid; it checks that the pipeline completes, not the figures.
 * `--timeline`: the server and the client keep a record (bench/latency-procs.ts: the same code as
 * `parplan serve` and `parplan load`), and each load level gets a breakdown of where the time goes
 * against the simulation, request by request and call by call (bench/latency-attribution.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { analyze } from '../src/analyze.js';
import { compilePlan } from '../src/compile.js';
import { generateRequests } from '../src/latency/traffic.js';
import { latencyRunner } from '../src/latency/check.js';
import type { LoadResult } from '../src/latency/load-client.js';
import type { ServePlan } from '../src/plan.js';
import type { ServingTimeline } from '../runtime/serving/timeline.js';
import { attribute } from './latency-attribution.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const short = process.argv.includes('--short');
const json = process.argv.includes('--json');
const withTimeline = process.argv.includes('--timeline');
const PROCS = join(ROOT, 'bench/latency-procs.ts');
const duration = Number(arg('duration', short ? '3' : '30'));
const prompt = Number(arg('prompt', '16'));
const output = Number(arg('output', short ? '4' : '16'));
const maxBatch = Number(arg('max-batch', '4'));
const layers = Number(arg('layers', '2'));
const hidden = Number(arg('hidden', '64'));
const seed = Number(arg('seed', '1'));
const SEQ = 64;

/**
 * A small tokenizer for the served model (a real tokenizer's 128k-row output layer would make
 * every step slow on lavapipe): BPE over printable ASCII and the 676 lowercase letter pairs, an
 * end-of-text token, no decoder (tokens are joined by spaces). Every token is whole ASCII text,
 * so each token's stream event goes out with it (no character held back across tokens).
 */
function writeTokenizer(at: string): number {
  const vocab: Record<string, number> = {};
  for (let c = 32; c < 127; c++) vocab[String.fromCharCode(c)] = Object.keys(vocab).length;
  const merges: string[] = [];
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (const a of letters)
    for (const b of letters) {
      vocab[a + b] = Object.keys(vocab).length;
      merges.push(`${a} ${b}`);
    }
  const eos = Object.keys(vocab).length;
  const added = [{ id: eos, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }];
  const model = {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    vocab,
    merges,
  };
  writeFileSync(
    join(at, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model,
    }),
  );
  writeFileSync(join(at, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>' }));
  return eos + 1;
}

const dir = mkdtempSync(join(tmpdir(), 'parplan-latency-'));
const TOKENIZER = dir;
const vocab = writeTokenizer(TOKENIZER);
const model = `model tiny {
  arch = gpt2  layers = ${layers}  hidden = ${hidden}  heads = ${Math.max(1, hidden / 16)}  vocab = ${vocab}  max_seq = ${SEQ}  dtype = fp32
}`;
const batch = `batch { max_batch = ${maxBatch}  max_wait = 0 ms  seq = ${SEQ}  queue = 1024 }`;
const planText = (cluster: string, traffic = '') =>
  `${model}\n${cluster}\nplan tiny { model = tiny  cluster = c  mode = serve  engine = webgpu\n  ${batch}\n  ${traffic} }\n`;

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function must(r: ReturnType<typeof cli>, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}`);
  return r.stdout;
}

interface Figures {
  /** The client's (parplan load's) lateness; absent in predictions. */
  sendLag?: { p50: number; p99: number };
  rate: number;
  throughput: number;
  rejected: number;
  utilization?: number;
  ttft: { p50: number; p99: number };
  e2e: { p50: number; p99: number };
  requests: number;
}

/** The requests `parplan load --rate r --duration d --seed s` sends: the simulation gets the same ones. */
function loadCount(rate: number): number {
  const reqs = generateRequests({
    rate,
    process: 'poisson',
    burst: 1,
    prompt: { kind: 'fixed', value: prompt },
    output: { kind: 'fixed', value: output },
    seed,
    requests: Math.ceil(rate * duration * 2 + 10),
  });
  return reqs.filter((r) => r.at <= duration).length;
}

/** The simulation's prediction at `rate` with the measured profile, for exactly the requests the load sends. */
function predict(rate: number): Figures {
  return predictPlan(rate).latency;
}

function predictPlan(rate: number): { latency: Figures; plan: ServePlan } {
  const file = join(dir, 'predict.plan');
  const cluster = `cluster c { gpu { name = "this device"  memory = 4 GiB  profile = "profile.json" }  gpus = 1 }`;
  writeFileSync(
    file,
    planText(cluster, `traffic { rate = ${rate}  prompt = ${prompt}  output = ${output}  seed = ${seed}  requests = ${loadCount(rate)} }`),
  );
  const a = analyze([file]);
  const bad = a.diagnostics.filter((d) => d.severity !== 'note');
  if (bad.length > 0 || !a.results[0]?.latency) throw new Error(`prediction failed: ${bad.map((d) => d.message).join('; ')}`);
  return { latency: a.results[0].latency, plan: a.results[0].plan as ServePlan };
}

/** Starts `parplan serve` and resolves with its URL. */
function serve(graph: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    withTimeline
      ? ['--import', TSX, PROCS, 'server', graph, TOKENIZER, join(dir, 'timeline.json')]
      : ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'serve', '--weights', 'random:1', '--port', '0', '--tokenizer', TOKENIZER, graph],
    { cwd: dir, env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 120 s:\n${err}`)), 120_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on (http:\/\/\S+) /.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${err}`)));
  });
}

/** `parplan load` in its own process (the server's event loop is not shared with the client's). */
let loads = 0;
function load(url: string, rate: number, d = duration): Promise<Figures & { logFile?: string }> {
  return new Promise((resolve, reject) => {
    const args = ['--rate', String(rate), '--duration', String(d), '--prompt', String(prompt), '--output', String(output)];
    const more = ['--seed', String(seed), '--max-in-flight', '1024'];
    const logFile = join(dir, `load-${loads++}.json`);
    const child = spawn(
      process.execPath,
      withTimeline
        ? ['--import', TSX, PROCS, 'load', url, logFile, ...args, ...more]
        : ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'load', ...args, ...more, '--json', url],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (x: Buffer) => (out += x.toString()));
    child.stderr.on('data', (x: Buffer) => (err += x.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve({ ...(JSON.parse(out) as Figures), ...(withTimeline ? { logFile } : {}) })
        : reject(new Error(`load exited ${code}:\n${err}`)),
    );
  });
}

const pct = (p: number, m: number) => (m - p) / p;

/** The server's engine time so far (s) and its engine calls (GET /v1/stats: busyFraction × uptime, prefills, decode steps). */
async function engineBusy(url: string): Promise<{ busy: number; calls: number; ttftSum: number; ttftCount: number }> {
  const s = (await (await fetch(`${url}/v1/stats`)).json()) as {
    busyFraction: number;
    uptimeMs: number;
    prefills: number;
    decodeSteps: number;
  };
  // The server's own TTFT (from its generate call): /metrics' histogram sum and count.
  const m = await (await fetch(`${url}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(m)?.[1] ?? NaN);
  return {
    busy: (s.busyFraction * s.uptimeMs) / 1000,
    calls: s.prefills + s.decodeSteps,
    ttftSum: metric('parplan_time_to_first_token_seconds_sum'),
    ttftCount: metric('parplan_time_to_first_token_seconds_count'),
  };
}

async function main(): Promise<void> {
  // 1. The graph.
  const planFile = join(dir, 'tiny.plan');
  writeFileSync(planFile, planText(`cluster c { gpu { name = "this device"  memory = 4 GiB }  gpus = 1 }`));
  const a = analyze([planFile]);
  if (a.results.length !== 1) throw new Error(a.diagnostics.map((d) => d.message).join('; '));
  const graph = join(dir, 'tiny.graph.json');
  writeFileSync(graph, JSON.stringify(compilePlan(a.results[0]!.plan, a.results[0]!.memory).graph));

  // 2. Its profile on this device.
  const grid = short
    ? ['--batches', `1,${maxBatch}`, '--contexts', `${prompt},${SEQ}`, '--prompts', `${prompt},${SEQ}`, '--repeats', '3']
    : [];
  must(cli(['profile', '--weights', 'random:1', '-o', 'profile.json', ...grid, graph]), 'parplan profile');

  // 3. The predicted saturation rate: the throughput the simulation serves under overload.
  const probe = predict(1);
  const capacity = maxBatch / probe.e2e.p50; // a rough upper bound to overload from
  const saturation = predict(capacity * 3).throughput;
  const profile = readFileSync(join(dir, 'profile.json'), 'utf8');
  const steps = JSON.parse(profile) as {
    prefill: { tokens: number; median: number }[];
    decode: { batch: number; context: number; median: number }[];
    host: { median: number };
  };
  process.stderr.write(
    `profile: prefill ${steps.prefill.map((p) => `${p.tokens}:${(p.median * 1000).toFixed(1)}ms`).join(' ')}; decode ${steps.decode.map((d) => `${d.batch}×${d.context}:${(d.median * 1000).toFixed(1)}ms`).join(' ')}; server host time per loop turn ${(steps.host.median * 1000).toFixed(2)}ms\n` +
      `predicted saturation ${saturation.toFixed(2)} requests/s (unloaded E2E ${(probe.e2e.p50 * 1000).toFixed(0)} ms)\n`,
  );

  // 4. Serve, warm up (every shape's pipelines compile on first use), then load.
  const { child, url } = await serve(graph);
  const rows: {
    label: string;
    rate: number;
    predicted: Figures;
    measured: Figures & { logFile?: string };
    busy: { predicted: number; measured: number; calls: number; serverTtft: number };
  }[] = [];
  /** Load at `rate`, with the engine time the server spent on it. */
  const measure = async (label: string, rate: number) => {
    const predicted = predict(rate);
    const before = await engineBusy(url);
    const measured = await load(url, rate);
    const after = await engineBusy(url);
    const span = (predicted.requests * (1 - predicted.rejected)) / predicted.throughput;
    const busy = {
      predicted: (predicted.utilization ?? 0) * span,
      measured: after.busy - before.busy,
      calls: after.calls - before.calls,
      serverTtft: (after.ttftSum - before.ttftSum) / (after.ttftCount - before.ttftCount),
    };
    process.stderr.write(
      `${label}: ${rate.toFixed(2)}/s measured ${JSON.stringify({ ttft: measured.ttft, e2e: measured.e2e, throughput: measured.throughput, busy })}\n`,
    );
    rows.push({ label, rate, predicted, measured, busy });
  };
  try {
    await load(url, saturation * 0.9, short ? 2 : 5);
    for (const f of [0.3, 0.6, 0.9]) await measure(`${f * 100}%`, saturation * f);
    await measure('overload', saturation * 1.5);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    if (withTimeline) await exited;
  }
  const measuredSaturation = rows[rows.length - 1]!.measured.throughput;

  if (json) {
    console.log(
      JSON.stringify({ duration, prompt, output, maxBatch, layers, hidden, vocab, saturation, measuredSaturation, rows }, null, 2),
    );
  } else {
    const ms = (x: number) => (x * 1000).toFixed(1).padStart(7);
    const mark = (p: number, m: number, tol: number) => {
      const e = pct(p, m);
      return `${(e >= 0 ? '+' : '') + (e * 100).toFixed(0)}%${Math.abs(e) <= tol ? ' ok' : ' MISS'}`.padStart(10);
    };
    const device = (JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')) as { device: { description: string } }).device.description;
    console.log(
      `predicted vs measured: GPT-2 ${layers} layers, hidden ${hidden}, vocab ${vocab}, max_batch ${maxBatch}, prompt ${prompt}, output ${output}, ${duration} s per rate, seed ${seed}`,
    );
    console.log(`device: ${device}`);
    console.log('times in ms (predicted / measured, error); tolerances: p50 10%, p99 20%, throughput 5%');
    console.log(
      'load      rate/s |   TTFT p50 pred / meas       |   TTFT p99 pred / meas       |   E2E p50 pred / meas        |   E2E p99 pred / meas        | throughput pred / meas',
    );
    for (const r of rows) {
      const p = r.predicted;
      const m = r.measured;
      const cell = (pp: number, mm: number, tol: number) => `${ms(pp)} /${ms(mm)} ${mark(pp, mm, tol)}`;
      console.log(
        `${r.label.padEnd(9)} ${r.rate.toFixed(2).padStart(6)} | ${cell(p.ttft.p50, m.ttft.p50, 0.1)} | ${cell(p.ttft.p99, m.ttft.p99, 0.2)} | ${cell(p.e2e.p50, m.e2e.p50, 0.1)} | ${cell(p.e2e.p99, m.e2e.p99, 0.2)} | ${p.throughput.toFixed(2)} / ${m.throughput.toFixed(2)} ${mark(p.throughput, m.throughput, 0.05)}`,
      );
    }
    console.log(
      `saturation rate: predicted ${saturation.toFixed(2)}/s, measured ${measuredSaturation.toFixed(2)}/s ${mark(saturation, measuredSaturation, 0.1)}`,
    );
    // Where a miss comes from: engine calls slower than profiled (contention, the device) or time outside them (the server's loop, HTTP).
    for (const r of rows)
      console.log(
        `engine time at ${r.label}: predicted ${r.busy.predicted.toFixed(2)} s, measured ${r.busy.measured.toFixed(2)} s in ${r.busy.calls} calls (${((r.busy.measured / Math.max(1, r.busy.calls)) * 1000).toFixed(1)} ms per call); ` +
          `mean TTFT the server measured ${(r.busy.serverTtft * 1000).toFixed(1)} ms; the client's send lag p50 ${((r.measured.sendLag?.p50 ?? NaN) * 1000).toFixed(1)} ms, p99 ${((r.measured.sendLag?.p99 ?? NaN) * 1000).toFixed(1)} ms`,
      );
  }
  if (withTimeline) {
    const timeline = JSON.parse(readFileSync(join(dir, 'timeline.json'), 'utf8')) as ServingTimeline;
    for (const r of rows) {
      const { plan } = predictPlan(r.rate);
      const runner = latencyRunner(plan);
      if ('unknown' in runner) throw new Error(runner.unknown);
      const sim = runner.run(r.rate).result;
      const client = JSON.parse(readFileSync(r.measured.logFile!, 'utf8')) as LoadResult;
      console.log(`where the time goes at ${r.label} (${r.rate.toFixed(2)}/s):`);
      const k = runner.knobs;
      const policy = {
        maxBatch: k.maxBatch * k.data,
        maxWaitMs: k.maxWaitMs,
        queue: plan.batch.queue,
        maxPrefillTokens: k.maxPrefillTokens,
      };
      for (const line of attribute(client, timeline, sim, runner.times, prompt, policy).lines) console.log(line);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

await main();
