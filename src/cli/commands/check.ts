/**
 * `parplan check [--format F] [--plan NAME] <file|dir>...`: analyze, render, exit status.
 *
 * The analysis (parser, checker, memory model) and the chosen renderer are loaded with
 * `import()` only after the arguments are known to be good.
 */
import type { Analysis, Host } from '../../analyze.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { packageVersion } from '../../package-root.js';
import { CHECK, commandHelp, type Format } from '../spec.js';
import { UsageError } from '../usage.js';

export type AnalyzeFn = (paths: readonly string[], opts?: { plan?: string; host?: Host; root?: string }) => Analysis | Promise<Analysis>;

export interface CheckDeps {
  /** Replaces `analyze` from src/analyze.ts (tests). */
  analyze?: AnalyzeFn;
}

export interface CheckArgs {
  paths: string[];
  format: Format;
  plan?: string;
  root?: string;
}

export function parseCheckArgs(argv: readonly string[]): CheckArgs | 'help' {
  const args = parseArgs(argv, CHECK.options, CHECK.name);
  if (args.options.has('--help')) return 'help';
  if (args.positionals.length === 0) throw new UsageError('missing files or directories to check', undefined, CHECK.name);
  const out: CheckArgs = { paths: args.positionals, format: (args.options.get('--format') as Format | undefined) ?? 'text' };
  const plan = args.options.get('--plan');
  if (typeof plan === 'string') out.plan = plan;
  const root = args.options.get('--root');
  if (typeof root === 'string') out.root = root;
  return out;
}

export async function runCheck(argv: readonly string[], io: Io, deps: CheckDeps = {}): Promise<ExitCode> {
  const args = parseCheckArgs(argv);
  if (args === 'help') {
    io.stdout.write(commandHelp(CHECK));
    return EXIT.OK;
  }
  const analyze = deps.analyze ?? (await loadAnalyze());
  const analysis = await analyze(args.paths, {
    ...(args.plan === undefined ? {} : { plan: args.plan }),
    ...(args.root === undefined ? {} : { root: args.root }),
  });
  io.stdout.write(await render(analysis, args.format, io));
  return exitCode(analysis);
}

/** `.plan` files and TypeScript files with embedded plans (ts-morph is loaded only for the latter). */
async function loadAnalyze(): Promise<AnalyzeFn> {
  const { analyzeProject } = await import('../../analyze.js');
  return analyzeProject;
}

export async function render(a: Analysis, format: Format, io: Io): Promise<string> {
  switch (format) {
    case 'text': {
      const [{ renderText }, { shouldColor }] = await Promise.all([import('../../render/text.js'), import('../../render/style.js')]);
      return renderText(a, { color: shouldColor(io.stdout, io.env) });
    }
    case 'json': {
      const { renderJson } = await import('../../render/json.js');
      return renderJson(a);
    }
    case 'sarif': {
      const { renderSarif } = await import('../../render/sarif.js');
      return renderSarif(a, { toolVersion: packageVersion(), cwd: io.cwd });
    }
    case 'github': {
      const { renderGithub } = await import('../../render/github.js');
      return renderGithub(a);
    }
  }
}

/** See exit-codes.ts: 3 internal error, 2 a path or plan name that cannot be used, 1 errors or no fit, 0 ok. */
export function exitCode(a: Analysis): ExitCode {
  if (a.diagnostics.some((d) => d.code === 'PP9001')) return EXIT.INTERNAL;
  if (a.diagnostics.some((d) => d.severity === 'error' && d.code.startsWith('PP6'))) return EXIT.USAGE;
  const failed = a.diagnostics.some((d) => d.severity === 'error') || a.results.some((r) => !r.fits);
  return failed ? EXIT.FAILED : EXIT.OK;
}
