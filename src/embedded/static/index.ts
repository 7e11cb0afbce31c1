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
import { diag, type Diagnostic } from '../../diagnostics/diagnostic.js';
import { LIMITS } from '../../facts/limits.js';
import { addConfigs, importScope, realpathOr, within, type CachedFile, type Host, type Program } from '../../load.js';
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
      // Relative imports only: local constants are followed, packages are never read; nor is
      // a file larger than LIMITS.typescriptFileBytes or one outside the import root (the
      // repository, or --root, as for .plan imports): its values are then not evaluable.
      resolveModuleNames: (names, containing) =>
        names.map((n) => {
          const found = n.startsWith('.') ? ts.resolveModuleName(n, containing, options(), moduleHost).resolvedModule : undefined;
          return found && typescriptReadable(host, found.resolvedFileName) && insideScope(host, containing, found.resolvedFileName, root)
            ? found
            : undefined;
        }),
    }),
  });
  const diagnostics: Diagnostic[] = [];
  const given = new Map<string, string>();
  for (const p of paths) {
    const abs = resolve(p);
    // The TypeScript parser recurses: a file nested deeply enough overflows its stack.
    const parsed = guarded(p, diagnostics, () => project.createSourceFile(abs, host.readFile(p), { overwrite: true }));
    if (parsed !== undefined) given.set(abs, p);
  }
  const built = guarded([...given.values()], diagnostics, () => {
    const program = project.getProgram().compilerObject;
    return { program, checker: program.getTypeChecker() };
  });
  if (built === undefined) return { programs: new Map(), sources: [], diagnostics };
  const { program, checker } = built;

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
    const decls = guarded(path, diagnostics, () => finder.find(sf).map(({ node, kind }) => evaluator.decl(node, kind)));
    if (decls !== undefined && decls.length > 0) groups.push({ path, group: { file: sourceOf(sf).path, decls } });
  }
  const assembled = assemble(
    groups.map((g) => g.group),
    new Lowerer(),
    planImports(host, cache, diagnostics, root),
  );
  diagnostics.push(...assembled.diagnostics);
  // hf_config: read as a .plan file's are, relative to the TypeScript file and confined to its import root.
  for (const program of assembled.programs)
    if (!program.syntaxErrors) addConfigs(program, () => importScope(program.root.file, root, host), host, diagnostics);
  const programs = new Map<string, Program[]>();
  groups.forEach((g, i) => programs.set(g.path, [assembled.programs[i]!]));
  return { programs, sources: [...sources.values(), ...assembled.virtual], diagnostics };
}

/** Whether `target`, imported by `containing`, resolves (links followed) inside the import root, as a `.plan` import must. */
function insideScope(host: Host, containing: string, target: string, root: string | undefined): boolean {
  return within(realpathOr(host, target), importScope(containing, root, host).root);
}

/** A module the program may read: a regular file of at most LIMITS.typescriptFileBytes. */
function typescriptReadable(host: Host, path: string): boolean {
  try {
    return host.kind(path) === 'file' && (host.size ? host.size(path) : 0) <= LIMITS.typescriptFileBytes;
  } catch {
    return false;
  }
}

/**
 * Runs one step of reading TypeScript; a RangeError (the parser's or the binder's stack
 * overflowing on deep nesting, or a string too long) becomes PP7006 at each file it
 * concerns, not an internal error: it is the input that is out of bounds.
 */
function guarded<T>(files: string | readonly string[], out: Diagnostic[], step: () => T): T | undefined {
  try {
    return step();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const reason = /call stack/i.test(e.message)
      ? 'its code nests too deeply for the TypeScript parser'
      : `it is too large for the TypeScript parser (${e.message})`;
    for (const file of typeof files === 'string' ? [files] : files) {
      out.push({
        ...diag(
          'PP7006',
          undefined,
          { path: file, reason },
          { help: 'move the plans into a file of their own, or split the deeply nested expression' },
        ),
        file,
      });
    }
    return undefined;
  }
}
