/**
 * Comments in every gap between two tokens of a file that uses every construct: the
 * result keeps every comment, in order, keeps the meaning, and is a fixed point.
 */
import { describe, expect, it } from 'vitest';
import { tokenize } from '../../grammar/index.js';
import { comments, formatPlanText } from '../../src/fmt/index.js';
import { meaning } from './helpers.js';

const BASE = `import "a.plan"
model m { a = 1  bb = [0..15, 16..31]  c = -5 ms ; d = { e = "s" } f { } g = [[1], {x = 1}, ] h = 10% }
plan p {}
`;

const COMMENTS = ['/* c1 */', '// c2\n', '\n// c3\n', '\n\n/* c4\n  more */\n'];

describe('a comment in every gap', () => {
  const { tokens } = tokenize(BASE);
  const gaps = [...new Set([0, ...tokens.flatMap((t) => [t.start, t.end]), BASE.length])].sort((a, b) => a - b);

  it('keeps it, in its order, with the meaning unchanged and a fixed point', () => {
    const failures: string[] = [];
    for (const at of gaps) {
      for (const c of COMMENTS) {
        const text = `${BASE.slice(0, at)} ${c} ${BASE.slice(at)}`;
        const once = formatPlanText(text, 'x.plan');
        const where = `${JSON.stringify(c)} at ${at}`;
        if (once.diagnostics.length > 0) {
          failures.push(`${where}: ${once.diagnostics.map((d) => d.message).join('; ')}`);
          continue;
        }
        if (formatPlanText(once.text, 'x.plan').text !== once.text) failures.push(`${where}: not idempotent`);
        if (JSON.stringify(meaning(once.text)) !== JSON.stringify(meaning(text))) failures.push(`${where}: meaning changed`);
        if (comments(once.text, 'x.plan').join('|') !== comments(text, 'x.plan').join('|')) failures.push(`${where}: comments changed`);
        if (!once.text.includes(c.trim().split('\n')[0]!)) failures.push(`${where}: comment lost`);
      }
    }
    expect(gaps.length).toBeGreaterThan(80);
    expect(failures).toEqual([]);
  });

  it('a comment between a key and its `{` stays there; the block indents under it', () => {
    const out = formatPlanText('model m { d = // why\n { e = 1 } }', 'x.plan').text;
    expect(out).toBe('model m {\n  d // why\n    {\n      e = 1\n    }\n}\n');
  });
});
