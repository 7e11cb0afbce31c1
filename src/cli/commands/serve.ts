/**
 * `parplan serve --weights SPEC [--allow-nonfinite] [--port N] [--host H] [--tokenizer DIR]
 * [--served-model-name NAME] <file.graph.json>`: run a compiled serving plan on the WebGPU runtime
 * behind its HTTP front (runtime/serving/http.ts: OpenAI-compatible routes and /v1/generate)
 * until SIGINT or SIGTERM.
 *
 * Everything that can be checked without a GPU is checked first (arguments, the graph,
 * the weights spec), and only then is the runtime — and with it Dawn — loaded with
 * `import()`, so a mistake is reported at once and no other command pays for WebGPU.
 *
 * Exit 2 for the command line, the graph, weights that cannot be found and a checkpoint whose
 * config.json describes another model than the graph's (docs/weights.md); exit 1 when the
 * runtime cannot start (no adapter, weights that do not fit the graph, port in use); exit 0
 * after a clean shutdown.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { LIMITS, limitText } from '../../facts/limits.js';
import type { Graph } from '../../graph/types.js';
import { checkServingGraph, graphProblemsText } from '../../graph/validate.js';
import { printableLines } from '../../format.js';
import { makeStyle, shouldColor } from '../../render/style.js';
import { graphAndWeights, parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { SERVE, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
/** How long a shutdown waits for running requests before stopping them and closing every connection. */
const DRAIN_MS = LIMITS.httpDrainMs;

export interface ServeArgs {
  file: string;
  weights: string;
  port: number;
  host: string;
  /** The HTTP client limits given on the command line (startHttpServer's defaults for the rest). */
  limits: ServeLimits;
  /** Load weights holding NaN or ±Infinity (`--allow-nonfinite`). */
  allowNonfinite: boolean;
  /** `--tokenizer DIR`: tokenizer.json and tokenizer_config.json for the text routes (default: the weights' directory). */
  tokenizer?: string;
  /** `--served-model-name`: the model id of /v1/models (default: the graph's model name). */
  servedModelName?: string;
}

export interface ServeLimits {
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxConnections?: number;
}

/** The HTTP limit flags: option → field, and whether it takes a time (else a count). */
const LIMIT_FLAGS: readonly [string, keyof ServeLimits, 'time' | 'count'][] = [
  ['--headers-timeout', 'headersTimeoutMs', 'time'],
  ['--body-timeout', 'bodyTimeoutMs', 'time'],
  ['--request-timeout', 'requestTimeoutMs', 'time'],
  ['--keep-alive-timeout', 'keepAliveTimeoutMs', 'time'],
  ['--max-connections', 'maxConnections', 'count'],
];

/** `500ms`, `10s` or a bare number of milliseconds, as whole milliseconds; or a count. */
function parseLimit(flag: string, text: string, kind: 'time' | 'count'): number {
  const m = kind === 'time' ? /^(\d{1,9}(?:\.\d{1,3})?)(ms|s)?$/.exec(text) : /^(\d{1,9})$/.exec(text);
  const n = m ? Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1)) : NaN;
  if (!(n >= 1)) {
    throw new UsageError(
      `option '${flag}' needs ${kind === 'time' ? 'a time such as 500ms or 10s' : 'a whole number ≥ 1'}, found '${text}'`,
      kind === 'time' ? 'units: ms, s (default ms)' : 'the most connections open at once',
      SERVE.name,
    );
  }
  return n;
}

export function parseServeArgs(argv: readonly string[]): ServeArgs | 'help' {
  const args = parseArgs(argv, SERVE.options, SERVE.name);
  if (args.options.has('--help')) return 'help';
  const { file, weights } = graphAndWeights(args, SERVE.name, {
    verb: 'serve',
    graph: 'compile a plan first: parplan compile FILE.plan --plan NAME -o NAME.graph.json',
    weights: 'use --weights random:SEED for random weights, or safetensors files or a directory',
  });
  const portText = args.options.get('--port');
  let port = DEFAULT_PORT;
  if (typeof portText === 'string') {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 0 && port <= 65535))
      throw new UsageError(`'${portText}' is not a port`, 'use a number from 0 to 65535 (0 picks a free port)', SERVE.name);
  }
  const host = args.options.get('--host');
  const limits: ServeLimits = {};
  for (const [flag, field, kind] of LIMIT_FLAGS) {
    const text = args.options.get(flag);
    if (typeof text === 'string') limits[field] = parseLimit(flag, text, kind);
  }
  if (limits.requestTimeoutMs !== undefined && limits.requestTimeoutMs < (limits.headersTimeoutMs ?? LIMITS.httpHeadersTimeoutMs)) {
    throw new UsageError(
      "'--request-timeout' is shorter than the headers timeout",
      `the whole request includes its headers: give at least ${limits.headersTimeoutMs ?? LIMITS.httpHeadersTimeoutMs}ms`,
      SERVE.name,
    );
  }
  const tokenizer = args.options.get('--tokenizer');
  const servedModelName = args.options.get('--served-model-name');
  if (typeof servedModelName === 'string' && servedModelName.trim() === '')
    throw new UsageError("option '--served-model-name' needs a name", 'e.g. --served-model-name tinyllama', SERVE.name);
  return {
    file,
    weights,
    port,
    host: typeof host === 'string' ? host : DEFAULT_HOST,
    limits,
    allowNonfinite: args.options.has('--allow-nonfinite'),
    ...(typeof tokenizer === 'string' ? { tokenizer } : {}),
    ...(typeof servedModelName === 'string' ? { servedModelName } : {}),
  };
}

