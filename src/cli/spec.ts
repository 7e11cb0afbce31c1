/**
 * The command-line interface as data: commands, their options, and the help texts built
 * from them. Loaded by main.ts on every run, so it imports nothing heavy.
 */
import type { OptionSpec } from './args.js';
import { EXIT_DOCS } from './exit-codes.js';

export const FORMATS = ['text', 'json', 'sarif', 'github'] as const;
export type Format = (typeof FORMATS)[number];

const HELP: OptionSpec = { name: '--help', aliases: ['-h'], doc: 'show this help' };

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
  usage: 'parplan check [--format text|json|sarif|github] [--plan NAME] <file|dir>...',
  summary: 'check plans and whether they fit in GPU memory',
  options: [
    {
      name: '--format',
      value: { placeholder: 'text|json|sarif|github', choices: FORMATS },
      doc: 'output format (default: text)',
    },
    { name: '--plan', value: { placeholder: 'NAME' }, doc: 'check only the plan named NAME' },
    HELP,
  ],
  details:
    'Directories are searched for *.plan files, recursively, in sorted order.\n' +
    'Output goes to stdout; the exit status says whether every plan is valid and fits.',
};

export const COMPILE: CommandSpec = {
  name: 'compile',
  usage: 'parplan compile [--plan NAME] [-o OUT] <file.plan>',
  summary: 'lower plans to execution graphs (validated by simulation)',
  options: [
    { name: '--plan', value: { placeholder: 'NAME' }, doc: 'compile only the plan named NAME' },
    { name: '--output', aliases: ['-o'], value: { placeholder: 'OUT' }, doc: "where to write: a file (one plan), a directory (several), or '-' for stdout" },
    HELP,
  ],
  details:
    'Writes one graph per plan (format parplan-graph v1, JSON Schema: graph.schema.json),\n' +
    'by default NAME.graph.json in the current directory. Every graph is simulated first:\n' +
    'a deadlock or unmatched communication is an error and nothing is written.',
};

export const REPORT: CommandSpec = {
  name: 'report',
  usage: 'parplan report [--plan NAME] [-o FILE] <file.plan>',
  summary: 'write an HTML report: memory bars, schedule, mesh',
  options: [
    { name: '--plan', value: { placeholder: 'NAME' }, doc: 'report only the plan named NAME' },
    { name: '--output', aliases: ['-o'], value: { placeholder: 'FILE' }, doc: 'the HTML file to write (default: report.html)' },
    HELP,
  ],
  details:
    'One self-contained HTML file (inline CSS and SVG, nothing fetched) with, per plan: the\n' +
    'verdict and diagnostics, memory per GPU as stacked bars, the simulated pipeline schedule\n' +
    'as a Gantt chart with its bubbles, the device mesh and the memory timeline.\n' +
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
    { name: '--port', value: { placeholder: 'N' }, doc: 'port to listen on (default: 8080; 0 picks a free one)' },
    { name: '--host', value: { placeholder: 'H' }, doc: 'address to listen on (default: 127.0.0.1, loopback only)' },
    HELP,
  ],
  details:
    "Runs a graph written by 'parplan compile' from a plan with mode = serve and engine = webgpu:\n" +
    "one WebGPU device per rank, the weights loaded shard by shard, the plan's batch policy.\n" +
    'POST /v1/generate {"prompt": [ids], "max_new_tokens": n} -> {"tokens": [ids], "finish"};\n' +
    'GET /v1/stats; GET /healthz (docs/serving.md). SIGINT or SIGTERM stops it (exit 0).\n' +
    'Exit 2: bad arguments, an unreadable or unsuitable graph, weights that cannot be found;\n' +
    'exit 1: the runtime cannot start (no WebGPU adapter, weights that do not fit, port in use).',
};

export const HELP_COMMAND: CommandSpec = {
  name: 'help',
  usage: 'parplan help [command]',
  summary: 'show help for parplan or one command',
  options: [],
};

export const COMMANDS: readonly CommandSpec[] = [CHECK, COMPILE, REPORT, SERVE, EXPLAIN, HELP_COMMAND];

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: '--help', aliases: ['-h'], doc: 'show this help' },
  { name: '--version', aliases: ['-v', '-V'], doc: 'print the version' },
];

function optionLines(options: readonly OptionSpec[]): string[] {
  const left = options.map((o) =>
    [...(o.aliases ?? []), o.name].join(', ') + (o.value ? ` <${o.value.placeholder}>` : ''),
  );
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
