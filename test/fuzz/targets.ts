/**
 * One fuzz case per target, shared by bench/fuzz.ts and test/fuzz.test.ts. Each takes a
 * seed (replayable) and returns what went wrong, empty when nothing did:
 *
 * - `ts`: a mutated TypeScript project through analyzeProject (the static reader).
 * - `fmt`: a mutated `.plan` text through formatPlanText: no PP9001, idempotent.
 * - `export`: every plan of a mutated `.plan` file that checks, through every exporter.
 * - `suggest`: the first model and cluster of a mutated file, when small, through the
 *   search in both modes; the winner pinned and checked again, as `parplan suggest` does.
 * - `imports`, `huge`: hostile paths and inputs (test/fuzz/hostile.ts).
 * - `hfconfig`: mutated Hugging Face configs through hf_config and `parplan import` (test/fuzz/hfconfig.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze, analyzeProject, type Analysis } from '../../src/analyze.js';
import { checkProgram } from '../../src/check/index.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { hasErrors } from '../../src/diagnostics/diagnostic.js';
import { makeStyle } from '../../src/render/style.js';
import { renderDiagnostic } from '../../src/render/text.js';
import { ENGINES, exportPlan } from '../../src/export/index.js';
import { formatPlanText } from '../../src/fmt/index.js';
import { loadProgram } from '../../src/load.js';
import { pinnedText, recheck } from '../../src/search/pinned.js';
import { search, targetOf, type Workload } from '../../src/search/index.js';
import { memoryHost, mutate, mutateKnobs, rng, violations } from './mutate.js';
import { mutateTs } from './mutate-ts.js';

export const TARGETS = ['plan', 'ts', 'fmt', 'export', 'suggest', 'imports', 'huge', 'hfconfig'] as const;
export type Target = (typeof TARGETS)[number];

export interface Outcome {
  path: string;
  text: string;
  problems: string[];
  /** Whether the case reached the part under test (a plan that checks, a text that parses). */
  reached: boolean;
}

function caught(e: unknown): string {
  return `threw: ${e instanceof Error ? e.stack : String(e)}`;
}

/** Spans inside their files, and every diagnostic renders (as the CLI prints it). */
function renderProblems(a: Analysis): string[] {
  const out: string[] = [];
  const style = makeStyle(false);
  for (const d of a.diagnostics) {
    const source = d.span && a.sources.get(d.span.file);
    if (d.span && !source) out.push(`${d.code} points into ${d.span.file}, which is not among the sources`);
    if (d.span && source && d.span.end > source.text.length) out.push(`${d.code} ends past the end of ${d.span.file}`);
    try {
      renderDiagnostic(d, a.sources, style);
    } catch (e) {
      out.push(`${d.code} does not render: ${caught(e)}`);
    }
  }
  return out;
}

/**
 * The TypeScript projects on disk, one directory each: the reader resolves relative imports
 * through the file system, as it does for a user's project. `cleanup` removes them.
 */
export interface TsWorkspace {
  projects: { dir: string; files: Map<string, string> }[];
  cleanup(): void;
}

