/**
 * Issue 13, items 2, 4 (output), 8, 9 and 12: what the command line prints and writes
 * when its input is hostile. Control characters never reach the terminal raw, output is
 * bounded by a line's window rather than its length, `-o` never overwrites an input, user
 * input never ends in an internal error, and the summary counts the plans processed.
 * Large inputs are generated here, into a temporary repository.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { analyze, type Host } from '../../src/analyze.js';
import { nodeHost } from '../../src/load.js';
import { LIMITS } from '../../src/facts/limits.js';
import { sourceWindow } from '../../src/render/text.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = 'model m {\n  arch = llama  layers = 2  hidden = 64  heads = 4  ffn = 128  vocab = 100  max_seq = 64\n}\n';
const FORMATS = ['text', 'json', 'sarif', 'github'] as const;
/** ESC and CSI sequences, a C1 CSI, CR, a bidi override and isolate: none may be printed raw. */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let repo: string;

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'parplan-hostile-cli-'));
  mkdirSync(join(repo, '.git'));
});
afterAll(() => rmSync(repo, { recursive: true, force: true }));

function file(name: string, text: string | Buffer): string {
  const p = join(repo, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

async function cli(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' }, repo);
  const started = performance.now();
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err(), all: io.out() + io.err(), ms: performance.now() - started };
}

const firstLine = (s: string) => s.split('\n')[0];

describe('item 2: control characters are escaped wherever input is echoed', () => {
  // An identifier cut by ESC, a string holding CSI sequences, CR and bidi controls.
  const hostile = 'model m\u001b[31mRED {\n  arch = "\u001b]0;owned\u0007\u009b2J\r\u202eevil\u2066"\n}\n';

  it('check: text, json, sarif and github print no raw control character', async () => {
    const p = file('esc.plan', hostile);
    for (const format of FORMATS) {
      const r = await cli('check', '--format', format, p);
      expect(r.code).toBe(1);
      expect(r.all, format).not.toMatch(RAW);
      expect(r.all).toContain('PP1001');
    }
    const text = await cli('check', p);
    expect(firstLine(text.out)).toBe("error[PP1001]: unexpected character '\\u{1b}'");
    expect(text.out).toContain('1 | model m\\u{1b}[31mRED {');
    // The carets stay under the escaped character.
    expect(text.out).toContain('  |        ^^^^^^\n');
    // JSON carries the same text, escaped the JSON way.
    const json = await cli('check', '--format', 'json', p);
    expect(JSON.parse(json.out).diagnostics.length).toBeGreaterThan(0);
  });

  it('a file name found in a directory is escaped too (text, github, fmt --check)', async () => {
    const name = 'dir-esc/a\u001b[2J\u202e.plan';
    file(name, 'model   m {\n}\n');
    const r = await cli('check', join(repo, 'dir-esc'));
    expect(r.all).not.toMatch(RAW);
    expect(r.out).toContain('a\\u{1b}[2J\\u{202e}.plan');
    const gh = await cli('check', '--format', 'github', join(repo, 'dir-esc'));
    expect(gh.all).not.toMatch(RAW);
    const fmt = await cli('fmt', '--check', join(repo, 'dir-esc'));
    expect(fmt.all).not.toMatch(RAW);
    expect(fmt.out).toContain('would reformat ');
  });

  it("explain's argument and unknown options are escaped", async () => {
    const r = await cli('explain', 'PP\u001b[2J\u009b1');
    expect(r.code).toBe(2);
    expect(firstLine(r.err)).toBe("error: unknown code 'PP\\u{1b}[2J\\u{9b}1'");
    expect(r.all).not.toMatch(RAW);
    const o = await cli('check', '--\u001b[2J');
    expect(o.code).toBe(2);
    expect(o.all).not.toMatch(RAW);
  });

  it('the HTML report shows them escaped', async () => {
    const p = file('esc-report.plan', hostile);
    const out = join(repo, 'esc-report.html');
    const r = await cli('report', p, '-o', out);
    expect(r.code).toBe(1);
    expect(r.all).not.toMatch(RAW);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/[\u001b\u009b\u202e\u2066]/);
    expect(html).toContain('\\u{1b}');
  });
});

