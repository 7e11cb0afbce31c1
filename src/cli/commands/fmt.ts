/**
 * `parplan fmt [--check] <file|dir>...`: rewrite `.plan` files in the canonical layout
 * (src/fmt/), or, with `--check`, only say which files would change (for CI).
 *
 * Exit status: 0 done (with --check: nothing would change); 1 a file has syntax errors
 * (it is left as it is) or, with --check, would change; 2 a path cannot be used
 * (PP6001, PP6002) or a file cannot be written; 3 a bug in the formatter (PP9001; the
 * file is left as it is). The highest wins, as for `check`.
 */
import { writeFileSync } from 'node:fs';
import { diag, type Diagnostic } from '../../diagnostics/diagnostic.js';
import type { SourceFile } from '../../source.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { FMT, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';
import { osReason } from '../write.js';
import { printable } from '../../format.js';

interface FmtArgs {
  paths: string[];
  check: boolean;
}

function parseFmtArgs(argv: readonly string[]): FmtArgs | 'help' {
  const args = parseArgs(argv, FMT.options, FMT.name);
  if (args.options.has('--help')) return 'help';
  if (args.positionals.length === 0) throw new UsageError('missing files or directories to format', undefined, FMT.name);
  return { paths: args.positionals, check: args.options.has('--check') };
}

/** What happened to one file. */
type Outcome = 'unchanged' | 'changed' | 'syntax-errors' | 'internal' | 'unreadable' | 'unwritable';

/** Diagnostics to stderr, rendered as `parplan check` renders them. */
type Report = (ds: readonly Diagnostic[], source?: SourceFile) => void;

export async function runFmt(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseFmtArgs(argv);
  if (args === 'help') {
    io.stdout.write(commandHelp(FMT));
    return EXIT.OK;
  }
  const [{ expandPaths, nodeHost }, report] = await Promise.all([import('../../load.js'), loadReport(io)]);
  const pathErrors: Diagnostic[] = [];
  const files = expandPaths(args.paths, nodeHost, pathErrors);
  report(pathErrors);

  const outcomes: Outcome[] = [];
  for (const file of files) {
    const outcome = await formatFile(file, args.check, io, report, nodeHost.readFile);
    // A file name found in a directory is input too: shown escaped.
    if (outcome === 'changed' && args.check) io.stdout.write(`would reformat ${printable(file)}\n`);
    outcomes.push(outcome);
  }
  io.stdout.write(summary(outcomes, args.check));

  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  if (count('internal') > 0) return EXIT.INTERNAL;
  if (pathErrors.length > 0 || count('unreadable') + count('unwritable') > 0) return EXIT.USAGE;
  if (count('syntax-errors') > 0 || (args.check && count('changed') > 0)) return EXIT.FAILED;
  return EXIT.OK;
}

async function loadReport(io: Io): Promise<Report> {
  const [{ renderDiagnostic }, { makeStyle, shouldColor }] = await Promise.all([
    import('../../render/text.js'),
    import('../../render/style.js'),
  ]);
  const style = makeStyle(shouldColor(io.stderr, io.env));
  return (ds, source) => {
    const sources = new Map(source ? [[source.path, source]] : []);
    for (const d of ds) io.stderr.write(renderDiagnostic(d, sources, style) + '\n');
  };
}

async function formatFile(file: string, check: boolean, io: Io, report: Report, read: (p: string) => string): Promise<Outcome> {
  const [{ formatPlanText }, { SourceFile }] = await Promise.all([import('../../fmt/index.js'), import('../../source.js')]);
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    report([{ ...diag('PP6001', undefined, { path: file, reason: osReason(e) }), file }]);
    return 'unreadable';
  }
  const result = formatPlanText(text, file);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    report(errors, new SourceFile(file, text));
    return errors.some((d) => d.code === 'PP9001') ? 'internal' : 'syntax-errors';
  }
  if (result.text === text) return 'unchanged';
  if (check) return 'changed';
  try {
    writeFileSync(file, result.text);
    return 'changed';
  } catch (e) {
    report([{ ...diag('PP6004', undefined, { path: file, reason: osReason(e) }), file }]);
    return 'unwritable';
  }
}

const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;

/** `formatted 2 files (3 unchanged)`: "formatted" counts the files rewritten. */
function summary(outcomes: readonly Outcome[], check: boolean): string {
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  const changed = count('changed');
  const failed = count('syntax-errors');
  const errors = failed > 0 ? `; ${files(failed)} not formatted (syntax errors)` : '';
  if (!check) return `formatted ${files(changed)} (${count('unchanged')} unchanged)${errors}\n`;
  return `${changed === 0 ? 'no files' : files(changed)} would be reformatted (${count('unchanged')} unchanged)${errors}\n`;
}
