/**
 * Lowered declarations → Programs, the unit the checker takes (src/load.ts): per file
 * that holds embedded declarations, a root file with its declarations, and as "imports"
 * the declarations it references by value from elsewhere (like `import` in a `.plan`
 * file, except that only what is referenced comes along). A declaration that could not
 * be lowered completely is left out, and so is everything that references it: its
 * PP7001/PP7002/PP7004 says why, and checking the rest without it would only add
 * follow-on errors ("no model named …").
 */
import type { Declaration, PlanFile } from '../ast.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { Program } from '../load.js';
import type { SourceFile } from '../source.js';
import { Lowerer, type Lowered } from './lower.js';
import type { Decl } from './tree.js';

export interface RootGroup {
  /** The file the root declarations are written in (a `.ts` path, or a made-up name). */
  file: string;
  decls: Decl[];
}

export interface Assembled {
  programs: Program[];
  diagnostics: Diagnostic[];
  /** Sources made up for values with no known place. */
  virtual: SourceFile[];
}

/** `import "x.plan"` lines of a planFile template → the files they bring (imports first). */
export type ImportLoader = (lowered: Lowered) => { files: PlanFile[]; syntaxErrors: boolean };

export function assemble(groups: readonly RootGroup[], lowerer = new Lowerer(), loadImports?: ImportLoader): Assembled {
  const diagnostics: Diagnostic[] = [];
  const virtual = new Set<SourceFile>();
  const reported = new Set<Lowered>();
  const programs: Program[] = [];
  const checkable = checkableMemo(lowerer);

  for (const group of groups) {
    const roots = group.decls.map((d) => lowerer.lower(d));
    const closure = collect(roots, lowerer);
    for (const l of closure) {
      if (reported.has(l)) continue;
      reported.add(l);
      diagnostics.push(...l.diagnostics);
      if (l.virtual) virtual.add(l.virtual);
    }
    const rootSet = new Set(roots);
    const deps = closure.filter((l) => !rootSet.has(l) && checkable(l));
    const imported = loadImports ? closure.filter(checkable).map(loadImports) : [];
    const depFiles = [...imported.flatMap((i) => i.files), ...groupByFile(deps)];
    const root: PlanFile = { file: group.file, imports: [], declarations: roots.filter(checkable).flatMap((l) => l.declarations) };
    // A declaration with syntax errors is left out alone (above); a `.plan` import with them stops the program, as in a file.
    const syntaxErrors = imported.some((i) => i.syntaxErrors);
    programs.push({ root, files: [...depFiles, root], syntaxErrors });
  }
  return { programs, diagnostics, virtual: [...virtual] };
}

/** The roots and everything they reference, transitively, each once. */
function collect(roots: Lowered[], lowerer: Lowerer): Lowered[] {
  const seen = new Set<Lowered>();
  const visit = (l: Lowered): void => {
    if (seen.has(l)) return;
    seen.add(l);
    for (const r of l.refs) visit(lowerer.lower(r));
  };
  roots.forEach(visit);
  return [...seen];
}

/** Complete, and so is everything it references. */
function checkableMemo(lowerer: Lowerer): (l: Lowered) => boolean {
  const memo = new Map<Lowered, boolean>();
  const ok = (l: Lowered): boolean => {
    const known = memo.get(l);
    if (known !== undefined) return known;
    memo.set(l, false); // a cycle is not checkable
    const result = l.complete && !l.syntaxErrors && l.refs.every((r) => ok(lowerer.lower(r)));
    memo.set(l, result);
    return result;
  };
  return ok;
}

function groupByFile(ls: Lowered[]): PlanFile[] {
  const byFile = new Map<string, Declaration[]>();
  for (const l of ls) byFile.set(l.file, [...(byFile.get(l.file) ?? []), ...l.declarations]);
  return [...byFile].map(([file, declarations]) => ({ file, imports: [], declarations }));
}
