/**
 * No loops between stages: data flows text → AST → checked plan → memory plan → graph
 * → runtime, and no stage imports a later one. Checked on the import graph of every
 * `.ts` file under src/, grammar/ and runtime/:
 *
 * - folders: each top-level folder of src/ is a node (src/check, src/render, …), each
 *   file at src/'s root is its own node (src/analyze.ts, src/plan.ts, …), and grammar/
 *   and runtime/ are one node each; any cycle between nodes fails, named.
 * - files: any cycle between files fails, named.
 *
 * Every import counts: static, `export … from`, side-effect, dynamic `import('…')` and
 * `import type` / `typeof import('…')`. Type-only imports are erased at run time, but
 * they still tie one stage to another's definitions (a change to the later stage's
 * types breaks the earlier one), which is the coupling this test exists to stop.
 * Imports are read with TypeScript's own pre-processor (`ts.preProcessFile`, already a
 * dev dependency): it skips comments and strings, so the TypeScript that codegen/ and
 * embedded/ write inside template literals is not mistaken for imports.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const TREES = ['src', 'grammar', 'runtime'];

/**
 * Folder cycles allowed for now, each with why (as 'a → b → a', the nodes of one cycle
 * as `cycleName` writes them). Empty: keep it so.
 */
const ALLOWED_FOLDER_CYCLES: Record<string, string> = {};

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith('.ts')) out.push(relative(ROOT, path));
  }
  return out;
}

/** A relative specifier → the repository path of the `.ts` file it names (NodeNext: `./x.js` is `./x.ts`, or declarations in `./x.d.ts`). */
function resolveImport(from: string, spec: string): string | undefined {
  const base = relative(ROOT, resolve(ROOT, dirname(from), spec));
  for (const candidate of [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.d.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(join(ROOT, candidate)) && statSync(join(ROOT, candidate)).isFile()) return candidate;
  }
  return undefined;
}

interface ImportGraph {
  /** file → the files it imports. */
  files: Map<string, Set<string>>;
  /** Relative imports of something other than a `.ts` file (JSON…), and ones that name nothing. */
  other: string[];
}

function importGraph(): ImportGraph {
  const files = new Map<string, Set<string>>();
  const other: string[] = [];
  for (const file of TREES.flatMap((t) => tsFiles(join(ROOT, t)))) {
    const targets = new Set<string>();
    for (const { fileName } of ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolveImport(file, fileName);
      if (target) targets.add(target);
      else other.push(`${file} imports ${fileName}`);
    }
    files.set(file, targets);
  }
  return { files, other };
}

/** The folder-graph node of a file: src's top-level folder, a src root file itself, or its tree. */
export function nodeOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'src') return parts.length === 2 ? file : `src/${parts[1]}`;
  return parts[0]!;
}

/** Strongly connected components with more than one node (Tarjan), each sorted. */
export function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** One concrete loop through a component, from its first node: 'a → b → a'. */
export function cycleName(graph: ReadonlyMap<string, ReadonlySet<string>>, scc: readonly string[]): string {
  const inside = new Set(scc);
  const start = scc[0]!;
  // Breadth-first from start's successors back to start: the shortest loop through it.
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (w === start) {
        const path: string[] = [];
        for (let x = v; x !== start; x = prev.get(x)!) path.unshift(x);
        return [start, ...path, start].join(' → ');
      }
      if (!inside.has(w) || prev.has(w)) continue;
      prev.set(w, v);
      queue.push(w);
    }
  }
  return scc.join(' ↔ ');
}

function folderGraph(files: ReadonlyMap<string, ReadonlySet<string>>): { graph: Map<string, Set<string>>; why: Map<string, string> } {
  const graph = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const [file, targets] of files) {
    const a = nodeOf(file);
    if (!graph.has(a)) graph.set(a, new Set());
    for (const t of targets) {
      const b = nodeOf(t);
      if (a === b) continue;
      graph.get(a)!.add(b);
      if (!why.has(`${a}|${b}`)) why.set(`${a}|${b}`, `${file} imports ${t}`);
    }
  }
  return { graph, why };
}

/** A loop with, for each step, one import that makes it. */
function explain(loop: string, why: ReadonlyMap<string, string>): string {
  const nodes = loop.split(' → ');
  const steps = nodes.slice(1).map((b, i) => `  ${nodes[i]} → ${b}: ${why.get(`${nodes[i]}|${b}`) ?? '?'}`);
  return [loop, ...steps].join('\n');
}

describe('the import graph', () => {
  const { files, other } = importGraph();

  it('is read: every relative import names a file (a .ts module, or data such as JSON)', () => {
    expect(files.size).toBeGreaterThan(100);
    expect(files.get('src/check/index.ts')).toContain('src/diagnostics/diagnostic.ts');
    // Dynamic imports count (the CLI loads its commands lazily).
    expect([...files.get('src/cli/commands/check.ts')!].some((t) => t.startsWith('src/render/'))).toBe(true);
    expect(other.filter((o) => !/\.json'?$/.test(o))).toEqual([]);
  });

  it('has no cycle between folders of src/ (and grammar/, runtime/)', () => {
    const { graph, why } = folderGraph(files);
    const sccs = cycles(graph);
    const found = sccs.map((scc) => cycleName(graph, scc));
    // One loop is named per component; the others in it show once that one is fixed.
    const report = sccs.map((scc, i) => `${explain(found[i]!, why)}\n  (one component: ${scc.join(', ')})`);
    const unexpected = report.filter((_, i) => !(found[i]! in ALLOWED_FOLDER_CYCLES));
    expect(unexpected.join('\n\n'), 'folders that import each other: move the shared piece to the earlier stage').toBe('');
    // An allowance whose loop is gone is stale.
    expect(Object.keys(ALLOWED_FOLDER_CYCLES).filter((loop) => !found.includes(loop))).toEqual([]);
  });

  it('has no cycle between files', () => {
    const found = cycles(files).map((scc) => cycleName(files, scc));
    expect(found).toEqual([]);
  });
});

describe('cycles and cycleName', () => {
  const g = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([k, v]) => [k, new Set(v)]));

  it('find a loop and name it from its first node', () => {
    const graph = g({ a: ['b'], b: ['c'], c: ['a', 'd'], d: [] });
    expect(cycles(graph)).toEqual([['a', 'b', 'c']]);
    expect(cycleName(graph, ['a', 'b', 'c'])).toBe('a → b → c → a');
  });

  it('find nothing in a graph without loops', () => {
    expect(cycles(g({ a: ['b', 'c'], b: ['c'], c: [] }))).toEqual([]);
  });

  it('nodeOf: src folders, src root files, whole trees', () => {
    expect(nodeOf('src/check/pipeline.ts')).toBe('src/check');
    expect(nodeOf('src/embedded/static/index.ts')).toBe('src/embedded');
    expect(nodeOf('src/analyze.ts')).toBe('src/analyze.ts');
    expect(nodeOf('runtime/kernels/matmul.ts')).toBe('runtime');
    expect(nodeOf('grammar/lexer.ts')).toBe('grammar');
  });
});
