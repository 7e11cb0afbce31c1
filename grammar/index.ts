/**
 * The grammar of `.plan` files: text → AST (src/ast.ts) plus syntax diagnostics
 * (PP1001–PP1004). `parse` never throws on any input; the AST holds every part of
 * the file that could be parsed, so the checker can still report on it.
 *
 * The lexer and parser are built once, on the first call (a few milliseconds).
 */
import type { IToken } from 'chevrotain';
import type { PlanFile } from '../src/ast.js';
import { diag, sortDiagnostics, type Diagnostic } from '../src/diagnostics/diagnostic.js';
import { SourceFile } from '../src/source.js';
import { syntaxDiagnostics } from './errors.js';
import { lex } from './lexer.js';
import { getParser } from './parser.js';
import { toAst } from './to-ast.js';

export interface ParseResult {
  ast: PlanFile;
  /** Syntax diagnostics, sorted by position. */
  diagnostics: Diagnostic[];
}

/** Parse the text of one `.plan` file; `file` is the path used in spans. */
export function parse(text: string, file: string): ParseResult {
  const source = new SourceFile(file, text);
  try {
    const lexed = lex(source);
    const parser = getParser();
    const cst = parser.parseTokens(lexed.tokens);
    const syntax = syntaxDiagnostics(parser.errors, lexed.tokens, source, lexed.endsUnterminated, lexed.dropped);
    const built = toAst(cst, source);
    return { ast: built.ast, diagnostics: sortDiagnostics([...lexed.diagnostics, ...syntax, ...built.diagnostics]) };
  } catch (e) {
    // A bug in the grammar, never a user mistake: report it rather than crash the caller.
    const detail = e instanceof Error ? e.message : String(e);
    return {
      ast: { file, imports: [], declarations: [] },
      diagnostics: [diag('PP9001', source.span(0, 0), { detail: `parser failed: ${detail}` })],
    };
  }
}

export interface TokenInfo {
  /** The token type's name (`Identifier`, `NumberLiteral`, `DigitIdent`, `LCurly`…). */
  type: string;
  text: string;
  start: number;
  end: number;
}

/** The tokens the parser sees (no whitespace, comments or invalid characters), for tests and tools. */
export function tokenize(text: string): { tokens: TokenInfo[]; diagnostics: Diagnostic[] } {
  const { tokens, diagnostics } = lex(new SourceFile('<tokens>', text));
  return { tokens: tokens.map(info), diagnostics };
}

function info(t: IToken): TokenInfo {
  return { type: t.tokenType.name, text: t.image, start: t.startOffset, end: t.startOffset + t.image.length };
}
