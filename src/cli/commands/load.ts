/**
 * `parplan load --rate R --duration D [--prompt N] [--output N] [--trace FILE] [--seed S]
 * [--max-in-flight K] [--model NAME] [--allow-remote] [--json] <URL>`: open-loop Poisson
 * arrivals (the arrival stream of the latency simulation, src/latency/traffic.ts, so one seed
 * gives the same arrivals to both) against an OpenAI-compatible completions endpoint,
 * measured from the client's side (src/latency/load-client.ts).
 *
 * Bounded: at most LIMITS.loadRequests requests, a duration of at most an hour, K requests in
 * flight; the URL must be loopback unless --allow-remote. Exit 2: bad arguments or trace;
 * 1: the server cannot be reached or every request failed.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LIMITS, limitText } from '../../facts/limits.js';
import { isLoopback, LoadError, runLoad, type LoadResult } from '../../latency/load-client.js';
import { parseTrace } from '../../latency/trace.js';
import { generateRequests, type TrafficRequest } from '../../latency/traffic.js';
import { SourceFile } from '../../source.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { LOAD, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';

const MAX_DURATION_S = 3600;

export interface LoadArgs {
  url: string;
  rate?: number;
  duration: number;
  prompt: number;
  output: number;
  trace?: string;
  seed: number;
  maxInFlight: number;
  model?: string;
  json: boolean;
}

function positive(flag: string, text: string | true | undefined, what: string, max: number, whole: boolean): number | undefined {
  if (typeof text !== 'string') return undefined;
  const n = /^\d{1,9}(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0 && n <= max) || (whole && !Number.isInteger(n)))
    throw new UsageError(
      `option '${flag}' needs ${what} (${whole ? 'a whole number ' : ''}> 0, ≤ ${max}), found '${text}'`,
      undefined,
      LOAD.name,
    );
  return n;
}

export function parseLoadArgs(argv: readonly string[]): LoadArgs | 'help' {
  const args = parseArgs(argv, LOAD.options, LOAD.name);
  if (args.options.has('--help')) return 'help';
  if (args.positionals.length !== 1)
    throw new UsageError(
      args.positionals.length === 0 ? 'missing the URL to load' : `load takes one URL, got ${args.positionals.length}`,
      'e.g. parplan load --rate 2 --duration 30 http://127.0.0.1:8080',
      LOAD.name,
    );
  const text = args.positionals[0]!;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`'${text}' is not a URL`, 'e.g. http://127.0.0.1:8080 (the server parplan serve prints)', LOAD.name);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`'${text}' is not an http or https URL`, 'e.g. http://127.0.0.1:8080', LOAD.name);
  if (!isLoopback(url.hostname) && !args.options.has('--allow-remote'))
    throw new UsageError(
      `'${url.hostname}' is not a loopback address`,
      'load is sent to this machine by default; pass --allow-remote to load another host you run',
      LOAD.name,
    );
  const trace = args.options.get('--trace');
  const rate = positive('--rate', args.options.get('--rate'), 'requests per second', 1_000_000, false);
  if (rate === undefined && typeof trace !== 'string')
    throw new UsageError('missing --rate', 'e.g. --rate 2 (requests per second), or --trace FILE', LOAD.name);
  const duration = positive('--duration', args.options.get('--duration'), 'seconds of arrivals', MAX_DURATION_S, false);
  if (duration === undefined) throw new UsageError('missing --duration', 'e.g. --duration 30 (seconds of arrivals)', LOAD.name);
  const model = args.options.get('--model');
  const seedText = args.options.get('--seed');
  const seed = typeof seedText === 'string' ? Number(seedText) : 1;
  if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32))
    throw new UsageError(`option '--seed' needs a whole number from 0 to 2^32 − 1, found '${String(seedText)}'`, undefined, LOAD.name);
  return {
    url: url.toString(),
    ...(rate !== undefined ? { rate } : {}),
    duration,
    prompt: positive('--prompt', args.options.get('--prompt'), 'prompt tokens', 1_000_000, true) ?? 16,
    output: positive('--output', args.options.get('--output'), 'tokens to generate', 1_000_000, true) ?? 16,
    ...(typeof trace === 'string' ? { trace } : {}),
    seed,
    maxInFlight: positive('--max-in-flight', args.options.get('--max-in-flight'), 'requests open at once', 100_000, true) ?? 256,
    ...(typeof model === 'string' ? { model } : {}),
    json: args.options.has('--json'),
  };
}

/** The requests to send: a trace's (scaled to --rate when given) or Poisson arrivals; those after --duration dropped. */
export function loadRequests(a: LoadArgs, cwd: string): TrafficRequest[] {
  let reqs: TrafficRequest[];
  if (a.trace !== undefined) {
    const path = resolve(cwd, a.trace);
    let text: string;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new UsageError(`cannot read the trace '${a.trace}': it is not a regular file`, undefined, LOAD.name);
      if (st.size > LIMITS.traceFileBytes)
        throw new UsageError(
          `cannot read the trace '${a.trace}': it is larger than ${limitText(LIMITS.traceFileBytes)}`,
          undefined,
          LOAD.name,
        );
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`cannot read the trace '${a.trace}': no such file`, undefined, LOAD.name);
    }
    const parsed = parseTrace(new SourceFile(path, text), LIMITS.loadRequests);
    if (!parsed.ok)
      throw new UsageError(
        `'${a.trace}':${parsed.span.line}:${parsed.span.column} is not a request trace: ${parsed.detail}`,
        'columns TIMESTAMP,ContextTokens,GeneratedTokens (the Azure LLM inference trace format)',
        LOAD.name,
      );
    reqs = parsed.rows;
    if (a.rate !== undefined && reqs.length > 1) {
      const own = (reqs.length - 1) / (reqs[reqs.length - 1]!.at || 1);
      reqs = reqs.map((r) => ({ ...r, at: (r.at * own) / a.rate! }));
    }
  } else {
    const n = Math.ceil(a.rate! * a.duration * 2 + 10);
    if (a.rate! * a.duration > LIMITS.loadRequests)
      throw new UsageError(
        `--rate × --duration is ${Math.round(a.rate! * a.duration)} requests, over the limit of ${LIMITS.loadRequests} (LIMITS.loadRequests)`,
        'a shorter --duration',
        LOAD.name,
      );
    reqs = generateRequests({
      rate: a.rate!,
      process: 'poisson',
      burst: 1,
      prompt: { kind: 'fixed', value: a.prompt },
      output: { kind: 'fixed', value: a.output },
      seed: a.seed,
      requests: Math.min(n, LIMITS.loadRequests),
    });
  }
  return reqs.filter((r) => r.at <= a.duration);
}

