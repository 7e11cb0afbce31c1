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
import { LIMITS } from '../src/facts/limits.js';
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
    const tooDeep = limitNesting(lexed.tokens, source);
    const tokens = tooDeep ? lexed.tokens.slice(0, tooDeep.at) : lexed.tokens;
    const parser = getParser();
    const cst = parser.parseTokens(tokens);
    const syntax = syntaxDiagnostics(parser.errors, tokens, source, lexed.endsUnterminated || !!tooDeep, lexed.dropped);
    const built = toAst(cst, source);
    const all = sortDiagnostics([...lexed.diagnostics, ...(tooDeep ? [tooDeep.diagnostic] : []), ...syntax, ...built.diagnostics]);
    return { ast: built.ast, diagnostics: capErrors(all, source) };
  } catch (e) {
    // A bug in the grammar, never a user mistake: report it rather than crash the caller.
    const detail = e instanceof Error ? e.message : String(e);
    return {
      ast: { file, imports: [], declarations: [] },
      diagnostics: [diag('PP9001', source.span(0, 0), { detail: `parser failed: ${detail}` })],
    };
  }
}

/** Deeper nesting than any real plan needs; the limit keeps the recursive parser far from a stack overflow. */
export const MAX_NESTING = LIMITS.nesting;

/** The first LIMITS.syntaxErrorsPerFile errors, then one PP1005 at the next that counts the rest. */
function capErrors(sorted: Diagnostic[], source: SourceFile): Diagnostic[] {
  const errors = sorted.filter((d) => d.severity === 'error');
  if (errors.length <= LIMITS.syntaxErrorsPerFile) return sorted;
  const first = errors[LIMITS.syntaxErrorsPerFile]!;
  const shown = new Set(errors.slice(0, LIMITS.syntaxErrorsPerFile));
  const kept = sorted.filter((d) => d.severity !== 'error' || shown.has(d));
  const rest = errors.length - LIMITS.syntaxErrorsPerFile;
  kept.push(
    diag('PP1005', first.span ?? source.span(0, 0), { count: rest }, { help: 'fix the errors above first; is this a .plan file?' }),
  );
  return kept;
}

/** The first `{` or `[` nested deeper than MAX_NESTING: the parse stops there, with one PP1002. */
function limitNesting(tokens: IToken[], source: SourceFile): { at: number; diagnostic: Diagnostic } | undefined {
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.image === '{' || t.image === '[') {
      if (++depth > MAX_NESTING) {
        const span = source.span(t.startOffset, t.startOffset + 1);
        const detail = `blocks and lists are nested more than ${MAX_NESTING} deep; the rest of the file is not parsed`;
        return { at: i, diagnostic: diag('PP1002', span, { detail }) };
      }
    } else if (t.image === '}' || t.image === ']') {
      depth = Math.max(0, depth - 1);
    }
  }
  return undefined;
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
