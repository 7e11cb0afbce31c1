/**
 * TypeScript expressions → Items (src/embedded/tree.ts), without running anything.
 *
 * Evaluable: literals (numbers, strings, true/false, arrays, objects), `as const`,
 * `satisfies`, parentheses and `!`; `const` variables, here or imported from another
 * local file (relative imports; re-exports are followed); object spreads and shorthand
 * properties; destructured constants; property and element access on known values;
 * arithmetic on numbers and `+` on strings; untagged templates of known parts; builder
 * calls and plan templates (a reference to their declaration). Anything else is an
 * `unknown` item that names the expression (reported as PP7001).
 *
 * Origins: a value written in the builder call points at itself; a constant used by
 * name points at the use (`tensor: TP` → `TP`), except that the entries of an object
 * constant keep their own places, so a bad key in a shared object is underlined there.
 */
import type { ts as TS } from 'ts-morph';
import type { SourceFile } from '../../source.js';
import type { Origin } from '../mapped-text.js';
import type { Decl, Item, Keyword, Prop, Template } from '../tree.js';

type Ts = typeof TS;

/** Which builder an expression names, if any (src/embedded/static/find.ts). */
export type BuilderOf = (callee: TS.Expression) => Keyword | 'planFile' | undefined;

export class Evaluator {
  private decls = new Map<TS.Node, Decl>();
  /** Builder calls whose arguments are being read: a reference back to one is a cycle. */
  private building = new Set<TS.Node>();
  /** Constants being evaluated, against `const a = { b: a }`. */
  private active = new Set<TS.Node>();

  constructor(
    private readonly ts: Ts,
    private readonly checker: TS.TypeChecker,
    /** The SourceFile (as spans name it) of a TypeScript file. */
    private readonly sourceOf: (sf: TS.SourceFile) => SourceFile,
    private readonly builderOf: BuilderOf,
  ) {}

  /** The Decl of a builder call or plan template (one per node: references share it). */
  decl(node: TS.CallExpression | TS.TaggedTemplateExpression, kind: Keyword | 'planFile'): Decl {
    const cached = this.decls.get(node);
    if (cached) return cached;
    const ts = this.ts;
    const callee = ts.isCallExpression(node) ? node.expression : node.tag;
    const decl: Decl = { keyword: kind === 'planFile' ? 'file' : kind, origin: this.origin(calleeName(ts, callee)) };
    this.decls.set(node, decl);
    this.building.add(node);
    if (ts.isTaggedTemplateExpression(node)) decl.template = this.template(node.template);
    else {
      const [name, options] = node.arguments;
      decl.name = name ? this.evaluate(name) : this.unknown(node);
      decl.options = options ? this.evaluate(options) : this.unknown(node);
    }
    this.building.delete(node);
    return decl;
  }

  evaluate(node: TS.Expression): Item {
    const ts = this.ts;
    const e = skipWrappers(ts, node);
    if (ts.isNumericLiteral(e)) return { kind: 'number', value: Number(e.text), origin: this.origin(e) };
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return { kind: 'string', value: e.text, origin: this.inner(e) };
    if (e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword)
      return { kind: 'bool', value: e.kind === ts.SyntaxKind.TrueKeyword, origin: this.origin(e) };
    if (e.kind === ts.SyntaxKind.NullKeyword) return { kind: 'invalid', found: 'null', origin: this.origin(e) };
    if (ts.isPrefixUnaryExpression(e)) return this.unary(e);
    if (ts.isBinaryExpression(e)) return this.binary(e);
    if (ts.isTemplateExpression(e)) return this.stringTemplate(e);
    if (ts.isArrayLiteralExpression(e)) return this.array(e);
    if (ts.isObjectLiteralExpression(e)) return this.object(e);
    if (ts.isIdentifier(e)) return this.identifier(e);
    if (ts.isPropertyAccessExpression(e)) return this.member(e, e.expression, e.name.text);
    if (ts.isElementAccessExpression(e)) {
      const key = this.evaluate(e.argumentExpression);
      if (key.kind === 'string' || key.kind === 'number') return this.member(e, e.expression, String(key.value));
    }
    if (ts.isCallExpression(e) || ts.isTaggedTemplateExpression(e)) {
      const kind = this.builderOf(ts.isCallExpression(e) ? e.expression : e.tag);
      if (kind) return { kind: 'ref', decl: this.decl(e, kind), origin: this.origin(e) };
    }
    return this.unknown(e);
  }

  private unknown(e: TS.Node): Item {
    const text = e.getText().replace(/\s+/g, ' ');
    return { kind: 'unknown', text: text.length > 48 ? `${text.slice(0, 47)}…` : text, origin: this.origin(e) };
  }

  private unary(e: TS.PrefixUnaryExpression): Item {
    const v = this.evaluate(e.operand);
    const ts = this.ts;
    if (v.kind === 'number' && e.operator === ts.SyntaxKind.MinusToken) return { kind: 'number', value: -v.value, origin: this.origin(e) };
    if (v.kind === 'number' && e.operator === ts.SyntaxKind.PlusToken) return { kind: 'number', value: v.value, origin: this.origin(e) };
    return this.unknown(e);
  }

