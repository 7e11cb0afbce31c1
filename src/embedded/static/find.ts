/**
 * Finding embedded plans in a TypeScript file: calls of `model`, `cluster`, `plan` and
 * templates tagged `model`, `cluster`, `plan` or `planFile`, where the function is the
 * one imported from `parplan` (named, renamed, or through `import * as`). A local
 * function that happens to be called `plan` is not one: the import is followed through
 * the type checker, so shadowing is respected.
 */
import { dirname, join, resolve } from 'node:path';
import type { ts as TS } from 'ts-morph';
import { packageRoot } from '../../package-root.js';
import type { Keyword } from '../tree.js';

type Ts = typeof TS;
export type BuilderKind = Keyword | 'planFile';

const BUILDERS: ReadonlySet<string> = new Set(['model', 'cluster', 'plan', 'planFile']);

/**
 * parplan's own entry point, without extension, in the source tree and in the build (imports by
 * relative path, e.g. in this repository). Found from the package root, not from this module's
 * path: in the bundled CLI this code sits in a chunk elsewhere under dist/.
 */
const OWN_ENTRY = (() => {
  const root = packageRoot();
  return [join(root, 'src', 'index'), join(root, 'dist', 'src', 'index')];
})();

/** Whether an import specifier is parplan's entry point. */
export function isParplanSpecifier(specifier: string, fromFile: string): boolean {
  if (specifier === 'parplan') return true;
  if (!specifier.startsWith('.')) return false;
  const target = resolve(dirname(fromFile), specifier).replace(/\.(?:[cm]?js|[cm]?ts|d\.ts)$/, '');
  return OWN_ENTRY.includes(target) || OWN_ENTRY.includes(join(target, 'index'));
}

export class BuilderFinder {
  private importsByFile = new Map<TS.SourceFile, boolean>();

  constructor(
    private readonly ts: Ts,
    private readonly checker: TS.TypeChecker,
  ) {}

  /** The builder an expression names (`plan`, `pp.plan`), if it is parplan's. */
  builderOf = (callee: TS.Expression): BuilderKind | undefined => {
    const ts = this.ts;
    if (!this.importsParplan(callee.getSourceFile())) return undefined;
    if (ts.isIdentifier(callee)) {
      const spec = this.importOf(callee);
      if (!spec || !ts.isImportSpecifier(spec)) return undefined;
      const name = (spec.propertyName ?? spec.name).text;
      return BUILDERS.has(name) ? (name as BuilderKind) : undefined;
    }
    if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && BUILDERS.has(callee.name.text)) {
      const ns = this.importOf(callee.expression);
      return ns && ts.isNamespaceImport(ns) ? (callee.name.text as BuilderKind) : undefined;
    }
    return undefined;
  };

  /** Every builder call and plan template in the file, in source order. */
  find(sf: TS.SourceFile): { node: TS.CallExpression | TS.TaggedTemplateExpression; kind: BuilderKind }[] {
    const ts = this.ts;
    const found: { node: TS.CallExpression | TS.TaggedTemplateExpression; kind: BuilderKind }[] = [];
    if (!this.importsParplan(sf)) return found;
    const visit = (node: TS.Node): void => {
      if (ts.isCallExpression(node)) {
        const kind = this.builderOf(node.expression);
        if (kind && kind !== 'planFile') found.push({ node, kind });
      } else if (ts.isTaggedTemplateExpression(node)) {
        const kind = this.builderOf(node.tag);
        if (kind) found.push({ node, kind });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    return found;
  }

  /** The import specifier (or namespace import) of parplan that `id` refers to. */
  private importOf(id: TS.Identifier): TS.ImportSpecifier | TS.NamespaceImport | undefined {
    const ts = this.ts;
    const symbol = this.checker.getSymbolAtLocation(id);
    const decl = symbol?.declarations?.[0];
    if (!decl || !(ts.isImportSpecifier(decl) || ts.isNamespaceImport(decl))) return undefined;
    const importDecl = ts.isImportSpecifier(decl) ? decl.parent.parent.parent : decl.parent.parent;
    const spec = importDecl.moduleSpecifier;
    return ts.isStringLiteral(spec) && isParplanSpecifier(spec.text, id.getSourceFile().fileName) ? decl : undefined;
  }

  /** A file without an import of parplan has no embedded plans (and costs no symbol lookups). */
  private importsParplan(sf: TS.SourceFile): boolean {
    let known = this.importsByFile.get(sf);
    if (known === undefined) {
      const ts = this.ts;
      known = sf.statements.some(
        (s) =>
          ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier) && isParplanSpecifier(s.moduleSpecifier.text, sf.fileName),
      );
      this.importsByFile.set(sf, known);
    }
    return known;
  }
}
