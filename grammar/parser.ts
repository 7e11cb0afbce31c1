/**
 * The `.plan` grammar as a chevrotain CstParser: a pure grammar (no embedded
 * actions; the AST is built by to-ast.ts), with error recovery on. There are two
 * gates (pure lookahead predicates, no side effects): the unit gate in `number`
 * (GRAMMAR.md, "unit") and the end of a block's entries at the start of the next
 * declaration (better recovery from a missing `}`).
 *
 * Error messages are not written here: the message provider below only records
 * what chevrotain knows (expected tokens, found token) as JSON, and errors.ts turns
 * each recognition exception into a human PP1002 with the surrounding context.
 */
import type { IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import { CstParser, EOF, tokenMatcher } from './chevrotain.js';
import {
  ALL_TOKENS,
  Colon,
  Comma,
  DigitIdent,
  DotDot,
  Equals,
  Identifier,
  LBracket,
  LCurly,
  Minus,
  NumberLiteral,
  Percent,
  RBracket,
  RCurly,
  Semicolon,
  StringLiteral,
} from './tokens.js';

/** What the message provider records; decoded by errors.ts. */
export interface RawError {
  kind: 'mismatch' | 'noViableAlt' | 'earlyExit' | 'notAllInput';
  /** Token type names that would have been accepted (first tokens of each path). */
  expected: string[];
  rule: string;
}

const firstNames = (paths: TokenType[][][]): string[] => {
  const names = new Set<string>();
  for (const alt of paths) for (const path of alt) if (path[0]) names.add(path[0].name);
  return [...names];
};

const messageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, ruleName }) =>
    JSON.stringify({ kind: 'mismatch', expected: [expected.name], rule: ruleName } satisfies RawError),
  buildNotAllInputParsedMessage: ({ ruleName }) =>
    JSON.stringify({ kind: 'notAllInput', expected: [EOF.name], rule: ruleName } satisfies RawError),
  buildNoViableAltMessage: ({ expectedPathsPerAlt, ruleName }) =>
    JSON.stringify({ kind: 'noViableAlt', expected: firstNames(expectedPathsPerAlt), rule: ruleName } satisfies RawError),
  buildEarlyExitMessage: ({ expectedIterationPaths, ruleName }) =>
    JSON.stringify({ kind: 'earlyExit', expected: firstNames([expectedIterationPaths]), rule: ruleName } satisfies RawError),
};

/** Words that start a declaration: a word after a number followed by `NAME {` is not taken as a unit. */
const DECLARATION_WORDS = new Set(['model', 'cluster', 'plan']);

export class PlanParser extends CstParser {
  constructor(options: { skipValidations?: boolean } = {}) {
    super(ALL_TOKENS, {
      recoveryEnabled: true,
      maxLookahead: 2,
      skipValidations: options.skipValidations ?? true,
      errorMessageProvider: messageProvider,
    });
    this.performSelfAnalysis();
  }