export async function runLoadCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const a = parseLoadArgs(argv);
  if (a === 'help') {
    io.stdout.write(commandHelp(LOAD));
    return EXIT.OK;
  }
  const requests = loadRequests(a, io.cwd);
  if (requests.length === 0)
    throw new UsageError('no request arrives within --duration', 'a longer --duration or a higher --rate', LOAD.name);
  if (!a.json) io.stderr.write(`sending ${requests.length} requests over ${a.duration} s to ${a.url} …\n`);
  let r: LoadResult;
  try {
    r = await runLoad({ url: a.url, requests, maxInFlight: a.maxInFlight, ...(a.model !== undefined ? { model: a.model } : {}) });
  } catch (e) {
    if (!(e instanceof LoadError)) throw e;
    io.stderr.write(`error: ${e.message}\n  = help: start the server first: parplan serve GRAPH --weights …\n`);
    return EXIT.FAILED;
  }
  if (a.rate !== undefined) r.rate = a.rate;
  const failures = r.log.filter((x) => x.outcome === 'failed');
  if (a.json) {
    const { samples: _s, log: _l, startedAt: _t, ...figures } = r;
    io.stdout.write(JSON.stringify({ ...figures, failures: failures.slice(0, 5).map((f) => f.reason) }, null, 2) + '\n');
  } else {
    const ms = (x: number) => (!Number.isFinite(x) ? '–' : x < 1 ? `${(x * 1000).toPrecision(3)} ms` : `${x.toPrecision(3)} s`);
    const pc = (p: LoadResult['ttft']) => `p50 ${ms(p.p50)}  p90 ${ms(p.p90)}  p99 ${ms(p.p99)}`;
    io.stdout.write(
      `load at ${r.rate.toPrecision(3)} requests/s (${r.requests} sent, model '${r.model}'): ${r.throughput.toPrecision(3)} requests/s served, ` +
        `rejected ${(r.rejected * 100).toPrecision(3)}%, failed ${(r.failed * 100).toPrecision(3)}%\n` +
        `  TTFT ${pc(r.ttft)};  TPOT ${pc(r.tpot)};  E2E ${pc(r.e2e)}\n`,
    );
    if (failures.length > 0) io.stderr.write(`first failure: ${failures[0]!.reason}\n`);
  }
  return r.completed === 0 && r.requests > 0 ? EXIT.FAILED : EXIT.OK;
}
