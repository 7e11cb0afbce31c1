/**
 * A writer of indented lines that places comments: each token is written with the
 * comments attached to it (trivia.ts). Comments inside a construct stay inline,
 * one space on each side; a `//` comment ends the line, and what follows goes on
 * a continuation line. A token's trailing comments are held back until the next
 * token or the end of the line, so that punctuation the formatter adds (`,`) goes
 * before them, and so that the caller can take the last ones (to align them).
 */
import type { IToken } from 'chevrotain';
import type { Comment, Trivia } from './trivia.js';

export interface Line {
  /** Indentation level (two spaces each). */
  indent: number;
  text: string;
}

export interface TokOptions {
  /** No space before the token (`,`, `]`, `..`, `%`). Ignored after a comment. */
  glue?: boolean;
  /** Its leading comments are written by the caller, on lines of their own. */
  skipLeading?: boolean;
}

export class Flow {
  readonly lines: Line[];
  /** Indentation of the line that follows a `//` comment inside a construct. */
  cont: number;
  private pending: Comment[] = [];
  private fresh = true;
  private afterComment = false;

  constructor(
    readonly trivia: Trivia,
    indent: number,
  ) {
    this.lines = [{ indent, text: '' }];
    this.cont = indent + 1;
  }

  get current(): Line {
    return this.lines[this.lines.length - 1]!;
  }

  /** Writes a token of the input as `text`, with its comments. */
  tok(t: IToken, text: string, opts: TokOptions = {}): void {
    this.flush(' ');
    if (!opts.skipLeading) for (const c of this.trivia.of(t).leading) this.comment(c, ' ');
    this.put(text, opts.glue === true && !this.afterComment);
    this.pending = [...this.trivia.of(t).trailing];
  }

  /** Writes text that is not a token of the input (a `,` the formatter adds), before held-back comments. */
  punct(text: string): void {
    this.put(text, true);
  }

  /** Ends the current line (held-back comments go at its end) and starts one at `indent`. */
  newline(indent: number): void {
    this.flush('  ');
    // a `//` comment has already ended the line
    if (this.fresh && this.current.text === '') this.current.indent = indent;
    else this.lines.push({ indent, text: '' });
    this.fresh = true;
    this.afterComment = false;
  }

  /** A comment on a line of its own at `indent` (the current line must be fresh). */
  ownLine(c: Comment, indent: number): void {
    this.current.indent = indent;
    this.put(c.text, false);
    this.newline(indent);
  }

  /** Appends finished lines (a block's body) after the current line; the next line is at `indent`. */
  append(lines: readonly Line[], indent: number): void {
    this.flush('  ');
    if (this.fresh && this.current.text === '') this.lines.pop();
    this.lines.push(...lines);
    this.lines.push({ indent, text: '' });
    this.fresh = true;
    this.afterComment = false;
  }

  /** The comments held back after the last token; the caller writes them. */
  takeTrailing(): Comment[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Writes the held-back comments at the end of the last line. */
  finish(): Line[] {
    this.flush('  ');
    if (this.lines.length > 1 && this.fresh && this.current.text === '') this.lines.pop();
    return this.lines;
  }

  private flush(space: string): void {
    const cs = this.pending;
    this.pending = [];
    cs.forEach((c, i) => this.comment(c, i === 0 ? space : ' '));
  }

  private comment(c: Comment, space: string): void {
    if (!this.fresh) this.current.text += space;
    this.current.text += c.text;
    this.fresh = false;
    this.afterComment = true;
    if (!c.block) {
      this.lines.push({ indent: this.cont, text: '' });
      this.fresh = true;
    }
  }

  private put(text: string, glue: boolean): void {
    if (!this.fresh && !glue) this.current.text += ' ';
    this.current.text += text;
    this.fresh = false;
    this.afterComment = false;
  }
}
