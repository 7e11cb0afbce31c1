/**
 * `parplan explain CODE`: prints `src/diagnostics/explain/CODE.md` from the installed
 * package. When that page is not written yet, prints the code's entry in the table
 * (severity, title, message). An unknown code is a usage error with a did-you-mean.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CODES, isCode, type Code, type CodeInfo } from '../../diagnostics/codes.js';
import { suggest } from '../../diagnostics/suggest.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { packageRoot } from '../../package-root.js';
import { EXPLAIN, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';

export async function runExplain(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseArgs(argv, EXPLAIN.options, EXPLAIN.name);
  if (args.options.has('--help')) {
    io.stdout.write(commandHelp(EXPLAIN));
    return EXIT.OK;
  }
  if (args.positionals.length === 0) throw new UsageError('missing code to explain, e.g. PP3001', undefined, EXPLAIN.name);
  if (args.positionals.length > 1) {
    throw new UsageError(`'explain' takes one code, got ${args.positionals.length}`, undefined, EXPLAIN.name);
  }
  const code = resolveCode(args.positionals[0]!);
  io.stdout.write(explainText(code));
  return EXIT.OK;
}

/** `PP3001`, `pp3001`, `3001` or a title (`heads-not-divisible`) → the code; else a UsageError. */
export function resolveCode(input: string): Code {
  const upper = input.trim().toUpperCase();
  const candidate = /^\d+$/.test(upper) ? `PP${upper}` : upper;
  if (isCode(candidate)) return candidate;
  const byTitle = (Object.keys(CODES) as Code[]).find((c) => CODES[c].title === input.trim().toLowerCase());
  if (byTitle) return byTitle;
  const looksLikeCode = /^(PP)?\d+$/.test(upper);
  let s: string | undefined;
  if (looksLikeCode) {
    // Prefer a code of the same range (PP9999 → PP9001, not PP2009).
    const sameRange = Object.keys(CODES).filter((c) => c.slice(0, 3) === candidate.slice(0, 3));
    s = suggest(candidate, sameRange) ?? suggest(candidate, Object.keys(CODES));
  } else {
    s = suggest(
      input,
      (Object.keys(CODES) as Code[]).map((c) => CODES[c].title),
    );
  }
  const hint =
    s === undefined
      ? 'codes look like PP3001: 1xxx syntax, 2xxx names and types, 3xxx parallelism, 4xxx memory, 5xxx graph, 6xxx files, 7xxx TypeScript, 8xxx export'
      : looksLikeCode
        ? `did you mean '${s}'?`
        : `did you mean '${s}' (${(Object.keys(CODES) as Code[]).find((c) => CODES[c].title === s)})?`;
  throw new UsageError(`unknown code '${input}'`, hint, EXPLAIN.name);
}

export function explainText(code: Code): string {
  const file = path.join(packageRoot(), 'src', 'diagnostics', 'explain', `${code}.md`);
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    return text.endsWith('\n') ? text : text + '\n';
  }
  const info: CodeInfo = CODES[code];
  const lines = [`${code}: ${info.title} (${info.severity})`, '', `  ${info.message.replace(/\{(\w+)\}/g, '<$1>')}`];
  if (info.retired !== undefined) lines.push('', `Retired: ${info.retired}`);
  lines.push('', `No long explanation has been written for ${code} yet.`, '');
  return lines.join('\n');
}
