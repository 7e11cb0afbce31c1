/**
 * Parser errors → PP1002 diagnostics with human messages.
 *
 * chevrotain knows the rule, the expected tokens and the token found; the message
 * provider in parser.ts records those as JSON. Here each error is rewritten with
 * the context a reader needs: which key lacks its `=`, which block is left open
 * (`the block of plan 'x'`, with the `{` as a related location), and a `help`.
 */
import type { IRecognitionException, IToken } from 'chevrotain';
import { EOF } from './chevrotain.js';
import { diag, type Diagnostic, type Related } from '../src/diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../src/source.js';
import { tokenEnd } from './lexer.js';
import type { RawError } from './parser.js';
import {
  ALL_TOKENS,
  Colon,
  Comma,
  DigitIdent,
  Equals,
  Identifier,
  LBracket,
  LCurly,
  NumberLiteral,
  RBracket,
  RCurly,
  StringLiteral,
} from './tokens.js';

const DECLARATION_WORDS = new Set(['model', 'cluster', 'plan']);

const VALUE_HELP = 'a value is a number (32, 5 ms, 10%), a name (bf16), a string ("…"), a list ([0..15, 16..31]) or a block ({ … })';

/** How an expected token reads: punctuation by its label (tokens.ts), the others as words. */
const TOKEN_WORDS: Record<string, string> = {
  ...Object.fromEntries(ALL_TOKENS.filter((t) => t.LABEL !== undefined).map((t) => [t.name, t.LABEL!])),
  [NumberLiteral.name]: 'a number',
  [Identifier.name]: 'a name',
  [DigitIdent.name]: 'a name',
  [StringLiteral.name]: 'a string',
  [EOF.name]: 'the end of the file',
};

function isEof(t: IToken | undefined): boolean {
  return t === undefined || t.tokenType === EOF || Number.isNaN(t.startOffset);
}

function is(t: IToken | undefined, type: { name: string }): boolean {
  if (t === undefined || isEof(t)) return false;
  return t.tokenType.name === type.name || (t.tokenType.CATEGORIES ?? []).some((c) => c.name === type.name);
}

/** How a found token reads in a message: `'2'`, `string "RTX"`, `the end of the file`. */
export function describeToken(t: IToken | undefined): string {
  if (t === undefined || isEof(t)) return 'the end of the file';
  if (is(t, StringLiteral)) {
    const s = t.image.length > 24 ? `${t.image.slice(0, 20)}…"` : t.image;
    return `string ${s}`;
  }
  const img = t.image.length > 24 ? `${t.image.slice(0, 20)}…` : t.image;
  return `'${img}'`;
}