/**
 * The graph in `path`, if it is one the runtime can serve: a parplan-graph (the version this parplan writes) of a plan
 * with mode = serve and engine = webgpu. Anything else is a UsageError saying how to fix it (for `command`'s usage line).
 */
/**
 * `--weights SPEC` as a weights source, safetensors paths resolved against `cwd`; checked before any GPU work
 * (runtime/weights/load.ts does not load WebGPU). A bad spec is a UsageError with `hint`.
 */
export async function weightsSpec(spec: string, cwd: string, command: string, hint: string) {
  const { parseWeightsSource } = await import('../../../runtime/weights/load.js');
  let weights: ReturnType<typeof parseWeightsSource>;
  try {
    weights = parseWeightsSource(spec);
  } catch (e) {
    throw new UsageError(`bad --weights '${spec}': ${messageOf(e)}`, hint, command);
  }
  return weights.kind === 'safetensors' ? { ...weights, paths: weights.paths.map((p) => resolve(cwd, p)) } : weights;
}

export function readServingGraph(path: string, cwd: string, command: string = SERVE.name): Graph {
  const full = resolve(cwd, path);
  let text: string;
  try {
    // Looked at before it is read: a FIFO would wait for a writer forever, /dev/zero never ends.
    const st = statSync(full);
    if (!st.isFile() && !st.isDirectory())
      throw new UsageError(
        `cannot read '${path}': it is not a regular file`,
        "serve a graph written by 'parplan compile FILE.plan'",
        command,
      );
    if (st.size > LIMITS.graphFileBytes) {
      throw new UsageError(
        `cannot read '${path}': it is ${st.size} bytes, over the limit of ${limitText(LIMITS.graphFileBytes)} for a graph (LIMITS.graphFileBytes)`,
        'a serving graph is a few KiB: compile the serving plan again',
        command,
      );
    }
    text = readFileSync(full, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : e instanceof Error ? e.message : String(e);
    throw new UsageError(`cannot read '${path}': ${reason}`, "serve a graph written by 'parplan compile FILE.plan'", command);
  }
  if (path.endsWith('.plan')) {
    throw new UsageError(
      `'${path}' is a plan, not a compiled graph`,
      `compile it first: parplan compile ${path} --plan NAME, then: parplan serve NAME.graph.json`,
      command,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `'${path}' is not JSON: ${e instanceof Error ? e.message : String(e)}`,
      "serve a graph written by 'parplan compile FILE.plan'",
      command,
    );
  }
  if (Array.isArray(value)) {
    throw new UsageError(
      `'${path}' holds ${value.length} graphs; serve takes one`,
      'compile one plan: parplan compile FILE.plan --plan NAME -o NAME.graph.json',
      command,
    );
  }
  // What the graph is and is for, then everything the runtime reads, before anything is allocated (src/graph/validate.ts).
  const problems = checkServingGraph(value);
  const first = problems[0];
  if (first?.headline !== undefined) throw new UsageError(first.headline.replace(/^this /, `'${path}' `), first.help, command);
  if (first) {
    const plan = (value as Graph).plan;
    const recompile = `parplan compile ${plan.file || 'FILE.plan'} --plan ${plan.name}`;
    throw new UsageError(`'${path}' cannot be served: ${graphProblemsText(problems)}`, `recompile the plan: ${recompile}`, command);
  }
  return value as Graph;
}

export async function runServe(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseServeArgs(argv);
  if (args === 'help') {
    io.stdout.write(commandHelp(SERVE));
    return EXIT.OK;
  }
  const graph = readServingGraph(args.file, io.cwd);

  const weights = await weightsSpec(
    args.weights,
    io.cwd,
    SERVE.name,
    'use random:SEED, or safetensors files or a directory (comma-separated)',
  );
  if (weights.kind === 'safetensors') {
    for (const [i, p] of weights.paths.entries()) {
      const given =
        args.weights
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')[i] ?? p;
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch {
        throw new UsageError(
          `cannot read the weights '${given}': no such file or directory`,
          'give safetensors files, a directory, or an index; or random:SEED',
          SERVE.name,
        );
      }
      // A FIFO or a device would be read forever (the loader refuses them too, and those in a directory).
      if (!st.isFile() && !st.isDirectory())
        throw new UsageError(
          `cannot read the weights '${given}': it is not a regular file or a directory`,
          'give safetensors files, a directory, or an index; or random:SEED',
          SERVE.name,
        );
    }
  }

  const style = makeStyle(shouldColor(io.stderr, io.env));

  // A checkpoint directory's config.json against the graph's model (runtime/weights/config.ts), still before WebGPU:
  // a checkpoint of another model is a wrong argument (exit 2), with every difference listed.
  const { checkCheckpointConfig, CheckpointConfigError } = await import('../../../runtime/weights/config.js');
  try {
    for (const w of checkCheckpointConfig(graph, weights).warnings)
      io.stderr.write(`${style.bold(style.yellow('warning'))}: ${printableLines(w)}\n`);
  } catch (e) {
    if (!(e instanceof CheckpointConfigError)) throw e;
    const lines = [`${style.bold(style.red('error'))}${style.bold(`: ${printableLines(e.headline)}`)}`];
    for (const l of e.lines) lines.push(`  ${printableLines(l)}`);
    lines.push(`  = help: ${printableLines(e.help)}`);
    io.stderr.write(lines.join('\n') + '\n');
    return EXIT.USAGE;
  }

  const fail = (what: string, e: unknown, hint?: string): ExitCode => {
    const lines = [`${style.bold(style.red('error'))}${style.bold(`: ${what}: ${messageOf(e)}`)}`];
    if (hint !== undefined) lines.push(`  = help: ${hint}`);
    io.stderr.write(lines.join('\n') + '\n');
    return EXIT.FAILED;
  };

  const n = graph.devices.length;
  const devices = `${n} device${n === 1 ? '' : 's'}`;
  io.stderr.write(`loading plan '${graph.plan.name}' (${devices}, weights ${args.weights}) …\n`);
  const { createRuntime, startHttpServer, shutdown } = await import('../../../runtime/index.js');
  let rt: Awaited<ReturnType<typeof createRuntime>>;
  try {
    // The config check's warnings are out already (above).
    rt = await createRuntime(graph, {
      weights,
      onWarning: () => undefined,
      ...(args.allowNonfinite ? { allowNonfinite: true } : {}),
      ...(args.tokenizer !== undefined ? { tokenizer: resolve(io.cwd, args.tokenizer) } : {}),
    });
  } catch (e) {
    return fail('cannot start the runtime', e);
  }
  const server = rt.serve();
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = await startHttpServer(server, {
      port: args.port,
      host: args.host,
      ...args.limits,
      ...(rt.codec ? { codec: rt.codec } : {}),
      modelName: args.servedModelName ?? graph.model.name,
    });
  } catch (e) {
    await rt.close();
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EADDRNOTAVAIL' ? 'no such local address' : messageOf(e);
    return fail(
      `cannot listen on ${args.host}:${args.port}`,
      why,
      code === 'EADDRINUSE' ? 'pick another port with --port N, or --port 0 for a free one' : undefined,
    );
  }

  // Stop on the first SIGINT or SIGTERM; the handlers are then removed, so a second
  // signal ends the process at once (the default action).
  const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolveSignal(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    const b = graph.batch!;
    const maxTokens = Math.max(1, Math.min(8, b.seq - 3));
    // With a tokenizer the OpenAI chat route; without one, token ids.
    const example = rt.codec
      ? `${http.url}/v1/chat/completions -H 'Content-Type: application/json' -d '${JSON.stringify({
          messages: [{ role: 'user', content: 'Hello!' }],
          max_tokens: maxTokens,
        })}'`
      : `${http.url}/v1/generate -d '${JSON.stringify({ prompt: [1, 2, 3].map((t) => t % graph.model.vocab), max_new_tokens: maxTokens })}'`;
    const text = rt.codec ? `, model '${args.servedModelName ?? graph.model.name}'` : '';
    io.stdout.write(
      `serving plan '${graph.plan.name}' on ${http.url} (${devices}, weights ${describeWeights(args.weights)}${text})\n` +
        `  try: curl -s ${example}   (Ctrl-C stops)\n`,
    );
  });

  io.stderr.write(`${signal}: stopping (running requests get ${DRAIN_MS / 1000} s to finish) …\n`);
  try {
    // Stops accepting, ends idle and half-sent requests at once, and every connection by DRAIN_MS.
    await shutdown(server, http, DRAIN_MS);
    await rt.close();
  } catch (e) {
    return fail('shutdown failed', e);
  }
  io.stderr.write('stopped\n');
  return EXIT.OK;
}

/** `random:1`, or the checkpoint's file or directory names (not whole paths). */
function describeWeights(spec: string): string {
  if (/^\s*random(:|$)/.test(spec)) return spec.trim();
  return spec
    .split(',')
    .map((p) => basename(p.trim()))
    .filter((p) => p !== '')
    .join(', ');
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