describe('item 4: output is bounded by a window of the line, not its length', () => {
  const MB = 900_000;
  const shapes: [string, string | Buffer][] = [
    ['x', 'x'.repeat(MB)],
    ['nul', Buffer.alloc(MB)],
    ['at', '@ '.repeat(MB / 2)],
    ['name', `model ${'a'.repeat(MB)} {\n}\n`],
    ['key', `model m {\n  ${'k'.repeat(MB)} = 1\n}\n`],
  ];

  // At most LIMITS.syntaxErrorsPerFile diagnostics, each with a bounded message and window:
  // under 100 KB whatever the line's length (SARIF, the most verbose, about 600 bytes each).
  it('a 900 KB one-line file gives under 100 KB in text, json, sarif, github and the report', async () => {
    for (const [name, text] of shapes) {
      const p = file(`long-${name}.plan`, text);
      for (const format of FORMATS) {
        const r = await cli('check', '--format', format, p);
        expect(r.code, `${name} ${format}`).toBe(1);
        expect(r.all.length, `${name} ${format}`).toBeLessThan(100_000);
        expect(r.ms, `${name} ${format}`).toBeLessThan(20_000);
      }
      const html = join(repo, `long-${name}.html`);
      const r = await cli('report', p, '-o', html);
      expect(r.code).toBe(1);
      expect(statSync(html).size, `${name} report`).toBeLessThan(100_000);
    }
  }, 180_000);

  it('a line of many errors prints each with a window: output linear in the input', async () => {
    const line = 'model m { ' + Array.from({ length: 5000 }, (_, i) => `k${i} = "${'v'.repeat(50)}"`).join(' ') + ' }\n';
    const p = file('many.plan', line);
    const r = await cli('check', p);
    expect(r.code).toBe(1);
    expect(r.out).toContain("unknown key 'k4999'");
    expect(r.out.length).toBeLessThan(line.length * 10);
  }, 60_000);

  it('the window keeps the carets under the span, with … where text is left out', () => {
    const line = 'a'.repeat(500_000) + '\tBAD\u001b' + 'b'.repeat(500_000);
    const w = sourceWindow(line, 500_001, 500_004);
    expect([...w.text].length).toBeLessThanOrEqual(LIMITS.sourceLineColumns);
    expect(w.text.startsWith('…') && w.text.endsWith('…')).toBe(true);
    expect(w.text.slice(w.caretAt, w.caretAt + w.caretWidth)).toBe('BAD');
    // A short line is shown whole, as before.
    expect(sourceWindow('  tensor = 3', 11, 12)).toEqual({ text: '  tensor = 3', caretAt: 11, caretWidth: 1 });
  });

  it('a quoted name in a message is cut at LIMITS.messageArgChars', async () => {
    const r = await cli('check', '--format', 'json', file('long-key.plan', `model m {\n  ${'k'.repeat(10_000)} = 1\n}\n`));
    const d = JSON.parse(r.out).diagnostics.find((x: { code: string }) => x.code === 'PP2002');
    expect(d.message).toMatch(/^unknown key 'k+…' in /);
    expect(d.message.length).toBeLessThan(LIMITS.messageArgChars + 50);
  });
});

