/**
 * CST → canonical lines. The CST gives the structure, trivia.ts the comments and
 * blank lines; layout.ts aligns the `=` of consecutive properties. The rules are
 * listed in docs/language.md, "Formatting".
 */
import type { IToken } from 'chevrotain';
import type {
  BlockCstNode,
  DeclarationCstNode,
  EntryCstNode,
  FileCstNode,
  ListCstNode,
  ValueCstNode,
} from '../../grammar/cst.generated.js';
import { InternalError } from '../diagnostics/codes.js';
import { Flow, type Line } from './flow.js';
import { commentText, layoutBody, type BodyItem } from './layout.js';
import type { Attached, Trivia } from './trivia.js';

/** A list is kept on one line when the line (without `=` alignment) fits in this many columns. */
export const MAX_LIST_WIDTH = 100;

type ListMode = 'auto' | 'inline';

interface ValueOptions {
  glue?: boolean;
  skipLeading?: boolean;
  mode: ListMode;
}

function one<T>(xs: readonly T[] | undefined, what: string): T {
  const x = xs?.[0];
  if (x === undefined) throw new InternalError(`fmt: a parsed ${what} is incomplete`);
  return x;
}

export class Printer {
  constructor(readonly trivia: Trivia) {}

  file(node: FileCstNode): Line[] {
    const out: Line[] = [];
    let prevImport = false;
    for (const decl of node.children.declaration ?? []) {
      const isImport = decl.children.path !== undefined;
      const keyword = one(decl.children.keyword, 'declaration');
      // one blank line between declarations; consecutive imports keep their spacing
      const force = out.length > 0 && !(isImport && prevImport);
      leadingLines(out, this.trivia.of(keyword), 0, force, true);
      out.push(...this.declaration(decl));
      prevImport = isImport;
    }
    leadingLines(out, this.trivia.end, 0, false, false);
    return out;
  }

  private declaration(node: DeclarationCstNode): Line[] {
    const c = node.children;
    const flow = new Flow(this.trivia, 0);
    const keyword = one(c.keyword, 'declaration');
    flow.tok(keyword, keyword.image, { skipLeading: true });
    if (c.path) {
      const path = one(c.path, 'import');
      flow.tok(path, path.image);
    } else {
      const name = one(c.name, 'declaration');
      flow.tok(name, name.image);
      this.block(flow, one(c.block, 'declaration'), 0);
    }
    return flow.finish();
  }

  /** `{ … }` at the flow's position; the entries go one per line at `depth + 1`. */
  private block(flow: Flow, node: BlockCstNode, depth: number, skipLeading = false): void {
    const open = one(node.children.LCurly, 'block');
    const close = one(node.children.RCurly, 'block');
    flow.tok(open, '{', { skipLeading });
    // the line of `{` (a continuation line after a `//` comment) sets the indentation
    const base = Math.max(depth, flow.current.indent);
    const body = this.body(node, base + 1);
    if (body.length === 0 && this.trivia.of(open).trailing.length === 0) {
      flow.tok(close, '}', { glue: true, skipLeading: true });
      return;
    }
    flow.append(body, base);
    flow.tok(close, '}', { skipLeading: true });
  }

  private body(node: BlockCstNode, depth: number): Line[] {
    const items: BodyItem[] = [];
    for (const entry of node.children.entry ?? []) {
      const key = one(entry.children.key, 'entry');
      leadingItems(items, this.trivia.of(key), true);
      items.push(this.entry(entry, depth));
    }
    leadingItems(items, this.trivia.of(one(node.children.RCurly, 'block')), false);
    return layoutBody(items, depth);
  }

  private entry(node: EntryCstNode, depth: number): BodyItem {
    const c = node.children;
    const key = one(c.key, 'entry');
    const flow = new Flow(this.trivia, depth);
    flow.tok(key, key.image, { skipLeading: true });
    const blockNode = c.block?.[0] ?? c.value?.[0]?.children.block?.[0];
    if (blockNode) {
      // `key = { … }` is written `key { … }`: the same entry
      this.block(flow, blockNode, depth);
      return { kind: 'entry', lines: flow.finish() };
    }
    flow.tok(one(c.Equals, 'entry'), '=');
    const equalsAt = flow.lines.length === 1 ? flow.current.text.length - 1 : -1;
    this.value(flow, one(c.value, 'entry'), depth, { mode: 'auto' });
    const trailing = flow.takeTrailing();
    const lines = flow.finish();
    if (lines.length === 1 && equalsAt >= 0) {
      const text = lines[0]!.text;
      return { kind: 'entry', lines, align: { lhs: text.slice(0, equalsAt).trimEnd(), rhs: text.slice(equalsAt), trailing } };
    }
    if (trailing.length > 0) {
      const last = lines[lines.length - 1]!;
      last.text += `  ${commentText(trailing)}`;
    }
    return { kind: 'entry', lines };
  }

