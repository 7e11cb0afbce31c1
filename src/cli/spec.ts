/**
 * The command-line interface as data: commands, their options, and the help texts built
 * from them. Loaded by main.ts on every run, so it imports nothing heavy.
 */
import type { OptionSpec } from './args.js';
import { EXIT_DOCS } from './exit-codes.js';

export const FORMATS = ['text', 'json', 'sarif', 'github'] as const;
export type Format = (typeof FORMATS)[number];

const HELP: OptionSpec = { name: '--help', aliases: ['-h'], doc: 'show this help' };
/** `--plan NAME`: the one plan a command works on. */
function planOption(verb: string): OptionSpec {
  return { name: '--plan', value: { placeholder: 'NAME' }, doc: `${verb} only the plan named NAME` };
}

/** `-o`/`--output`: where a command writes. */
function outputOption(placeholder: string, doc: string): OptionSpec {
  return { name: '--output', aliases: ['-o'], value: { placeholder }, doc };
}

/** Imports are confined to a directory tree (docs/security.md); this widens it. */
const ROOT: OptionSpec = {
  name: '--root',
  value: { placeholder: 'DIR' },
  doc: 'imports may read .plan files under DIR (default: the repo)',
};

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  options: readonly OptionSpec[];
  /** Extra paragraphs for `parplan help COMMAND`. */
  details?: string;
  /** The usage line in `parplan --help` when `usage` is too long for it (without `parplan `). */
  brief?: string;
}

export const CHECK: CommandSpec = {
  name: 'check',
  usage: 'parplan check [--format text|json|sarif|github] [--plan NAME] [--root DIR] <file|dir>...',
  brief: 'check [options] <file|dir>...',
  summary: 'check plans and whether they fit in GPU memory',
  options: [
    {
      name: '--format',
      value: { placeholder: 'text|json|sarif|github', choices: FORMATS },
      doc: 'output format (default: text)',
    },
    planOption('check'),
    ROOT,
    HELP,
  ],
  details:
    'Directories are searched for *.plan files, recursively, in sorted order, and for\n' +
    "TypeScript files that mention 'parplan': their embedded plans are checked without\n" +
    'running them (docs/embedded.md).\n' +
    'Output goes to stdout; the exit status says whether every plan is valid and fits.',
};

export const EMITS = ['graph', 'ts'] as const;

export const COMPILE: CommandSpec = {
  name: 'compile',
  usage: 'parplan compile [--plan NAME] [--emit graph|ts] [-o OUT] <file.plan>',
  summary: 'lower plans to execution graphs (validated by simulation)',
  options: [
    planOption('compile'),
    {
      name: '--emit',
      value: { placeholder: 'graph|ts', choices: EMITS },
      doc: 'graph: JSON graphs (default); ts: a typed TypeScript module',
    },
    outputOption('OUT', "where to write: a file (one plan), a directory (several), or '-' for stdout"),
    ROOT,
    HELP,
  ],
  details:
    'Writes one graph per plan (format parplan-graph v4, JSON Schema: graph.schema.json),\n' +
    'by default NAME.graph.json in the current directory. Every graph is simulated first:\n' +
    'a deadlock or unmatched communication is an error and nothing is written.\n' +
    '--emit ts writes NAME.gen.ts instead: a TypeScript module exporting the graph with\n' +
    "literal types that parplan/runtime checks (docs/codegen.md); '-o -' takes one plan.\n" +
    'compile, report and export also take a TypeScript file with embedded plans.',
};

export const REPORT: CommandSpec = {
  name: 'report',
  usage: 'parplan report [--plan NAME] [-o FILE] [--train-log FILE] <file.plan>',
  summary: 'write an HTML report: memory bars, schedule, mesh',
  options: [
    planOption('report'),
    outputOption('FILE', 'the HTML file to write (default: report.html)'),
    { name: '--train-log', value: { placeholder: 'FILE' }, doc: "a run's log from 'parplan train --log': draws its loss curve" },
    ROOT,
    HELP,
  ],
  details:
    'One self-contained HTML file (inline CSS and SVG, nothing fetched) with, per plan: the\n' +
    'verdict and diagnostics, memory per GPU as stacked bars, the simulated pipeline schedule\n' +
    'as a Gantt chart with its bubbles, the device mesh and the memory timeline. With --train-log,\n' +
    'a training run: loss and gradient norm against the step, from the JSONL log parplan train wrote.\n' +
    'Exit status as for compile; a plan that has errors or does not fit still gets a report\n' +
    '(exit 1), a usage or file error writes none (exit 2).',
};

