/**
 * Reading `.plan` files: directories expand to every `*.plan` below them, and each
 * root file is parsed together with the files it imports (paths relative to the
 * importing file; cycles are harmless and loaded once).
 */
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { PlanFile, Value } from './ast.js';
import { diag, type Diagnostic } from './diagnostics/diagnostic.js';
import { parse } from '../grammar/index.js';
import { SourceFile, type Span } from './source.js';
import { parseJson } from './hf/json.js';
import type { LoadedConfig } from './hf/config.js';
import { LIMITS, limitText } from './facts/limits.js';
import { parseTrace, type TraceRow } from './latency/trace.js';
import { parseProfile, type StepProfile } from './latency/profile.js';

/** File access, injectable for tests. */
export interface Host {
  readFile(path: string): string;
  /** What the path names, following symbolic links; undefined when nothing is there. FIFOs and devices are 'other'. */
  kind(path: string): 'file' | 'dir' | 'other' | undefined;
  /** Bytes in a regular file (default: the length of its text, for hosts that hold files in memory). */
  size?(path: string): number;
  /** `kind` and `size` in one look-up (one stat call), when the host can. */
  stat?(path: string): { kind: 'file' | 'dir' | 'other'; size: number } | undefined;
  listDir(path: string): string[];
  /**
   * A directory's entries with what each is, without following links (readdir's file
   * types: no stat per entry). Optional: without it, walks stat every entry.
   */
  listEntries?(path: string): { name: string; kind: 'file' | 'dir' | 'other' | 'link' }[];
  /** The path with every symbolic link resolved: where a file really is decides whether it may be read (default: the path, resolved). */
  realpath?(path: string): string;
}

