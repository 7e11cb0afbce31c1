/**
 * Issue 13, items 1 and 5 (imports and paths): a plan file may read only the project's own
 * `.plan` files, and nothing a path names can hang `check` or exhaust its memory. Each case
 * asserts the exit code and the diagnostic; none may echo what a refused file holds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { analyze, type Host } from '../../src/analyze.js';
import { nodeHost } from '../../src/load.js';
import { LIMITS } from '../../src/facts/limits.js';

const MODEL = 'model m {\n  arch = llama  layers = 2  hidden = 64  heads = 4  ffn = 128  vocab = 100  max_seq = 64\n}\n';
const FORMATS = ['text', 'json', 'sarif', 'github'] as const;
const SECRET = 'parplan-hostile-secret-7f3a';

let base: string;
/** A repository (it has a `.git`) and a directory outside it. */
let repo: string;
let outside: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'parplan-hostile-'));
  repo = join(base, 'repo');
  outside = join(base, 'outside');
  mkdirSync(join(repo, '.git'), { recursive: true });
  mkdirSync(join(repo, 'plans'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.plan'), `model ${SECRET} {\n`);
  writeFileSync(join(repo, 'models.plan'), MODEL);
  process.env.PARPLAN_HOSTILE_SECRET = SECRET;
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
  delete process.env.PARPLAN_HOSTILE_SECRET;
});

async function check(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(['check', ...argv], io);
  return { code, out: io.out(), err: io.err(), all: io.out() + io.err() };
}

function plan(name: string, text: string): string {
  const p = join(repo, 'plans', name);
  writeFileSync(p, text);
  return p;
}

describe('imports are confined to the project', () => {
  it('import "/proc/self/environ" is refused before reading, in every output format', async () => {
    const p = plan('environ.plan', 'import "/proc/self/environ"\n' + MODEL);
    for (const format of FORMATS) {
      const r = await check('--format', format, p);
      expect(r.code).toBe(1);
      expect(r.all).toContain('PP2016');
      expect(r.all).toContain('only .plan files can be imported');
      expect(r.all).not.toContain(SECRET);
    }
  });

  it('import "/etc/passwd" shows none of its lines', async () => {
    const r = await check(plan('passwd.plan', 'import "/etc/passwd"\n'));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/error\[PP2016\]: import '\/etc\/passwd' is not allowed: only \.plan files can be imported/);
    expect(r.out).not.toMatch(/root:/);
  });

  it('a .plan file outside the repository is refused, by a relative or an absolute path', async () => {
    for (const path of ['../../outside/secret.plan', join(outside, 'secret.plan')]) {
      const r = await check(plan('escape.plan', `import "${path}"\n`));
      expect(r.code).toBe(1);
      expect(r.out).toContain('is not allowed: it is outside the repository that holds the checked file');
      expect(r.out).not.toContain(SECRET);
    }
  });

  it('a symbolic link inside the repository that points outside it is refused (the real path decides)', async () => {
    symlinkSync(join(outside, 'secret.plan'), join(repo, 'plans', 'link.plan'));
    const r = await check(plan('via-link.plan', 'import "link.plan"\n'));
    expect(r.code).toBe(1);
    expect(r.out).toContain("import 'link.plan' is not allowed: it is outside the repository");
    expect(r.out).not.toContain(SECRET);
    // Walking the directory finds link.plan itself: refused as a root file too.
    const walked = await check(join(repo, 'plans'));
    expect(walked.all).toMatch(/PP6001.*link\.plan.*symbolic link to outside/);
    expect(walked.all).not.toContain(SECRET);
    rmSync(join(repo, 'plans', 'link.plan'));
  });

  it('--root widens the tree; an import inside it is read', async () => {
    const p = plan('wide.plan', `import "../../outside/ok.plan"\n`);
    writeFileSync(join(outside, 'ok.plan'), MODEL);
    expect((await check(p)).code).toBe(1);
    const r = await check('--root', base, p);
    expect(r.all).not.toContain('PP2016');
    expect(r.code).toBe(0);
  });

  it('a TypeScript plan does not follow a relative import out of the repository (its value is not read)', async () => {
    writeFileSync(
      join(outside, 'model.ts'),
      `export const M = { arch: 'llama', layers: 2, hidden: 64, heads: 4, ffn: 128, vocab: 100, max_seq: 64, tag: '${SECRET}' } as const;\n`,
    );
    const ts = join(repo, 'plans', 'app.ts');
    writeFileSync(ts, `import { model } from 'parplan';\nimport { M } from '../../outside/model.ts';\nexport const m = model('m', M);\n`);
    const refused = await check(ts);
    expect(refused.all).toContain("warning[PP7001]: cannot evaluate 'M' statically");
    expect(refused.all).not.toContain(SECRET);
    const wide = await check('--root', base, ts);
    expect(wide.all).not.toContain('PP7001');
    rmSync(ts);
  });

  it('imports inside the repository still work, in the tree above the checked file too', async () => {
    const r = await check(plan('fine.plan', 'import "../models.plan"\n'));
    expect(r.all).not.toMatch(/PP20\d\d/);
  });
});