export const EXPLAIN: CommandSpec = {
  name: 'explain',
  usage: 'parplan explain <CODE>',
  summary: 'explain a diagnostic code, e.g. PP3001',
  options: [HELP],
  details: 'CODE may be written PP3001, pp3001, 3001, or by its title (heads-not-divisible).',
};

export const SERVE: CommandSpec = {
  name: 'serve',
  usage: 'parplan serve --weights SPEC [--port N] [--host H] <file.graph.json>',
  brief: 'serve --weights SPEC <graph>',
  summary: 'serve a compiled serving plan over HTTP on WebGPU',
  options: [
    { name: '--weights', value: { placeholder: 'SPEC' }, doc: 'random:SEED, or safetensors files or a directory (comma-separated)' },
    { name: '--allow-nonfinite', doc: 'load weights that hold NaN or Infinity (refused by default)' },
    { name: '--port', value: { placeholder: 'N' }, doc: 'port to listen on (default: 8080; 0 picks a free one)' },
    { name: '--host', value: { placeholder: 'H' }, doc: 'address to listen on (default: 127.0.0.1, loopback only)' },
    {
      name: '--tokenizer',
      value: { placeholder: 'DIR' },
      doc: "holds tokenizer.json for text (default: the weights' directory)",
    },
    {
      name: '--served-model-name',
      value: { placeholder: 'NAME' },
      doc: "model id of /v1/models and requests (default: the graph's model name)",
    },
    {
      name: '--headers-timeout',
      value: { placeholder: 'TIME' },
      doc: 'time to send the request line and headers, then 408 (default: 10s)',
    },
    { name: '--body-timeout', value: { placeholder: 'TIME' }, doc: 'time to send the body after the headers, then 408 (default: 10s)' },
    { name: '--request-timeout', value: { placeholder: 'TIME' }, doc: 'time to send the whole request, then 408 (default: 20s)' },
    { name: '--keep-alive-timeout', value: { placeholder: 'TIME' }, doc: 'an idle keep-alive connection is closed after it (default: 5s)' },
    { name: '--max-connections', value: { placeholder: 'N' }, doc: 'most connections open at once; more are refused (default: 512)' },
    HELP,
  ],
  details:
    "Runs a graph written by 'parplan compile' from a plan with mode = serve and engine = webgpu:\n" +
    "one WebGPU device per rank, the weights loaded shard by shard, the plan's batch policy.\n" +
    'OpenAI-compatible: POST /v1/chat/completions, POST /v1/completions (stream: true for\n' +
    "server-sent events), GET /v1/models; with a tokenizer (the weights' directory or --tokenizer).\n" +
    'POST /v1/generate {"prompt": [ids], "max_new_tokens": n} -> {"tokens": [ids], "finish"};\n' +
    'GET /v1/stats; GET /health; GET /metrics (Prometheus) (docs/serving.md). SIGINT or\n' +
    'SIGTERM stops it (exit 0): running requests get 10 s, then every connection is closed.\n' +
    'Client limits: docs/security.md.\n' +
    'Exit 2: bad arguments, an unreadable or unsuitable graph, weights that cannot be found;\n' +
    'exit 1: the runtime cannot start (no WebGPU adapter, weights that do not fit, port in use).',
};

export const FMT: CommandSpec = {
  name: 'fmt',
  usage: 'parplan fmt [--check] <file|dir>...',
  summary: 'format .plan files in place (or --check them)',
  options: [{ name: '--check', doc: 'write nothing; list the files that would change, exit 1 if any' }, HELP],
  details:
    'Directories are searched for *.plan files, recursively. Files are rewritten in place\n' +
    '(comments kept) unless --check is given. A file with syntax errors is left as it is;\n' +
    'its errors go to stderr and the exit status is 1. The layout is described in\n' +
    'docs/language.md, "Formatting".',
};

export const IMPORT: CommandSpec = {
  name: 'import',
  usage: 'parplan import [--name NAME] <config.json>',
  brief: 'import <config.json>',
  summary: 'print a Hugging Face config as a model block',
  options: [{ name: '--name', value: { placeholder: 'NAME' }, doc: "the model's name (default: from the file name)" }, HELP],
  details:
    'Reads a Hugging Face config.json (model_type gpt2, llama, mistral, mixtral, qwen2, qwen3,\n' +
    'qwen2_moe, qwen3_moe, gemma2, gemma3_text, deepseek_v2, deepseek_v3, gpt_oss) and prints\n' +
    "the model block it is equivalent to, formatted as 'parplan fmt' would: the same keys\n" +
    '`hf_config = "config.json"` gives a model. Diagnostics (pointing into the config) go to\n' +
    'stderr; a config parplan cannot express prints nothing and exits 1. See docs/language.md.',
};