  private binary(e: TS.BinaryExpression): Item {
    const ts = this.ts;
    const a = this.evaluate(e.left);
    const b = this.evaluate(e.right);
    const origin = this.origin(e);
    const op = e.operatorToken.kind;
    if (op === ts.SyntaxKind.PlusToken && (a.kind === 'string' || b.kind === 'string') && scalar(a) && scalar(b)) {
      return { kind: 'string', value: `${a.value}${b.value}`, origin };
    }
    if (a.kind !== 'number' || b.kind !== 'number') return this.unknown(e);
    const x = a.value;
    const y = b.value;
    const ops: Partial<Record<TS.SyntaxKind, number>> = {
      [ts.SyntaxKind.PlusToken]: x + y,
      [ts.SyntaxKind.MinusToken]: x - y,
      [ts.SyntaxKind.AsteriskToken]: x * y,
      [ts.SyntaxKind.SlashToken]: x / y,
      [ts.SyntaxKind.PercentToken]: x % y,
      [ts.SyntaxKind.AsteriskAsteriskToken]: x ** y,
    };
    const value = ops[op];
    return value === undefined ? this.unknown(e) : { kind: 'number', value, origin };
  }

  private stringTemplate(e: TS.TemplateExpression): Item {
    let value = e.head.text;
    for (const span of e.templateSpans) {
      const v = this.evaluate(span.expression);
      if (!scalar(v)) return v.kind === 'unknown' ? v : this.unknown(span.expression);
      value += String(v.value) + span.literal.text;
    }
    return { kind: 'string', value, origin: this.origin(e) };
  }

  private array(e: TS.ArrayLiteralExpression): Item {
    const items: Item[] = [];
    for (const el of e.elements) {
      if (this.ts.isSpreadElement(el)) {
        const v = this.evaluate(el.expression);
        if (v.kind === 'list') items.push(...v.items);
        else items.push(v.kind === 'unknown' ? v : this.unknown(el));
      } else if (!this.ts.isOmittedExpression(el)) items.push(this.evaluate(el));
    }
    return { kind: 'list', items, origin: this.origin(e) };
  }

  private object(e: TS.ObjectLiteralExpression): Item {
    const ts = this.ts;
    // JavaScript's rules: a later key replaces an earlier one and keeps its place.
    const props = new Map<string, Prop>();
    const set = (p: Prop) => {
      if (isUndefined(p.value)) props.delete(p.key);
      else props.set(p.key, p);
    };
    for (const p of e.properties) {
      if (ts.isPropertyAssignment(p)) {
        const key = this.propertyName(p.name);
        if (key === undefined) return this.unknown(p.name);
        if (isUndefinedNode(ts, p.initializer)) props.delete(key);
        else set({ key, keyOrigin: this.keyOrigin(p.name), value: this.evaluate(p.initializer) });
      } else if (ts.isShorthandPropertyAssignment(p)) {
        const symbol = this.checker.getShorthandAssignmentValueSymbol(p);
        const value = symbol ? this.fromSymbol(symbol, p.name) : this.unknown(p.name);
        set({ key: p.name.text, keyOrigin: this.origin(p.name), value });
      } else if (ts.isSpreadAssignment(p)) {
        const v = this.evaluate(p.expression);
        if (v.kind !== 'object') return v.kind === 'unknown' ? v : this.unknown(p.expression);
        for (const q of v.props) set(q);
      } else return this.unknown(p);
    }
    return { kind: 'object', props: [...props.values()], origin: this.origin(e) };
  }