function nodeStat(p: string): { kind: 'file' | 'dir' | 'other'; size: number } | undefined {
  try {
    // A missing path is an answer, not an error: no exception (with its stack) for each `.git` looked for.
    const s = statSync(p, { throwIfNoEntry: false });
    if (s === undefined) return undefined;
    return { kind: s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other', size: s.size };
  } catch {
    return undefined;
  }
}

export const nodeHost: Host = {
  readFile: (p) => readFileSync(p, 'utf8'),
  kind: (p) => nodeStat(p)?.kind,
  size: (p) => statSync(p).size,
  stat: nodeStat,
  listDir: (p) => readdirSync(p),
  listEntries: (p) =>
    readdirSync(p, { withFileTypes: true }).map((d) => ({
      name: d.name,
      kind: d.isSymbolicLink() ? 'link' : d.isDirectory() ? 'dir' : d.isFile() ? 'file' : 'other',
    })),
  realpath: (p) => realpathSync.native(p),
};

/**
 * A host that remembers, for one analysis, what each path is (kind, size, real path): a
 * file imported by many plans, and the repository above them, are looked up once.
 */
export function cachedHost(host: Host): Host {
  const kinds = new Map<string, ReturnType<Host['kind']>>();
  const sizes = new Map<string, number>();
  const reals = new Map<string, string>();
  // One look-up per path (undefined is an answer too: a missing `.git`); `f` is not called on a hit.
  const memo = <T>(m: Map<string, T>, p: string, f: (p: string) => T): T => {
    let v = m.get(p);
    if (v === undefined && !m.has(p)) m.set(p, (v = f(p)));
    return v as T;
  };
  const stats = new Map<string, ReturnType<NonNullable<Host['stat']>>>();
  const stat = (p: string) => host.stat!(p);
  const kind = (p: string) => host.kind(p);
  const size = (p: string) => (host.size ? host.size(p) : Buffer.byteLength(host.readFile(p)));
  const real = (p: string) => (host.realpath ? host.realpath(p) : resolve(p));
  const cached: Host = {
    readFile: (p) => host.readFile(p),
    kind: (p) => (host.stat ? memo(stats, p, stat)?.kind : memo(kinds, p, kind)),
    size: (p) => {
      const s = host.stat ? memo(stats, p, stat) : undefined;
      return s ? s.size : memo(sizes, p, size);
    },
    listDir: (p) => host.listDir(p),
    ...(host.listEntries ? { listEntries: host.listEntries.bind(host) } : {}),
    realpath: (p) => memo(reals, p, real),
  };
  scopes.set(cached, new Map());
  return cached;
}

/**
 * The import scope of each directory, for a cachedHost: its look-ups hold for the whole analysis,
 * so the walk up to a `.git` is the same for every file of a directory (other hosts walk each time).
 */
const scopes = new WeakMap<Host, Map<string, ImportScope>>();

/** Whether `path` (resolved) is `dir` or below it. */
export function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The real path, or the path resolved when it cannot be had (it does not exist). */
export function realpathOr(host: Host, path: string): string {
  try {
    return host.realpath ? host.realpath(path) : resolve(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Why a file may not be read as plan text (or, with `what`, as a config), or undefined when it
 * may: a regular file of at most LIMITS.planFileBytes. (A FIFO would block the read; /dev/zero would never end.)
 */
function unreadable(host: Host, path: string, what = 'a plan file', maxBytes: number = LIMITS.planFileBytes): string | undefined {
  const kind = host.kind(path);
  if (kind === undefined) return 'no such file';
  if (kind === 'dir') return 'it is a directory';
  if (kind === 'other') return 'it is not a regular file';
  if ((host.size ? host.size(path) : Buffer.byteLength(host.readFile(path))) > maxBytes)
    return `it is larger than ${limitText(maxBytes)}, the most parplan reads as ${what}`;
  return undefined;
}

/** Where an import may lead, and how far. */
export interface ImportScope {
  /** Imports must resolve (symbolic links followed) under this directory. */
  root: string;
  /** What the root is, in words, for messages (no absolute path: the same text on every machine). */
  rootText: string;
}

/**
 * The scope of a checked file: `--root DIR` when given; else the repository that holds it
 * (the nearest directory above it with a `.git`), so that a plan in a pull request reads
 * only the repository's own `.plan` files; outside a repository, the file's own directory.
 */
export function importScope(file: string, root: string | undefined, host: Host): ImportScope {
  if (root !== undefined) return { root: realpathOr(host, root), rootText: `--root ${root}` };
  const dir = dirname(file);
  const known = scopes.get(host);
  let scope = known?.get(dir);
  if (!scope) {
    scope = repositoryScope(dir, host);
    known?.set(dir, scope);
  }
  return scope;
}

function repositoryScope(fileDir: string, host: Host): ImportScope {
  const own = realpathOr(host, fileDir);
  for (let dir = own; ; dir = dirname(dir)) {
    if (host.kind(join(dir, '.git')) !== undefined) return { root: dir, rootText: 'the repository that holds the checked file' };
    if (dirname(dir) === dir) break;
  }
  return { root: own, rootText: "the checked file's directory (it is in no repository)" };
}

/**
 * Resolve a path written in `fromFile` (an import, an hf_config) under the scope's
 * confinement: the target, or why it may not be read — `missing` (no such file, a directory)
 * or `refused` (outside the root, not a regular file, too large). Confinement is decided on
 * the real path, so a symbolic link inside the tree that points outside it is refused, and
 * outside the tree is refused before anything else, so a path cannot probe which files exist there.
 */
function resolveConfined(
  path: string,
  fromFile: string,
  scope: ImportScope,
  host: Host,
  what: string,
  maxBytes: number = LIMITS.planFileBytes,
): { target: string } | { refused: boolean; reason: string; help?: string } {
  const target = isAbsolute(path) ? path : join(dirname(fromFile), path);
  const real = host.kind(target) === undefined ? join(realpathOr(host, dirname(target)), basename(target)) : realpathOr(host, target);
  if (!within(real, scope.root)) return { refused: true, reason: `it is outside ${scope.rootText}` };
  const why = unreadable(host, target, what, maxBytes);
  if (why === 'no such file' || why === 'it is a directory')
    return { refused: false, reason: why, help: `the path is relative to ${dirname(fromFile).replace(/\/?$/, '/')}` };
  if (why) return { refused: true, reason: why };
  return { target };
}

const OUTSIDE_HELP =
  'stay inside the repository of the checked file (or its directory, outside a repository); to allow a wider tree, pass --root DIR';

/**
 * Resolve `import "path"` written in `fromFile`: the target path, or why it may not be
 * read (the code and arguments of the diagnostic at the import).
 */
export function resolveImport(
  path: string,
  fromFile: string,
  scope: ImportScope,
  host: Host,
): { target: string } | { code: 'PP2012' | 'PP2016'; reason: string; help?: string } {
  if (!path.endsWith('.plan')) return { code: 'PP2016', reason: 'only .plan files can be imported' };
  const r = resolveConfined(path, fromFile, scope, host, 'a plan file');
  if ('target' in r) return r;
  if (r.reason.startsWith('it is outside ')) return { code: 'PP2016', reason: r.reason, help: `imports ${OUTSIDE_HELP}` };
  return r.refused ? { code: 'PP2016', reason: r.reason } : { code: 'PP2012', reason: r.reason, ...(r.help ? { help: r.help } : {}) };
}

/**
 * Resolve `hf_config = "path"` written in `fromFile`, under exactly the confinement and size
 * limit of an import (docs/security.md): only `.json` files, inside the import root.
 */
export function resolveConfig(
  path: string,
  fromFile: string,
  scope: ImportScope,
  host: Host,
): { target: string } | { code: 'PP2017' | 'PP2018'; reason: string; help?: string } {
  if (!path.endsWith('.json')) return { code: 'PP2018', reason: 'only .json files can be read as a Hugging Face config' };
  const r = resolveConfined(path, fromFile, scope, host, 'a config file');
  if ('target' in r) return r;
  if (r.reason.startsWith('it is outside ')) return { code: 'PP2018', reason: r.reason, help: `config files ${OUTSIDE_HELP}` };
  return r.refused ? { code: 'PP2018', reason: r.reason } : { code: 'PP2017', reason: r.reason, ...(r.help ? { help: r.help } : {}) };
}

/**
 * Read the config named by each `hf_config` of the model declarations in `files`: confined
 * (resolveConfig), parsed as JSON with positions. A config that cannot be read or parsed is a
 * diagnostic at the `hf_config` value (or, for bad JSON, at the place in the file), and a
 * `{ ok: false }` entry so that the checker does not pile follow-on errors on the model.
 */
export function loadConfigs(
  files: readonly PlanFile[],
  scopeOf: () => ImportScope,
  host: Host,
  out: Diagnostic[],
): { configs: Map<Value, LoadedConfig>; sources: SourceFile[] } {
  const configs = new Map<Value, LoadedConfig>();
  const sources: SourceFile[] = [];
  for (const file of files) {
    for (const decl of file.declarations) {
      if (decl.keyword !== 'model') continue;
      for (const entry of decl.body.entries) {
        if (entry.key !== 'hf_config' || entry.value.kind !== 'string') continue;
        const v = entry.value;
        const r = resolveConfig(v.value, file.file, scopeOf(), host);
        if (!('target' in r)) {
          out.push(diag(r.code, v.span, { path: v.value, reason: r.reason }, r.help ? { help: r.help } : {}));
          configs.set(v, { ok: false });
          continue;
        }
        const loaded = readConfig(r.target, host, out, v.span);
        configs.set(v, loaded);
        if (loaded.source) sources.push(loaded.source);
      }
    }
  }
  return { configs, sources };
}

/** A config named on the command line (`parplan import`): not confined, but read only if a regular file within the size limit. */
export function readConfigFile(path: string, host: Host, out: Diagnostic[]): LoadedConfig {
  const why = unreadable(host, path, 'a config file');
  if (why) {
    out.push({ ...diag('PP6001', undefined, { path, reason: why }), file: path });
    return { ok: false };
  }
  return readConfig(path, host, out);
}

/** Read and parse one config file (its size already checked); `at` is where a read failure points (absent: the file). */
export function readConfig(path: string, host: Host, out: Diagnostic[], at?: Span): LoadedConfig {
  let text: string;
  try {
    text = host.readFile(path);
  } catch (e) {
    const d = at
      ? diag('PP2017', at, { path, reason: errorReason(e) })
      : { ...diag('PP6001', undefined, { path, reason: errorReason(e) }), file: path };
    out.push(d);
    return { ok: false };
  }
  const source = new SourceFile(path, text);
  const parsed = parseJson(source);
  if (!parsed.ok) {
    out.push(diag('PP2019', parsed.span, { path: basename(path), detail: parsed.message }));
    return { ok: false, source };
  }
  return { ok: true, source, json: parsed.value };
}

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
 * A walk follows symbolic links only where they stay inside the directory given (and each
 * directory once, so link cycles end); what it cannot read is a diagnostic, never skipped
 * silently.
 */
export function expandPaths(paths: readonly string[], host: Host, out: Diagnostic[], opts: ExpandOptions = {}): string[] {
  const files: string[] = [];
  for (const p of paths) {
    const kind = host.kind(p);
    if (kind === undefined) {
      out.push({ ...diag('PP6001', undefined, { path: p, reason: 'no such file or directory' }), file: p });
    } else if (kind === 'other') {
      out.push({ ...diag('PP6001', undefined, { path: p, reason: 'it is not a regular file or a directory' }), file: p });
    } else if (kind === 'file') {
      files.push(p);
    } else {
      const found: string[] = [];
      const top = realpathOr(host, p);
      const reported = out.length;
      walk(p, top, { host, out, opts, top, visited: new Set([top]) }, found);
      // What the walk could not read is already said; "no plan files" only when it read everything.
      if (found.length === 0 && out.length === reported) {
        const help = opts.typescript
          ? 'nor TypeScript files that import parplan; give the directory or the files that hold the plans'
          : undefined;
        out.push({ ...diag('PP6002', undefined, { path: p }, help ? { help } : {}), file: p });
      }
      files.push(...found.sort());
    }
  }
  return [...new Set(files)];
}

interface Walk {
  host: Host;
  out: Diagnostic[];
  opts: ExpandOptions;
  /** The real path of the directory given on the command line. */
  top: string;
  /** Real paths of the directories entered (symbolic-link cycles end here). */
  visited: Set<string>;
}

/** `dir` is below the walk's top; `realDir` is where it really is. */
function walk(dir: string, realDir: string, w: Walk, found: string[]): void {
  const { host, out, opts } = w;
  let entries: { name: string; kind: 'file' | 'dir' | 'other' | 'link' | undefined }[];
  try {
    entries = host.listEntries ? host.listEntries(dir) : host.listDir(dir).map((name) => ({ name, kind: undefined }));
  } catch (e) {
    out.push({ ...diag('PP6001', undefined, { path: dir, reason: errorReason(e) }), file: dir });
    return;
  }
  for (const entry of entries) {
    const name = entry.name;
    if (name.startsWith('.') || name === 'node_modules') continue;
    const p = join(dir, name);
    // Only a link (or an entry of unknown type) can lead outside: its target is looked up.
    const followed = entry.kind === 'link' || entry.kind === undefined;
    const kind = followed ? host.kind(p) : entry.kind;
    const wanted = name.endsWith('.plan') || (opts.typescript && isTypeScriptPath(name));
    if (kind !== 'dir' && !wanted) continue;
    const real = followed ? realpathOr(host, p) : join(realDir, name);
    if (!within(real, w.top)) {
      out.push({ ...diag('PP6001', undefined, { path: p, reason: `it is a symbolic link to outside ${w.top}` }), file: p });
      continue;
    }
    if (kind === 'dir') {
      if (w.visited.has(real)) continue;
      w.visited.add(real);
      walk(p, real, w, found);
    } else if (kind === 'other') {
      out.push({ ...diag('PP6001', undefined, { path: p, reason: 'it is not a regular file' }), file: p });
    } else if (kind === 'file' && (name.endsWith('.plan') || mentionsParplan(p, host))) {
      found.push(p);
    }
  }
}

export interface CachedFile {
  source: SourceFile;
  ast: PlanFile;
  syntaxErrors: boolean;
}

/** A step-time profile a cluster's `gpu { profile = "…" }` names, read and checked, or the fact that it could not be (its diagnostic is out). */
export type LoadedProfile = { ok: true; profile: StepProfile; source: SourceFile } | { ok: false; source?: SourceFile };

/** A request trace a plan's `traffic { trace = "…" }` names, read and parsed, or the fact that it could not be (its diagnostic is out). */
export type LoadedTrace = { ok: true; rows: TraceRow[]; source: SourceFile } | { ok: false; source?: SourceFile };

export interface Program {
  root: PlanFile;
  /** The request traces its plans' traffic blocks name (`trace`), by the value node; absent: none. */
  traces?: Map<Value, LoadedTrace>;
  /** The step-time profiles its clusters' gpu blocks name (`profile`), by the value node; absent: none. */
  profiles?: Map<Value, LoadedProfile>;
  /** Some file of the program has syntax errors (then the checker does not run: its findings would be follow-on noise). */
  syntaxErrors: boolean;
  /** Every file of the program, imports before the files that import them (the root last). */
  files: PlanFile[];
  /** The Hugging Face configs its models name (`hf_config`), read and parsed; absent: none. */
  configs?: Map<Value, LoadedConfig>;
  /** Their sources, for rendering diagnostics inside them. */
  configSources?: SourceFile[];
}

export interface LoadOptions {
  /** Imports must stay under this directory (`--root`); default: importScope's (the repository holding the root file). */
  root?: string;
}

/**
 * Parse a root file and, transitively, its imports. Sources and parsed files are cached in
 * `cache` across roots. Imports are confined (resolveImport) and bounded in depth and count
 * (LIMITS.importDepth, LIMITS.importFiles).
 */
export function loadProgram(
  root: string,
  host: Host,
  cache: Map<string, CachedFile>,
  out: Diagnostic[],
  opts: LoadOptions = {},
): Program | undefined {
  const files: PlanFile[] = [];
  const seen = new Set<string>();
  // Found on the first import only: most files import nothing, and finding the repository costs a stat per directory.
  let scope: ImportScope | undefined;
  let syntaxErrors = false;
  const visit = (path: string, depth: number): void => {
    const key = normalize(path);
    if (seen.has(key)) return;
    seen.add(key);
    let entry = cache.get(key);
    if (!entry) {
      const why = depth === 0 ? unreadable(host, path) : undefined;
      if (why) {
        out.push({ ...diag('PP6001', undefined, { path, reason: why }), file: path });
        return;
      }
      let text: string;
      try {
        text = host.readFile(path);
      } catch (e) {
        out.push({ ...diag('PP6001', undefined, { path, reason: errorReason(e) }), file: path });
        return;
      }
      const source = new SourceFile(path, text);
      const parsed = parse(text, path);
      out.push(...parsed.diagnostics);
      entry = { source, ast: parsed.ast, syntaxErrors: parsed.diagnostics.some((d) => d.severity === 'error') };
      cache.set(key, entry);
    }
    for (const imp of entry.ast.imports) {
      scope ??= importScope(root, opts.root, host);
      const r = resolveImport(imp.path, path, scope, host);
      if (!('target' in r)) {
        out.push(diag(r.code, imp.pathSpan, { path: imp.path, reason: r.reason }, r.help ? { help: r.help } : {}));
      } else if (depth + 1 > LIMITS.importDepth) {
        out.push(
          diag(
            'PP2016',
            imp.pathSpan,
            { path: imp.path, reason: `imports nest deeper than ${LIMITS.importDepth} files` },
            { help: 'import the shared declarations directly from fewer levels' },
          ),
        );
      } else if (!seen.has(normalize(r.target)) && seen.size >= LIMITS.importFiles) {
        out.push(
          diag('PP2016', imp.pathSpan, {
            path: imp.path,
            reason: `the program already reads ${LIMITS.importFiles} files, the most one check reads`,
          }),
        );
      } else {
        visit(r.target, depth + 1);
      }
    }
    files.push(entry.ast);
    syntaxErrors ||= entry.syntaxErrors;
  };
  visit(root, 0);
  const rootFile = files[files.length - 1];
  if (!rootFile || rootFile.file !== root) return undefined;
  const program: Program = { root: rootFile, files, syntaxErrors };
  if (!syntaxErrors) addConfigs(program, () => (scope ??= importScope(root, opts.root, host)), host, out);
  if (!syntaxErrors) addTraces(program, () => (scope ??= importScope(root, opts.root, host)), host, out);
  if (!syntaxErrors) addProfiles(program, () => (scope ??= importScope(root, opts.root, host)), host, out);
  return program;
}

/** Read the configs a program's models name (loadConfigs) into it. */
export function addConfigs(program: Program, scopeOf: () => ImportScope, host: Host, out: Diagnostic[]): void {
  if (!program.files.some((f) => f.declarations.some((d) => d.keyword === 'model' && d.body.entries.some((e) => e.key === 'hf_config'))))
    return;
  const { configs, sources } = loadConfigs(program.files, scopeOf, host, out);
  program.configs = configs;
  program.configSources = sources;
}

function errorReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/**
 * Read the request traces named by `trace = "…"` in the traffic blocks of the program's plans:
 * confined exactly as imports and hf_config are (docs/security.md), only `.csv` files of at most
 * LIMITS.traceFileBytes, parsed with positions (src/latency/trace.ts); at most
 * LIMITS.latencyRequests rows are kept (the simulation runs no more).
 */
export function addTraces(program: Program, scopeOf: () => ImportScope, host: Host, out: Diagnostic[]): void {
  for (const file of program.files) {
    for (const decl of file.declarations) {
      if (decl.keyword !== 'plan') continue;
      for (const entry of decl.body.entries) {
        if (entry.key !== 'traffic' || entry.value.kind !== 'block') continue;
        for (const e of entry.value.entries) {
          if (e.key !== 'trace' || e.value.kind !== 'string') continue;
          (program.traces ??= new Map()).set(e.value, readTrace(e.value.value, e.value.span, file.file, scopeOf(), host, out));
        }
      }
    }
  }
}

function readTrace(path: string, at: Span, fromFile: string, scope: ImportScope, host: Host, out: Diagnostic[]): LoadedTrace {
  if (!path.endsWith('.csv')) {
    out.push(diag('PP2053', at, { path, reason: 'only .csv files can be read as a request trace' }));
    return { ok: false };
  }
  const r = resolveConfined(path, fromFile, scope, host, 'a trace', LIMITS.traceFileBytes);
  if (!('target' in r)) {
    const help = r.reason.startsWith('it is outside ') ? `trace files ${OUTSIDE_HELP}` : r.help;
    out.push(diag(r.refused ? 'PP2053' : 'PP2052', at, { path, reason: r.reason }, help ? { help } : {}));
    return { ok: false };
  }
  let text: string;
  try {
    text = host.readFile(r.target);
  } catch (e) {
    out.push(diag('PP2052', at, { path, reason: errorReason(e) }));
    return { ok: false };
  }
  if (text.length > LIMITS.traceFileBytes) {
    out.push(
      diag('PP2053', at, { path, reason: `it is larger than ${limitText(LIMITS.traceFileBytes)}, the most parplan reads as a trace` }),
    );
    return { ok: false };
  }
  const source = new SourceFile(r.target, text);
  const parsed = parseTrace(source, LIMITS.latencyRequests);
  if (!parsed.ok) {
    out.push(diag('PP2054', parsed.span, { path: basename(path), detail: parsed.detail }));
    return { ok: false, source };
  }
  return { ok: true, rows: parsed.rows, source };
}

/**
 * Read the step-time profiles named by `profile = "…"` in the gpu blocks of the program's
 * clusters: confined as traces are, only `.json` files of at most LIMITS.profileFileBytes,
 * checked with positions (src/latency/profile.ts).
 */
export function addProfiles(program: Program, scopeOf: () => ImportScope, host: Host, out: Diagnostic[]): void {
  for (const file of program.files) {
    for (const decl of file.declarations) {
      if (decl.keyword !== 'cluster') continue;
      for (const entry of decl.body.entries) {
        if (entry.key !== 'gpu' || entry.value.kind !== 'block') continue;
        for (const e of entry.value.entries) {
          if (e.key !== 'profile' || e.value.kind !== 'string') continue;
          (program.profiles ??= new Map()).set(e.value, readProfile(e.value.value, e.value.span, file.file, scopeOf(), host, out));
        }
      }
    }
  }
}

function readProfile(path: string, at: Span, fromFile: string, scope: ImportScope, host: Host, out: Diagnostic[]): LoadedProfile {
  if (!path.endsWith('.json')) {
    out.push(diag('PP2056', at, { path, reason: "only .json files written by 'parplan profile' can be read as a profile" }));
    return { ok: false };
  }
  const r = resolveConfined(path, fromFile, scope, host, 'a profile', LIMITS.profileFileBytes);
  if (!('target' in r)) {
    const help = r.reason.startsWith('it is outside ') ? `profile files ${OUTSIDE_HELP}` : r.help;
    out.push(diag(r.refused ? 'PP2056' : 'PP2055', at, { path, reason: r.reason }, help ? { help } : {}));
    return { ok: false };
  }
  let text: string;
  try {
    text = host.readFile(r.target);
  } catch (e) {
    out.push(diag('PP2055', at, { path, reason: errorReason(e) }));
    return { ok: false };
  }
  if (text.length > LIMITS.profileFileBytes) {
    out.push(
      diag('PP2056', at, { path, reason: `it is larger than ${limitText(LIMITS.profileFileBytes)}, the most parplan reads as a profile` }),
    );
    return { ok: false };
  }
  const source = new SourceFile(r.target, text);
  const parsed = parseProfile(source);
  if (!parsed.ok) {
    out.push(
      diag(
        'PP2057',
        parsed.span,
        { path: basename(path), detail: parsed.detail },
        { help: 'measure it again: parplan profile GRAPH --weights random:1 -o FILE.json' },
      ),
    );
    return { ok: false, source };
  }
  return { ok: true, profile: parsed.profile, source };
}
