/**
 * GPT-2 124M in f32 on the WebGPU runtime (reported, not asserted): its token
 * embedding `wte` (50 257 × 768 × 4 B = 147 MiB) is larger than lavapipe's 128 MiB
 * storage binding, so the runtime splits it into row blocks (docs/runtime.md). Prints
 * the split, the memory report, load and prefill times and decode tokens/s for a few
 * greedy tokens with `random:1` weights.
 *
 * `--check` then runs the same model under tensor 2 (two devices, each holding half
 * the vocabulary, 74 MiB: nothing split) and compares logits and tokens: random
 * weights do not depend on the sharding, so both runs compute the same function.
 *
 * Usage: node --import tsx bench/gpt2-124m.ts [--tokens 4] [--check] [--dawn TOGGLES] [--json]
 */
import { analyze } from '../src/analyze.js';
import { compilePlan } from '../src/compile.js';
import { exactBytes } from '../src/format.js';
import type { Graph } from '../src/graph/types.js';
import { createRuntime } from '../runtime/index.js';
import { memoryHost } from '../test/fuzz/mutate.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const newTokens = Number(arg('tokens', '4'));
const dawn = arg('dawn', '');
const json = process.argv.includes('--json');
const log = (s: string) => {
  if (!json) console.log(s);
};

function compile(tensor: number): Graph {
  const text = `model gpt2_124m { arch = gpt2  layers = 12  hidden = 768  heads = 12  vocab = 50257  max_seq = 1024  dtype = fp32 }
cluster c { gpu { name = "bench"  memory = 8 GiB }  gpus = ${tensor} }
plan p { model = gpt2_124m  cluster = c  mode = serve  engine = webgpu  tensor = ${tensor}
  batch { max_batch = 1  seq = 64  max_prefill_tokens = 8 } }
`;
  const a = analyze(['/bench.plan'], { host: memoryHost(new Map([['/bench.plan', text]])) });
  if (a.results.length !== 1) throw new Error(a.diagnostics.map((d) => d.message).join('; '));
  const r = a.results[0]!;
  return compilePlan(r.plan, r.memory).graph;
}

const PROMPT = [464, 2068, 7586, 21831, 18045, 625, 262, 16931];

async function run(tensor: number) {
  const t0 = performance.now();
  const rt = await createRuntime(compile(tensor), { weights: 'random:1', ...(dawn ? { dawn: dawn.split(' ') } : {}) });
  const loadS = (performance.now() - t0) / 1000;
  try {
    const adapter = (rt as unknown as { states: { rd: { description: string; limits: GPUSupportedLimits } }[] }).states[0]!.rd;
    const t1 = performance.now();
    const [logits] = await rt.forward([PROMPT]);
    const prefillS = (performance.now() - t1) / 1000;
    // Greedy decode: the first token comes from a prefill, the rest are decode steps.
    const t2 = performance.now();
    const { tokens } = await rt.generate(PROMPT, { maxNewTokens: newTokens });
    const generateS = (performance.now() - t2) / 1000;
    return {
      tensor,
      adapter: adapter.description,
      bindingLimit: adapter.limits.maxStorageBufferBindingSize,
      split: rt.splitReport(),
      memory: rt.memoryReport(),
      loadS,
      prefillS,
      generateS,
      tokens,
      logits: logits!,
    };
  } finally {
    await rt.close();
  }
}

const one = await run(1);
const decodeRate = (r: typeof one) => (r.tokens.length - 1) / Math.max(1e-9, r.generateS - r.prefillS);
log(`GPT-2 124M f32, tensor 1, on ${one.adapter} (maxStorageBufferBindingSize ${exactBytes(one.bindingLimit)})`);
for (const s of one.split)
  log(`  split: rank ${s.rank} ${s.weight} [${s.shape.join(', ')}] into ${s.blockRows.length} blocks of ${s.blockRows.join(', ')} rows`);
if (one.split.length === 0) log('  no weight split (the binding limit holds every weight)');
for (const m of one.memory)
  log(`  memory: rank ${m.rank} allocated ${exactBytes(m.allocatedBytes)}, plan ${exactBytes(m.planBytes)}, ratio ${m.ratio.toFixed(3)}`);
log(
  `  load ${one.loadS.toFixed(1)} s; prefill of ${PROMPT.length} tokens ${one.prefillS.toFixed(2)} s; ${newTokens} greedy tokens ${one.generateS.toFixed(2)} s (≈ ${decodeRate(one).toFixed(2)} decode tokens/s)`,
);
log(`  tokens: ${one.tokens.join(' ')}`);

let check: { maxRelError: number; sameTokens: boolean } | undefined;
if (process.argv.includes('--check')) {
  const two = await run(2);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < one.logits.length; i++) {
    scale = Math.max(scale, Math.abs(two.logits[i]!));
    err = Math.max(err, Math.abs(one.logits[i]! - two.logits[i]!));
  }
  check = { maxRelError: err / scale, sameTokens: one.tokens.join() === two.tokens.join() };
  log(
    `tensor 2 (unsplit: ${two.split.length} weights split): max |Δlogit| / max |logit| = ${check.maxRelError.toExponential(2)}; same greedy tokens: ${check.sameTokens}`,
  );
}
if (json) {
  const { logits: _, ...rest } = one;
  console.log(JSON.stringify({ ...rest, ...(check ? { check } : {}) }));
}
process.exit(0);