describe('nothing a path names hangs or exhausts memory', () => {
  it('a FIFO, as an import or in a checked directory, is refused without being opened', async () => {
    const dir = join(repo, 'fifo');
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'pipe.plan')]);
    const imp = await check(plan('fifo.plan', 'import "../fifo/pipe.plan"\n'));
    expect(imp.out).toContain("import '../fifo/pipe.plan' is not allowed: it is not a regular file");
    const walked = await check(dir);
    expect(walked.code).toBe(2);
    expect(walked.all).toMatch(/cannot read '.*pipe\.plan': it is not a regular file/);
    const given = await check(join(dir, 'pipe.plan'));
    expect(given.code).toBe(2);
    expect(given.all).toContain('it is not a regular file or a directory');
    rmSync(dir, { recursive: true });
  });

  it('a link to /dev/zero named *.plan: outside the repository; with --root /, not a regular file', async () => {
    symlinkSync('/dev/zero', join(repo, 'plans', 'zero.plan'));
    const p = plan('zero-import.plan', 'import "zero.plan"\n');
    expect((await check(p)).out).toContain('it is outside the repository');
    expect((await check('--root', '/', p)).out).toContain("import 'zero.plan' is not allowed: it is not a regular file");
    rmSync(join(repo, 'plans', 'zero.plan'));
  });

  it(`a file over ${LIMITS.planFileBytes} bytes is not read, as an import or as the checked file`, async () => {
    const big = join(repo, 'big.plan');
    writeFileSync(big, '// ' + 'x'.repeat(LIMITS.planFileBytes) + '\n');
    const imp = await check(plan('big-import.plan', 'import "../big.plan"\n'));
    expect(imp.out).toContain("import '../big.plan' is not allowed: it is larger than 1 MiB");
    const given = await check(big);
    expect(given.code).toBe(2);
    expect(given.all).toContain('it is larger than 1 MiB');
    rmSync(big);
  });

  it('symbolic-link cycles in a checked directory end', async () => {
    const dir = join(repo, 'cycle');
    mkdirSync(join(dir, 'a'), { recursive: true });
    symlinkSync(dir, join(dir, 'a', 'up'));
    writeFileSync(join(dir, 'a', 'm.plan'), MODEL);
    const r = await check(dir);
    expect(r.code).toBe(0);
    rmSync(dir, { recursive: true });
  });

  it(`an import chain deeper than ${LIMITS.importDepth} files stops with PP2016 at the import`, async () => {
    const dir = join(repo, 'chain');
    mkdirSync(dir);
    const n = LIMITS.importDepth + 10;
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}.plan`), i + 1 < n ? `import "f${i + 1}.plan"\n` : MODEL);
    const r = await check(join(dir, 'f0.plan'));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`imports nest deeper than ${LIMITS.importDepth} files`);
    rmSync(dir, { recursive: true });
  });

  it(`a program that imports more than ${LIMITS.importFiles} files stops there`, async () => {
    const dir = join(repo, 'many');
    mkdirSync(dir);
    const n = LIMITS.importFiles + 5;
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}.plan`), '');
    const root = join(repo, 'many-root.plan');
    writeFileSync(root, Array.from({ length: n }, (_, i) => `import "many/f${i}.plan"`).join('\n') + '\n');
    const r = await check(root);
    expect(r.code).toBe(1);
    expect(r.out.match(/PP2016/g)?.length).toBe(n - LIMITS.importFiles + 1);
    expect(r.out).toContain(`the program already reads ${LIMITS.importFiles} files`);
    rmSync(dir, { recursive: true });
    rmSync(root);
  });

  it('an unreadable subdirectory of a checked directory is a PP6001, not an internal error', () => {
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const host: Host = {
      ...nodeHost,
      kind: (p) => (p === '/plans' || p === '/plans/locked' ? 'dir' : p === '/plans/a.plan' ? 'file' : undefined),
      listDir: (p) => {
        if (p === '/plans') return ['a.plan', 'locked'];
        throw denied;
      },
      readFile: () => MODEL,
      size: () => MODEL.length,
      realpath: (p) => p,
      listEntries: undefined,
      stat: undefined,
    };
    const a = analyze(['/plans'], { host });
    expect(a.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["PP6001 cannot read '/plans/locked': permission denied"]);
  });
});