export const EXPORTERS = ['vllm', 'torchtitan', 'megatron', 'deepspeed'] as const;

export const EXPORT: CommandSpec = {
  name: 'export',
  usage: 'parplan export --to ENGINE [--plan NAME] [--model ID] [-o DIR] <file.plan>',
  brief: 'export --to ENGINE <file.plan>',
  summary: "write a plan as a distributed engine's launch config",
  options: [
    { name: '--to', value: { placeholder: 'ENGINE', choices: EXPORTERS }, doc: 'the engine: vllm, torchtitan, megatron or deepspeed' },
    planOption('export'),
    { name: '--model', value: { placeholder: 'ID' }, doc: 'HF id or path (vllm), tokenizer (megatron), flavor (torchtitan)' },
    outputOption('DIR', "the directory to write into, or '-' for stdout (default: stdout)"),
    ROOT,
    HELP,
  ],
  details:
    'Files go to stdout, each after a line "# ==> NAME <==", or into DIR with -o.\n' +
    'Diagnostics go to stderr; an error (a plan the engine cannot run as written)\n' +
    'writes nothing and exits 1. See docs/export.md.',
};

export const SUGGEST: CommandSpec = {
  name: 'suggest',
  usage: 'parplan suggest --model NAME --cluster NAME [--mode serve|train] [options] <file.plan>',
  brief: 'suggest [options] <file.plan>',
  summary: 'search for the fastest plan that fits a model on a cluster',
  options: [
    { name: '--model', value: { placeholder: 'NAME' }, doc: 'the model declaration to plan for (in the file or its imports)' },
    { name: '--cluster', value: { placeholder: 'NAME' }, doc: 'the cluster declaration to plan on' },
    { name: '--mode', value: { placeholder: 'serve|train', choices: ['serve', 'train'] }, doc: 'serving or training (default: train)' },
    { name: '--global-batch', value: { placeholder: 'N' }, doc: 'training: sequences per step (default: about 4M tokens, 2^22 / seq)' },
    { name: '--seq', value: { placeholder: 'N' }, doc: "tokens per sequence (default: the model's max_seq)" },
    {
      name: '--lora-rank',
      value: { placeholder: 'N' },
      doc: 'training: LoRA fine-tuning, adapters of rank N on a frozen base (QLoRA with an nf4 model)',
    },
    {
      name: '--lora-targets',
      value: { placeholder: 'LIST' },
      doc: "with --lora-rank: the adapted modules, comma-separated PEFT names or all-linear (default: PEFT's for the family)",
    },
    { name: '--max-latency', value: { placeholder: 'TIME' }, doc: 'serving: most time per output token, e.g. 50ms (default: 100ms)' },
    {
      name: '--plan',
      value: { placeholder: 'NAME' },
      doc: "serving: meet this plan's traffic and slo blocks (default: the file's one serving plan with traffic, if any)",
    },
    { name: '--top', value: { placeholder: 'N' }, doc: 'how many plans to list (default: 5)' },
    { name: '--format', value: { placeholder: 'text|json', choices: ['text', 'json'] }, doc: 'output format (default: text)' },
    outputOption('FILE', 'write the best plan, every knob pinned, as a .plan file'),
    ROOT,
    HELP,
  ],
  details:
    'Enumerates tensor, pipeline and data degrees that use every GPU, and for training the\n' +
    'schedule (GPipe, 1F1B, interleaved), micro batch, ZeRO stage, recompute and sequence\n' +
    'parallelism, or for serving max_batch (powers of 2 up to 1024) and the prefill chunk (max_prefill_tokens: the default, 2048 or 16384). Each candidate goes\n' +
    'through the checker and the memory model; those that fit are ranked by the cost model:\n' +
    'training by estimated step time, serving by decode tokens/s among plans whose time per\n' +
    'output token is within --max-latency. Exit 1 when nothing fits (with the closest plan).\n' +
    "Serving under a plan's traffic and slo blocks: GPU counts from 1 up (divisors of the\n" +
    "cluster's), each fitting plan's latency predicted as check predicts it; ranked by the\n" +
    'fewest GPUs that meet the SLO, then the highest rate still meeting it (docs/suggest.md).',
};