describe('item 8: -o never overwrites an input', () => {
  let plan: string;
  let before: string;
  beforeAll(() => {
    plan = join(repo, 'tiny.plan');
    copyFileSync(join(ROOT, 'examples', 'runtime', 'tiny.plan'), plan);
    before = readFileSync(plan, 'utf8');
  });
  const unchanged = () => expect(readFileSync(plan, 'utf8')).toBe(before);
  const refused = "error[PP6004]: cannot write 'tiny.plan': it is the input file 'tiny.plan', which would be overwritten";

  it('compile -o INPUT, as a graph or as TypeScript', async () => {
    for (const emit of ['graph', 'ts']) {
      const r = await cli('compile', plan, '--plan', 'gpt2_tiny_1', '--emit', emit, '-o', 'tiny.plan');
      expect(r.code).toBe(2);
      expect(firstLine(r.err)).toBe(refused);
      expect(r.err).toContain('= help: write the output elsewhere');
      unchanged();
    }
    // Both plans: -o names a directory to hold two graphs, and the plan is not one.
    const both = await cli('compile', plan, '-o', 'tiny.plan');
    expect(both.code).toBe(2);
    expect(firstLine(both.err)).toBe(
      `error[PP6004]: cannot write '${plan}': it exists and is not a directory, and the output is several files`,
    );
    unchanged();
  });

  it('report -o INPUT, and -o a symbolic link to it', async () => {
    const r = await cli('report', plan, '-o', 'tiny.plan');
    expect(r.code).toBe(2);
    expect(firstLine(r.err)).toBe(refused);
    symlinkSync(plan, join(repo, 'link.html'));
    const l = await cli('report', plan, '-o', 'link.html');
    expect(l.code).toBe(2);
    expect(firstLine(l.err)).toBe("error[PP6004]: cannot write 'link.html': it is the input file 'tiny.plan', which would be overwritten");
    unchanged();
  });

  it('an import is an input too', async () => {
    const models = file('imp/models.plan', MODEL);
    const root = file('imp/root.plan', 'import "models.plan"\n');
    const r = await cli('compile', root, '-o', relative(repo, models));
    // No plan to compile: nothing is written, and nothing refused.
    expect(r.code).not.toBe(3);
    const before = readFileSync(models, 'utf8');
    const rep = await cli('report', root, '-o', relative(repo, models));
    expect(rep.code).toBe(2);
    expect(firstLine(rep.err)).toBe(
      "error[PP6004]: cannot write 'imp/models.plan': it is the input file 'imp/models.plan', which would be overwritten",
    );
    expect(readFileSync(models, 'utf8')).toBe(before);
  });

  it('suggest -o INPUT is refused (it was an internal error)', async () => {
    const p = file('suggest.plan', MODEL + 'cluster c {\n  gpu = L4\n  gpus = 2\n}\n');
    const text = readFileSync(p, 'utf8');
    const r = await cli('suggest', '--model', 'm', '--cluster', 'c', '--mode', 'serve', '-o', 'suggest.plan', p);
    expect(r.code).toBe(2);
    expect(firstLine(r.err)).toBe(
      "error[PP6004]: cannot write 'suggest.plan': it is the input file 'suggest.plan', which would be overwritten",
    );
    expect(readFileSync(p, 'utf8')).toBe(text);
  });

  it('export -o DIR refuses a file it would write over an input', async () => {
    // An input named as the exporter names its script, exported into its own directory.
    const dir = join(repo, 'export');
    file('export/models/llama.plan', readFileSync(join(ROOT, 'examples', 'models', 'llama.plan')));
    const input = file('export/llama3_8b_l4.vllm.sh', readFileSync(join(ROOT, 'examples', 'llama3-8b-l4-tp2-serve.plan')));
    const before = readFileSync(input, 'utf8');
    const r = await cli('export', '--to', 'vllm', input, '-o', relative(repo, dir));
    expect(r.code).toBe(2);
    // After the exporter's notes on the plan:
    expect(r.err.split('\n').find((l) => l.startsWith('error'))).toBe(
      "error[PP6004]: cannot write 'export/llama3_8b_l4.vllm.sh': it is the input file 'export/llama3_8b_l4.vllm.sh', which would be overwritten",
    );
    expect(readFileSync(input, 'utf8')).toBe(before);
  });
});