  private value(flow: Flow, node: ValueCstNode, depth: number, opts: ValueOptions): void {
    const c = node.children;
    const first = { glue: opts.glue === true, skipLeading: opts.skipLeading === true };
    if (c.range) {
      const r = one(c.range, 'range').children;
      const from = one(r.from, 'range');
      flow.tok(from, from.image, first);
      flow.tok(one(r.DotDot, 'range'), '..', { glue: true });
      const to = one(r.to, 'range');
      flow.tok(to, to.image, { glue: true });
    } else if (c.number) {
      const n = one(c.number, 'number').children;
      const lit = one(n.NumberLiteral, 'number');
      const minus = n.Minus?.[0];
      if (minus) flow.tok(minus, '-', first);
      flow.tok(lit, lit.image, minus ? { glue: true } : first);
      const unit = n.unit?.[0]?.children;
      if (unit?.Percent) flow.tok(one(unit.Percent, 'unit'), '%', { glue: true });
      else if (unit?.Identifier) {
        const u = one(unit.Identifier, 'unit');
        flow.tok(u, u.image); // one space: `5 ms`, `24 GiB`
      }
    } else if (c.list) {
      this.list(flow, one(c.list, 'list'), depth, opts);
    } else if (c.block) {
      this.block(flow, one(c.block, 'block'), depth, first.skipLeading);
    } else {
      const t = c.DigitIdent?.[0] ?? c.Identifier?.[0] ?? c.StringLiteral?.[0];
      if (!t) throw new InternalError('fmt: a parsed value is empty');
      flow.tok(t, t.image, first);
    }
  }

  /** On one line when it fits and holds no `//` comment or block; otherwise one item per line. */
  private list(flow: Flow, node: ListCstNode, depth: number, opts: ValueOptions): void {
    if (opts.mode === 'inline' || this.fitsInline(flow, node, depth, opts)) this.inlineList(flow, node, depth, opts);
    else this.brokenList(flow, node, depth, opts);
  }

  private fitsInline(flow: Flow, node: ListCstNode, depth: number, opts: ValueOptions): boolean {
    const probe = new Flow(this.trivia, 0);
    // the comments before `[` are written before it either way: only what is inside counts
    this.inlineList(probe, node, depth, { ...opts, glue: true, skipLeading: true });
    probe.takeTrailing();
    const lines = probe.finish();
    if (lines.length !== 1) return false;
    const line = flow.current;
    const before = line.text === '' ? 0 : line.text.length + (opts.glue ? 0 : 1);
    return 2 * line.indent + before + lines[0]!.text.length <= MAX_LIST_WIDTH;
  }

  private inlineList(flow: Flow, node: ListCstNode, depth: number, opts: ValueOptions): void {
    const c = node.children;
    flow.tok(one(c.LBracket, 'list'), '[', { glue: opts.glue === true, skipLeading: opts.skipLeading === true });
    (c.value ?? []).forEach((v, i) => {
      if (i > 0) flow.punct(',');
      this.value(flow, v, depth, { glue: i === 0, mode: 'inline' });
    });
    flow.tok(one(c.RBracket, 'list'), ']', { glue: true });
  }

  private brokenList(flow: Flow, node: ListCstNode, depth: number, opts: ValueOptions): void {
    const c = node.children;
    const saved = flow.cont;
    flow.tok(one(c.LBracket, 'list'), '[', { glue: opts.glue === true, skipLeading: opts.skipLeading === true });
    // the line of `[` (a continuation line after a `//` comment) sets the indentation
    const base = Math.max(depth, flow.current.indent);
    for (const v of c.value ?? []) {
      flow.newline(base + 1);
      for (const comment of this.trivia.of(firstToken(v)).leading) flow.ownLine(comment, base + 1);
      flow.cont = base + 2;
      this.value(flow, v, base + 1, { skipLeading: true, mode: 'auto' });
      flow.punct(',');
    }
    flow.newline(base);
    const close = one(c.RBracket, 'list');
    for (const comment of this.trivia.of(close).leading) flow.ownLine(comment, base + 1);
    flow.current.indent = base;
    flow.cont = saved;
    flow.tok(close, ']', { skipLeading: true });
  }
}

/** The first token of a value, whose leading comments go above it. */
function firstToken(node: ValueCstNode): IToken {
  const c = node.children;
  if (c.range) return one(one(c.range, 'range').children.from, 'range');
  if (c.number) {
    const n = one(c.number, 'number').children;
    return n.Minus?.[0] ?? one(n.NumberLiteral, 'number');
  }
  if (c.list) return one(one(c.list, 'list').children.LBracket, 'list');
  if (c.block) return one(one(c.block, 'block').children.LCurly, 'block');
  const t = c.DigitIdent?.[0] ?? c.Identifier?.[0] ?? c.StringLiteral?.[0];
  if (!t) throw new InternalError('fmt: a parsed value is empty');
  return t;
}

/** Comments on lines of their own above a token (or at the end of a block): body items. */
function leadingItems(items: BodyItem[], a: Attached, beforeToken: boolean): void {
  for (const c of a.leading) {
    if (c.blankBefore) items.push({ kind: 'blank' });
    items.push({ kind: 'comment', text: c.text });
  }
  if (beforeToken && a.blankBefore) items.push({ kind: 'blank' });
}

/** The same at the top level, where `force` asks for one blank line before the item. */
function leadingLines(out: Line[], a: Attached, indent: number, force: boolean, beforeToken: boolean): void {
  const blank = () => {
    if (out.length > 0 && out[out.length - 1]!.text !== '') out.push({ indent: 0, text: '' });
  };
  if (force) blank();
  for (const c of a.leading) {
    if (c.blankBefore) blank();
    out.push({ indent, text: c.text });
  }
  if (beforeToken && a.blankBefore) blank();
}
