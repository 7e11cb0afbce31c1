/**
 * Decls → the `.plan` AST: emit text (emit.ts), parse it with the `.plan` parser, and move
 * every span of the AST and of the diagnostics back into the file the plan is written in.
 * The result is the AST the parser gives for the equivalent `.plan` file, so the checker
 * and the memory model see no difference.
 */
import type { BlockValue, Declaration, Entry, Import, Value } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { SourceFile, type Span } from '../source.js';
import { parse } from '../../grammar/index.js';
import { emitDecl, type Problem } from './emit.js';
import type { MappedText } from './mapped-text.js';
import type { Decl } from './tree.js';

export interface Lowered {
  decl: Decl;
  declarations: Declaration[];
  /** `import "x.plan"` lines of a planFile template (paths relative to the file it is written in). */
  imports: Import[];
  diagnostics: Diagnostic[];
  /** Declarations referenced by value, to be checked with this one. */
  refs: Decl[];
  /** Every part could be written as `.plan` text (no PP7001/PP7002/PP7004). */
  complete: boolean;
  syntaxErrors: boolean;
  /** The file the declaration is written in (its spans' file). */
  file: string;
  /** A source made up for a value with no known place (shown by the renderers). */
  virtual?: SourceFile;
}

/** Lowers each Decl once; references ask for the name of the declaration they point at. */
export class Lowerer {
  private done = new Map<Decl, Lowered>();
  private active = new Set<Decl>();
  private virtualCount = 0;

  lower(decl: Decl): Lowered {
    const cached = this.done.get(decl);
    if (cached) return cached;
    if (this.active.has(decl)) return this.cycle(decl);
    this.active.add(decl);
    const lowered = this.build(decl);
    this.active.delete(decl);
    this.done.set(decl, lowered);
    return lowered;
  }

  private build(decl: Decl): Lowered {
    const emitted = emitDecl(decl, (d) => nameOf(this.lower(d)));
    const text = emitted.text.text;
    let virtual: SourceFile | undefined;
    let map = (s: Span): Span => emitted.text.span(s.start, s.end) ?? s;
    if (!decl.origin && !hasOrigin(emitted.text)) {
      // Nowhere to point: the generated text becomes a source of its own.
      virtual = new SourceFile(`<embedded ${decl.keyword} ${++this.virtualCount}>`, text);
      map = (s) => virtual!.span(s.start, s.end);
    }
    const file = decl.origin?.file.path ?? virtual?.path ?? '<embedded>';
    const problems = emitted.problems.map((p) => problemDiagnostic(p, decl, file));
    if (problems.length > 0) {
      return {
        decl,
        declarations: [],
        imports: [],
        diagnostics: problems,
        refs: emitted.refs,
        complete: false,
        syntaxErrors: false,
        file,
        ...(virtual ? { virtual } : {}),
      };
    }
    const parsed = parse(text, virtual?.path ?? '<embedded>');
    const declarations = parsed.ast.declarations.map((d) => mapDeclaration(d, map, emitted.renames));
    const imports = parsed.ast.imports.map((i) => ({ ...i, pathSpan: map(i.pathSpan), span: map(i.span) }));
    const diagnostics = parsed.diagnostics.map((d) => mapDiagnostic(d, map));
    const syntaxErrors = diagnostics.some((d) => d.severity === 'error');
    if (!syntaxErrors && decl.template && decl.keyword !== 'file') {
      const wrong = templateShape(decl.keyword, declarations, imports);
      const at = decl.origin ? decl.origin.file.span(decl.origin.start, decl.origin.end) : declarations[0]?.keywordSpan;
      if (wrong) {
        const d = diag(
          'PP7003',
          at,
          { tag: decl.keyword, found: wrong },
          { help: `write ${decl.keyword}\`NAME { … }\`, or use planFile\`…\` for several declarations` },
        );
        diagnostics.push(at ? d : { ...d, file });
      }
    }
    return {
      decl,
      declarations,
      imports,
      diagnostics,
      refs: emitted.refs,
      complete: true,
      syntaxErrors: syntaxErrors || diagnostics.some((d) => d.code === 'PP7003'),
      file,
      ...(virtual ? { virtual } : {}),
    };
  }