  private propertyName(name: TS.PropertyName): string | undefined {
    const ts = this.ts;
    if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name))
      return name.text;
    if (ts.isComputedPropertyName(name)) {
      const v = this.evaluate(name.expression);
      return v.kind === 'string' || v.kind === 'number' ? String(v.value) : undefined;
    }
    return undefined;
  }

  private keyOrigin(name: TS.PropertyName): Origin {
    return this.ts.isStringLiteral(name) ? this.inner(name) : this.origin(name);
  }

  private member(e: TS.Expression, object: TS.Expression, key: string): Item {
    const v = this.evaluate(object);
    if (v.kind === 'object') {
      const p = v.props.find((q) => q.key === key);
      if (p) return rebase(p.value, this.origin(e));
    } else if (v.kind === 'list') {
      if (key === 'length') return { kind: 'number', value: v.items.length, origin: this.origin(e) };
      const item = /^\d+$/.test(key) ? v.items[Number(key)] : undefined;
      if (item) return rebase(item, this.origin(e));
    } else if (v.kind === 'unknown') return v;
    return this.unknown(e);
  }

  private identifier(id: TS.Identifier): Item {
    if (id.text === 'undefined') return { kind: 'invalid', found: 'undefined', origin: this.origin(id) };
    const symbol = this.checker.getSymbolAtLocation(id);
    return symbol ? this.fromSymbol(symbol, id) : this.unknown(id);
  }

  /** The value of a `const` (followed through imports and re-exports), placed at `use`. */
  private fromSymbol(symbol: TS.Symbol, use: TS.Node): Item {
    const ts = this.ts;
    const target = symbol.flags & ts.SymbolFlags.Alias ? this.checker.getAliasedSymbol(symbol) : symbol;
    const decl = target.valueDeclaration ?? target.declarations?.[0];
    if (!decl || this.active.has(decl)) return this.unknown(use);
    // `const a = plan\`… ${a} …\``: the declaration would reference itself.
    if (ts.isVariableDeclaration(decl) && decl.initializer && this.building.has(skipWrappers(ts, decl.initializer)))
      return this.unknown(use);
    this.active.add(decl);
    try {
      const value = this.declarationValue(decl);
      return value ? rebase(value, this.origin(use)) : this.unknown(use);
    } finally {
      this.active.delete(decl);
    }
  }

  private declarationValue(decl: TS.Declaration): Item | undefined {
    const ts = this.ts;
    if (ts.isVariableDeclaration(decl)) {
      if (!isConst(ts, decl) || !decl.initializer) return undefined;
      return this.evaluate(decl.initializer);
    }
    // `const { tensor } = defaults`, `const { tp: tensor } = defaults`
    if (
      ts.isBindingElement(decl) &&
      ts.isObjectBindingPattern(decl.parent) &&
      !decl.dotDotDotToken &&
      ts.isVariableDeclaration(decl.parent.parent)
    ) {
      const holder = decl.parent.parent;
      if (!isConst(ts, holder) || !holder.initializer) return undefined;
      const key = decl.propertyName ? this.propertyName(decl.propertyName) : ts.isIdentifier(decl.name) ? decl.name.text : undefined;
      const v = this.evaluate(holder.initializer);
      const found = v.kind === 'object' && key !== undefined ? v.props.find((p) => p.key === key) : undefined;
      return found?.value;
    }
    return undefined;
  }

  private template(t: TS.TemplateLiteral): Template {
    const ts = this.ts;
    if (ts.isNoSubstitutionTemplateLiteral(t)) return { parts: [this.part(t, 1, 1)], values: [] };
    const parts = [this.part(t.head, 1, 2)];
    const values: Item[] = [];
    for (const span of t.templateSpans) {
      values.push(this.evaluate(span.expression));
      parts.push(this.part(span.literal, 1, ts.isTemplateTail(span.literal) ? 1 : 2));
    }
    return { parts, values };
  }

  /** A template part as written: between its delimiters (`` ` `` or `}` before, `${` or `` ` `` after). */
  private part(node: TS.Node, before: number, after: number): Template['parts'][number] {
    const sf = node.getSourceFile();
    const start = node.getStart(sf) + before;
    const end = node.getEnd() - after;
    return { raw: sf.text.slice(start, end), origin: { file: this.sourceOf(sf), start, end } };
  }

  origin(node: TS.Node): Origin {
    const sf = node.getSourceFile();
    return { file: this.sourceOf(sf), start: node.getStart(sf), end: node.getEnd() };
  }

  /** Inside the quotes of a string literal. */
  private inner(node: TS.Node): Origin {
    const o = this.origin(node);
    return { ...o, start: Math.min(o.start + 1, o.end), end: Math.max(o.start + 1, o.end - 1) };
  }
}

function skipWrappers(ts: Ts, e: TS.Expression): TS.Expression {
  for (;;) {
    if (
      ts.isParenthesizedExpression(e) ||
      ts.isAsExpression(e) ||
      ts.isSatisfiesExpression(e) ||
      ts.isNonNullExpression(e) ||
      ts.isTypeAssertionExpression(e)
    )
      e = e.expression;
    else return e;
  }
}

function calleeName(ts: Ts, callee: TS.Expression): TS.Node {
  return ts.isPropertyAccessExpression(callee) ? callee.name : callee;
}

function isConst(ts: Ts, decl: TS.VariableDeclaration): boolean {
  return (ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const) !== 0;
}

function isUndefinedNode(ts: Ts, e: TS.Expression): boolean {
  const inner = skipWrappers(ts, e);
  return ts.isIdentifier(inner) && inner.text === 'undefined';
}

function isUndefined(v: Item): boolean {
  return v.kind === 'invalid' && v.found === 'undefined';
}

function scalar(v: Item): v is Extract<Item, { kind: 'number' | 'string' | 'bool' }> {
  return v.kind === 'number' || v.kind === 'string' || v.kind === 'bool';
}

/** A constant used by name is reported where it is used; an object's entries keep their own places. */
function rebase(v: Item, use: Origin): Item {
  // What cannot be evaluated is shown where it is written.
  return v.kind === 'unknown' ? v : { ...v, origin: use };
}
