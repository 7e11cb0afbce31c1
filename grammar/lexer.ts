/**
 * Text → tokens, plus the lexical diagnostics: PP1001 (unexpected character),
 * PP1003 (unterminated string or comment), PP1004 (invalid number) and PP1002 for
 * an unknown escape in a string. Lexical errors never stop the parse: bad characters
 * are dropped, malformed numbers and unterminated strings are still passed on.
 */
import type { IToken, Lexer as LexerType } from 'chevrotain';
import { Lexer } from './chevrotain.js';
import { diag, type Diagnostic } from '../src/diagnostics/diagnostic.js';
import type { SourceFile } from '../src/source.js';
import { groupDigits } from '../src/format.js';
import {
  ALL_TOKENS,
  Colon,
  INVALID_GROUP,
  NumberLiteral,
  SingleQuotedString,
  StringLiteral,
  UnterminatedComment,
  UnterminatedString,
} from './tokens.js';

let lexer: LexerType | undefined;

/** The shared lexer, built on first use. `validate` runs chevrotain's definition checks (tests). */
export function getLexer(validate = false): LexerType {
  if (validate) {
    return new Lexer(ALL_TOKENS, { positionTracking: 'onlyOffset', skipValidations: false, ensureOptimizations: true });
  }
  lexer ??= new Lexer(ALL_TOKENS, { positionTracking: 'onlyOffset', skipValidations: true });
  return lexer;
}

export interface LexResult {
  /** The tokens the parser reads (no whitespace, comments or invalid characters). */
  tokens: IToken[];
  diagnostics: Diagnostic[];
  /** True when the file ends inside an unterminated comment or string: errors at the end of the file are then a consequence. */
  endsUnterminated: boolean;
  /** Offsets of the characters dropped as unexpected (PP1001): a parse error right after one is a consequence. */
  dropped: number[];
}

/** The offset one past the token's last character. */
export function tokenEnd(t: IToken): number {
  return t.startOffset + t.image.length;
}

const VALID_NUMBER = /^[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+(?:_[0-9]+)*)?$/;

/** The value of a NumberLiteral's text (underscores dropped); NaN if it is not a valid number. */
export function numberValue(raw: string): number {
  if (!VALID_NUMBER.test(raw)) return NaN;
  const v = Number(raw.replace(/_/g, ''));
  return Number.isFinite(v) ? v : NaN;
}

const CHAR_HELP: Record<string, string> = {
  ':': "use '=' between a key and its value",
  "'": 'strings use double quotes: "…"',
  '`': 'strings use double quotes: "…"',
  '#': 'comments start with // or are enclosed in /* … */',
  '.': 'write fractions with a leading digit (0.5), ranges as 0..15',
  '(': 'lists use square brackets: [a, b]',
  ')': 'lists use square brackets: [a, b]',
  '+': 'write positive numbers without a sign',
};