export function tsWorkspace(projects: readonly Map<string, string>[]): TsWorkspace {
  const root = mkdtempSync(join(tmpdir(), 'parplan-fuzz-ts-'));
  const out = projects.map((files, i) => {
    const dir = join(root, `p${i}`);
    mkdirSync(dir);
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
    return { dir, files };
  });
  return { projects: out, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Mutate one file of one TypeScript project and read the project statically (the file is restored after). */
export async function fuzzTsOnce(ws: TsWorkspace, seed: number): Promise<Outcome> {
  const random = rng(seed);
  const { dir, files } = ws.projects[Math.floor(random() * ws.projects.length)]!;
  const scripts = [...files.keys()].filter((p) => p.endsWith('.ts'));
  const name = scripts[Math.floor(random() * scripts.length)]!;
  const path = join(dir, name);
  const text = mutateTs(files.get(name)!, name, random);
  writeFileSync(path, text);
  try {
    const a = await analyzeProject(scripts.map((s) => join(dir, s)));
    return { path, text, problems: [...violations(a), ...renderProblems(a)], reached: a.results.length > 0 };
  } catch (e) {
    return { path, text, problems: [caught(e)], reached: false };
  } finally {
    writeFileSync(path, files.get(name)!);
  }
}

/**
 * A mutated `.plan` corpus file: its path, text, and the corpus with it in place. With
 * `knobs`, half the mutants only get settings changed, so that more of them check.
 */
function planMutant(files: Map<string, string>, seed: number, knobs = false) {
  const random = rng(seed);
  const paths = [...files.keys()].filter((p) => p.endsWith('.plan'));
  const path = paths[Math.floor(random() * paths.length)]!;
  const text = knobs && random() < 0.5 ? mutateKnobs(files.get(path)!, random) : mutate(files.get(path)!, random);
  const mutated = new Map(files).set(path, text);
  const name = path.slice(path.lastIndexOf('/') + 1);
  // A model file has no plans of its own: check the files that import it.
  const importers = [...files].filter(([p, t]) => p !== path && t.includes(`${name}"`)).map(([p]) => p);
  return { path, text, files: mutated, roots: [path, ...importers] };
}

/** Format a mutant that parses: no internal error, and formatting the result changes nothing. */
export function fuzzFmtOnce(files: Map<string, string>, seed: number): Outcome {
  const { path, text } = planMutant(files, seed);
  try {
    const once = formatPlanText(text, path);
    const problems = once.diagnostics.filter((d) => d.code === 'PP9001').map((d) => `PP9001: ${d.message}`);
    if (hasErrors(once.diagnostics)) return { path, text, problems, reached: false };
    const twice = formatPlanText(once.text, path);
    if (twice.text !== once.text) problems.push(`not idempotent:\n--- once ---\n${once.text}--- twice ---\n${twice.text}`);
    return { path, text, problems, reached: true };
  } catch (e) {
    return { path, text, problems: [caught(e)], reached: false };
  }
}

/** What an exporter must never produce: an internal error, an unplaced finding, a value JavaScript made up. */
function exportProblems(
  engine: string,
  plan: string,
  diagnostics: readonly Diagnostic[],
  files: readonly { name: string; text: string }[],
): string[] {
  const out: string[] = [];
  for (const d of diagnostics) {
    if (d.code === 'PP9001') out.push(`${engine} ${plan}: internal error: ${d.message}`);
    if (!d.span) out.push(`${engine} ${plan}: ${d.code} without a position`);
  }
  for (const f of files) {
    const bad = /\b(?:NaN|undefined|Infinity)\b|\[object Object\]/.exec(f.text);
    if (bad) out.push(`${engine} ${plan}: ${f.name} holds '${bad[0]}'`);
    if (f.name.endsWith('.json')) {
      try {
        JSON.parse(f.text);
      } catch {
        out.push(`${engine} ${plan}: ${f.name} is not JSON`);
      }
    }
  }
  return out;
}

/** Export every plan of a mutant that checks, with every engine, with and without a model id. */
export function fuzzExportOnce(files: Map<string, string>, seed: number): Outcome {
  const { path, text, files: mutated, roots } = planMutant(files, seed, true);
  try {
    const a = analyze(roots, { host: memoryHost(mutated) });
    const problems: string[] = [];
    for (const r of a.results) {
      for (const engine of ENGINES) {
        for (const opts of [{}, { model: 'org/model' }]) {
          const x = exportPlan(engine, r.plan, opts);
          problems.push(...exportProblems(engine, r.plan.name, x.diagnostics, x.files));
          if (hasErrors(x.diagnostics) && x.files.length > 0) problems.push(`${engine} ${r.plan.name}: files despite an error`);
        }
      }
    }
    return { path, text, problems, reached: a.results.length > 0 };
  } catch (e) {
    return { path, text, problems: [caught(e)], reached: false };
  }
}

/** Small enough to search in a fuzz run: the CLI has no such limit, but then a case takes seconds. */
const MAX_GPUS = 16;

/** Search the first model on the first cluster of a mutant, both modes; pin the winner and check it again. */
export function fuzzSuggestOnce(files: Map<string, string>, seed: number): Outcome {
  const { path, text, files: mutated } = planMutant(files, seed, true);
  try {
    const read: Diagnostic[] = [];
    const program = loadProgram(path, memoryHost(mutated), new Map(), read);
    if (!program || hasErrors(read)) return { path, text, problems: [], reached: false };
    // As `parplan suggest` does: the pinned plan imports the file, so its models and clusters must check.
    if (hasErrors(checkProgram(program.files, { file: path, imports: [], declarations: [] }, program.configs).diagnostics))
      return { path, text, problems: [], reached: false };
    const decls = program.files.flatMap((f) => f.declarations);
    const modelDecl = decls.find((d) => d.keyword === 'model');
    const clusterDecl = decls.find((d) => d.keyword === 'cluster');
    if (!modelDecl || !clusterDecl) return { path, text, problems: [], reached: false };
    const target = targetOf(modelDecl, clusterDecl, [], program.configs);
    if (!target || target.cluster.gpus > MAX_GPUS) return { path, text, problems: [], reached: false };
    const seq = Math.min(target.model.maxSeq, 2048);
    const works: Workload[] = [
      { mode: 'serve', seq, maxTpotSeconds: 0.1 },
      { mode: 'train', seq, global: 64 },
    ];
    const problems: string[] = [];
    for (const work of works) {
      const result = search(target, work);
      const best = result.ranked[0];
      if (!best) continue;
      const pinned = pinnedText(best.plan, { name: 'pinned', importPath: path.slice(path.lastIndexOf('/') + 1), header: ['fuzz'] });
      const at = `${path.slice(0, path.lastIndexOf('/'))}/pinned.plan`;
      const problem = recheck(pinned, at, best.plan, memoryHost(mutated));
      if (problem) problems.push(`${work.mode}: the pinned plan does not check as the one found: ${problem}\n${pinned}`);
    }
    return { path, text, problems, reached: true };
  } catch (e) {
    return { path, text, problems: [caught(e)], reached: false };
  }
}
