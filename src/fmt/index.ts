/**
 * `parplan fmt`: the canonical layout of a `.plan` file (rules in docs/language.md,
 * "Formatting"). Works on the tokens and the CST, not the AST, so that every
 * comment stays where it was. A file with syntax errors is returned unchanged,
 * with its diagnostics.
 *
 * Every result is checked before it is returned: it must parse to the same AST
 * (positions aside) and hold the same comments, in the same order. If not, that is
 * a bug in the formatter: the text is returned unchanged with a PP9001.
 */
import { parse } from '../../grammar/index.js';
import { lex } from '../../grammar/lexer.js';
import { getParser } from '../../grammar/parser.js';
import type { FileCstNode } from '../../grammar/cst.generated.js';
import { InternalError } from '../diagnostics/codes.js';
import { diag, hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import { SourceFile } from '../source.js';
import type { Line } from './flow.js';
import { Printer } from './print.js';
import { printedTokens } from './printed.js';
import { sameAst } from './same-ast.js';
import { collectTrivia } from './trivia.js';

export interface FormatResult {
  /** The formatted text; the input unchanged when `diagnostics` has errors. */
  text: string;
  /** The syntax diagnostics of the input (PP1xxx), or a PP9001 if the formatter failed. */
  diagnostics: Diagnostic[];
}

/** Format the text of one `.plan` file; `file` is the path used in diagnostics. */
export function formatPlanText(text: string, file: string): FormatResult {
  const parsed = parse(text, file);
  if (hasErrors(parsed.diagnostics)) return { text, diagnostics: parsed.diagnostics };
  let out: string;
  try {
    out = render(formatLines(text, file));
  } catch (e) {
    return { text, diagnostics: [fromError(file, e)] };
  }
  const problem = verify(text, out, file, parsed.ast);
  if (problem) return { text, diagnostics: [internal(file, problem)] };
  return { text: out, diagnostics: parsed.diagnostics };
}

function formatLines(text: string, file: string): Line[] {
  const { tokens } = lex(new SourceFile(file, text));
  const parser = getParser();
  const cst = parser.parseTokens(tokens) as FileCstNode;
  if (parser.errors.length > 0) throw new InternalError('fmt: the parser reports errors that parse() did not');
  return new Printer(collectTrivia(text, printedTokens(tokens, cst))).file(cst);
}

/** Lines → text: two spaces per level, no trailing blanks, exactly one final newline. */
function render(lines: readonly Line[]): string {
  const text = lines.map((l) => (l.text === '' ? '' : '  '.repeat(l.indent) + l.text)).join('\n');
  const trimmed = text.replace(/\n+$/, '');
  return trimmed === '' ? '' : `${trimmed}\n`;
}

/** Why `out` is not a faithful layout of `text`, or undefined when it is. */
function verify(text: string, out: string, file: string, ast: ReturnType<typeof parse>['ast']): string | undefined {
  const again = parse(out, file);
  if (hasErrors(again.diagnostics)) return `fmt produced text with syntax errors for ${file}`;
  if (!sameAst(ast, again.ast)) return `fmt would change the meaning of ${file}`;
  if (comments(text, file).join('\u0000') !== comments(out, file).join('\u0000')) return `fmt would lose or reorder comments of ${file}`;
  return undefined;
}

/** Every comment's text, in order. */
export function comments(text: string, file: string): string[] {
  const { tokens } = lex(new SourceFile(file, text));
  const trivia = collectTrivia(text, tokens);
  const all = tokens.flatMap((t) => [...trivia.of(t).leading, ...trivia.of(t).trailing]);
  return [...all, ...trivia.end.leading].map((c) => c.text);
}

function internal(file: string, detail: string): Diagnostic {
  return { ...diag('PP9001', undefined, { detail }), file };
}

/** A bug met while formatting, as a PP9001 (the file is then left as it is). */
function fromError(file: string, e: unknown): Diagnostic {
  if (e instanceof InternalError) return { ...internal(file, ''), message: e.message };
  return internal(file, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}
