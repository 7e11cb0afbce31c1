/**
 * Reading `.plan` files: directories expand to every `*.plan` below them, and each
 * root file is parsed together with the files it imports (paths relative to the
 * importing file; cycles are harmless and loaded once).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, isAbsolute } from 'node:path';
import type { PlanFile } from './ast.js';
import { diag, type Diagnostic } from './diagnostics/diagnostic.js';
import { parse } from '../grammar/index.js';
import { SourceFile } from './source.js';

/** File access, injectable for tests. */
export interface Host {
  readFile(path: string): string;
  /** 'file', 'dir', or undefined when the path does not exist. */
  kind(path: string): 'file' | 'dir' | undefined;
  listDir(path: string): string[];
}

export const nodeHost: Host = {
  readFile: (p) => readFileSync(p, 'utf8'),
  kind: (p) => {
    try {
      const s = statSync(p);
      return s.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  },
  listDir: (p) => readdirSync(p),
};

export interface ExpandOptions {
  /** Directories also yield TypeScript files that name the `parplan` package (embedded plans; not `*.d.ts`). */
  typescript?: boolean;
}

/** `.ts`, `.tsx`, `.mts`, `.cts`: read for embedded plans rather than parsed as `.plan` text. */
export function isTypeScriptPath(path: string): boolean {
  return /\.(?:ts|tsx|mts|cts)$/.test(path) && !/\.d\.[cm]?ts$/.test(path);
}

/** `'parplan'` or `"parplan"`: the package named in an import (a word in a comment does not count). */
const NAMES_PACKAGE = /['"]parplan['"]/;

/** The cheap test before loading a TypeScript parser: a file that never names the package cannot import it. */
export function mentionsParplan(path: string, host: Host): boolean {
  try {
    return NAMES_PACKAGE.test(host.readFile(path));
  } catch {
    return false;
  }
}

/**
 * Expand paths: files as given, directories to their `*.plan` files (sorted, skipping dot
 * folders and node_modules), and with `typescript`, their TypeScript files that name parplan.
 */
export function expandPaths(paths: readonly string[], host: Host, out: Diagnostic[], opts: ExpandOptions = {}): string[] {
  const files: string[] = [];
  for (const p of paths) {
    const kind = host.kind(p);
    if (kind === undefined) {
      out.push({ ...diag('PP6001', undefined, { path: p, reason: 'no such file or directory' }), file: p });
    } else if (kind === 'file') {
      files.push(p);
    } else {
      const found: string[] = [];
      walk(p, host, found, opts);
      if (found.length === 0) {
        const help = opts.typescript ? 'nor TypeScript files that import parplan; give the directory or the files that hold the plans' : undefined;
        out.push({ ...diag('PP6002', undefined, { path: p }, help ? { help } : {}), file: p });
      }
      files.push(...found.sort());
    }
  }
  return [...new Set(files)];
}

function walk(dir: string, host: Host, found: string[], opts: ExpandOptions): void {
  for (const name of host.listDir(dir)) {
    if (name.startsWith('.') || name === 'node_modules') continue;
    const p = join(dir, name);
    const kind = host.kind(p);
    if (kind === 'dir') walk(p, host, found, opts);
    else if (kind === 'file' && (name.endsWith('.plan') || (opts.typescript && isTypeScriptPath(name) && mentionsParplan(p, host)))) found.push(p);
  }
}

export interface CachedFile {
  source: SourceFile;
  ast: PlanFile;
  syntaxErrors: boolean;
}

export interface Program {
  root: PlanFile;
  /** Some file of the program has syntax errors (then the checker does not run: its findings would be follow-on noise). */
  syntaxErrors: boolean;
  /** Every file of the program, imports before the files that import them (the root last). */
  files: PlanFile[];
}

/** Parse a root file and, transitively, its imports. Sources and parsed files are cached in `cache` across roots. */
export function loadProgram(root: string, host: Host, cache: Map<string, CachedFile>, out: Diagnostic[]): Program | undefined {
  const files: PlanFile[] = [];
  const seen = new Set<string>();
  let syntaxErrors = false;
  const visit = (path: string, from?: { file: string; span: import('./source.js').Span }): void => {
    const key = normalize(path);
    if (seen.has(key)) return;
    seen.add(key);
    let entry = cache.get(key);
    if (!entry) {
      let text: string;
      try {
        text = host.readFile(path);
      } catch (e) {
        const reason = errorReason(e);
        if (from) out.push(diag('PP2012', from.span, { path: relative(dirname(from.file), path) || path, reason }, { help: `the path is relative to ${dirname(from.file).replace(/\/?$/, '/')}` }));
        else out.push({ ...diag('PP6001', undefined, { path, reason }), file: path });
        return;
      }
      const source = new SourceFile(path, text);
      const parsed = parse(text, path);
      out.push(...parsed.diagnostics);
      entry = { source, ast: parsed.ast, syntaxErrors: parsed.diagnostics.some((d) => d.severity === 'error') };
      cache.set(key, entry);
    }
    for (const imp of entry.ast.imports) {
      const target = isAbsolute(imp.path) ? imp.path : join(dirname(path), imp.path);
      visit(target, { file: path, span: imp.pathSpan });
    }
    files.push(entry.ast);
    syntaxErrors ||= entry.syntaxErrors;
  };
  visit(root);
  const rootFile = files[files.length - 1];
  return rootFile && rootFile.file === root ? { root: rootFile, files, syntaxErrors } : undefined;
}

function errorReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}
