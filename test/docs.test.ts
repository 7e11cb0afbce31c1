/**
 * The long-form explanation pages, `src/diagnostics/explain/PPxxxx.md` (what
 * `parplan explain CODE` prints): one page per code, with the code's title, and
 * examples that are true. Each `## Example` block must produce the page's code
 * and each `## Fixed` block must check cleanly, through the real `analyze` with
 * the block as the only file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze, type Host } from '../src/analyze.js';
import { compilable } from '../src/compile.js';
import { CODES, isCode, type Code, type CodeInfo } from '../src/diagnostics/codes.js';
import { ENGINES, exportPlan, type Engine } from '../src/export/index.js';

const DIR = join(import.meta.dirname, '..', 'src', 'diagnostics', 'explain');
const EXAMPLE_PATH = '/example.plan';

/** Codes whose cause lies outside a `.plan` file (command line, files, parplan's own bugs): a `## Notes` section instead of examples. */
const NO_PLAN_EXAMPLE: ReadonlySet<Code> = new Set<Code>([
  'PP6001',
  'PP6002',
  'PP6003',
  'PP6004',
  // parplan train's command line and token files (src/cli/commands/train.ts)
  'PP6010',
  'PP6011',
  'PP6012',
  'PP6013',
  'PP6014',
  'PP9001',
  // Plans embedded in TypeScript: their ```ts examples run in test/embedded/explain.test.ts.
  'PP7001',
  'PP7002',
  'PP7003',
  'PP7004',
  'PP7005',
  'PP7006',
]);

const HEADINGS = ['Example', 'Fixed', 'Notes', 'See also'];

const pageFiles = readdirSync(DIR)
  .filter((f) => !f.startsWith('.'))
  .sort();
const codes = Object.keys(CODES) as Code[];

interface Page {
  code: Code;
  text: string;
  /** `## Heading` → the text under it, up to the next `## ` heading. */
  sections: Map<string, string>;
}

