/**
 * A mutator for `.plan` text, shared by the bounded fuzz test and `bench/fuzz.ts`:
 * deletes, duplicates, swaps and inserts characters and tokens that matter to the
 * grammar (braces, `=`, `..`, units, quotes, comment openers, huge numbers).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Analysis } from '../../src/analyze.js';
import { analyze } from '../../src/analyze.js';
import type { Host } from '../../src/load.js';
import { mulberry32 as rng } from '../../src/util/random.js';

export const SNIPPETS = [
  '{',
  '}',
  '[',
  ']',
  '=',
  ';',
  ',',
  '..',
  '"',
  '/*',
  '//',
  '\n',
  ' ',
  '%',
  '-',
  '.',
  '0',
  '1e309',
  '99999999999999999999',
  '1_000',
  '0..0',
  '5 ms',
  '24 GiB',
  '1f1b',
  'x',
  'tensor = 0',
  'pipeline = 1000',
  'data = 3',
  'zero = 3',
  'shard_group = 2',
  'shard_group = 3',
  'reshard_after_forward = false',
  'offload = optimizer',
  'offload = optimizer_params',
  'host_memory = 1 GiB',
  'context = 4',
  'context = 3',
  'context_comm = a2a',
  'context_comm = all_gather',
  'stages = [0..1]',
  'batch { }',
  'model',
  'plan',
  'cluster',
  'import "x.plan"',
  'gpu { }',
  'gpu { name = "g"  memory = 1 GiB  tflops = 0  bandwidth = 0  link = 0 }',
  'schedule = interleaved',
  'virtual = 2',
  'layout = "Et*3|t*4|t*4|t*5L"',
  'layout = "E|(t|)*22L"',
  'layout = "Et*3|(tt|)*29,m|L"',
  'layout = "((t)*2)*3|*|(|L"',
  '|',
  't*',
  'mode = train',
  'mode = serve',
  'recompute = full',
  'fp8 = te_delayed',
  'fp8 = te_mxfp8',
  'fp8 = torchao_tensorwise',
  'dtype = bfloat16',
  'recompute = selective_op',
  'recompute_layers = 3',
  'recompute_method = block',
  'precision = amp_bf16',
  'precision = amp_fp16',
  'adapter { }',
  'traffic { rate = 1e6  prompt = 1  output = 99999 }',
  'traffic { rate = 0.001  process = burst  burst = 99999  prompt_min = 1  prompt_max = 9999  output = 1 }',
  'slo { ttft_p99_9 = 1 us  tpot_p50 = 1 s  max_rejected = 0 }',
  'prompt_p99 = 3',
  'requests = 99999999',
  'duration = 1 s',
  'adapter { rank = 99999  targets = ["all-linear", "experts.up_proj"]  dropout = 0.5 }',
  'targets = []',
  'quantization = nf4  quant_double = true',
  '\u00e9',
  '\u0000',
  '\t',
  '\r',
  // Names JavaScript objects already have: a lookup by the user's word must not find them.
  'constructor = 1',
  '__proto__',
  'toString',
  'hasOwnProperty = x',
];

/** The seeded PRNG, so failures can be replayed from a seed. */
export { rng };

export function mutate(text: string, random: () => number, edits = 1 + Math.floor(random() * 4)): string {
  let s = text;
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (s.length + 1));
    const len = Math.floor(random() * 12);
    switch (Math.floor(random() * 5)) {
      case 0: // delete a run
        s = s.slice(0, at) + s.slice(at + len);
        break;
      case 1: // insert a snippet
        s = s.slice(0, at) + SNIPPETS[Math.floor(random() * SNIPPETS.length)]! + s.slice(at);
        break;
      case 2: // duplicate a run
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
        break;
      case 3: {
        // replace a number with another
        s = s.replace(/\d+/g, (m) => (random() < 0.05 ? String(Math.floor(random() * 100000)) : m));
        break;
      }
      default: {
        // swap two lines
        const lines = s.split('\n');
        const a = Math.floor(random() * lines.length);
        const b = Math.floor(random() * lines.length);
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        s = lines.join('\n');
      }
    }
  }
  return s;
}

/**
 * Every example plan's text, with imports inlined by the in-memory host below, and the
 * Hugging Face configs their models name (hf_config); mutants are drawn from the plans only.
 */
