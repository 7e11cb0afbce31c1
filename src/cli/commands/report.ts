/**
 * `parplan report [--plan NAME] [-o report.html] <file.plan>`: check, compile and simulate
 * the plans, then write one self-contained HTML page with pictures (memory bars, Gantt
 * chart of the schedule, device mesh, memory timeline; with `--train-log FILE`, a training run's
 * loss and gradient norm against the step). See docs/report.md.
 *
 * Exit status as `compile`: 1 when a plan has errors or does not fit, but the report is
 * still written when something can be shown (a plan that does not fit, or only the
 * diagnostics); 2 (usage, unreadable file, no such plan) writes nothing.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LIMITS, limitText } from '../../facts/limits.js';
import { parseTrainLog, TrainLogError, type TrainLogEntry } from '../../report/loss-curve.js';
import { uniqueDiagnostics } from '../../diagnostics/diagnostic.js';
import { analyzeOptions, parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { packageVersion } from '../../package-root.js';
import { REPORT, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';
import { refuseInputs, writeOutput } from '../write.js';
import { printable } from '../../format.js';
import { exitCode } from './check.js';

export async function runReport(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseArgs(argv, REPORT.options, REPORT.name);
  if (args.options.has('--help')) {
    io.stdout.write(commandHelp(REPORT));
    return EXIT.OK;
  }
  if (args.positionals.length !== 1)
    throw new UsageError(
      args.positionals.length === 0 ? 'missing the .plan file to report on' : 'report takes one .plan file',
      undefined,
      REPORT.name,
    );
  const output = args.options.get('--output');
  const trainLog = args.options.get('--train-log');
  // The training log is read first: a log that cannot be drawn is a usage error before any work.
  let training: { entries: TrainLogEntry[]; source: string } | undefined;
  if (typeof trainLog === 'string') {
    let textIn: string;
    try {
      const st = statSync(resolve(io.cwd, trainLog));
      if (!st.isFile()) throw new Error('it is not a regular file');
      if (st.size > LIMITS.graphFileBytes) throw new Error(`it is ${st.size} bytes, over the limit of ${limitText(LIMITS.graphFileBytes)}`);
      textIn = readFileSync(resolve(io.cwd, trainLog), 'utf8');
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
      throw new UsageError(
        `cannot read the training log '${printable(trainLog)}': ${why}`,
        'parplan train --log FILE writes one',
        REPORT.name,
      );
    }
    try {
      training = { entries: parseTrainLog(textIn), source: trainLog };
    } catch (e) {
      if (!(e instanceof TrainLogError)) throw e;
      throw new UsageError(
        `'${printable(trainLog)}' is not a training log: ${e.message}`,
        'parplan train --log FILE writes one',
        REPORT.name,
      );
    }
  }
  const [{ analyzeProject }, { compilable, compilePlan }, { renderText }, { shouldColor }, { renderReport }] = await Promise.all([
    import('../../analyze.js'),
    import('../../compile.js'),
    import('../../render/text.js'),
    import('../../render/style.js'),
    import('../../report/html.js'),
  ]);
  const analysis = await analyzeProject(args.positionals, analyzeOptions(args.options));
  // A graph too large to build (PP5005): the plan is left out of the report, with the error.
  const sized = compilable(analysis.results);
  analysis.results = sized.results;
  const compiled = analysis.results.map((r) => compilePlan(r.plan, r.memory, r.cost));
  // The checker and the simulation may both find a deadlocking table: report it once.
  analysis.diagnostics = uniqueDiagnostics([...analysis.diagnostics, ...sized.diagnostics, ...compiled.flatMap((c) => c.diagnostics)]);
  const code = exitCode(analysis);
  const problems = analysis.diagnostics.filter((d) => d.severity !== 'note');
  if (problems.length > 0 || code !== EXIT.OK) {
    io.stderr.write(renderText({ ...analysis, diagnostics: problems }, { color: shouldColor(io.stderr, io.env), plans: false }));
  }
  if (code === EXIT.USAGE || code === EXIT.INTERNAL) return code;
  // The compile diagnostics are shown with their plan, not twice.
  const own = new Set(compiled.flatMap((c) => c.diagnostics));
  const html = renderReport({
    analysis: { ...analysis, diagnostics: analysis.diagnostics.filter((d) => !own.has(d)) },
    compiled,
    version: packageVersion(),
    ...(training ? { training } : {}),
  });
  const target = resolve(io.cwd, typeof output === 'string' ? output : 'report.html');
  // The page written over the plan it shows would lose the plan.
  refuseInputs([target], [...args.positionals, ...analysis.sources.keys(), ...(typeof trainLog === 'string' ? [trainLog] : [])], io.cwd);
  writeOutput(target, html);
  const names = analysis.results.map((r) => `'${r.plan.name}'`).join(', ');
  io.stdout.write(
    `wrote ${printable(target)}: ${analysis.results.length === 0 ? 'no plan passed the checker (diagnostics only)' : `plan${analysis.results.length === 1 ? '' : 's'} ${names}`} (${Math.round(html.length / 1024)} KiB)\n`,
  );
  return code;
}
