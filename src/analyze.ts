/**
 * The compiler's front half as one call: read `.plan` files (and their imports),
 * parse, check, compute memory, judge fit, estimate cost. Pure apart from reading files through `host`.
 * `analyzeProject` also reads plans embedded in TypeScript files (src/embedded/static/).
 */
import { checkProgram } from './check/index.js';
import { planCost } from './cost/index.js';
import type { PlanCost } from './cost/types.js';
import { diag, sortDiagnostics, uniqueDiagnostics, type Diagnostic } from './diagnostics/diagnostic.js';
import { didYouMean } from './diagnostics/suggest.js';
import { beyondBytes, fitDiagnostics } from './fit.js';
import { predictLatency, type LatencyResult } from './latency/check.js';
import {
  cachedHost,
  expandPaths,
  isTypeScriptPath,
  loadProgram,
  mentionsParplan,
  nodeHost,
  type CachedFile,
  type Host,
  type LoadOptions,
  type Program,
} from './load.js';
import { memoryPlan } from './memory/index.js';
import type { MemoryPlan } from './memory/types.js';
import type { CheckedPlan } from './plan.js';
import type { SourceFile } from './source.js';
import { LIMITS, limitText } from './facts/limits.js';

export type { Host } from './load.js';

export interface PlanResult {
  plan: CheckedPlan;
  memory: MemoryPlan;
  /** Every device's total ≤ its usable bytes. */
  fits: boolean;
  /** Estimated step time (training) or latency and throughput (serving); see docs/cost.md. */
  cost: PlanCost;
  /** A serving plan with a traffic block that fits: the simulated latency under it (docs/latency.md). */
  latency?: LatencyResult;
}

export interface Analysis {
  /** Plans that passed the checker, in file order then declaration order. */
  results: PlanResult[];
  /** All diagnostics, sorted by file and position, without duplicates. */
  diagnostics: Diagnostic[];
  /** Every file read (roots and imports), by path, for rendering source lines. */
  sources: Map<string, SourceFile>;
  /** The root files checked, in order. */
  files: string[];
}

export interface AnalyzeOptions {
  /** Only the plan with this name (PP6003 when no root file declares it). */
  plan?: string;
  host?: Host;
  /** Imports must stay under this directory (`--root`); default: the repository holding each checked file (src/load.ts importScope). */
  root?: string;
}

export function analyze(paths: readonly string[], opts: AnalyzeOptions = {}): Analysis {
  const host = cachedHost(opts.host ?? nodeHost);
  const raw: Diagnostic[] = [];
  const files = expandPaths(paths, host, raw);
  const cache = new Map<string, CachedFile>();
  const programs = files.flatMap((file) =>
    isTypeScriptPath(file) ? notRead(file, raw) : (loadProgram(file, host, cache, raw, loadOptions(opts)) ?? []),
  );
  return analyzePrograms(programs, { files, sources: cachedSources(cache), diagnostics: raw }, opts);
}

/** TypeScript parsed as `.plan` text would be a page of syntax errors: say what reads it instead. */
function notRead(file: string, out: Diagnostic[]): [] {
  const help = 'analyzeProject() reads plans embedded in TypeScript (as every parplan command does); analyzePlans() reads builder values';
  out.push({ ...diag('PP7005', undefined, { path: file }, { help }), file });
  return [];
}

/**
 * `analyze` for `.plan` files and TypeScript files with embedded plans (`parplan check`).
 * TypeScript is read with ts-morph, loaded only when a TypeScript file is to be checked.
 */
export async function analyzeProject(paths: readonly string[], opts: AnalyzeOptions = {}): Promise<Analysis> {
  const host = cachedHost(opts.host ?? nodeHost);
  const raw: Diagnostic[] = [];
  const files = expandPaths(paths, host, raw, { typescript: true });
  const cache = new Map<string, CachedFile>();
  // A cheap text filter first: TypeScript without the word `parplan` holds no plans, and ts-morph is slow to load.
  const scripts = files.filter((f) => isTypeScriptPath(f) && mentionsParplan(f, host) && typescriptSize(f, host, raw));
  const embedded = scripts.length > 0 ? await loadEmbedded(scripts, host, cache, raw, opts.root) : undefined;
  const programs: Program[] = [];
  for (const file of files) {
    const loaded = isTypeScriptPath(file) ? embedded?.programs.get(file) : loadProgram(file, host, cache, raw, loadOptions(opts));
    if (Array.isArray(loaded)) programs.push(...loaded);
    else if (loaded) programs.push(loaded);
  }
  const sources = cachedSources(cache);
  for (const s of embedded?.sources ?? []) sources.set(s.path, s);
  return analyzePrograms(programs, { files, sources, diagnostics: raw }, opts);
}

