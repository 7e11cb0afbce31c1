/**
 * CST → AST (src/ast.ts), with a Span on every node, computed from token offsets.
 *
 * The CST may hold partial nodes left by error recovery, and tokens inserted by
 * recovery (no offsets): whatever is missing is skipped, never guessed. An entry
 * without a value, or a declaration without a body, is left out of the AST (its
 * error has been reported by the parser).
 *
 * One check lives here rather than in the grammar: `KEYWORD "path"` is an import
 * only when KEYWORD is `import` (PP1002 otherwise).
 */
import type { CstNode, IToken } from 'chevrotain';
import type { BlockValue, Declaration, Entry, Import, ListValue, NumberValue, PlanFile, RangeValue, Value } from '../src/ast.js';
import { diag, type Diagnostic } from '../src/diagnostics/diagnostic.js';
import { suggest } from '../src/diagnostics/suggest.js';
import { cover, type SourceFile, type Span } from '../src/source.js';
import type {
  BlockCstNode,
  DeclarationCstNode,
  EntryCstNode,
  FileCstNode,
  ListCstNode,
  NumberCstNode,
  RangeCstNode,
  ValueCstNode,
} from './cst.generated.js';
import { numberValue, tokenEnd, unescapeString } from './lexer.js';

/** A token that is really in the text (not inserted by error recovery). */
function real(t: IToken | undefined): t is IToken {
  return t !== undefined && !t.isInsertedInRecovery && Number.isFinite(t.startOffset) && t.image.length > 0;
}

/** The first element of a CST child array, if real. */
function first(ts: IToken[] | undefined): IToken | undefined {
  const t = ts?.[0];
  return real(t) ? t : undefined;
}

export class AstBuilder {
  readonly diagnostics: Diagnostic[] = [];

  constructor(private readonly source: SourceFile) {}

  private tokenSpan(t: IToken): Span {
    return this.source.span(t.startOffset, tokenEnd(t));
  }

  /** From the opening to the closing bracket; a partial node (recovery) spans the real tokens it has. */
  private bracketSpan(node: CstNode, open: IToken[] | undefined, close: IToken[] | undefined): Span | undefined {
    const a = first(open);
    const b = first(close);
    if (a && b) return this.source.span(a.startOffset, tokenEnd(b));
    return this.nodeSpan(node);
  }

