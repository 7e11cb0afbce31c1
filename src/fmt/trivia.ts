/**
 * Comments and blank lines, attached to the tokens the formatter prints.
 *
 * The lexer skips comments, so they are recovered from the text between two
 * printed tokens. A comment that starts on the line where the previous token ends
 * is *trailing* (it stays after that token); any other comment is *leading* (it
 * stays above, or just before, the next token). Tokens the formatter re-creates
 * itself (`;`, `,`, the `=` of `key = { … }`) are not printed tokens: comments
 * next to them attach to the printed neighbours, so nothing is lost.
 */
import type { IToken } from 'chevrotain';

export interface Comment {
  /** As written; line comments without trailing blanks, block comments with `\n` line ends. */
  text: string;
  /** `/* … *\/` (may continue on the same line) rather than `// …` (ends the line). */
  block: boolean;
  /** A blank line separates it from what came before. */
  blankBefore: boolean;
}

export interface Attached {
  leading: Comment[];
  trailing: Comment[];
  /** A blank line between the last leading comment (or the previous token) and the token. */
  blankBefore: boolean;
}

const NONE: Attached = Object.freeze({ leading: [], trailing: [], blankBefore: false }) as Attached;

export interface Trivia {
  of(t: IToken): Attached;
  /** Comments after the last token (or of a file without tokens). */
  end: Attached;
}

/** `tokens`: the printed tokens, in text order. */
export function collectTrivia(text: string, tokens: readonly IToken[]): Trivia {
  const map = new Map<IToken, Attached>();
  let prevEnd = 0;
  let prev: Attached | undefined;
  for (const t of tokens) {
    const here: Attached = { leading: [], trailing: [], blankBefore: false };
    scanGap(text, prevEnd, t.startOffset, prev, here);
    map.set(t, here);
    prev = here;
    prevEnd = t.startOffset + t.image.length;
  }
  const end: Attached = { leading: [], trailing: [], blankBefore: false };
  scanGap(text, prevEnd, text.length, prev, end);
  return { of: (t) => map.get(t) ?? NONE, end };
}

const GAP = /\/\/[^\r\n]*|\/\*[\s\S]*?\*\/|\n|[^\n/]+|\//g;

/** Sort the comments between two tokens into `prev`'s trailing and `next`'s leading ones. */
function scanGap(text: string, from: number, to: number, prev: Attached | undefined, next: Attached): void {
  const gap = text.slice(from, to);
  let sameLine = prev !== undefined; // still on the line where the previous token ends
  let newlines = 0; // since the previous token or comment
  GAP.lastIndex = 0;
  for (let m = GAP.exec(gap); m !== null; m = GAP.exec(gap)) {
    const s = m[0];
    if (s === '\n') {
      sameLine = false;
      newlines++;
    } else if (s.startsWith('//') || (s.startsWith('/*') && s.endsWith('*/') && s.length >= 4)) {
      const block = s.startsWith('/*');
      const comment: Comment = {
        text: block ? s.replace(/\r\n?/g, '\n') : s.trimEnd(),
        block,
        blankBefore: newlines >= 2,
      };
      if (sameLine) prev!.trailing.push(comment);
      else next.leading.push(comment);
      if (s.includes('\n')) sameLine = false;
      newlines = 0;
    }
  }
  next.blankBefore = newlines >= 2;
}
