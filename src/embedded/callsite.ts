/**
 * Where a builder or template was called, from the stack: the line and column of the
 * call in the caller's file (TypeScript positions under tsx or vitest, which map stacks
 * through source maps). The file is read when a check needs it, to point diagnostics
 * at the call and, for templates, at the exact character inside the template.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceFile } from '../source.js';
import type { Origin } from './mapped-text.js';

export interface CallSite {
  /** Absolute path of the calling file. */
  file: string;
  /** 1-based, as in the stack. */
  line: number;
  column: number;
}

/** `at fn (/path/to/file.ts:12:5)` or `at /path/to/file.ts:12:5` (paths may hold spaces). */
const FRAME = /(?:\((.+):(\d+):(\d+)\)|^\s*at (.+):(\d+):(\d+))\s*$/;

/** The caller of `fn` (the frame just outside it), when the stack names a file. */
export function callSite(fn: Function): CallSite | undefined {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 1;
  try {
    Error.captureStackTrace(holder, fn);
  } finally {
    Error.stackTraceLimit = limit;
  }
  const frame = holder.stack?.split('\n')[1];
  const m = frame ? FRAME.exec(frame) : null;
  if (!m) return undefined;
  let file = m[1] ?? m[4]!;
  const [line, column] = m[1] !== undefined ? [m[2], m[3]] : [m[5], m[6]];
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (!isAbsolute(file)) return undefined;
  return { file, line: Number(line), column: Number(column) };
}

/** Source files read for call sites, once per check; `null` when unreadable. */
export class SiteSources {
  private files = new Map<string, SourceFile | null>();

  source(path: string): SourceFile | undefined {
    let s = this.files.get(path);
    if (s === undefined) {
      try {
        s = new SourceFile(shownPath(path), readFileSync(path, 'utf8'));
      } catch {
        s = null;
      }
      this.files.set(path, s);
    }
    return s ?? undefined;
  }

  all(): SourceFile[] {
    return [...this.files.values()].filter((s): s is SourceFile => s !== null);
  }

  /** The called name at the site (`plan` of `plan(…)` or `pp.plan`), or undefined when the file does not match the stack. */
  origin(site: CallSite): Origin | undefined {
    const file = this.source(site.file);
    if (!file) return undefined;
    const lineStart = file.lineStarts[site.line - 1];
    if (lineStart === undefined) return undefined;
    const at = lineStart + site.column - 1;
    const word = /^[A-Za-z_$][\w$]*/.exec(file.text.slice(at, at + 64));
    if (word) return { file, start: at, end: at + word[0].length };
    // Some source maps place a tagged template's call at its backtick: the tag is just before.
    const tag = file.text[at] === '`' ? /[A-Za-z_$][\w$]*\s*$/.exec(file.text.slice(lineStart, at)) : null;
    return tag ? { file, start: lineStart + tag.index, end: lineStart + tag.index + tag[0].trimEnd().length } : undefined;
  }
}

/** Paths under the working directory are shown relative to it, as on the command line. */
function shownPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

/**
 * The parts of a template in the file: after the call site, the first backtick whose
 * text continues with the first raw part, then each `${…}` skipped to the next part.
 * Undefined when the file does not hold this template (compiled or bundled code).
 */
export function locateTemplate(site: Origin, raw: readonly string[]): { parts: Origin[]; values: Origin[] } | undefined {
  const text = site.file.text;
  const first = raw[0] ?? '';
  let at = text.indexOf('`', site.end);
  while (at >= 0 && !text.startsWith(first, at + 1)) at = text.indexOf('`', at + 1);
  if (at < 0 || at - site.end > 200) return undefined;
  const parts: Origin[] = [{ file: site.file, start: at + 1, end: at + 1 + first.length }];
  const values: Origin[] = [];
  let end = at + 1 + first.length;
  for (let i = 1; i < raw.length; i++) {
    if (!text.startsWith('${', end)) return undefined;
    const closing = i === raw.length - 1 ? '`' : '${';
    const next = text.indexOf(`}${raw[i]}${closing}`, end + 2);
    if (next < 0) return undefined;
    const expr = text.slice(end + 2, next);
    const lead = expr.length - expr.trimStart().length;
    values.push({ file: site.file, start: end + 2 + lead, end: end + 2 + lead + expr.trim().length });
    parts.push({ file: site.file, start: next + 1, end: next + 1 + raw[i]!.length });
    end = next + 1 + raw[i]!.length;
  }
  return text[end] === '`' ? { parts, values } : undefined;
}