function readPage(code: Code): Page {
  const text = readFileSync(join(DIR, `${code}.md`), 'utf8');
  const sections = new Map<string, string>();
  const parts = text.split(/^## /m);
  for (const part of parts.slice(1)) {
    const nl = part.indexOf('\n');
    sections.set(part.slice(0, nl).trim(), part.slice(nl + 1));
  }
  return { code, text, sections };
}

/** The fenced blocks of a section with the given info string (```plan, ```sh). */
function blocks(section: string | undefined, lang: string): string[] {
  if (section === undefined) return [];
  const re = new RegExp('^[ \\t]*```' + lang + '\\n([\\s\\S]*?)^[ \\t]*```[ \\t]*$', 'gm');
  return [...section.matchAll(re)].map((m) => m[1]!);
}

/** Where a page's ```json block is served (Hugging Face config pages: `hf_config = "config.json"`). */
const CONFIG_PATH = '/config.json';

/** Where a page's ```csv block is served (request trace pages: `trace = "trace.csv"`). */
const TRACE_PATH = '/trace.csv';

/** The same ```json block is also served here (step-time profile pages: `profile = "profile.json"`). */
const PROFILE_PATH = '/profile.json';

/** A file system holding `/example.plan` and, when given, `/config.json` and `/trace.csv`; every other path is missing. */
function memoryHost(text: string, config?: string, trace?: string): Host {
  const files = new Map([[EXAMPLE_PATH, text]]);
  if (config !== undefined) files.set(CONFIG_PATH, config);
  if (config !== undefined) files.set(PROFILE_PATH, config);
  if (trace !== undefined) files.set(TRACE_PATH, trace);
  const missing = (path: string): Error =>
    Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  return {
    readFile: (path) => {
      const t = files.get(path);
      if (t !== undefined) return t;
      throw missing(path);
    },
    kind: (path) => (files.has(path) ? 'file' : path === '/' ? 'dir' : undefined),
    listDir: (path) => (path === '/' ? [...files.keys()].map((f) => f.slice(1)) : []),
  };
}

function check(text: string, config?: string, trace?: string) {
  return analyze([EXAMPLE_PATH], { host: memoryHost(text, config, trace) });
}

/** Export pages (8xxx) show `parplan export --to ENGINE [--model ID]` in a ```sh block: run it on the section's plan. */
function checkSection(text: string, section: string | undefined) {
  const a = check(text, blocks(section, 'json')[0], blocks(section, 'csv')[0]);
  // Compile pages (PP5005) show `parplan compile` in a ```sh block: add what compile finds before lowering.
  if (/parplan compile /.test(blocks(section, 'sh').join('\n')))
    return { ...a, diagnostics: [...a.diagnostics, ...compilable(a.results).diagnostics] };
  const cmd = /parplan export (.*)/.exec(blocks(section, 'sh').join('\n'))?.[1];
  if (cmd === undefined) return a;
  const to = /--to (\S+)/.exec(cmd)?.[1] as Engine;
  expect(ENGINES).toContain(to);
  const model = /--model (\S+)/.exec(cmd)?.[1];
  const exported = a.results.flatMap((r) => exportPlan(to, r.plan, model === undefined ? {} : { model }).diagnostics);
  return { ...a, diagnostics: [...a.diagnostics, ...exported] };
}

const show = (ds: ReturnType<typeof check>['diagnostics']) =>
  ds.map((d) => `${d.severity}[${d.code}] ${d.span ? `${d.span.line}:${d.span.column}` : (d.file ?? '')}: ${d.message}`);

describe('explain pages', () => {
  it('every code has a page', () => {
    const missing = codes.filter((c) => !pageFiles.includes(`${c}.md`));
    expect(missing).toEqual([]);
  });

  it('every page is named after a code', () => {
    const stray = pageFiles.filter((f) => !/^PP\d{4}\.md$/.test(f) || !isCode(f.slice(0, -3)));
    expect(stray).toEqual([]);
  });

  for (const code of codes) {
    const info: CodeInfo = CODES[code];
    describe(code, () => {
      const page = () => readPage(code);

      it(`starts with '# ${code}: ${info.title}'`, () => {
        expect(page().text.split('\n')[0]).toBe(`# ${code}: ${info.title}`);
      });

      it('has only the known sections, and the examples or notes its kind needs', () => {
        const p = page();
        expect([...p.sections.keys()].filter((h) => !HEADINGS.includes(h))).toEqual([]);
        // Prose before the first section says what the rule is.
        const intro = p.text.split(/^## /m)[0]!.split('\n').slice(1).join('\n').trim();
        expect(intro.length).toBeGreaterThan(200);
        if (NO_PLAN_EXAMPLE.has(code) || info.retired !== undefined) {
          expect(p.sections.has('Notes'), 'a page without examples explains itself in ## Notes').toBe(true);
          expect(p.sections.has('Example') || p.sections.has('Fixed')).toBe(false);
        } else {
          expect(blocks(p.sections.get('Example'), 'plan'), 'one ```plan block under ## Example').toHaveLength(1);
          expect(blocks(p.sections.get('Fixed'), 'plan'), 'one ```plan block under ## Fixed').toHaveLength(1);
        }
      });

      it('mentions only codes that exist', () => {
        const mentioned = [...page().text.matchAll(/\bPP\d{4}\b/g)].map((m) => m[0]);
        expect(mentioned.filter((c) => !isCode(c))).toEqual([]);
      });

      if (info.retired !== undefined) return;
      if (NO_PLAN_EXAMPLE.has(code)) {
        it('shows the diagnostic as the command line prints it', () => {
          const p = page();
          const shell = blocks(p.sections.get('Notes'), 'sh').join('\n');
          // The shown message is the code's template with its arguments filled in.
          const line = shell.split('\n').find((l) => l.startsWith(`${info.severity}[${code}]: `));
          expect(line, `a \`\`\`sh block under ## Notes shows ${info.severity}[${code}]`).toBeDefined();
          const pattern = info.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{\w+\\\}/g, '.+');
          expect(line!.slice(`${info.severity}[${code}]: `.length)).toMatch(new RegExp(`^${pattern}$`));
          if (code === 'PP9001') expect(shell).toContain('PARPLAN_DEBUG=1');
        });
        return;
      }

      it('its Example produces it, inside the example', () => {
        const section = page().sections.get('Example');
        const [example] = blocks(section, 'plan');
        const a = checkSection(example!, section);
        const hits = a.diagnostics.filter((d) => d.code === code);
        expect(hits.length, `${code} expected; got:\n${show(a.diagnostics).join('\n')}`).toBeGreaterThan(0);
        for (const d of hits) {
          expect(d.severity).toBe(info.severity);
          // Inside the example, or inside its config (```json, served as /config.json).
          const shown = d.span?.file === CONFIG_PATH || d.span?.file === PROFILE_PATH ? blocks(section, 'json')[0]! : example!;
          expect([EXAMPLE_PATH, CONFIG_PATH, TRACE_PATH, PROFILE_PATH]).toContain(d.span?.file);
          expect(d.span!.start).toBeGreaterThanOrEqual(0);
          expect(d.span!.end).toBeLessThanOrEqual(shown.length);
        }
        expect(a.diagnostics.filter((d) => d.code === 'PP9001')).toEqual([]);
      });

      it('its Fixed version checks cleanly', () => {
        const section = page().sections.get('Fixed');
        const [fixed] = blocks(section, 'plan');
        const a = checkSection(fixed!, section);
        const bad = a.diagnostics.filter((d) => d.severity === 'error' || d.code === code);
        expect(show(bad)).toEqual([]);
        // A fixed example is a whole plan, checked and sized, not just a file without errors.
        expect(a.results.length).toBeGreaterThan(0);
        expect(a.results.every((r) => r.fits)).toBe(true);
      });
    });
  }
});