function parseRaw(e: IRecognitionException): RawError | undefined {
  try {
    const r = JSON.parse(e.message) as RawError;
    return r && typeof r.kind === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * For each token index i (and tokens.length), the innermost `{` or `[` still open before it
 * (-1: none) and how many are open around that one. `}` closes up to and including the
 * nearest `{` (an unclosed `[` inside closes with it); `]` closes only a `[`.
 */
function openersOf(tokens: IToken[]): { index: Int32Array; depth: Int32Array } {
  const index = new Int32Array(tokens.length + 1);
  const depth = new Int32Array(tokens.length + 1);
  const stack: number[] = [];
  for (let i = 0; i <= tokens.length; i++) {
    index[i] = stack.length > 0 ? stack[stack.length - 1]! : -1;
    depth[i] = stack.length - 1;
    const t = tokens[i];
    if (t === undefined) break;
    if (is(t, LCurly) || is(t, LBracket)) stack.push(i);
    else if (is(t, RCurly)) {
      while (stack.length > 0) {
        const top = stack.pop()!;
        if (is(tokens[top], LCurly)) break;
      }
    } else if (is(t, RBracket)) {
      if (stack.length > 0 && is(tokens[stack[stack.length - 1]!], LBracket)) stack.pop();
    }
  }
  return { index, depth };
}

/** Whether a sorted list of offsets has one in [start, end). */
function anyIn(sorted: readonly number[], start: number, end: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < start) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! < end;
}

class Context {
  private indexOf: Map<IToken, number> | undefined;
  private openers: { index: Int32Array; depth: Int32Array } | undefined;

  constructor(
    readonly tokens: IToken[],
    readonly source: SourceFile,
  ) {}

  /** The index of a token in the input; tokens.length for EOF or a token not from the input. */
  index(t: IToken | undefined): number {
    if (t === undefined || isEof(t)) return this.tokens.length;
    if (!this.indexOf) {
      this.indexOf = new Map();
      this.tokens.forEach((tok, i) => this.indexOf!.set(tok, i));
    }
    return this.indexOf.get(t) ?? this.tokens.length;
  }

  tokenSpan(t: IToken): Span {
    return this.source.span(t.startOffset, tokenEnd(t));
  }

  /** Where an error at `t` points: the token, or, at the end of the file, just after the last token. */
  spanAt(t: IToken | undefined): Span {
    if (t !== undefined && !isEof(t)) return this.tokenSpan(t);
    const last = this.tokens[this.tokens.length - 1];
    const at = last ? tokenEnd(last) : 0;
    return this.source.span(at, at);
  }

  /** The innermost `{` or `[` still open before token index `idx`. */
  openerBefore(idx: number): { index: number; depth: number } | undefined {
    // One pass over the file for every question (a binary file has an error per token).
    if (!this.openers) this.openers = openersOf(this.tokens);
    const i = Math.min(idx, this.tokens.length);
    const index = this.openers.index[i]!;
    return index < 0 ? undefined : { index, depth: this.openers.depth[i]! };
  }

  /** `the block of plan 'x'`, `the block of 'batch'`, `the list of 'stages'`. */
  describeOpener(index: number, depth: number): string {
    const open = this.tokens[index]!;
    const p1 = this.tokens[index - 1];
    const p2 = this.tokens[index - 2];
    const what = is(open, LBracket) ? 'the list' : 'the block';
    if (is(open, LCurly) && depth === 0 && is(p1, Identifier) && is(p2, Identifier)) {
      return `${what} of ${p2!.image} '${p1!.image}'`;
    }
    if (is(open, LCurly) && is(p1, Identifier)) return `${what} of '${p1!.image}'`;
    if (is(p1, Equals) && is(p2, Identifier)) return `${what} of '${p2!.image}'`;
    return what;
  }
}

/**
 * One PP1002 per parser error (the first at each token), in input order. Errors at
 * the end of the file are dropped when the file ends inside an unterminated string
 * or comment, and errors right after an unexpected character (`a : 1`), since the
 * lexer has reported the cause already.
 */
export function syntaxDiagnostics(
  errors: readonly IRecognitionException[],
  tokens: IToken[],
  source: SourceFile,
  endsUnterminated: boolean,
  dropped: readonly number[] = [],
): Diagnostic[] {
  const cx = new Context(tokens, source);
  const seen = new Set<number>();
  const out: Diagnostic[] = [];
  for (const e of errors) {
    if (endsUnterminated && isEof(e.token)) continue;
    if (is(e.token, Colon)) continue; // reported by the lexer (PP1001)
    if (dropped.length > 0) {
      // an unexpected character just before the error token (e.g. `a : 1`) is the real mistake
      const i = cx.index(e.token);
      const gapStart = i > 0 ? tokenEnd(tokens[i - 1]!) : 0;
      const gapEnd = i < tokens.length ? tokens[i]!.startOffset : source.text.length;
      if (anyIn(dropped, gapStart, gapEnd)) continue;
    }
    const d = describe(e, cx);
    const key = d.span?.start ?? -1;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

function describe(e: IRecognitionException, cx: Context): Diagnostic {
  const raw = parseRaw(e);
  const found = e.token;
  const foundText = describeToken(found);
  const span = cx.spanAt(found);
  // set by chevrotain on every exception but NotAllInputParsed; missing from its typings
  const previous = (e as IRecognitionException & { previousToken?: IToken }).previousToken;
  const prev = previous && !isEof(previous) ? previous : undefined;
  const mk = (detail: string, help?: string, related?: Related[]): Diagnostic =>
    diag('PP1002', span, { detail }, { ...(help ? { help } : {}), ...(related ? { related } : {}) });

  if (!raw) return mk(`unexpected ${foundText}`);
  const expects = (name: string) => raw.expected.includes(name);
  const foundIdx = cx.index(found);

  switch (raw.rule) {
    case 'entry': {
      const key = prev?.image ?? '?';
      let help = "write 'key = value' or 'key { … }'";
      if (is(found, NumberLiteral) || is(found, Identifier) || is(found, DigitIdent) || is(found, StringLiteral) || is(found, LBracket)) {
        help = `write '${key} = ${found.image.length > 24 ? '…' : found.image}'`;
      }
      if (DECLARATION_WORDS.has(key)) {
        help = `a declaration cannot be nested: if '${key}' starts a new declaration, close the block above with '}' first`;
      }
      return mk(`expected '=' or '{' after key '${key}', found ${foundText}`, help);
    }

    case 'value': {
      if (is(prev, LBracket) || is(prev, Comma)) return mk(`expected a value in the list, found ${foundText}`, VALUE_HELP);
      if (is(prev, Equals) || is(prev, Colon)) {
        const keyTok = cx.tokens[cx.index(prev) - 1];
        const help = is(keyTok, Identifier) ? `give '${keyTok!.image}' ${VALUE_HELP.replace(/^a value is /, 'a value: ')}` : VALUE_HELP;
        return mk(`expected a value after '=', found ${foundText}`, help);
      }
      return mk(`expected a value, found ${foundText}`, VALUE_HELP);
    }

    case 'number':
      if (expects(NumberLiteral.name)) return mk(`expected a number after '-', found ${foundText}`, "write negative numbers as '-5'");
      break;

    case 'range':
      if (expects(NumberLiteral.name))
        return mk(`expected a number after '..', found ${foundText}`, "write a range as 'FROM..TO', e.g. 0..15");
      break;

    case 'list': {
      if (!expects(RBracket.name)) break;
      const opener = cx.openerBefore(foundIdx);
      const where = opener && is(cx.tokens[opener.index], LBracket) ? cx.describeOpener(opener.index, opener.depth) : 'the list';
      const related = opener ? [{ span: cx.tokenSpan(cx.tokens[opener.index]!), message: `${where} opens here` }] : undefined;
      if (isEof(found)) return mk(`expected ']' to close ${where}`, "add ']' at the end of the list", related);
      if (is(found, RCurly)) return mk(`expected ']' to close ${where}, found '}'`, "add ']' at the end of the list", related);
      if (is(found, Comma) && (is(prev, Comma) || is(prev, LBracket)))
        return mk(`expected a value in the list, found ','`, "remove the extra ','", related);
      return mk(`expected ',' or ']' in ${where}, found ${foundText}`, "separate list items with ','", related);
    }

    case 'block': {
      if (expects(LCurly.name)) {
        const name = prev;
        const kw = name ? cx.tokens[cx.index(name) - 1] : undefined;
        if (name && kw?.image === 'import' && is(name, Identifier)) {
          return diag(
            'PP1002',
            cx.tokenSpan(name),
            { detail: `expected a path string after 'import', found '${name.image}'` },
            {
              help: 'write import "file.plan"',
            },
          );
        }
        const what = name && kw && is(kw, Identifier) ? `${kw.image} '${name.image}'` : name ? `'${name.image}'` : 'the name';
        const help = name && kw ? `write '${kw.image} ${name.image} { … }'` : undefined;
        return mk(`expected '{' after ${what}, found ${foundText}`, help);
      }
      if (expects(RCurly.name)) {
        const opener = cx.openerBefore(foundIdx);
        const where = opener ? cx.describeOpener(opener.index, opener.depth) : 'the block';
        const related = opener ? [{ span: cx.tokenSpan(cx.tokens[opener.index]!), message: `${where} opens here` }] : undefined;
        if (isEof(found)) return mk(`expected '}' to close ${where}`, "add '}' at the end of the block", related);
        const startsDeclaration =
          (is(found, Identifier) && DECLARATION_WORDS.has(found.image)) || (is(found, Identifier) && found.image === 'import');
        if (startsDeclaration) {
          return mk(`expected '}' to close ${where} before ${foundText}`, "add '}' at the end of the block", related);
        }
        return mk(`expected a key or '}' in ${where}, found ${foundText}`, "entries are written 'key = value' or 'key { … }'", related);
      }
      break;
    }

    case 'declaration': {
      const kw = prev?.image ?? '?';
      if (kw === 'import') return mk(`expected a path string after 'import', found ${foundText}`, 'write import "file.plan"');
      if (is(found, Equals)) {
        return mk(
          `unexpected '=' after '${kw}': 'key = value' entries belong inside a block`,
          "is there an extra '}' above, or a missing declaration line such as 'plan NAME {'?",
        );
      }
      return mk(`expected a name after '${kw}', found ${foundText}`, `write '${kw} NAME { … }'`);
    }

    case 'file': {
      if (is(found, RCurly)) return mk(`unexpected '}': no block is open here`, 'remove it, or check the braces above');
      return mk(
        `expected a declaration (model, cluster, plan or import), found ${foundText}`,
        "a file is a list of 'model NAME { … }', 'cluster NAME { … }', 'plan NAME { … }' and 'import \"file.plan\"'",
      );
    }
  }

  const expected = [...new Set(raw.expected.map((n) => TOKEN_WORDS[n] ?? n))];
  const list =
    expected.length <= 1 ? (expected[0] ?? 'something else') : `${expected.slice(0, -1).join(', ')} or ${expected[expected.length - 1]}`;
  return mk(`expected ${list}, found ${foundText}`);
}
