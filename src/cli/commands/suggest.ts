/**
 * `parplan suggest --model M --cluster C [--mode serve|train] … <file.plan>`: search the
 * plans of a model on a cluster (src/search/), print the best as a table, and write the
 * winner as a pinned `.plan` that imports the input file. The written text is checked
 * again, as `parplan check` would, before it is written.
 *
 * run.ts imports this module only for `suggest`, so its imports load nothing for other commands.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import type { Declaration } from '../../ast.js';
import { checkProgram } from '../../check/index.js';
import { InternalError } from '../../diagnostics/codes.js';
import { LIMITS } from '../../facts/limits.js';
import type { Diagnostic } from '../../diagnostics/diagnostic.js';
import { makeStyle, shouldColor, type Style } from '../../render/style.js';
import { renderDiagnostic } from '../../render/text.js';
import { didYouMean } from '../../diagnostics/suggest.js';
import { loadProgram, nodeHost, type CachedFile } from '../../load.js';
import type { CheckedPlan, ServePlan } from '../../plan.js';
import { search, targetOf, type SearchResult, type Target, type Workload } from '../../search/index.js';
import { rateText, secondsText } from '../../cost/format.js';
import { gib } from '../../render/common.js';
import { groupDigits, jsonSafe, printable, printableLines } from '../../format.js';
import { pinnedText, recheck } from '../../search/pinned.js';
import { closestText, headline, jsonReport, sloMissLines, sloText, summaryLine, table } from '../../search/render.js';
import type { SourceFile } from '../../source.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { SUGGEST, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';
import { refuseInputs, writeOutput } from '../write.js';

/** About 4M tokens per step, as Llama 2 was trained (Touvron et al. 2023, §2.2). */
const TOKENS_PER_STEP = 2 ** 22;
/** Time per output token that reads as fluent streaming; DistServe's chatbot SLOs are 0.1–0.2 s. */
const DEFAULT_MAX_TPOT_MS = 100;
const DEFAULT_TOP = 5;

interface SuggestArgs {
  file: string;
  model: string;
  cluster: string;
  mode: 'train' | 'serve';
  global?: number;
  seq?: number;
  maxTpotSeconds?: number;
  /** --plan: the plan whose traffic and slo blocks candidates must meet. */
  plan?: string;
  /** --lora-rank, --lora-targets: LoRA fine-tuning. */
  adapter?: { rank: number; targets?: readonly string[] };
  top: number;
  format: 'text' | 'json';
  output?: string;
  /** --root: where imports may reach. */
  root?: string;
}

function usage(message: string, hint?: string): UsageError {
  return new UsageError(message, hint, SUGGEST.name);
}

function positiveInt(name: string, value: string | true | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw usage(`option '${name}' needs a whole number of at least 1, found '${value}'`, `e.g. ${name} 8`);
  return n;
}

/** `100ms`, `100 ms`, `0.1s`, `250us`; a bare number is milliseconds. */
export function parseLatency(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s)?\s*$/.exec(value);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n > 0))
    throw usage(`option '--max-latency' needs a time per output token such as 50ms, found '${value}'`, 'units: us, ms, s (default ms)');
  const scale = m[2] === 's' ? 1 : m[2] === 'us' ? 1e-6 : 1e-3;
  return n * scale;
}