describe('item 9: user input never ends in an internal error', () => {
  it('50,000 nested parentheses in a .ts file: PP7006 at the file, exit 1', async () => {
    const p = file('nest.ts', `import { plan } from 'parplan';\nexport const x = ${'('.repeat(50_000)}1${')'.repeat(50_000)};\n`);
    const r = await cli('check', p);
    expect(r.code).toBe(1);
    expect(firstLine(r.out)).toBe(`error[PP7006]: cannot read the plans in '${p}': its code nests too deeply for the TypeScript parser`);
  }, 60_000);

  it('a TypeScript file larger than LIMITS.typescriptFileBytes is not parsed: PP6001, exit 2', async () => {
    const p = file('big.ts', `import { plan } from 'parplan';\n// ${'x'.repeat(LIMITS.typescriptFileBytes)}\n`);
    const r = await cli('check', p);
    expect(r.code).toBe(2);
    expect(firstLine(r.out)).toBe(
      `error[PP6001]: cannot read '${p}': it is larger than 2 MiB, the most parplan reads as a TypeScript file`,
    );
  });

  it('a random 1 MB file and a 10 MB string literal are user errors (exit 1, 2), not internal ones', async () => {
    const random = Buffer.alloc(1_000_000);
    let seed = 13;
    for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const r = await cli('check', file('random.plan', random));
    expect(r.code).toBe(1);
    expect(r.all).not.toContain('PP9001');
    const s = await cli('check', file('string.plan', `model m { arch = "${'s'.repeat(10_000_000)}" }\n`));
    expect(s.code).toBe(2);
    expect(firstLine(s.out)).toMatch(/^error\[PP6001\]: cannot read '.*string\.plan': it is larger than 1 MiB/);
  }, 60_000);

  it('a 20,000-import chain stops at LIMITS.importDepth', async () => {
    const dir = join(repo, 'chain');
    mkdirSync(dir);
    for (let i = 0; i < 20_000; i++) writeFileSync(join(dir, `f${i}.plan`), i === 19_999 ? MODEL : `import "f${i + 1}.plan"\n`);
    const r = await cli('check', join(dir, 'f0.plan'));
    expect(r.code).toBe(1);
    expect(firstLine(r.out)).toBe(
      `error[PP2016]: import 'f${LIMITS.importDepth + 1}.plan' is not allowed: imports nest deeper than ${LIMITS.importDepth} files`,
    );
  }, 60_000);

  it('an unreadable subdirectory is PP6001, not an internal error', () => {
    const host: Host = {
      ...nodeHost,
      listDir: (p) => {
        if (p.endsWith('locked')) throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
        return nodeHost.listDir(p);
      },
      listEntries: undefined,
    };
    const dir = join(repo, 'walk');
    file('walk/ok.plan', MODEL);
    mkdirSync(join(dir, 'locked'));
    const a = analyze([dir], { host });
    expect(a.diagnostics.map((d) => `${d.code} ${d.message}`)).toContain(`PP6001 cannot read '${join(dir, 'locked')}': permission denied`);
  });
});

describe('item 12: the summary after report, export and compile counts the plans', () => {
  const misfit = join(ROOT, 'examples', 'misfit', 'llama2-70b-one-a100.plan');

  it('report and compile of a plan that does not fit', async () => {
    const r = await cli('report', misfit, '-o', join(repo, 'misfit.html'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('\n1 plan checked: 0 fit, 1 does not fit; 1 error, 0 warnings\n');
    const c = await cli('compile', misfit, '-o', join(repo, 'misfit-graphs'));
    expect(c.code).toBe(1);
    expect(c.err).toContain('\n1 plan checked: 0 fit, 1 does not fit; 1 error, 0 warnings\n');
  });

  it('export of a plan with warnings', async () => {
    const r = await cli('export', '--to', 'vllm', join(ROOT, 'examples', 'llama2-70b-a100-serve.plan'));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\n1 plan checked: 1 fits, 0 do not fit; 0 errors, \d+ warnings?\n$/);
  });
});