export function corpus(root = join(import.meta.dirname, '..', '..', 'examples')): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}${e.name}/`);
      else if (e.name.endsWith('.plan') || (rel === 'configs/' && e.name.endsWith('.json')))
        out.set(`/ex/${rel}${e.name}`, readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(root, '');
  return out;
}

export function memoryHost(files: Map<string, string>): Host {
  return {
    readFile: (p) => {
      const t = files.get(p);
      if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return t;
    },
    kind: (p) => (files.has(p) ? 'file' : undefined),
    listDir: () => [],
  };
}

/** Analyse one plan file's text, held in memory at `path`. */
export function analyzeText(text: string, path = '/t.plan'): Analysis {
  return analyze([path], { host: memoryHost(new Map([[path, text]])) });
}

/** Problems with one analysis that a fuzz run must never see. */
export function violations(a: Analysis): string[] {
  const out: string[] = [];
  for (const d of a.diagnostics) {
    if (d.code === 'PP9001') out.push(`internal error: ${d.message}`);
    if (!d.span && !d.code.startsWith('PP6')) out.push(`${d.code} without a position: ${d.message}`);
    if (d.span && (d.span.line < 1 || d.span.column < 1 || d.span.start > d.span.end)) out.push(`${d.code} with a bad span`);
    if (!/^[a-z'"0-9]/.test(d.message) && !d.message.startsWith('`')) out.push(`${d.code} message style: ${d.message}`);
  }
  for (const r of a.results) {
    for (const dev of r.memory.devices) {
      if (!Number.isSafeInteger(dev.totalBytes) || dev.totalBytes < 0)
        out.push(`plan ${r.plan.name}: total ${dev.totalBytes} is not a byte count`);
    }
  }
  return out;
}

/** Mutate one corpus file and analyse it; returns what went wrong (empty when fine). */
export function fuzzOnce(files: Map<string, string>, seed: number): { path: string; text: string; problems: string[] } {
  const random = rng(seed);
  const paths = [...files.keys()].filter((p) => p.endsWith('.plan'));
  const path = paths[Math.floor(random() * paths.length)]!;
  const text = mutate(files.get(path)!, random);
  const mutated = new Map(files);
  mutated.set(path, text);
  try {
    return { path, text, problems: violations(analyze([path], { host: memoryHost(mutated) })) };
  } catch (e) {
    return { path, text, problems: [`threw: ${e instanceof Error ? e.stack : String(e)}`] };
  }
}

/** Settings that keep a plan's syntax: mostly valid, some out of range, for the parts after the checker. */
export const PLAN_KNOBS = [
  'tensor = 2',
  'tensor = 8',
  'tensor = 3',
  'pipeline = 2',
  'pipeline = 4',
  'data = 2',
  'data = 16',
  'zero = 1',
  'zero = 2',
  'zero = 3',
  'schedule = gpipe',
  'schedule = interleaved  virtual = 2',
  'virtual = 3',
  'recompute = full',
  'recompute = selective',
  'recompute = none',
  'recompute = selective_op',
  'recompute = full  recompute_method = block  recompute_layers = 2',
  'recompute = full  recompute_layers = 4',
  'precision = amp_bf16',
  'precision = amp_fp16',
  'sequence_parallel = true',
  'sequence_parallel = false',
  'context = 2',
  'context = 4',
  'context_comm = p2p',
  'context_comm = all_gather',
  'context_comm = a2a',
  'precision = fp16',
  'precision = fp32',
  'optimizer = sgd',
  'optimizer = adam',
  'grad_dtype = bf16',
  'grad_clip = 1.0',
  'engine = webgpu',
  'fp8 = te_delayed',
  'fp8 = te_current',
  'fp8 = te_mxfp8',
  'fp8 = torchao_tensorwise',
  'fp8 = torchao_rowwise',
  'microbatches = 8',
  'attention = standard',
  'engine = webgpu',
  'engine = generic',
  'kv_dtype = int4',
  'kv_dtype = fp8',
  'kv_dtype = fp32',
  'reserve = 0%',
  'reserve = 90%',
  'workspace = 0 B',
  'workspace = 8 GiB',
  'stages = [0..0, 1..1]',
  'layout = "Et|tL"',
  'schedule = interleaved  layout = "Et|t|t|tL"',
  'mode = train',
  'mode = serve',
  'actions = ["0F0 0B0", "0F0 0B0"]',
  'expert = 2',
  'expert = 8',
  'expert = 3',
  'expert_tensor = 1',
  'expert_tensor = 2',
  'kv_block = 1',
  'kv_block = 32',
  'capacity_factor = 1.25',
  'capacity_factor = 0',
  'adapter = { rank = 16 }',
  'traffic = { rate = 50  prompt = 256  prompt_p99 = 1024  output = 32  requests = 300 }',
  'traffic { rate = 5  process = burst  burst = 8  prompt_min = 16  prompt_max = 512  output = 8  duration = 10 s  seed = 3 }',
  'slo = { ttft_p99 = 200 ms  tpot_p90 = 20 ms  e2e_p99_9 = 2 s  max_rejected = 1% }',
  'adapter { rank = 64  alpha = 16  targets = ["all-linear"]  dropout = 0.05 }',
  'adapter { targets = ["q_proj", "kv_b_proj", "c_attn"] }',
  'adapter { rank = 0 }',
  'shard_group = 2',
  'shard_group = 3',
  'shard_group = 8',
  'reshard_after_forward = false',
  'reshard_after_forward = true',
  'offload = optimizer',
  'offload = optimizer_params',
  'offload = none',
];
export const BATCH_KNOBS = [
  'max_batch = 1',
  'max_batch = 1024',
  'max_wait = 1 us',
  'max_wait = 10 s',
  'queue = 0',
  'max_prefill_tokens = 1',
  'seq = 1',
  'seq = 131072',
  'global = 1',
  'global = 4096',
  'micro = 1',
  'micro = 8',
  'micro = 3',
];
export const MODEL_KNOBS = [
  'dtype = int4',
  'dtype = fp8',
  'dtype = fp32',
  'dtype = fp16',
  'norm = layernorm',
  'activation = gelu',
  'bias = true',
  'positions = learned',
  'tied_embeddings = true',
  'kv_heads = 1',
  'layers = 1',
  'layers = 3',
  'heads = 1',
  'head_dim = 256',
  'vocab = 7',
  'max_seq = 1',
  'ffn = 96',
  'hidden = 100',
  'arch = gpt2',
  'activation = geglu',
  'qkv_bias = true',
  'norms_per_layer = 4',
  'qk_norm = true',
  'attn_softcap = 50',
  'logit_softcap = 30',
  'query_pre_attn_scalar = 144',
  'scale_embeddings = true',
  'experts = 4  experts_per_token = 2  norm_topk = false',
  'norm_offset = 1',
  'norm_eps = 1e-6',
  'rope_theta = 500000',
  'rope_scaling = llama3  rope_factor = 8  rope_original_max_seq = 8192',
  'rope_scaling = yarn',
  'rope_factor = 40',
  'rope_original_max_seq = 4096',
  'rope_low_freq_factor = 2',
  'rope_high_freq_factor = 8',
  'rope_beta_fast = 16',
  'rope_beta_slow = 2',
  'sliding_window = 4',
  'sliding_window = 4096  sliding_window_pattern = 2',
  'sliding_window_pattern = 6',
  'attention_sinks = true',
  'experts = 8  experts_per_token = 2',
  'experts = 7',
  'experts_per_token = 9',
  'expert_ffn = 96',
  'shared_experts = 1',
  'shared_expert_ffn = 64',
  'shared_expert_gate = true',
  'router_bias = true',
  'dense_layers = 1',
  'kv_lora_rank = 64  qk_nope_head_dim = 16  qk_rope_head_dim = 8  v_head_dim = 16',
  'q_lora_rank = 32',
  'qk_nope_head_dim = 0',
  'qk_rope_head_dim = 64',
  'v_head_dim = 128',
  'quantization = awq',
  'quantization = fp8  quant_group = 128',
  'quantization = mxfp4',
  'quantization = nf4  quant_double = true',
  'quantization = nf4  quant_group = 0',
  'quant_group = 0',
  'quant_lm_head = true',
  'hf_config = "../configs/Mixtral-8x7B-v0.1.json"',
  'hf_config = "configs/gpt2.json"',
  'hf_config = "missing.json"',
];