export const HELP_COMMAND: CommandSpec = {
  name: 'help',
  usage: 'parplan help [command]',
  summary: 'show help for parplan or one command',
  options: [],
};

export const TRAIN: CommandSpec = {
  name: 'train',
  usage: 'parplan train --weights SPEC --data FILE --steps N --lr X [--save DIR] [--seed N] [--log FILE] <file.graph.json>',
  brief: 'train [options] <graph>',
  summary: 'train a compiled training plan on the WebGPU runtime',
  options: [
    { name: '--weights', value: { placeholder: 'SPEC' }, doc: 'the initial weights: random:SEED, or safetensors files or a directory' },
    { name: '--data', value: { placeholder: 'FILE' }, doc: "a token file (llm.c's format: scripts/make-tokens.ts writes one)" },
    { name: '--steps', value: { placeholder: 'N' }, doc: 'optimizer steps to run' },
    { name: '--lr', value: { placeholder: 'X' }, doc: 'AdamW learning rate' },
    { name: '--save', value: { placeholder: 'DIR' }, doc: 'write model.safetensors and config.json there at the end' },
    { name: '--seed', value: { placeholder: 'N' }, doc: 'seed of the batches drawn from the data (default: 1)' },
    { name: '--log', value: { placeholder: 'FILE' }, doc: 'write one JSON line per step (step, loss, gradNorm, tokens, seconds) there' },
    HELP,
  ],
  details:
    "Trains a graph written by 'parplan compile' from a plan with mode = train: each step one\n" +
    'global batch of seq + 1-token windows drawn from the token file (docs/runtime.md, "Training").\n' +
    "AdamW with torch.optim.AdamW's defaults (betas 0.9, 0.999, eps 1e-8, weight decay 0.01), or SGD\n" +
    'if the plan says optimizer = sgd; grad_clip as the plan says. A progress line on stderr (one\n' +
    'line per step when it is not a terminal); --log writes one JSON object per step (step, loss,\n' +
    "gradNorm, tokens, seconds), which 'parplan report --train-log' draws.\n" +
    'Exit 1: a graph the runtime cannot train yet (PP6014), a step that fails or a loss that is not finite.\n' +
    'Exit 2: bad arguments (PP6010, PP6011), a graph that is not a training graph (PP6012), a\n' +
    'token file that cannot be used (PP6013), weights that cannot be found (PP6001).',
};

export const PROFILE: CommandSpec = {
  name: 'profile',
  usage: 'parplan profile --weights SPEC [-o FILE] [--batches 1,2,4] [--contexts 16,64] [--prompts 16,64] [--repeats N] <file.graph.json>',
  brief: 'profile [options] <graph>',
  summary: "time a serving graph's steps on this WebGPU device",
  options: [
    {
      name: '--weights',
      value: { placeholder: 'SPEC' },
      doc: 'random:SEED, or safetensors files or a directory (times do not depend on the values)',
    },
    outputOption('FILE', 'write the profile JSON there (default: stdout)'),
    {
      name: '--batches',
      value: { placeholder: 'LIST' },
      doc: "decode batch sizes (default: powers of 2 up to the plan's max_batch, and max_batch)",
    },
    { name: '--contexts', value: { placeholder: 'LIST' }, doc: 'decode contexts in tokens (default: seq/8, seq/2, seq)' },
    { name: '--prompts', value: { placeholder: 'LIST' }, doc: 'prefill prompt lengths in tokens (default: seq/8, seq/4, seq/2, seq)' },
    {
      name: '--repeats',
      value: { placeholder: 'N' },
      doc: 'timed calls per point, round-robin over the grid, the median kept (default: 5)',
    },
    { name: '--warmup', value: { placeholder: 'N' }, doc: 'untimed calls per point first (default: 2)' },
    HELP,
  ],
  details:
    'Loads the serving graph on the WebGPU runtime as serve does and times the engine calls the\n' +
    "batching server makes: one prompt's prefill per prompt length, one decode step per batch ×\n" +
    'context, on the first data replica. The JSON (docs/latency.md, "Measured step times") is what\n' +
    'a gpu { profile = "file.json" } block names. Exit 2: bad arguments or graph; 1: no device.',
};

