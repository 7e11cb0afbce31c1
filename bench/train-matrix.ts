/**
 * The multi-device training executor over the full matrix (reports; exits 1 when a row fails): tiny GPT-2 (4 layers)
 * and Llama (4 layers), tensor 1/2 × pipeline 1/2 × data 1/2, gpipe / 1f1b / interleaved (virtual 2) where
 * pipeline = 2 (1f1b alone on one stage) and on every layout `zb`, a hand-written ZB-H1-style table with I and W
 * actions (multi-cases.ts `zbTable`: 4 microbatches with a pipeline, 2 without), ZeRO 0–3 where data = 2 (0 alone
 * otherwise), recompute none/full. Each row
 * trains three AdamW steps (test/training/multi-cases.ts) against the torch float64 oracle and prints the worst loss
 * error relative to the oracle's, the worst weight error after the steps, whether every device's live bytes equal
 * its per-step simulated timeline, and ok (loss < 1e-5 relative, weights < 1e-4, memory equal). test/training/multi.test.ts
 * runs a covering subset.
 *
 * Usage: npx tsx bench/train-matrix.ts [--model gpt2_tiny4|llama_tiny] [--schedule gpipe|1f1b|interleaved|zb] [--own-devices]
 *   [--json out.json]
 *   --own-devices: the trainer opens one device (a new adapter) per rank; default: the ranks share one device,
 *   each with its own kernel runner (compiled pipelines shared: faster on lavapipe).
 */
import { writeFileSync } from 'node:fs';
import { openTestGpu } from '../runtime/testing/gpu.js';
import { hasTorch, NO_TORCH } from '../test/oracle/run.js';
import { trainCase, type Layout } from '../test/training/multi-cases.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!hasTorch) {
  console.error(NO_TORCH);
  process.exit(2);
}
const models = (arg('--model') ? [arg('--model')] : ['gpt2_tiny4', 'llama_tiny']) as Layout['model'][];
const own = args.includes('--own-devices');
const only = arg('--schedule');

const rows: Layout[] = [];
for (const model of models)
  for (const pipeline of [1, 2] as const)
    for (const tensor of [1, 2] as const)
      for (const data of [1, 2] as const)
        for (const schedule of pipeline > 1 ? (['gpipe', '1f1b', 'interleaved', 'zb'] as const) : (['1f1b', 'zb'] as const))
          if (only === undefined || schedule === only)
            for (const zero of data > 1 ? ([0, 1, 2, 3] as const) : ([0] as const))
              for (const recompute of ['none', 'full'] as const) rows.push({ model, tensor, pipeline, data, schedule, zero, recompute });

const gpu = own ? undefined : await openTestGpu();
console.log(`adapter: ${gpu?.description ?? 'one new device per rank'}`);
const head = ['model', 't', 'p', 'd', 'schedule', 'zero', 'recompute', 'loss rel. err', 'max weight err', 'memory', 'ok', 's'];
console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
const out: (Layout & { lossError: number; weightError: number; memory: string[]; ok: boolean; error?: string; seconds: number })[] = [];
let failed = 0;
for (const l of rows) {
  const r = await trainCase(l, gpu ? { device: gpu.device, description: gpu.description } : undefined);
  const lossError = Math.max(...r.lossErrors, r.error ? Infinity : 0);
  const ok = r.error === undefined && lossError < 1e-5 && r.weightError < 1e-4 && r.memory.length === 0;
  if (!ok) failed++;
  out.push({
    ...l,
    lossError,
    weightError: r.weightError,
    memory: r.memory,
    ok,
    ...(r.error ? { error: r.error } : {}),
    seconds: r.seconds,
  });
  const cells = [
    l.model,
    l.tensor,
    l.pipeline,
    l.data,
    l.schedule,
    l.zero,
    l.recompute,
    lossError.toExponential(1),
    r.weightError.toExponential(1),
    r.memory.length === 0 ? 'equal' : r.memory[0],
    ok ? 'ok' : `FAIL${r.error ? `: ${r.error}` : ''}`,
    r.seconds.toFixed(1),
  ];
  console.log(`| ${cells.join(' | ')} |`);
}
console.log(`${rows.length - failed} of ${rows.length} rows ok`);
const json = arg('--json');
if (json) writeFileSync(json, JSON.stringify(out, null, 2));
gpu?.close();
process.exit(failed > 0 ? 1 : 0);