  private cycle(decl: Decl): Lowered {
    const file = decl.origin?.file.path ?? '<embedded>';
    return { decl, declarations: [], imports: [], diagnostics: [], refs: [], complete: false, syntaxErrors: false, file };
  }
}

/** The declared name, once lowered (undefined when it could not be). */
export function nameOf(l: Lowered): string | undefined {
  return l.complete && l.declarations.length === 1 ? l.declarations[0]!.name : undefined;
}

function hasOrigin(t: MappedText): boolean {
  return t.span(0, 1) !== undefined;
}

/** What is wrong with a `model`/`cluster`/`plan` template's content, or undefined. */
function templateShape(tag: string, declarations: Declaration[], imports: Import[]): string | undefined {
  if (imports.length > 0) return 'an import';
  if (declarations.length === 0) return 'none';
  if (declarations.length > 1) return `${declarations.length} declarations`;
  const d = declarations[0]!;
  return d.keyword === tag ? undefined : `${d.keyword} '${d.name}'`;
}

function problemDiagnostic(p: Problem, decl: Decl, file: string): Diagnostic {
  const where = describeDecl(decl);
  const span = p.origin ? p.origin.file.span(p.origin.start, p.origin.end) : undefined;
  const help =
    p.help ??
    (p.code === 'PP7001'
      ? `${where} is not checked: use literals, constants or \`as const\` objects here, or check it at run time with analyzePlans()`
      : p.code === 'PP7002'
        ? 'interpolate numbers, strings, or model, cluster and plan values (a value becomes a reference to its name)'
        : 'use a number, a string, true or false, a list, an object, or a model or cluster value');
  const d = diag(p.code, span, p.args, { help });
  if (!span) d.file = file;
  return d;
}

function describeDecl(decl: Decl): string {
  const name = decl.name?.kind === 'string' ? ` '${decl.name.value}'` : '';
  return decl.keyword === 'file' ? 'the planFile template' : `${decl.keyword}${name}`;
}

function mapDiagnostic(d: Diagnostic, map: (s: Span) => Span): Diagnostic {
  const out: Diagnostic = { ...d };
  if (d.span) out.span = map(d.span);
  if (d.related) out.related = d.related.map((r) => ({ ...r, span: map(r.span) }));
  return out;
}

function mapDeclaration(d: Declaration, map: (s: Span) => Span, renames: Map<string, string>): Declaration {
  return { ...d, keywordSpan: map(d.keywordSpan), nameSpan: map(d.nameSpan), body: mapBlock(d.body, map, renames), span: map(d.span) };
}

function mapBlock(b: BlockValue, map: (s: Span) => Span, renames: Map<string, string>): BlockValue {
  return { kind: 'block', entries: b.entries.map((e) => mapEntry(e, map, renames)), span: map(b.span) };
}

function mapEntry(e: Entry, map: (s: Span) => Span, renames: Map<string, string>): Entry {
  return { key: renames.get(e.key) ?? e.key, keySpan: map(e.keySpan), value: mapValue(e.value, map, renames), span: map(e.span) };
}

function mapValue(v: Value, map: (s: Span) => Span, renames: Map<string, string>): Value {
  switch (v.kind) {
    case 'number':
      return { ...v, ...(v.unit ? { unit: { text: v.unit.text, span: map(v.unit.span) } } : {}), span: map(v.span) };
    case 'range':
      return {
        kind: 'range',
        from: mapValue(v.from, map, renames) as typeof v.from,
        to: mapValue(v.to, map, renames) as typeof v.to,
        span: map(v.span),
      };
    case 'ident':
    case 'string':
      return { ...v, span: map(v.span) };
    case 'list':
      return { kind: 'list', items: v.items.map((i) => mapValue(i, map, renames)), span: map(v.span) };
    case 'block':
      return mapBlock(v, map, renames);
  }
}