export function lex(source: SourceFile): LexResult {
  const text = source.text;
  const result = getLexer().tokenize(text);
  const diagnostics: Diagnostic[] = [];
  let endsUnterminated = false;
  const dropped: number[] = [];

  // Errors of chevrotain's own lexer cannot happen (Unknown matches any character), but stay safe.
  for (const e of result.errors) {
    const ch = text.slice(e.offset, e.offset + Math.max(1, e.length));
    diagnostics.push(diag('PP1001', source.span(e.offset, e.offset + Math.max(1, e.length)), { text: printable(ch) }));
  }

  const invalid = result.groups[INVALID_GROUP] ?? [];
  for (let i = 0; i < invalid.length; i++) {
    const t = invalid[i]!;
    let end = tokenEnd(t);
    if (t.tokenType === UnterminatedComment) {
      endsUnterminated = true;
      diagnostics.push(
        diag(
          'PP1003',
          source.span(t.startOffset, Math.min(end, t.startOffset + 2)),
          { what: 'comment' },
          {
            help: "close the comment with '*/'",
          },
        ),
      );
    } else {
      dropped.push(t.startOffset);
      // A run of the same character (a file of NUL bytes) is one diagnostic, not one per byte.
      let run = 1;
      while (
        i + 1 < invalid.length &&
        invalid[i + 1]!.startOffset === end &&
        invalid[i + 1]!.image === t.image &&
        invalid[i + 1]!.tokenType !== UnterminatedComment
      ) {
        end = tokenEnd(invalid[++i]!);
        dropped.push(invalid[i]!.startOffset);
        run++;
      }
      const help =
        run > 1 ? `${groupDigits(run)} of them in a row${CHAR_HELP[t.image] ? `; ${CHAR_HELP[t.image]}` : ''}` : CHAR_HELP[t.image];
      diagnostics.push(diag('PP1001', source.span(t.startOffset, end), { text: printable(t.image) }, help ? { help } : {}));
    }
  }

  for (const t of result.tokens) {
    if (t.tokenType === NumberLiteral) {
      if (Number.isNaN(numberValue(t.image))) {
        diagnostics.push(diag('PP1004', source.span(t.startOffset, tokenEnd(t)), { text: t.image }, { help: numberHelp(t.image) }));
      }
    } else if (t.tokenType === UnterminatedString) {
      const end = tokenEnd(t);
      if (end >= text.length) endsUnterminated = true;
      diagnostics.push(
        diag(
          'PP1003',
          source.span(t.startOffset, end),
          { what: 'string' },
          {
            help: "close the string with '\"' on the same line",
          },
        ),
      );
      checkEscapes(t, source, diagnostics);
    } else if (t.tokenType === Colon) {
      diagnostics.push(diag('PP1001', source.span(t.startOffset, tokenEnd(t)), { text: ':' }, { help: CHAR_HELP[':'] }));
    } else if (t.tokenType === SingleQuotedString) {
      const inner = t.image.slice(1, -1);
      diagnostics.push(
        diag(
          'PP1001',
          source.span(t.startOffset, t.startOffset + 1),
          { text: "'" },
          {
            help: `strings use double quotes: "${inner.length > 20 ? inner.slice(0, 20) + '…' : inner}"`,
          },
        ),
      );
    } else if (t.tokenType === StringLiteral) {
      checkEscapes(t, source, diagnostics);
    }
  }

  return { tokens: result.tokens, diagnostics, endsUnterminated, dropped };
}

function numberHelp(raw: string): string {
  if (/__/.test(raw) || /_$/.test(raw) || /_[.eE]|[.eE]_/.test(raw)) return "'_' may only separate digits: 1_000_000";
  if (/\.$/.test(raw) || /\.[eE_]/.test(raw)) return 'a fraction needs digits after the point: 1.0';
  return 'the number is out of range';
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };

function checkEscapes(t: IToken, source: SourceFile, out: Diagnostic[]): void {
  const s = t.image;
  for (let i = 1; i < s.length; i++) {
    if (s[i] !== '\\') continue;
    const cp = s.codePointAt(i + 1);
    if (cp === undefined) break; // a trailing backslash of an unterminated string
    const c = String.fromCodePoint(cp);
    if (!(c in ESCAPES)) {
      const at = t.startOffset + i;
      out.push(
        diag(
          'PP1002',
          source.span(at, at + 1 + c.length),
          { detail: `unknown escape '\\${printable(c)}' in a string` },
          {
            help: 'the escapes are \\" \\\\ \\n \\t; write \\\\ for a backslash',
          },
        ),
      );
    }
    i += c.length;
  }
}

/** The text of a StringLiteral (terminated or not) with its escapes applied. */
export function unescapeString(t: IToken): string {
  let s = t.image.slice(1);
  if (t.tokenType !== UnterminatedString) s = s.slice(0, -1);
  return s.replace(/\\([\s\S]?)/g, (_, c: string) => ESCAPES[c] ?? c);
}

/** How to show a character in a message: control and invisible characters as \u{…}. */
function printable(ch: string): string {
  return ch.replace(/[\u0000-\u001f\u007f-\u00a0\u2028\u2029\ufeff]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}