/** One value as the corpus writes them: a list, a string, a word or number with an optional unit. */
const VALUE = String.raw`(?:\[[^\]]*\]|"[^"]*"|[\w.%]+(?:\s+(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|us|ms|s)\b)?)`;

/** `text` with 1–3 settings added to a plan, batch or model block, or numbers replaced by small ones: it still parses. */
export function mutateKnobs(text: string, random: () => number, edits = 1 + Math.floor(random() * 3)): string {
  let s = text;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  for (let i = 0; i < edits; i++) {
    const kind = Math.floor(random() * 4);
    const [opener, knobs] =
      kind === 0
        ? [/\bplan\s+\w+\s*\{/g, PLAN_KNOBS]
        : kind === 1
          ? [/\bbatch\s*\{/g, BATCH_KNOBS]
          : kind === 2
            ? [/\bmodel\s+\w+\s*\{/g, MODEL_KNOBS]
            : [undefined, []];
    if (!opener) {
      s = s.replace(/(?<=\b(?:tensor|pipeline|data|micro|max_batch|global|layers|gpus|virtual)\s*=\s*)\d+/g, (m) =>
        random() < 0.3 ? String(pick([1, 2, 3, 4, 6, 8, 16, 64, 1000])) : m,
      );
      continue;
    }
    const knob = pick(knobs);
    const key = knob.slice(0, knob.indexOf(' '));
    const setting = new RegExp(`\\b${key}\\s*=\\s*${VALUE}`);
    // A key set twice is a PP2001: replace the setting where the file has it.
    if (setting.test(s)) {
      s = s.replace(setting, knob);
      continue;
    }
    const at = [...s.matchAll(opener)];
    if (at.length === 0) continue;
    const m = pick(at);
    const end = m.index + m[0].length;
    s = `${s.slice(0, end)} ${knob} ${s.slice(end)}`;
  }
  return s;
}
