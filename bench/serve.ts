/**
 * Batching gain of the WebGPU runtime (reported, not asserted): decode tokens/s of a
 * small GPT-2-style model served one request at a time (batch 1) and with
 * `max_batch` requests in flight, through the batching server, in one run.
 * Usage: node --import tsx bench/serve.ts [--layers 4] [--hidden 256] [--vocab 1024] [--batch 32] [--tokens 32] [--dawn TOGGLES] [--json]
 */
import { analyze } from '../src/analyze.js';
import { compilePlan } from '../src/compile.js';
import { createRuntime } from '../runtime/index.js';
import { memoryHost } from '../test/fuzz/mutate.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const layers = Number(arg('layers', '4'));
const hidden = Number(arg('hidden', '256'));
const heads = Math.max(1, hidden / 64);
const batch = Number(arg('batch', '32'));
const newTokens = Number(arg('tokens', '32'));
const vocab = Number(arg('vocab', '1024'));
const dawn = arg('dawn', '');

const text = `model m { arch = gpt2  layers = ${layers}  hidden = ${hidden}  heads = ${heads}  vocab = ${vocab}  max_seq = 256  dtype = fp32 }
cluster c { gpu { name = "bench"  memory = 8 GiB }  gpus = 1 }
plan p { model = m  cluster = c  mode = serve  engine = webgpu
  batch { max_batch = ${batch}  max_wait = 2 ms  seq = 256  queue = 4096  max_prefill_tokens = 64 } }
`;
const a = analyze(['/bench.plan'], { host: memoryHost(new Map([['/bench.plan', text]])) });
if (a.results.length !== 1) throw new Error(a.diagnostics.map((d) => d.message).join('; '));
const r = a.results[0]!;
const graph = compilePlan(r.plan, r.memory).graph;
const rt = await createRuntime(graph, { weights: 'random:1', ...(dawn ? { dawn: dawn.split(' ') } : {}) });
const prompt = (i: number) => [1 + (i % (vocab - 1)), 2, 3, 4, 5, 6, 7, 8];

// Warm up: compile every pipeline (prefill and decode shapes at both batch sizes).
await rt.generate(prompt(0), { maxNewTokens: 2 });
await Promise.all(Array.from({ length: batch }, (_, i) => rt.generate(prompt(i), { maxNewTokens: 2 })));

async function run(concurrent: number, requests: number): Promise<number> {
  const t0 = performance.now();
  let tokens = 0;
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      // Await first: `tokens += await …` would read `tokens` before the await and lose updates.
      const got = (await rt.generate(prompt(i), { maxNewTokens: newTokens })).tokens.length;
      tokens += got;
    }
  };
  await Promise.all(Array.from({ length: concurrent }, worker));
  return tokens / ((performance.now() - t0) / 1000);
}

const one = await run(1, 4);
const many = await run(batch, batch * 2);
const stats = rt.serve().stats();
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ layers, hidden, vocab, batch, tokensPerSBatch1: one, tokensPerSBatchMax: many, gain: many / one, meanDecodeBatch: stats.meanBatch }));
  await rt.close();
  process.exit(0);
}
console.log(`model: gpt2-style, ${layers} layers, hidden ${hidden}, vocab ${vocab}; adapter: ${(rt as unknown as { states: { rd: { description: string } }[] }).states[0]!.rd.description}`);
console.log(`batch 1: ${one.toFixed(1)} tokens/s; batch ${batch}: ${many.toFixed(1)} tokens/s; batching gain ${(many / one).toFixed(1)}× (mean decode batch ${stats.meanBatch.toFixed(1)})`);
await rt.close();
process.exit(0);