  /** file := declaration* */
  public file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.declaration));
  });

  /**
   * declaration := Identifier StringLiteral            (import "path")
   *              | Identifier Identifier block         (model NAME { … })
   *
   * Accepted more loosely, so that one mistake is one error and the body is still
   * parsed: `Identifier StringLiteral [block]` and `Identifier [Identifier] block`.
   * to-ast.ts reports the extra forms (`model "x" { … }`, `model { … }`,
   * `import "x" { … }`, `improt "x"`) as PP1002.
   */
  public declaration = this.RULE('declaration', () => {
    this.CONSUME(Identifier, { LABEL: 'keyword' });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(StringLiteral, { LABEL: 'path' });
          this.OPTION(() => this.SUBRULE(this.block));
        },
      },
      {
        ALT: () => {
          this.OPTION2(() => this.CONSUME2(Identifier, { LABEL: 'name' }));
          this.SUBRULE2(this.block);
        },
      },
    ]);
  });

  /**
   * block := "{" ( entry | ";" )* "}"
   * The gate stops the entries at what can only be the start of the next declaration
   * (`plan x {`, `import "…"`), so a missing `}` is reported there and recovery
   * inserts it: the next declaration is then parsed normally.
   */
  public block = this.RULE('block', () => {
    this.CONSUME(LCurly);
    this.MANY({
      GATE: () => !this.declarationFollows(),
      DEF: () => this.OR([{ ALT: () => this.SUBRULE(this.entry) }, { ALT: () => this.CONSUME(Semicolon) }]),
    });
    this.CONSUME(RCurly);
  });

  /**
   * entry := Identifier ( "=" value | block )
   * `:` is accepted in place of `=` (the lexer reports it, PP1001), so `key: value`
   * is one error and the entry is kept.
   */
  public entry = this.RULE('entry', () => {
    this.CONSUME(Identifier, { LABEL: 'key' });
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(Equals) }, { ALT: () => this.CONSUME(Colon) }]);
          this.SUBRULE(this.value);
        },
      },
      { ALT: () => this.SUBRULE(this.block) },
      // `gpu H100_SXM_80GB`: the '=' is missing. Parsed as an entry so that to-ast
      // reports one precise error and the rest of the block is not derailed.
      { GATE: () => this.missingEquals(), ALT: () => this.SUBRULE2(this.value) },
    ]);
  });

  /** A value right after the key, that is not itself the start of the next entry. */
  private missingEquals(): boolean {
    const next = this.LA(1).tokenType;
    const after = this.LA(2).tokenType;
    const valueStart = next === Identifier || next === DigitIdent || next === NumberLiteral || next === StringLiteral || next === LBracket;
    return valueStart && after !== Equals && after !== Colon && after !== LCurly;
  }

  /** value := range | number | DigitIdent | Identifier | StringLiteral | list | block */
  public value = this.RULE('value', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.range) },
      { ALT: () => this.SUBRULE(this.number) },
      { ALT: () => this.CONSUME(DigitIdent) },
      { ALT: () => this.CONSUME(Identifier) },
      { ALT: () => this.CONSUME(StringLiteral) },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.block) },
    ]);
  });

  /** number := ["-"] NumberLiteral [unit] */
  public number = this.RULE('number', () => {
    this.OPTION(() => this.CONSUME(Minus));
    this.CONSUME(NumberLiteral);
    this.OPTION2({ GATE: () => this.unitFollows(), DEF: () => this.SUBRULE(this.unit) });
  });

  /** unit := "%" | Identifier */
  public unit = this.RULE('unit', () => {
    this.OR([{ ALT: () => this.CONSUME(Percent) }, { ALT: () => this.CONSUME(Identifier) }]);
  });

  /** range := NumberLiteral ".." NumberLiteral */
  public range = this.RULE('range', () => {
    this.CONSUME(NumberLiteral, { LABEL: 'from' });
    this.CONSUME(DotDot);
    this.CONSUME2(NumberLiteral, { LABEL: 'to' });
  });

  /** list := "[" [ value ( "," value )* [","] ] "]" */
  public list = this.RULE('list', () => {
    this.CONSUME(LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.value);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.value);
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RBracket);
  });

  /**
   * The unit gate: after a number, `%` is a unit; an Identifier is a unit unless it
   * is followed by `=` or `{` (then it is the next key: `tensor = 2 pipeline = 2`),
   * or it starts a declaration (`plan NAME {`, `import "…"`: a missing `}` before
   * the next declaration must not turn `plan` into a unit).
   */
  private unitFollows(): boolean {
    const t = this.LA(1);
    if (tokenMatcher(t, Percent)) return true;
    if (!tokenMatcher(t, Identifier)) return false;
    const next = this.LA(2);
    if (tokenMatcher(next, Equals) || tokenMatcher(next, LCurly) || tokenMatcher(next, Colon)) return false;
    return !this.declarationFollows();
  }

  /** `model|cluster|plan NAME {` or `import "…"` next: these can never be an entry. */
  private declarationFollows(): boolean {
    const t = this.LA(1);
    if (!tokenMatcher(t, Identifier)) return false;
    const next = this.LA(2);
    if (t.image === 'import') return tokenMatcher(next, StringLiteral);
    return DECLARATION_WORDS.has(t.image) && tokenMatcher(next, Identifier) && tokenMatcher(this.LA(3), LCurly);
  }

  /** Parse a token vector from the start rule; errors are in `this.errors`. */
  parseTokens(tokens: IToken[]) {
    this.input = tokens;
    return this.file();
  }
}

let shared: PlanParser | undefined;

/** The single shared parser (grammar analysis runs once, on first use). */
export function getParser(): PlanParser {
  shared ??= new PlanParser({ skipValidations: true });
  return shared;
}
