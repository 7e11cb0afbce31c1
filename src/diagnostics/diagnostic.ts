import type { Span } from '../source.js';
import { CODES, formatMessage, type Code, type Severity } from './codes.js';
import { LIMITS } from '../facts/limits.js';
import { clip } from '../format.js';

/** A related place, e.g. "the other stage range is here". */
export interface Related {
  span: Span;
  message: string;
}

/**
 * One finding about the user's input. What is wrong (`message`), where (`span`,
 * as small as possible), and what would work (`help`, with a concrete value).
 */
export interface Diagnostic {
  code: Code;
  severity: Severity;
  message: string;
  /** Absent only for command-line and file errors with no position; then `file` says which file. */
  span?: Span;
  file?: string;
  help?: string;
  related?: Related[];
}

export interface DiagnosticOptions {
  help?: string;
  related?: Related[];
  /** Overrides the code's default severity (e.g. a hint that is an error only in some contexts). */
  severity?: Severity;
}

export function diag(
  code: Code,
  span: Span | undefined,
  args: Record<string, string | number> = {},
  opts: DiagnosticOptions = {},
): Diagnostic {
  const info = CODES[code];
  // Every text is bounded here, so every output format is: help and notes quote the input too.
  const d: Diagnostic = {
    code,
    severity: opts.severity ?? info.severity,
    message: clip(formatMessage(info.message, args), LIMITS.messageChars),
  };
  if (span) d.span = span;
  // Per line: a deadlock's grid (one line per rank) is kept whole, a line quoting a megabyte is not.
  if (opts.help)
    d.help =
      opts.help.length > LIMITS.messageChars
        ? opts.help
            .split('\n')
            .map((l) => clip(l, LIMITS.messageChars))
            .join('\n')
        : opts.help;
  if (opts.related && opts.related.length > 0)
    d.related = opts.related.map((r) =>
      r.message.length > LIMITS.messageChars ? { ...r, message: clip(r.message, LIMITS.messageChars) } : r,
    );
  return d;
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

/** Stable order: by file, position, then code. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => {
    const fa = a.span?.file ?? a.file ?? '';
    const fb = b.span?.file ?? b.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    const sa = a.span?.start ?? -1;
    const sb = b.span?.start ?? -1;
    if (sa !== sb) return sa - sb;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}

/**
 * Without repeats (same code, place and message), first kept, order otherwise kept: two
 * roots importing one file, or the checker and the compile-time simulation finding the
 * same deadlock, report it once.
 */
export function uniqueDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const key = `${d.code}|${d.span?.file ?? d.file}|${d.span?.start}|${d.span?.end}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
