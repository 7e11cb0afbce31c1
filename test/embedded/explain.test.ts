/**
 * The explain pages of the embedded-plan codes (PP7xxx) show a TypeScript file and what
 * `parplan check` prints for it. Both are checked here: the ```ts block, saved as the file
 * the ```sh block names, must print exactly the diagnostics shown there, and exit as a
 * warning (0) or an error (1) would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { CODES, type Code } from '../../src/diagnostics/codes.js';
import { project } from './helpers.js';

const DIR = join(import.meta.dirname, '..', '..', 'src', 'diagnostics', 'explain');
/**
 * PP7005 is about the synchronous analyze() given TypeScript: its page shows library calls (tested in runtime.test.ts).
 * PP7006 needs tens of thousands of nested parentheses, generated in test/hostile/cli.test.ts.
 */
const CODES_7 = (Object.keys(CODES) as Code[]).filter((c) => c.startsWith('PP7') && c !== 'PP7005' && c !== 'PP7006');

function fenced(text: string, lang: string): string[] {
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm');
  return [...text.matchAll(re)].map((m) => m[1]!);
}

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

describe('explain pages of the 7xxx codes', () => {
  for (const code of CODES_7) {
    it(`${code}: the TypeScript example prints what the page shows`, async () => {
      const page = readFileSync(join(DIR, `${code}.md`), 'utf8');
      const [ts] = fenced(page, 'ts');
      const [sh] = fenced(page, 'sh');
      expect(ts, 'a ```ts block').toBeDefined();
      const [command, ...shown] = sh!.trimEnd().split('\n');
      const name = /^\$ parplan check (\S+\.ts)$/.exec(command!)?.[1];
      expect(name, 'the ```sh block starts with `$ parplan check FILE.ts`').toBeDefined();
      const p = project({ [name!]: ts! });
      cleanups.push(p.cleanup);
      const io = memoryIo({ NO_COLOR: '1' });
      const exit = await runCli(['check', p.path(name!)], io);
      const printed = io.out().split(`${p.dir}/`).join('').trimEnd();
      expect(printed).toBe(shown.join('\n'));
      expect(exit).toBe(CODES[code].severity === 'error' ? 1 : 0);
    });
  }
});