export const LOAD: CommandSpec = {
  name: 'load',
  usage: 'parplan load --rate R --duration D [--prompt N] [--output N] [--trace FILE] [--seed S] [--max-in-flight K] [--json] <URL>',
  brief: 'load [options] <url>',
  summary: 'open-loop Poisson load on an OpenAI-compatible server',
  options: [
    { name: '--rate', value: { placeholder: 'R' }, doc: 'mean arrivals per second (Poisson)' },
    { name: '--duration', value: { placeholder: 'D' }, doc: 'seconds of arrivals (at most 3600); then the requests in flight finish' },
    { name: '--prompt', value: { placeholder: 'N' }, doc: 'prompt tokens per request (default: 16)' },
    { name: '--output', value: { placeholder: 'N' }, doc: 'tokens to generate per request (default: 16)' },
    {
      name: '--trace',
      value: { placeholder: 'FILE' },
      doc: 'arrivals and lengths from a CSV trace (TIMESTAMP,ContextTokens,GeneratedTokens)',
    },
    { name: '--seed', value: { placeholder: 'S' }, doc: 'seed of the arrival times and prompts (default: 1)' },
    {
      name: '--max-in-flight',
      value: { placeholder: 'K' },
      doc: 'requests open at once; an arrival past it counts as rejected (default: 256)',
    },
    { name: '--model', value: { placeholder: 'NAME' }, doc: "the request's model (default: the first of /v1/models)" },
    { name: '--allow-remote', doc: 'allow a URL that is not loopback' },
    { name: '--json', doc: 'print the result as JSON (the shape of plans[].latency where they overlap)' },
    HELP,
  ],
  details:
    'Sends streaming /v1/completions requests with token-id prompts at exponential gaps (open loop:\n' +
    'arrivals do not wait for answers) and measures, per request, TTFT (the first token event),\n' +
    'TPOT and end to end. Exit 2: bad arguments; 1: the server could not be reached.',
};

export const COMMANDS: readonly CommandSpec[] = [
  CHECK,
  COMPILE,
  REPORT,
  SERVE,
  PROFILE,
  LOAD,
  TRAIN,
  FMT,
  IMPORT,
  EXPORT,
  SUGGEST,
  EXPLAIN,
  HELP_COMMAND,
];

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: '--help', aliases: ['-h'], doc: 'show this help' },
  { name: '--version', aliases: ['-v', '-V'], doc: 'print the version' },
];

function optionLines(options: readonly OptionSpec[]): string[] {
  const left = options.map((o) => [...(o.aliases ?? []), o.name].join(', ') + (o.value ? ` <${o.value.placeholder}>` : ''));
  const w = Math.max(...left.map((l) => l.length));
  return options.map((o, i) => `  ${left[i]!.padEnd(w)}  ${o.doc}`);
}

const ENVIRONMENT = [
  'environment:',
  '  NO_COLOR       set: no colour (wins over FORCE_COLOR)',
  '  FORCE_COLOR    set: colour even when stdout is not a terminal (0 or false: no colour)',
  '  PARPLAN_DEBUG  set: print the stack trace of internal errors',
];

const exitLines = () => ['exit status:', ...EXIT_DOCS.map(([code, doc]) => `  ${code}  ${doc}`)];

export function mainHelp(version: string): string {
  const short = (u: string) => (u.length > 40 ? u.replace(/ \[.*\]/, ' [options]') : u);
  const cmds = COMMANDS.map((c) => [c.brief ?? short(c.usage.replace(/^parplan /, '')), c.summary] as const);
  const shortW = Math.max(...cmds.map(([u]) => u.length));
  return [
    `parplan ${version}: check and size model-parallelism plans (.plan files)`,
    '',
    'usage:',
    ...cmds.map(([u, s]) => `  parplan ${u.padEnd(shortW)}  ${s}`),
    `  parplan --version${' '.repeat(Math.max(0, shortW - 9))}  print the version`,
    '',
    'check options:',
    ...optionLines(CHECK.options),
    '',
    ...exitLines(),
    '',
    ...ENVIRONMENT,
    '',
    "Run 'parplan help <command>' for more about a command.",
    '',
  ].join('\n');
}

export function commandHelp(c: CommandSpec): string {
  const lines = [`usage: ${c.usage}`, '', c.summary.charAt(0).toUpperCase() + c.summary.slice(1) + '.'];
  if (c.details) lines.push('', c.details);
  if (c.options.length > 0) lines.push('', 'options:', ...optionLines(c.options));
  if (c.name === 'check') lines.push('', ...exitLines(), '', ...ENVIRONMENT);
  lines.push('');
  return lines.join('\n');
}
