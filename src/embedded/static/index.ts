/**
 * `parplan check` on TypeScript: plans embedded in `.ts`/`.tsx`/`.mts` files, found and
 * checked without running the code. Loaded with `import()` only when a TypeScript file
 * is checked: ts-morph (the TypeScript compiler) takes about half a second to load.
 *
 * One TypeScript program holds every file checked; relative imports are resolved (so a
 * constant or a model imported from a neighbouring file is known), package imports are
 * not (they are never read: `node_modules` would make checking slow, and a value from a
 * package is reported as not evaluable). No lib files, no type checking: only symbols.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { Project, ts } from 'ts-morph';
import type { Diagnostic } from '../../diagnostics/diagnostic.js';
import type { CachedFile, Host, Program } from '../../load.js';
import { SourceFile } from '../../source.js';
import { planImports } from '../imports.js';
import { Lowerer } from '../lower.js';
import { assemble, type RootGroup } from '../program.js';
import { Evaluator } from './evaluate.js';
import { BuilderFinder } from './find.js';

export interface Extracted {
  /** Per root path (as given), its program. */
  programs: Map<string, Program[]>;
  /** The TypeScript files that spans point into (roots and the files they import from). */
  sources: SourceFile[];
  diagnostics: Diagnostic[];
}

export function extractPrograms(paths: readonly string[], host: Host, cache: Map<string, CachedFile>, root?: string): Extracted {
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    skipLoadingLibFiles: true,
    compilerOptions: {
      noLib: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      jsx: ts.JsxEmit.Preserve,
      allowImportingTsExtensions: true,
      noEmit: true,
    },
    resolutionHost: (moduleHost, options) => ({
      // Relative imports only: local constants are followed, packages are never read.
      resolveModuleNames: (names, containing) =>
        names.map((n) => (n.startsWith('.') ? ts.resolveModuleName(n, containing, options(), moduleHost).resolvedModule : undefined)),
    }),
  });
  const diagnostics: Diagnostic[] = [];
  const given = new Map<string, string>();
  for (const p of paths) {
    const abs = resolve(p);
    given.set(abs, p);
    project.createSourceFile(abs, host.readFile(p), { overwrite: true });
  }
  const program = project.getProgram().compilerObject;
  const checker = program.getTypeChecker();

  const relativeNames = [...given.values()].every((p) => !isAbsolute(p));
  const sources = new Map<string, SourceFile>();
  const sourceOf = (sf: ts.SourceFile): SourceFile => {
    let s = sources.get(sf.fileName);
    if (!s) {
      const abs = resolve(sf.fileName);
      const shown = given.get(abs) ?? (relativeNames ? relative(process.cwd(), abs) : abs);
      s = new SourceFile(shown, sf.text);
      sources.set(sf.fileName, s);
    }
    return s;
  };

  const finder = new BuilderFinder(ts, checker);
  const evaluator = new Evaluator(ts, checker, sourceOf, finder.builderOf);
  const groups: { path: string; group: RootGroup }[] = [];
  for (const [abs, path] of given) {
    const sf = program.getSourceFile(abs);
    if (!sf) continue;
    const decls = finder.find(sf).map(({ node, kind }) => evaluator.decl(node, kind));
    if (decls.length > 0) groups.push({ path, group: { file: sourceOf(sf).path, decls } });
  }
  const assembled = assemble(
    groups.map((g) => g.group),
    new Lowerer(),
    planImports(host, cache, diagnostics, root),
  );
  diagnostics.push(...assembled.diagnostics);
  const programs = new Map<string, Program[]>();
  groups.forEach((g, i) => programs.set(g.path, [assembled.programs[i]!]));
  return { programs, sources: [...sources.values(), ...assembled.virtual], diagnostics };
}
