/**
 * The lines of a block's body: entries, comment lines, blank lines. Consecutive
 * one-line `key = value` entries form a run; a blank line, a comment line or an
 * entry on several lines (a nested block, a broken list) ends it. In a run the `=`
 * signs are aligned, and so are the trailing comments.
 */
import type { Line } from './flow.js';
import type { Comment } from './trivia.js';

/** Comments that share a line, one space apart. */
export function commentText(cs: readonly Comment[]): string {
  return cs.map((c) => c.text).join(' ');
}

export interface Aligned {
  /** The key (with any comment before the `=`). */
  lhs: string;
  /** From the `=` to the end of the value. */
  rhs: string;
  trailing: Comment[];
}

export type BodyItem = { kind: 'blank' } | { kind: 'comment'; text: string } | { kind: 'entry'; lines: Line[]; align?: Aligned };

export function layoutBody(items: readonly BodyItem[], depth: number): Line[] {
  const out: Line[] = [];
  let run: Aligned[] = [];
  const endRun = () => {
    out.push(...alignRun(run).map((text) => ({ indent: depth, text })));
    run = [];
  };
  for (const item of items) {
    if (item.kind === 'entry' && item.align) {
      run.push(item.align);
      continue;
    }
    endRun();
    if (item.kind === 'blank') {
      // at most one, and none right after `{`
      if (out.length > 0 && out[out.length - 1]!.text !== '') out.push({ indent: 0, text: '' });
    } else if (item.kind === 'comment') {
      out.push({ indent: depth, text: item.text });
    } else {
      out.push(...item.lines);
    }
  }
  endRun();
  // none right before `}`
  while (out.length > 0 && out[out.length - 1]!.text === '') out.pop();
  return out;
}

function alignRun(run: readonly Aligned[]): string[] {
  const keyWidth = Math.max(0, ...run.map((e) => e.lhs.length));
  const texts = run.map((e) => `${e.lhs.padEnd(keyWidth)} ${e.rhs}`);
  const commentAt = Math.max(0, ...texts.filter((_, i) => run[i]!.trailing.length > 0).map((t) => t.length + 2));
  return texts.map((t, i) => {
    const cs = run[i]!.trailing;
    return cs.length === 0 ? t : `${t.padEnd(commentAt)}${commentText(cs)}`;
  });
}
