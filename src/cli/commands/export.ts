/**
 * `parplan export --to ENGINE [--plan NAME] [--model ID] [-o DIR] <file.plan>`: check each plan,
 * then write what the engine needs to launch it (docs/export.md). Files go to stdout, each
 * after a `# ==> NAME <==` line, or into DIR; diagnostics go to stderr. An error writes nothing.
 */
import { join, resolve } from 'node:path';
import { analyzeOptions, parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { EXPORT, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';
import { makeOutputDir, refuseInputs, writeOutput } from '../write.js';
import { printable } from '../../format.js';
import { exitCode } from './check.js';

export async function runExport(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseArgs(argv, EXPORT.options, EXPORT.name);
  if (args.options.has('--help')) {
    io.stdout.write(commandHelp(EXPORT));
    return EXIT.OK;
  }
  if (args.positionals.length !== 1)
    throw new UsageError(
      args.positionals.length === 0 ? 'missing the .plan file to export' : 'export takes one .plan file',
      undefined,
      EXPORT.name,
    );
  const to = args.options.get('--to');
  if (typeof to !== 'string')
    throw new UsageError("missing '--to ENGINE'", 'expected one of: vllm, torchtitan, megatron, deepspeed', EXPORT.name);
  const engine = to as 'vllm' | 'torchtitan' | 'megatron' | 'deepspeed';
  const model = args.options.get('--model');
  if (typeof model === 'string' && engine === 'deepspeed')
    throw new UsageError("'--model' does not apply to --to deepspeed: the training script loads the model", 'omit --model', EXPORT.name);
  const output = args.options.get('--output');
  const [{ analyzeProject }, { exportPlan }, { renderText }, { shouldColor }] = await Promise.all([
    import('../../analyze.js'),
    import('../../export/index.js'),
    import('../../render/text.js'),
    import('../../render/style.js'),
  ]);
  const analysis = await analyzeProject(args.positionals, analyzeOptions(args.options));
  const checked = exitCode(analysis);
  const exports =
    checked === EXIT.OK ? analysis.results.map((r) => exportPlan(engine, r.plan, typeof model === 'string' ? { model } : {})) : [];
  // The checker's notes are for `check`; the exporter's notes (placeholders to fill in) are for this command.
  const diagnostics = [...analysis.diagnostics.filter((d) => d.severity !== 'note'), ...exports.flatMap((e) => e.diagnostics)];
  if (diagnostics.length > 0)
    io.stderr.write(renderText({ ...analysis, diagnostics }, { color: shouldColor(io.stderr, io.env), plans: false }));
  if (checked !== EXIT.OK) return checked;
  if (diagnostics.some((d) => d.severity === 'error')) return EXIT.FAILED;
  const files = exports.flatMap((e) => e.files);
  if (typeof output !== 'string' || output === '-') {
    io.stdout.write(files.map((f) => `# ==> ${f.name} <==\n${f.text}`).join('\n'));
    return EXIT.OK;
  }
  const dir = resolve(io.cwd, output);
  refuseInputs(
    files.map((f) => join(dir, f.name)),
    [...args.positionals, ...analysis.sources.keys()],
    io.cwd,
  );
  makeOutputDir(dir);
  for (const f of files) {
    writeOutput(join(dir, f.name), f.text);
    io.stdout.write(`wrote ${printable(join(dir, f.name))}\n`);
  }
  return EXIT.OK;
}