/** Whether a TypeScript file is small enough to parse (LIMITS.typescriptFileBytes); else PP6001 for it. */
function typescriptSize(file: string, host: Host, out: Diagnostic[]): boolean {
  const size = host.size ? host.size(file) : Buffer.byteLength(host.readFile(file));
  if (size <= LIMITS.typescriptFileBytes) return true;
  out.push({
    ...diag('PP6001', undefined, {
      path: file,
      reason: `it is larger than ${limitText(LIMITS.typescriptFileBytes)}, the most parplan reads as a TypeScript file`,
    }),
    file,
  });
  return false;
}

function loadOptions(opts: AnalyzeOptions): LoadOptions {
  return opts.root === undefined ? {} : { root: opts.root };
}

async function loadEmbedded(scripts: string[], host: Host, cache: Map<string, CachedFile>, raw: Diagnostic[], root: string | undefined) {
  const { extractPrograms } = await import('./embedded/static/index.js');
  const found = extractPrograms(scripts, host, cache, root);
  raw.push(...found.diagnostics);
  return found;
}

/** What analysis needs besides the programs: the root files, every source read, diagnostics so far. */
export interface ProgramInputs {
  files: string[];
  sources: Map<string, SourceFile>;
  diagnostics: Diagnostic[];
}

/** Check, size and cost the plans of loaded programs (`.plan` files or embedded in TypeScript alike). */
export function analyzePrograms(programs: readonly Program[], inputs: ProgramInputs, opts: { plan?: string } = {}): Analysis {
  const raw = [...inputs.diagnostics];
  const results: PlanResult[] = [];
  for (const program of programs) for (const s of program.configSources ?? []) inputs.sources.set(s.path, s);
  // Request traces too: a PP2054 points into one.
  for (const program of programs) for (const t of program.traces?.values() ?? []) if (t.source) inputs.sources.set(t.source.path, t.source);
  // And step-time profiles: a PP2057 points into one.
  for (const program of programs)
    for (const p of program.profiles?.values() ?? []) if (p.source) inputs.sources.set(p.source.path, p.source);
  let planSeen = false;
  const planNames: string[] = [];
  for (const program of programs) {
    for (const d of program.root.declarations) if (d.keyword === 'plan') planNames.push(d.name);
    if (program.syntaxErrors) continue;
    const checked = checkProgram(program.files, program.root, program.configs, program.traces, program.profiles);
    // With --plan, the other plans' own diagnostics are not wanted; models and clusters' are.
    const others = opts.plan === undefined ? [] : program.root.declarations.filter((d) => d.keyword === 'plan' && d.name !== opts.plan);
    for (const d of checked.diagnostics) {
      if (!others.some((o) => d.span && d.span.file === o.span.file && d.span.start >= o.span.start && d.span.end <= o.span.end))
        raw.push(d);
    }
    for (const plan of checked.plans) {
      if (opts.plan !== undefined && plan.name !== opts.plan) continue;
      planSeen = true;
      const memory = memoryPlan(plan);
      const beyond = beyondBytes(plan, memory);
      if (beyond) {
        raw.push(beyond);
        continue;
      }
      const fit = fitDiagnostics(plan, memory);
      raw.push(...fit.diagnostics);
      const result = planResult(plan, memory, fit.fits);
      if (fit.fits && plan.mode === 'serve' && plan.traffic) {
        const predicted = predictLatency(plan);
        raw.push(...predicted.diagnostics);
        if (predicted.latency) result.latency = predicted.latency;
      }
      results.push(result);
    }
    if (opts.plan !== undefined && program.root.declarations.some((d) => d.keyword === 'plan' && d.name === opts.plan)) planSeen = true;
  }
  if (opts.plan !== undefined && !planSeen) {
    const hint = didYouMean(opts.plan, planNames, 10);
    const help = hint ?? (planNames.length === 0 ? 'the files declare no plans' : 'omit --plan to check every plan');
    raw.push(diag('PP6003', undefined, { name: opts.plan }, { help }));
  }
  return { results, diagnostics: sortDiagnostics(uniqueDiagnostics(raw)), sources: inputs.sources, files: inputs.files };
}

/**
 * A checked plan's result. The cost is worked out when first read: checking, sizing and fit
 * (what a CI gate and most callers of analyze() need) do not pay for it; the text, JSON and
 * report renderers read it. An own enumerable getter, so a spread of the result copies the cost.
 */
function planResult(plan: CheckedPlan, memory: MemoryPlan, fits: boolean): PlanResult {
  let cost: PlanCost | undefined;
  return Object.defineProperty({ plan, memory, fits } as PlanResult, 'cost', {
    get: () => (cost ??= planCost(plan, memory)),
    enumerable: true,
  });
}

function cachedSources(cache: Map<string, CachedFile>): Map<string, SourceFile> {
  const sources = new Map<string, SourceFile>();
  for (const { source } of cache.values()) sources.set(source.path, source);
  return sources;
}