function parseSuggestArgs(argv: readonly string[]): SuggestArgs | 'help' {
  const args = parseArgs(argv, SUGGEST.options, SUGGEST.name);
  if (args.options.has('--help')) return 'help';
  if (args.positionals.length !== 1)
    throw usage(
      args.positionals.length === 0 ? 'missing the .plan file that declares the model and cluster' : 'suggest takes one .plan file',
    );
  const get = (name: string) => {
    const v = args.options.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const model = get('--model');
  const cluster = get('--cluster');
  if (model === undefined) throw usage("missing '--model NAME': the model to plan for");
  if (cluster === undefined) throw usage("missing '--cluster NAME': the cluster to plan on");
  const mode = (get('--mode') ?? 'train') as SuggestArgs['mode'];
  const out: SuggestArgs = {
    file: args.positionals[0]!,
    model,
    cluster,
    mode,
    top: positiveInt('--top', get('--top')) ?? DEFAULT_TOP,
    format: (get('--format') ?? 'text') as SuggestArgs['format'],
  };
  // Options of the other mode would be silently ignored: say so instead.
  if (mode === 'serve' && args.options.has('--global-batch'))
    throw usage("'--global-batch' is for --mode train", 'serving searches max_batch itself');
  if (mode === 'train' && args.options.has('--plan'))
    throw usage("'--plan' is for --mode serve", "training has no traffic: the plan's traffic and slo blocks are for serving");
  if (mode === 'train' && args.options.has('--max-latency'))
    throw usage("'--max-latency' is for --mode serve", 'training is ranked by step time');
  if (mode === 'serve' && (args.options.has('--lora-rank') || args.options.has('--lora-targets')))
    throw usage("'--lora-rank' and '--lora-targets' are for --mode train", 'LoRA adapters are trained');
  const loraRank = positiveInt('--lora-rank', get('--lora-rank'));
  const loraTargets = get('--lora-targets');
  if (loraTargets !== undefined && loraRank === undefined)
    throw usage("'--lora-targets' needs '--lora-rank N'", 'e.g. --lora-rank 16 --lora-targets q_proj,v_proj');
  if (loraRank !== undefined)
    out.adapter = {
      rank: loraRank,
      ...(loraTargets !== undefined
        ? {
            targets: loraTargets
              .split(',')
              .map((t) => t.trim())
              .filter((t) => t !== ''),
          }
        : {}),
    };
  const global = positiveInt('--global-batch', get('--global-batch'));
  const seq = positiveInt('--seq', get('--seq'));
  const latency = get('--max-latency');
  if (global !== undefined) out.global = global;
  if (seq !== undefined) out.seq = seq;
  if (latency !== undefined) out.maxTpotSeconds = parseLatency(latency);
  const trafficPlan = get('--plan');
  if (trafficPlan !== undefined) out.plan = trafficPlan;
  const output = get('--output');
  if (output === '-' && out.format === 'json')
    throw usage("'-o -' and '--format json' would both write to stdout", 'write the plan to a file, or read it from the JSON (best.text)');
  if (output !== undefined) out.output = output;
  const root = get('--root');
  if (root !== undefined) out.root = root;
  return out;
}

export async function runSuggest(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseSuggestArgs(argv);
  if (args === 'help') {
    io.stdout.write(commandHelp(SUGGEST));
    return EXIT.OK;
  }
  const style = makeStyle(shouldColor(io.stderr, io.env));

  const diagnostics: Diagnostic[] = [];
  const cache = new Map<string, CachedFile>();
  const program = loadProgram(args.file, nodeHost, cache, diagnostics, args.root === undefined ? {} : { root: args.root });
  const sources = new Map<string, SourceFile>([...cache.values()].map((c) => [c.source.path, c.source]));
  for (const s of program?.configSources ?? []) sources.set(s.path, s);
  const report = (ds: Diagnostic[]) => ds.forEach((d) => io.stderr.write(renderDiagnostic(d, sources, style) + '\n'));
  if (!program || diagnostics.some((d) => d.severity === 'error')) {
    report(diagnostics);
    return diagnostics.some((d) => d.code === 'PP6001') ? EXIT.USAGE : EXIT.FAILED;
  }
  // The pinned plan imports this file: an error in any model or cluster of it would be reported there too
  // (a root with no plans: the checker then checks every declaration but the plans).
  const declared = checkProgram(
    program.files,
    { file: args.file, imports: [], declarations: [] },
    program.configs,
    program.traces,
    program.profiles,
  ).diagnostics.filter((d) => d.severity === 'error');
  if (declared.length > 0) {
    report(declared);
    return EXIT.FAILED;
  }
  const declarations = program.files.flatMap((f) => f.declarations);
  const modelDecl = pick(declarations, 'model', args.model, args.file);
  const clusterDecl = pick(declarations, 'cluster', args.cluster, args.file);
  const targetDiagnostics: Diagnostic[] = [];
  const target = targetOf(modelDecl, clusterDecl, targetDiagnostics, program.configs);
  if (!target) {
    report(targetDiagnostics.filter((d) => d.severity === 'error'));
    return EXIT.FAILED;
  }
  const traffic = args.mode === 'serve' ? trafficOf(args, program, report) : undefined;
  if (traffic === 'failed') return EXIT.FAILED;
  const work = workload(args, target, traffic);
  const started = performance.now();
  const result = search(target, work);
  const ms = performance.now() - started;

  const best = result.ranked[0];
  const name = freeName(`${target.model.name}_${target.cluster.name}_${work.mode}`, declarations);
  const written = best ? writePlan(args, io, { target, work, result, name }, [...sources.keys()]) : undefined;
  if (args.format === 'json') {
    io.stdout.write(jsonSafe(JSON.stringify(jsonReport(target, work, result, args.top, ms, written), null, 2)) + '\n');
  } else if (written?.file !== '-') {
    const lines = [headline(target, work), ''];
    const underTraffic = work.mode === 'serve' && work.traffic !== undefined;
    if (best) lines.push(...table(result.ranked.slice(0, args.top), work.mode, underTraffic), '');
    if (underTraffic) {
      const misses = sloMissLines(result, args.top);
      if (misses.length > 0) lines.push(...misses, '');
      const listed = result.ranked.slice(0, args.top);
      const sure = listed.filter((f) => f.confirmed).length;
      lines.push(
        `latency: ${sure > 0 ? `${sure === 1 ? '#1' : `#1–#${sure}`} as parplan check predicts ${sure === 1 ? 'it' : 'them'} (${groupDigits(best!.latency!.requests)} requests); ` : ''}` +
          `${sure < listed.length ? 'the other plans' : 'the rejected ones'} from at most ${groupDigits(LIMITS.suggestLatencyRequests)} requests each (LIMITS.suggestLatencyRequests)`,
      );
    }
    lines.push(summaryLine(result.summary, ms));
    if (best && !best.cost.known) lines.push(`note: the cost is unknown (${best.cost.reason}), so plans are ranked by memory headroom`);
    if (written?.file) lines.push(`wrote ${written.file}: plan '${written.name}' (#1)`);
    io.stdout.write(printableLines(lines.join('\n')) + '\n');
  } else {
    io.stderr.write(summaryLine(result.summary, ms) + '\n');
  }
  if (best) return EXIT.OK;
  io.stderr.write(nothingFits(result, work, style) + '\n');
  return EXIT.FAILED;
}

/** The declaration named `name` of that kind, or a usage error with did-you-mean. */
function pick(declarations: readonly Declaration[], kind: 'model' | 'cluster', name: string, file: string): Declaration {
  const found = declarations.find((d) => d.keyword === kind && d.name === name);
  if (found) return found;
  const names = declarations.filter((d) => d.keyword === kind).map((d) => d.name);
  const hint = didYouMean(name, names, 12) ?? (names.length === 0 ? `${file} declares no ${kind} (nor do its imports)` : undefined);
  throw usage(`no ${kind} named '${name}' in ${file} or its imports`, hint);
}

/**
 * The traffic and slo blocks to meet: the plan `--plan` names, or else the input file's one
 * serving plan with both (none: the search without traffic). Its errors are reported ('failed').
 */
function trafficOf(
  args: SuggestArgs,
  program: NonNullable<ReturnType<typeof loadProgram>>,
  report: (ds: Diagnostic[]) => void,
): { plan: ServePlan } | undefined | 'failed' {
  const rootDecls = program.root.declarations.filter((d) => d.keyword === 'plan');
  if (args.plan !== undefined && !rootDecls.some((d) => d.name === args.plan)) {
    const hint = didYouMean(
      args.plan,
      rootDecls.map((d) => d.name),
      10,
    );
    throw usage(
      `no plan named '${args.plan}' in ${args.file}`,
      hint ?? (rootDecls.length === 0 ? `${args.file} declares no plans` : undefined),
    );
  }
  // Only plans with a traffic block are worth checking here (a file of many training plans costs nothing).
  const withTraffic = rootDecls.filter(
    (d) => (args.plan === undefined || d.name === args.plan) && d.body.entries.some((e) => e.key === 'traffic'),
  );
  if (withTraffic.length === 0) {
    if (args.plan !== undefined)
      throw usage(`plan '${args.plan}' has no traffic block`, 'add traffic { … } and slo { … } to it (docs/latency.md)');
    return undefined;
  }
  const root = { ...program.root, declarations: program.root.declarations.filter((d) => d.keyword !== 'plan' || withTraffic.includes(d)) };
  const files = program.files.map((f) => (f === program.root ? root : f));
  const checked = checkProgram(files, root, program.configs, program.traces);
  const errors = checked.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    report(errors);
    return 'failed';
  }
  const plans = checked.plans.filter((p): p is ServePlan => p.mode === 'serve' && p.traffic !== undefined && p.slo !== undefined);
  if (args.plan !== undefined) {
    const p = checked.plans.find((x) => x.name === args.plan);
    if (!p || p.mode !== 'serve' || !p.slo)
      throw usage(
        `plan '${args.plan}' needs mode = serve, a traffic block and an slo block to be met`,
        'add slo { ttft_p99 = … } (docs/latency.md)',
      );
    return { plan: p };
  }
  if (plans.length > 1)
    throw usage(
      `${args.file} has ${plans.length} serving plans with traffic and slo blocks: ${plans.map((p) => `'${p.name}'`).join(', ')}`,
      `name the one to meet with --plan ${plans[0]!.name}`,
    );
  return plans.length === 1 ? { plan: plans[0]! } : undefined;
}

