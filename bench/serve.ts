/**
 * The batching server on the WebGPU runtime (reported, not asserted).
 *
 * Default: the batching gain — decode tokens/s of a small GPT-2-style model served one
 * request at a time (batch 1) and with `max_batch` requests in flight, in one run.
 *
 * `--prefill`: prefill on data-parallel replicas at the same time — a prefill-heavy load
 * (`--requests` requests with `--prompt`-token prompts, `--tokens` new tokens each, all
 * at once) on tensor 1 × data `--data`, served (a) one prefill at a time, the server's
 * path for an engine without `prefillMany` (forced by hiding it), (b) with `prefillMany`
 * (replicas prefill together), and (c) with `prefillMany` and `overlap: false` (the
 * replicas' passes run one after another). Reports requests/s and mean time to first
 * token, best of `--rounds` alternating rounds.
 *
 * Usage: node --import tsx bench/serve.ts [--layers 4] [--hidden 256] [--vocab 1024] [--batch 32] [--tokens 32] [--dawn TOGGLES] [--json]
 *        node --import tsx bench/serve.ts --prefill [--data 2] [--requests 16] [--prompt 64] [--tokens 4] [--batch 8] [--rounds 3] [--json]
 */
import { analyze } from '../src/analyze.js';
import { compilePlan } from '../src/compile.js';
import { createRuntime, createServer, policyFromPlan, type Runtime, type Server } from '../runtime/index.js';
import { memoryHost } from '../test/fuzz/mutate.js';
import { sequentialView } from '../test/runtime/models.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const layers = Number(arg('layers', '4'));
const hidden = Number(arg('hidden', '256'));
const heads = Math.max(1, hidden / 64);
const vocab = Number(arg('vocab', '1024'));
const dawn = arg('dawn', '');
const json = process.argv.includes('--json');

function compile(gpus: { data: number }, batch: string) {
  const text = `model m { arch = gpt2  layers = ${layers}  hidden = ${hidden}  heads = ${heads}  vocab = ${vocab}  max_seq = 256  dtype = fp32 }
cluster c { gpu { name = "bench"  memory = 8 GiB }  gpus = ${gpus.data} }
plan p { model = m  cluster = c  mode = serve  engine = webgpu  data = ${gpus.data}
  batch { ${batch} } }
`;
  const a = analyze(['/bench.plan'], { host: memoryHost(new Map([['/bench.plan', text]])) });
  if (a.results.length !== 1) throw new Error(a.diagnostics.map((d) => d.message).join('; '));
  const r = a.results[0]!;
  return compilePlan(r.plan, r.memory).graph;
}

async function batchingGain(): Promise<void> {
  const batch = Number(arg('batch', '32'));
  const newTokens = Number(arg('tokens', '32'));
  const graph = compile({ data: 1 }, `max_batch = ${batch}  max_wait = 2 ms  seq = 256  queue = 4096  max_prefill_tokens = 64`);
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
  if (json) {
    console.log(
      JSON.stringify({
        layers,
        hidden,
        vocab,
        batch,
        tokensPerSBatch1: one,
        tokensPerSBatchMax: many,
        gain: many / one,
        meanDecodeBatch: stats.meanBatch,
      }),
    );
  } else {
    console.log(
      `model: gpt2-style, ${layers} layers, hidden ${hidden}, vocab ${vocab}; adapter: ${(rt as unknown as { states: { rd: { description: string } }[] }).states[0]!.rd.description}`,
    );
    console.log(
      `batch 1: ${one.toFixed(1)} tokens/s; batch ${batch}: ${many.toFixed(1)} tokens/s; batching gain ${(many / one).toFixed(1)}× (mean decode batch ${stats.meanBatch.toFixed(1)})`,
    );
  }
  await rt.close();
}

type Path = 'one at a time' | 'together' | 'together, overlap off';

async function prefillOnReplicas(): Promise<void> {
  const data = Number(arg('data', '2'));
  const requests = Number(arg('requests', '16'));
  const promptLength = Number(arg('prompt', '64'));
  const newTokens = Number(arg('tokens', '4'));
  const batch = Number(arg('batch', '8'));
  const rounds = Number(arg('rounds', '3'));
  const graph = compile({ data }, `max_batch = ${batch}  max_wait = 2 ms  seq = 256  queue = 4096  max_prefill_tokens = ${promptLength}`);
  const prompt = (i: number) => Array.from({ length: promptLength }, (_, k) => 1 + ((i * 31 + k * 7) % (vocab - 1)));

  async function measure(
    path: Path,
  ): Promise<{ path: Path; requestsPerS: number; meanTtftMs: number; prefills: number; busyFraction: number }> {
    const rt: Runtime = await createRuntime(graph, {
      weights: 'random:1',
      overlap: path !== 'together, overlap off',
      ...(dawn ? { dawn: dawn.split(' ') } : {}),
    });
    const b = graph.batch!;
    const server: Server =
      path === 'one at a time'
        ? createServer(sequentialView(rt.engine), policyFromPlan({ ...b, maxBatch: b.maxBatch * data }))
        : rt.serve();
    try {
      // Warm up: compile the prefill and decode pipelines.
      await Promise.all(Array.from({ length: data * 2 }, (_, i) => server.generate(prompt(i), { maxNewTokens: 2 })));
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: requests }, (_, i) => server.generate(prompt(i), { maxNewTokens: newTokens })),
      );
      const wallS = (performance.now() - t0) / 1000;
      const s = server.stats();
      return {
        path,
        requestsPerS: requests / wallS,
        meanTtftMs: results.reduce((ms, r) => ms + r.timing.firstTokenMs, 0) / requests,
        prefills: s.prefills,
        busyFraction: s.busyFraction,
      };
    } finally {
      if (path === 'one at a time') await server.close({ drain: false });
      await rt.close();
    }
  }

  const paths: Path[] = ['one at a time', 'together', 'together, overlap off'];
  const runs: Awaited<ReturnType<typeof measure>>[] = [];
  for (let r = 0; r < rounds; r++) for (const path of paths) runs.push(await measure(path));
  const best = (path: Path) => {
    const mine = runs.filter((r) => r.path === path);
    return { path, requestsPerS: Math.max(...mine.map((r) => r.requestsPerS)), meanTtftMs: Math.min(...mine.map((r) => r.meanTtftMs)) };
  };
  if (json) {
    console.log(JSON.stringify({ layers, hidden, vocab, data, batch, requests, promptLength, newTokens, runs }));
    return;
  }
  console.log(
    `plan: tensor 1 × data ${data}; gpt2-style, ${layers} layers, hidden ${hidden}, vocab ${vocab}; max_batch ${batch} per replica, max_prefill_tokens ${promptLength}`,
  );
  console.log(`load: ${requests} requests at once, ${promptLength}-token prompts, ${newTokens} new tokens each; best of ${rounds} rounds`);
  const [before, after] = [best('one at a time'), best('together')];
  for (const r of paths.map(best))
    console.log(`  ${r.path.padEnd(22)} ${r.requestsPerS.toFixed(2)} requests/s, mean time to first token ${r.meanTtftMs.toFixed(0)} ms`);
  console.log(
    `together vs one at a time: ${(after.requestsPerS / before.requestsPerS).toFixed(2)}× requests/s, mean TTFT ${(before.meanTtftMs / after.meanTtftMs).toFixed(2)}× lower`,
  );
}

if (process.argv.includes('--prefill')) await prefillOnReplicas();
else await batchingGain();
process.exit(0);
