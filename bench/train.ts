/**
 * `parplan train` on lavapipe (reported, not asserted): the criterion's run of issue 16 —
 * test/training/docs-gpt2.plan (a small GPT-2 with GPT-2's 50,257-token vocabulary) on tokens
 * scripts/make-tokens.ts makes from docs/ — through the CLI, timed per step. Prints tokens/s
 * (median step and over the run), the loss at step 1 and the mean of the last 10, and the
 * process's CPU time (user + system: steadier than wall time on a shared machine).
 *
 * Usage: node --import tsx bench/train.ts [--steps 200] [--lr 1e-2] [--json]
 * The same run by hand:
 *   node --import tsx scripts/make-tokens.ts docs/ docs.bin
 *   parplan compile test/training/docs-gpt2.plan -o gpt2_docs.graph.json
 *   parplan train --weights random:1 --data docs.bin --steps 200 --lr 1e-2 --log run.jsonl gpt2_docs.graph.json
 *   parplan report --train-log run.jsonl test/training/docs-gpt2.plan
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../src/analyze.js';
import { memoryIo } from '../src/cli/io.js';
import { runCli } from '../src/cli/run.js';
import { compilePlan } from '../src/compile.js';
import { ROOT, TSX } from '../test/cli/spawn.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const steps = arg('steps', '200');
const lr = arg('lr', '1e-2');
const json = process.argv.includes('--json');

const dir = mkdtempSync(join(tmpdir(), 'parplan-bench-train-'));
const tokens = join(dir, 'docs.bin');
const made = spawnSync(process.execPath, ['--import', TSX, `${ROOT}scripts/make-tokens.ts`, `${ROOT}docs`, tokens], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(`make-tokens failed: ${made.stderr}`);
const a = analyze([join(ROOT, 'test/training/docs-gpt2.plan')]);
const r = a.results[0];
if (!r) throw new Error('test/training/docs-gpt2.plan did not check');
const graph = join(dir, 'gpt2_docs.graph.json');
writeFileSync(graph, JSON.stringify(compilePlan(r.plan, r.memory).graph));

const log = join(dir, 'run.jsonl');
const io = memoryIo({ NO_COLOR: '1' }, dir);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const code = await runCli(['train', '--weights', 'random:1', '--data', tokens, '--steps', steps, '--lr', lr, '--log', log, graph], io);
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
if (code !== 0) throw new Error(`parplan train exited ${code}: ${io.err()}`);
const lines = readFileSync(log, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { loss: number; tokens: number; seconds: number });
const perStep = lines.map((l) => l.seconds).sort((x, y) => x - y);
const median = perStep[Math.floor(perStep.length / 2)]!;
const tokensPerStep = lines[0]!.tokens;
const result = {
  steps: lines.length,
  tokensPerStep,
  medianStepSeconds: median,
  tokensPerSecondMedian: tokensPerStep / median,
  tokensPerSecondRun: (lines.length * tokensPerStep) / wall,
  wallSeconds: wall,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  firstLoss: lines[0]!.loss,
  lastTenLoss: lines.slice(-10).reduce((s, l) => s + l.loss, 0) / Math.min(10, lines.length),
};
if (json) process.stdout.write(JSON.stringify(result) + '\n');
else
  process.stdout.write(
    `parplan train, test/training/docs-gpt2.plan on docs/ (${result.steps} steps × ${tokensPerStep} tokens, lr ${lr}):\n` +
      `  ${result.tokensPerSecondMedian.toFixed(1)} tokens/s at the median step (${(median * 1000).toFixed(0)} ms), ` +
      `${result.tokensPerSecondRun.toFixed(1)} tokens/s over the run (${wall.toFixed(1)} s wall, ${result.cpuSeconds.toFixed(1)} s CPU)\n` +
      `  loss ${result.firstLoss.toFixed(4)} at step 1, ${result.lastTenLoss.toFixed(4)} over the last 10\n`,
  );
