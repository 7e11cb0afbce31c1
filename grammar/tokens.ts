/**
 * The tokens of the `.plan` language, in the order the lexer tries them (first
 * match wins). See GRAMMAR.md, "Lexical rules".
 *
 * There are no keyword tokens: `model`, `cluster`, `plan` and `import` are also
 * ordinary keys (`model = llama3_8b` inside a plan), so every word is an Identifier
 * and the parser tells them apart by position.
 *
 * Tokens in the `invalid` group never reach the parser: the lexer turns them into
 * diagnostics (PP1001, PP1003). An unterminated string *does* reach the parser (as a
 * StringLiteral, through its category) so that one missing quote gives one error.
 */
import type { CustomPatternMatcherFunc, TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.js';

/** The group of tokens that are reported as lexical errors and not parsed. */
export const INVALID_GROUP = 'invalid';

const DIGITS = '0123456789'.split('');

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n\f\v\u00a0\ufeff]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

export const LineComment = createToken({
  name: 'LineComment',
  pattern: /\/\/[^\r\n]*/,
  group: Lexer.SKIPPED,
});

export const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[\s\S]*?\*\//,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

/** `/*` with no closing `*\/`: runs to the end of the file (PP1003). */
export const UnterminatedComment = createToken({
  name: 'UnterminatedComment',
  pattern: /\/\*[\s\S]*/,
  group: INVALID_GROUP,
  line_breaks: true,
});

/**
 * `"..."`; escapes are a backslash and any character except a newline (the lexer
 * checks them: only `\"`, `\\`, `\n`, `\t` are valid).
 */
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*"/,
});

/** A string cut by a newline or the end of the file (PP1003). Parsed as a StringLiteral. */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*\\?/,
  categories: [StringLiteral],
});

/** `'x'`: not a string in this language (PP1001 at the quote), but parsed as one so there is one error. */
export const SingleQuotedString = createToken({
  name: 'SingleQuotedString',
  pattern: /'(?:[^'\\\r\n]|\\[^\r\n])*'/,
  categories: [StringLiteral],
});

/**
 * A word that starts with a digit but is not a number with a unit: `1f1b`.
 *
 * The maximal word `[0-9][A-Za-z0-9_]*` at the current position is a DigitIdent
 * unless it has the shape `INT [EXPONENT] [LETTERS]` (INT = digits and `_`,
 * LETTERS = letters and `_` only, no digits). So `1f1b` and `2x4` are identifiers,
 * while `4096`, `5ms`, `24GiB`, `1e4`, `1e4B` (and `1e` followed by `-4`) are
 * left to NumberLiteral, a unit being lexed as the Identifier that follows.
 */
const WORD = /[0-9][A-Za-z0-9_]*/y;
const NUMBER_WITH_UNIT = /^[0-9_]+(?:[eE][0-9][0-9_]*)?[A-Za-z_]*$/;
const matchDigitIdent: CustomPatternMatcherFunc = (text, offset) => {
  WORD.lastIndex = offset;
  const m = WORD.exec(text);
  if (m === null || NUMBER_WITH_UNIT.test(m[0])) return null;
  return m;
};
export const DigitIdent = createToken({
  name: 'DigitIdent',
  pattern: { exec: matchDigitIdent },
  start_chars_hint: DIGITS,
  line_breaks: false,
});

/**
 * Digits with `_` separators, an optional fraction and exponent. Deliberately
 * permissive (`1__0`, `1.`, `1_`): the lexer validates the text and reports PP1004,
 * so a malformed number is one clear error rather than a cascade. The fraction
 * never starts with `..`, so `0..15` is a range.
 */
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?(?:[eE][+-]?[0-9][0-9_]*)?/,
});

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

export const DotDot = createToken({ name: 'DotDot', pattern: '..', label: "'..'" });
export const Equals = createToken({ name: 'Equals', pattern: '=', label: "'='" });
/** `key: value` is a common slip: parsed like `=` so it is one error (PP1001 with a fix), not a cascade. */
export const Colon = createToken({ name: 'Colon', pattern: ':', label: "':'" });
export const LCurly = createToken({ name: 'LCurly', pattern: '{', label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: '}', label: "'}'" });
export const LBracket = createToken({ name: 'LBracket', pattern: '[', label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: ']', label: "']'" });
export const Comma = createToken({ name: 'Comma', pattern: ',', label: "','" });
export const Semicolon = createToken({ name: 'Semicolon', pattern: ';', label: "';'" });
export const Minus = createToken({ name: 'Minus', pattern: '-', label: "'-'" });
export const Percent = createToken({ name: 'Percent', pattern: '%', label: "'%'" });

/** Anything else: one character (a whole surrogate pair for astral characters), PP1001. */
export const Unknown = createToken({
  name: 'Unknown',
  pattern: /[\ud800-\udbff][\udc00-\udfff]|[\u0000-\uffff]/,
  group: INVALID_GROUP,
  line_breaks: true,
});

/** Every token type, in lexing order. */
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedComment,
  StringLiteral,
  UnterminatedString,
  SingleQuotedString,
  DigitIdent,
  NumberLiteral,
  Identifier,
  DotDot,
  Equals,
  Colon,
  LCurly,
  RCurly,
  LBracket,
  RBracket,
  Comma,
  Semicolon,
  Minus,
  Percent,
  Unknown,
];
