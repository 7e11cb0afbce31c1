/**
 * The command line, as a function: `runCli(argv, io)` → exit status. main.ts calls it
 * with the process; tests call it in-process.
 *
 * Only this module, spec.ts, args.ts and the small diagnostics helpers load on every run;
 * commands (and through them the parser, checker, memory model and renderers) are loaded
 * with `import()` when used, so `--help`, `--version` and `explain` start fast.
 */
import { EXIT, type ExitCode } from './exit-codes.js';
import type { Io } from './io.js';
import type { CheckDeps } from './commands/check.js';
import { packageVersion } from '../package-root.js';
import { COMMANDS, GLOBAL_OPTIONS, commandHelp, mainHelp } from './spec.js';
import { CodedUsageError, UsageError } from './usage.js';
import { CannotWriteError } from './write.js';
import { suggest } from '../diagnostics/suggest.js';
import { CODES, InternalError, formatMessage } from '../diagnostics/codes.js';
import { makeStyle, shouldColor } from '../render/style.js';
import { printable } from '../format.js';

/** `deps` replaces parts of the pipeline in tests (e.g. a fake `analyze`). */
export async function runCli(argv: readonly string[], io: Io, deps: CheckDeps = {}): Promise<ExitCode> {
  try {
    return await dispatch(argv, io, deps);
  } catch (e) {
    if (e instanceof UsageError) return reportUsage(e, io);
    if (e instanceof CannotWriteError) return reportCannotWrite(e, io);
    return reportInternal(e, io);
  }
}

async function dispatch(argv: readonly string[], io: Io, deps: CheckDeps): Promise<ExitCode> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('missing command');
  switch (first) {
    case '--help':
    case '-h':
      io.stdout.write(mainHelp(packageVersion()));
      return EXIT.OK;
    case 'help':
      return help(rest, io);
    case '--version':
    case '-v':
    case '-V':
      io.stdout.write(`${packageVersion()}\n`);
      return EXIT.OK;
    case 'check': {
      const { runCheck } = await import('./commands/check.js');
      return runCheck(rest, io, deps);
    }
    case 'compile': {
      const { runCompile } = await import('./commands/compile.js');
      return runCompile(rest, io);
    }
    case 'report': {
      const { runReport } = await import('./commands/report.js');
      return runReport(rest, io);
    }
    case 'serve': {
      // Loads the WebGPU runtime (itself with import(), once the arguments are good).
      const { runServe } = await import('./commands/serve.js');
      return runServe(rest, io);
    }
    case 'profile': {
      // Loads the WebGPU runtime once the arguments and the graph are good, as serve does.
      const { runProfile } = await import('./commands/profile.js');
      return runProfile(rest, io);
    }
    case 'load': {
      const { runLoadCommand } = await import('./commands/load.js');
      return runLoadCommand(rest, io);
    }
    case 'train': {
      // Checks its arguments, graph and data without WebGPU; the executor is not there yet (issue 16).
      const { runTrain } = await import('./commands/train.js');
      return runTrain(rest, io);
    }
    case 'fmt': {
      const { runFmt } = await import('./commands/fmt.js');
      return runFmt(rest, io);
    }
    case 'import': {
      const { runImport } = await import('./commands/import.js');
      return runImport(rest, io);
    }
    case 'export': {
      const { runExport } = await import('./commands/export.js');
      return runExport(rest, io);
    }
    case 'suggest': {
      const { runSuggest } = await import('./commands/suggest.js');
      return runSuggest(rest, io);
    }
    case 'explain': {
      const { runExplain } = await import('./commands/explain.js');
      return runExplain(rest, io);
    }
  }
  if (first.startsWith('-')) {
    const name = first.split('=')[0]!;
    const s = suggest(
      name,
      GLOBAL_OPTIONS.map((o) => o.name),
    );
    throw new UsageError(`unknown option '${name}'`, s ? `did you mean '${s}'?` : undefined);
  }
  const s = suggest(
    first,
    COMMANDS.map((c) => c.name),
  );
  throw new UsageError(`unknown command '${first}'`, s ? `did you mean '${s}'?` : `commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
}

function help(args: readonly string[], io: Io): ExitCode {
  if (args.length === 0) {
    io.stdout.write(mainHelp(packageVersion()));
    return EXIT.OK;
  }
  if (args.length > 1) throw new UsageError(`'parplan help' takes one command, got ${args.length}`);
  const name = args[0]!;
  const c = COMMANDS.find((x) => x.name === name);
  if (c === undefined) {
    const s = suggest(
      name,
      COMMANDS.map((x) => x.name),
    );
    throw new UsageError(`unknown command '${name}'`, s ? `did you mean '${s}'?` : `commands: ${COMMANDS.map((x) => x.name).join(', ')}`);
  }
  io.stdout.write(commandHelp(c));
  return EXIT.OK;
}

/**
 * ```
 * error: unknown option '--fromat' for 'check'
 *   = help: did you mean '--format'?
 * usage: parplan check [--format text|json|sarif|github] [--plan NAME] <file|dir>...
 * ```
 */
function reportUsage(e: UsageError, io: Io): ExitCode {
  const style = makeStyle(shouldColor(io.stderr, io.env));
  // The message quotes the command line (`explain $'\e[2J'`): shown escaped, as diagnostics are.
  const tag = e instanceof CodedUsageError ? `error[${e.code}]` : 'error';
  const lines = [`${style.bold(style.red(tag))}${style.bold(`: ${printable(e.message)}`)}`];
  if (e.hint !== undefined) lines.push(`  = help: ${printable(e.hint)}`);
  const c = COMMANDS.find((x) => x.name === e.command && x.name !== 'help');
  lines.push(c ? `usage: ${c.usage}` : "run 'parplan --help' for usage");
  io.stderr.write(lines.join('\n') + '\n');
  return EXIT.USAGE;
}

/** `error[PP6004]: cannot write 'out/x.graph.json': permission denied`, exit 2 (the job is wrong, not the plans). */
function reportCannotWrite(e: CannotWriteError, io: Io): ExitCode {
  const style = makeStyle(shouldColor(io.stderr, io.env));
  const message = formatMessage(CODES.PP6004.message, { path: e.path, reason: e.reason });
  const lines = [`${style.bold(style.red('error[PP6004]'))}${style.bold(`: ${printable(message)}`)}`];
  if (e.hint !== undefined) lines.push(`  = help: ${printable(e.hint)}`);
  io.stderr.write(lines.join('\n') + '\n');
  return EXIT.USAGE;
}

/**
 * ```
 * error[PP9001]: internal error: … (this is a bug in parplan; please report it)
 * set PARPLAN_DEBUG=1 for the stack trace
 * ```
 */
function reportInternal(e: unknown, io: Io): ExitCode {
  const style = makeStyle(shouldColor(io.stderr, io.env));
  let message: string;
  if (e instanceof InternalError) message = e.message;
  else {
    const detail = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    message = formatMessage(CODES.PP9001.message, { detail });
  }
  const debug = io.env['PARPLAN_DEBUG'];
  const lines = [`${style.bold(style.red('error[PP9001]'))}${style.bold(`: ${printable(message)}`)}`];
  if (debug !== undefined && debug !== '' && debug !== '0') {
    lines.push(e instanceof Error && e.stack ? e.stack : String(e));
  } else {
    lines.push('set PARPLAN_DEBUG=1 for the stack trace');
  }
  io.stderr.write(lines.join('\n') + '\n');
  return EXIT.INTERNAL;
}