function workload(args: SuggestArgs, target: Target, traffic?: { plan: ServePlan }): Workload {
  const seq = args.seq ?? (traffic ? traffic.plan.batch.seq : target.model.maxSeq);
  if (args.mode === 'serve' && traffic) {
    const p = traffic.plan;
    return {
      mode: 'serve',
      seq,
      // The SLO is the latency bound; --max-latency still applies when given.
      maxTpotSeconds: args.maxTpotSeconds ?? Infinity,
      // The listed plans are predicted as check predicts them.
      traffic: { plan: p.name, traffic: p.traffic!, slo: p.slo!, maxWaitMs: p.batch.maxWaitMs, queue: p.batch.queue, confirm: args.top },
    };
  }
  if (args.mode === 'serve') return { mode: 'serve', seq, maxTpotSeconds: args.maxTpotSeconds ?? DEFAULT_MAX_TPOT_MS / 1e3 };
  return {
    mode: 'train',
    seq,
    global: args.global ?? Math.max(1, Math.round(TOKENS_PER_STEP / seq)),
    ...(args.adapter ? { adapter: args.adapter } : {}),
  };
}

interface Written {
  /** Where it was written ('-' for stdout); absent without -o. */
  file?: string;
  name: string;
  text: string;
}

/** The deepest directory holding both. */
function commonDirectory(a: string, b: string): string {
  const pa = a.split(sep);
  const pb = b.split(sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(sep) || sep;
}

/** The pinned plan: checked again through the real front end, then written where -o says. */
function writePlan(
  args: SuggestArgs,
  io: Io,
  found: { target: Target; work: Workload; result: SearchResult; name: string },
  inputs: readonly string[],
): Written | undefined {
  const { target, work, result, name } = found;
  const input = resolve(io.cwd, args.file);
  const file = args.output === undefined || args.output === '-' ? resolve(io.cwd, 'suggested.plan') : resolve(io.cwd, args.output);
  const won = result.ranked[0]!.plan;
  // A trace is named relative to the plan that read it (the input): the written file names it from where it is.
  const trace = won.mode === 'serve' ? won.traffic?.traceFile : undefined;
  const plan =
    won.mode === 'serve' && won.traffic && trace !== undefined
      ? {
          ...won,
          traffic: {
            ...won.traffic,
            traceFile: relative(dirname(file), resolve(dirname(input), trace))
              .split(sep)
              .join('/'),
          },
        }
      : won;
  // The pinned plan imports the input: written over it (or over one of its imports), it would import itself and lose the models.
  if (args.output !== undefined && args.output !== '-') refuseInputs([file], [args.file, ...inputs], io.cwd);
  const importPath = relative(dirname(file), input).split(sep).join('/');
  const header = [
    ...headerLines(target, work, result),
    `parplan suggest --model ${target.model.name} --cluster ${target.cluster.name} --mode ${work.mode} ${workloadOptions(work)}${args.file}`,
  ];
  const text = pinnedText(plan, { name, importPath, header });
  // The written file imports the input: outside its own directory, that import needs a wider --root.
  const root = args.root ?? (importPath.startsWith('../') ? commonDirectory(dirname(file), dirname(input)) : undefined);
  verify(text, file, plan, root);
  if (root !== undefined && args.root === undefined && args.output !== undefined && args.output !== '-') {
    io.stderr.write(
      printableLines(
        `note: ${args.output} imports ${importPath}, outside its directory: check it with --root ${relative(io.cwd, root) || '.'}`,
      ) + '\n',
    );
  }
  if (args.output === undefined) return args.format === 'json' ? { name, text } : undefined;
  if (args.output === '-') io.stdout.write(text);
  else writeOutput(file, text);
  return { file: args.output === '-' ? '-' : args.output, name, text };
}

/** What was found, for the file's header: how many plans it beat, and its figures. */
function headerLines(target: Target, work: Workload, result: SearchResult): string[] {
  const f = result.ranked[0]!;
  const s = result.summary;
  const of = `${groupDigits(s.fit)} plans that fit ${target.model.name} on ${target.cluster.name} (${groupDigits(s.considered)} candidates)`;
  const room = `${gib(f.size.headroomBytes)} GiB headroom per GPU`;
  if (f.cost.train) {
    const step = f.cost.train.stepSeconds;
    return [`Found by parplan suggest, the fastest of ${of}:`, `estimated step ${step === null ? 'unknown' : secondsText(step)}, ${room}.`];
  }
  if (work.mode === 'serve' && work.traffic && f.latency) {
    const l = f.latency;
    const gpus = f.plan.mesh.tensor * f.plan.mesh.pipeline * f.plan.mesh.data;
    const holds = l.maxRateMeetingSlo == null ? 'unknown' : `${Number(l.maxRateMeetingSlo.toPrecision(3))} requests/s`;
    return [
      `Found by parplan suggest, the fewest GPUs (${gpus}) meeting plan '${work.traffic.plan}': ${sloText(work.traffic)}, of ${of}:`,
      `predicted TTFT p99 ${secondsText(l.ttft.p99)}, TPOT p99 ${secondsText(l.tpot.p99)}, E2E p99 ${secondsText(l.e2e.p99)}; it holds up to ${holds}; ${room}.`,
    ];
  }
  const c = f.cost.serve;
  const rate = c?.decodeTokensPerSecond == null ? 'unknown' : rateText(c.decodeTokensPerSecond);
  const tpot = c?.tpotSeconds == null ? 'unknown' : secondsText(c.tpotSeconds);
  return [`Found by parplan suggest, the most tokens/s of ${of}:`, `estimated ${rate} tokens/s at ${tpot} per output token, ${room}.`];
}

function workloadOptions(work: Workload): string {
  if (work.mode === 'train') {
    const a = work.adapter;
    const lora = a ? `--lora-rank ${a.rank} ${a.targets ? `--lora-targets ${a.targets.join(',')} ` : ''}` : '';
    return `--global-batch ${work.global} --seq ${work.seq} ${lora}`;
  }
  const latency = Number.isFinite(work.maxTpotSeconds) ? `--max-latency ${Number((work.maxTpotSeconds * 1e3).toPrecision(6))}ms ` : '';
  return `--seq ${work.seq} ${latency}${work.traffic ? `--plan ${work.traffic.plan} ` : ''}`;
}

/** The written text must check clean and mean the plan that won; anything else is our bug. */
function verify(text: string, file: string, expected: CheckedPlan, root: string | undefined): void {
  const problem = recheck(text, file, expected, nodeHost, root);
  if (problem) throw new InternalError(`the pinned plan does not check as the one found: ${problem}`);
}

/** Exit 1's message: why nothing was ranked, the nearest candidate, and what would help. */
function nothingFits(result: SearchResult, work: Workload, style: Style): string {
  const s = result.summary;
  const c = result.closest;
  let message: string;
  let help: string;
  if (s.sloMissed > 0 && work.mode === 'serve' && work.traffic) {
    message = `no plan that fits meets the SLO of plan '${work.traffic.plan}' (${sloText(work.traffic)})`;
    help = `use more or faster GPUs, relax the slo block, or expect less traffic`;
  } else if (s.slow > 0 && work.mode === 'serve') {
    const fastest = c && 'cost' in c ? c.cost.serve?.tpotSeconds : undefined;
    message = `no plan that fits has a time per output token within ${secondsText(work.maxTpotSeconds)}`;
    help = `${fastest ? `allow --max-latency ${Math.ceil(fastest * 1e3)}ms, ` : ''}use faster GPUs, or a shorter --seq`;
  } else if (s.misfit + s.pruned > 0) {
    message = 'no plan fits in memory';
    help = `use more GPUs or GPUs with more memory, or a shorter --seq${work.mode === 'train' ? '' : ', or a quantized model dtype'}`;
  } else {
    message = `every candidate is invalid: ${s.invalid.map((r) => `${r.title} (${r.code}) ${groupDigits(r.count)}, e.g. ${r.example}`).join('; ')}`;
    help = `fix the model or cluster declaration${work.mode === 'train' ? ', or try another --global-batch or --seq' : ', or another --seq'}`;
  }
  const lines = [`${style.bold(style.red('error'))}${style.bold(`: ${printable(message)}`)}`];
  if (c) lines.push(`  = closest: ${printable(closestText(c))}`);
  lines.push(`  = help: ${printable(help)}`);
  return lines.join('\n');
}

/** `base`, or `base_2`, `base_3` … when the file or its imports already declare a plan of that name. */
function freeName(base: string, declarations: readonly Declaration[]): string {
  const taken = new Set(declarations.filter((d) => d.keyword === 'plan').map((d) => d.name));
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}