  /** The span of all real tokens under a CST node, or undefined if it has none. */
  private nodeSpan(node: CstNode): Span | undefined {
    let start = Infinity;
    let end = -Infinity;
    // A stack, not recursion: the depth of a partial node is the input's.
    const stack: CstNode[] = [node];
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      for (const children of Object.values(n.children)) {
        for (const c of children) {
          if ('children' in c) stack.push(c);
          else if (real(c)) {
            if (c.startOffset < start) start = c.startOffset;
            if (tokenEnd(c) > end) end = tokenEnd(c);
          }
        }
      }
    }
    return Number.isFinite(start) ? this.source.span(start, end) : undefined;
  }

  file(node: FileCstNode | undefined): PlanFile {
    const out: PlanFile = { file: this.source.path, imports: [], declarations: [] };
    for (const d of node?.children.declaration ?? []) {
      const r = this.declaration(d);
      if (r?.kind === 'import') out.imports.push(r);
      else if (r?.kind === 'declaration') out.declarations.push(r);
    }
    return out;
  }

  declaration(node: DeclarationCstNode): Import | Declaration | undefined {
    const c = node.children;
    const kw = first(c.keyword);
    if (!kw) return undefined;
    const keywordSpan = this.tokenSpan(kw);

    const path = first(c.path);
    const blockNode = c.block?.[0];
    const name = first(c.name);
    const open = first(blockNode?.children.LCurly);

    if (path) {
      const pathSpan = this.tokenSpan(path);
      if (kw.image !== 'import') {
        const close = blockNode ? undefined : suggest(kw.image, ['import']);
        const text = unescapeString(path);
        const help = close
          ? `did you mean 'import'?`
          : /^[A-Za-z_][A-Za-z0-9_]*$/.test(text)
            ? `names are bare words: write '${kw.image} ${text} { … }'`
            : `names are bare words (letters, digits and '_'): write '${kw.image} NAME { … }', or 'import "file.plan"' to import a file`;
        this.syntaxError(
          close ? keywordSpan : pathSpan,
          close ? `expected 'import' before a path, found '${kw.image}'` : `expected a name after '${kw.image}', found a string`,
          help,
        );
        return undefined;
      }
      if (open) {
        this.syntaxError(this.tokenSpan(open), `unexpected '{' after import ${path.image}`, 'an import is only \'import "file.plan"\'');
      }
      return { kind: 'import', path: unescapeString(path), pathSpan, span: cover(keywordSpan, pathSpan) };
    }

    if (kw.image === 'import') {
      // `import x` without a block: the parser has reported it already
      const at = open ? (name ?? open) : undefined;
      if (at)
        this.syntaxError(this.tokenSpan(at), `expected a path string after 'import', found '${at.image}'`, 'write import "file.plan"');
      return undefined;
    }
    if (!name) {
      if (open) this.syntaxError(this.tokenSpan(open), `expected a name after '${kw.image}', found '{'`, `write '${kw.image} NAME { … }'`);
      return undefined;
    }
    if (!blockNode) return undefined;
    const body = this.block(blockNode);
    if (!body) return undefined;
    return {
      kind: 'declaration',
      keyword: kw.image,
      keywordSpan,
      name: name.image,
      nameSpan: this.tokenSpan(name),
      body,
      span: cover(keywordSpan, body.span),
    };
  }

  private syntaxError(span: Span, detail: string, help: string): void {
    this.diagnostics.push(diag('PP1002', span, { detail }, { help }));
  }

  block(node: BlockCstNode): BlockValue | undefined {
    const span = this.bracketSpan(node, node.children.LCurly, node.children.RCurly);
    if (!span) return undefined;
    const entries: Entry[] = [];
    for (const e of node.children.entry ?? []) {
      const entry = this.entry(e);
      if (entry) entries.push(entry);
    }
    return { kind: 'block', entries, span };
  }

  entry(node: EntryCstNode): Entry | undefined {
    const c = node.children;
    const key = first(c.key);
    if (!key) return undefined;
    let value: Value | undefined;
    if (c.block?.[0]) value = this.block(c.block[0]);
    else if (c.value?.[0]) value = this.value(c.value[0]);
    if (!value) return undefined;
    const keySpan = this.tokenSpan(key);
    if (!c.block?.[0] && !first(c.Equals) && !first(c.Colon)) {
      const text = this.source.text.slice(value.span.start, value.span.end);
      this.syntaxError(value.span, `expected '=' between key '${key.image}' and its value`, `write '${key.image} = ${text}'`);
    }
    return { key: key.image, keySpan, value, span: cover(keySpan, value.span) };
  }

  value(node: ValueCstNode): Value | undefined {
    const c = node.children;
    if (c.range?.[0]) return this.range(c.range[0]);
    if (c.number?.[0]) return this.number(c.number[0]);
    const word = first(c.DigitIdent) ?? first(c.Identifier);
    if (word) return { kind: 'ident', name: word.image, span: this.tokenSpan(word) };
    const str = first(c.StringLiteral);
    if (str) return { kind: 'string', value: unescapeString(str), span: this.tokenSpan(str) };
    if (c.list?.[0]) return this.list(c.list[0]);
    if (c.block?.[0]) return this.block(c.block[0]);
    return undefined;
  }

  private numberFrom(lit: IToken, minus?: IToken): NumberValue {
    const v = numberValue(lit.image);
    const value = Number.isNaN(v) ? Number(lit.image.replace(/_/g, '')) || 0 : v;
    const litSpan = this.tokenSpan(lit);
    return {
      kind: 'number',
      value: minus ? -value : value,
      raw: minus ? `-${lit.image}` : lit.image,
      span: minus ? cover(this.tokenSpan(minus), litSpan) : litSpan,
    };
  }

  number(node: NumberCstNode): NumberValue | undefined {
    const c = node.children;
    const lit = first(c.NumberLiteral);
    if (!lit) return undefined;
    const n = this.numberFrom(lit, first(c.Minus));
    const unitTok = first(c.unit?.[0]?.children.Percent) ?? first(c.unit?.[0]?.children.Identifier);
    if (unitTok) {
      const unitSpan = this.tokenSpan(unitTok);
      n.unit = { text: unitTok.image, span: unitSpan };
      n.span = cover(n.span, unitSpan);
    }
    return n;
  }

  range(node: RangeCstNode): RangeValue | undefined {
    const c = node.children;
    const from = first(c.from);
    const to = first(c.to);
    if (!from || !to) return undefined;
    const a = this.numberFrom(from);
    const b = this.numberFrom(to);
    return { kind: 'range', from: a, to: b, span: cover(a.span, b.span) };
  }

  list(node: ListCstNode): ListValue | undefined {
    // A list cut short by a syntax error (`[0..15 16..31]`) is dropped rather than
    // passed on with items missing, which would only cause misleading checker errors.
    if (node.recoveredNode) return undefined;
    const span = this.bracketSpan(node, node.children.LBracket, node.children.RBracket);
    if (!span) return undefined;
    const items: Value[] = [];
    for (const v of node.children.value ?? []) {
      const item = this.value(v);
      if (!item) return undefined; // an item lost to a syntax error: the same as above
      items.push(item);
    }
    return { kind: 'list', items, span };
  }
}

/** Build the AST of a parsed file; `diagnostics` gets the few errors found here. */
export function toAst(cst: CstNode | undefined, source: SourceFile): { ast: PlanFile; diagnostics: Diagnostic[] } {
  const b = new AstBuilder(source);
  const ast = b.file(cst as FileCstNode | undefined);
  return { ast, diagnostics: b.diagnostics };
}
