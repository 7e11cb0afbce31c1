/**
 * Overlap of communication with compute (reported, not asserted): the same plan —
 * tensor 2 × pipeline 2 × data 2 by default — run with `overlap: false` (replicas one
 * after another, upload buffers mapped on demand) and `overlap: true`, alternating.
 * For each: prefill latency (one prompt per replica through `rt.forward`), decode
 * tokens/s through the batching server, and from the trace the host time spent per
 * kind of span: encoding and submitting compute, waiting on readbacks (`mapAsync`
 * READ, which includes the device's queued compute), waiting on upload maps, uploads.
 * Usage: node --import tsx bench/overlap.ts [--tensor 2] [--pipeline 2] [--data 2]
 *   [--layers 4] [--hidden 256] [--vocab 1024] [--batch 8] [--prompt 32] [--tokens 16]
 *   [--rounds 2] [--json]
 */
import { analyze } from '../src/analyze.js';
import { compilePlan } from '../src/compile.js';
import { createRuntime, Trace, type Span, type SpanKind } from '../runtime/index.js';
import { memoryHost } from '../test/fuzz/mutate.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1]! : dflt);
};
const [tensor, pipeline, data] = [arg('tensor', '2'), arg('pipeline', '2'), arg('data', '2')];
const [layers, hidden, vocab, batch] = [arg('layers', '4'), arg('hidden', '256'), arg('vocab', '1024'), arg('batch', '8')];
const [promptLength, newTokens, rounds] = [arg('prompt', '32'), arg('tokens', '16'), arg('rounds', '2')];

const text = `model m { arch = gpt2  layers = ${layers}  hidden = ${hidden}  heads = ${Math.max(1, hidden / 64)}  vocab = ${vocab}  max_seq = 256  dtype = fp32 }
cluster c { gpu { name = "bench"  memory = 8 GiB }  gpus = ${tensor * pipeline * data} }
plan p { model = m  cluster = c  mode = serve  engine = webgpu  tensor = ${tensor}  pipeline = ${pipeline}  data = ${data}
  batch { max_batch = ${batch}  max_wait = 2 ms  seq = 256  queue = 4096  max_prefill_tokens = ${promptLength} } }
`;
const a = analyze(['/bench.plan'], { host: memoryHost(new Map([['/bench.plan', text]])) });
if (a.results.length !== 1) throw new Error(a.diagnostics.map((d) => d.message).join('; '));
const graph = compilePlan(a.results[0]!.plan, a.results[0]!.memory).graph;
const prompt = (i: number) => Array.from({ length: promptLength }, (_, k) => 1 + ((i * 31 + k * 7) % (vocab - 1)));

interface Result {
  overlap: boolean;
  prefillMs: number;
  decodeTokensPerS: number;
  /** Host ms per span kind during the decode run, summed over devices. */
  decodeSpans: Record<SpanKind, number>;
  prefillSpans: Record<SpanKind, number>;
  /**
   * Readback waits during the decode run: summed over devices ÷ the time at least one
   * was open. 1: never two waits at once; above 1: devices waited (and computed) together.
   */
  decodeWaitConcurrency: number;
}

/** Length of the union of [start, end) intervals, ms. */
function unionMs(spans: readonly Span[]): number {
  const sorted = [...spans].sort((x, y) => x.start - y.start);
  let total = 0;
  let [lo, hi] = [-Infinity, -Infinity];
  for (const s of sorted) {
    if (s.start > hi) {
      total += hi - lo > 0 ? hi - lo : 0;
      [lo, hi] = [s.start, s.end];
    } else hi = Math.max(hi, s.end);
  }
  return total + (hi - lo > 0 ? hi - lo : 0);
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

async function measure(overlap: boolean): Promise<Result> {
  const trace = new Trace();
  const rt = await createRuntime(graph, { weights: 'random:1', overlap, trace });
  try {
    const prompts = Array.from({ length: data }, (_, i) => prompt(i));
    // Warm up: compile every pipeline (prefill, and decode at the batch sizes the run sees).
    await rt.forward(prompts);
    await Promise.all(Array.from({ length: batch * data }, (_, i) => rt.generate(prompt(i), { maxNewTokens: 2 })));
    trace.clear();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await rt.forward(prompts);
      times.push(performance.now() - t0);
    }
    const prefillSpans = trace.totals();
    trace.clear();
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: batch * data }, (_, i) => rt.generate(prompt(i), { maxNewTokens: newTokens })));
    const tokens = results.reduce((n, r) => n + r.tokens.length, 0);
    const waits = trace.spans.filter((s) => s.kind === 'readback');
    const decodeWaitConcurrency = waits.reduce((ms, s) => ms + s.end - s.start, 0) / unionMs(waits);
    return {
      overlap,
      prefillMs: median(times),
      decodeTokensPerS: tokens / ((performance.now() - t0) / 1000),
      decodeSpans: trace.totals(),
      prefillSpans,
      decodeWaitConcurrency,
    };
  } finally {
    await rt.close();
  }
}

const runs: Result[] = [];
for (let r = 0; r < rounds; r++) for (const overlap of [false, true]) runs.push(await measure(overlap));
const best = (overlap: boolean) => {
  const mine = runs.filter((r) => r.overlap === overlap);
  return {
    ...mine[0]!,
    prefillMs: Math.min(...mine.map((r) => r.prefillMs)),
    decodeTokensPerS: Math.max(...mine.map((r) => r.decodeTokensPerS)),
  };
};
const [before, after] = [best(false), best(true)];

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ tensor, pipeline, data, layers, hidden, vocab, batch, promptLength, newTokens, runs }));
} else {
  const fmt = (s: Record<SpanKind, number>) =>
    Object.entries(s)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ');
  console.log(
    `plan: tensor ${tensor} × pipeline ${pipeline} × data ${data}; gpt2-style, ${layers} layers, hidden ${hidden}, vocab ${vocab}; max_batch ${batch}, prompts of ${promptLength} tokens`,
  );
  for (const r of [before, after]) {
    console.log(
      `overlap ${r.overlap ? 'on ' : 'off'}: prefill of ${data} prompts ${r.prefillMs.toFixed(1)} ms; decode ${r.decodeTokensPerS.toFixed(1)} tokens/s (${batch * data} requests × ${newTokens} tokens)`,
    );
    console.log(`  host ms in spans, prefill ×5: ${fmt(r.prefillSpans)}`);
    console.log(
      `  host ms in spans, decode run: ${fmt(r.decodeSpans)}; readback waits open at once, on average: ${r.decodeWaitConcurrency.toFixed(2)}`,
    );
  }
  console.log(
    `prefill ${(before.prefillMs / after.prefillMs).toFixed(2)}× faster, decode ${(after.decodeTokensPerS / before.decodeTokensPerS).toFixed(2)}× (best of ${rounds} rounds each)`,
  );
}
process.exit(0);
