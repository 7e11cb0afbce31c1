/** `parplan fmt`, in-process: in place, --check, syntax errors, missing paths, help. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';

const UGLY = 'model m { layers = 32  kv_heads = 8 }\n';
const PRETTY = 'model m {\n  layers   = 32\n  kv_heads = 8\n}\n';
const BROKEN = 'plan p {\n  tensor = 2\n  pipeline 2 2\n}\n';

/** A temporary directory with the given files (paths relative to it). */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-fmt-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const run = async (...argv: string[]) => {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(['fmt', ...argv], io);
  return { code, stdout: io.out(), stderr: io.err() };
};

describe('parplan fmt', () => {
  it('rewrites files in place; a directory means its *.plan files, recursively', async () => {
    const dir = tree({ 'a.plan': UGLY, 'sub/b.plan': PRETTY, 'sub/c.plan': UGLY, 'notes.txt': UGLY });
    const r = await run(dir);
    expect(r).toEqual({ code: 0, stdout: 'formatted 2 files (1 unchanged)\n', stderr: '' });
    expect(read(dir, 'a.plan')).toBe(PRETTY);
    expect(read(dir, 'sub/c.plan')).toBe(PRETTY);
    expect(read(dir, 'notes.txt')).toBe(UGLY);
    expect(await run(join(dir, 'a.plan'))).toMatchObject({ code: 0, stdout: 'formatted 0 files (1 unchanged)\n' });
  });

  it('--check writes nothing, lists the files that would change, exit 1', async () => {
    const dir = tree({ 'a.plan': UGLY, 'b.plan': PRETTY });
    const r = await run('--check', dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`would reformat ${join(dir, 'a.plan')}\n1 file would be reformatted (1 unchanged)\n`);
    expect(read(dir, 'a.plan')).toBe(UGLY);
  });

  it('--check on formatted files: exit 0', async () => {
    const dir = tree({ 'a.plan': PRETTY });
    expect(await run(dir, '--check')).toEqual({ code: 0, stdout: 'no files would be reformatted (1 unchanged)\n', stderr: '' });
  });

  it('the examples are formatted (what CI runs: parplan fmt --check examples/)', async () => {
    expect((await run('--check', 'examples/')).code).toBe(0);
  });

  it('a file with syntax errors: left as it is, errors on stderr as check renders them, exit 1; others still formatted', async () => {
    const dir = tree({ 'bad.plan': BROKEN, 'good.plan': UGLY });
    const bad = join(dir, 'bad.plan');
    const r = await run(dir);
    expect(r.code).toBe(1);
    expect(read(dir, 'bad.plan')).toBe(BROKEN);
    expect(read(dir, 'good.plan')).toBe(PRETTY);
    expect(r.stderr).toContain('error[PP1002]: ');
    expect(r.stderr).toContain(` --> ${bad}:3:12\n`);
    expect(r.stderr).toContain('3 |   pipeline 2 2\n');
    expect(r.stdout).toBe('formatted 1 file (0 unchanged); 1 file not formatted (syntax errors)\n');
    const check = await run('--check', bad);
    expect(check.code).toBe(1);
    expect(check.stdout).not.toContain('would reformat');
  });

  it('a missing path is PP6001, exit 2; the other paths are still formatted', async () => {
    const dir = tree({ 'a.plan': UGLY });
    const missing = join(dir, 'nope.plan');
    const r = await run(missing, join(dir, 'a.plan'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error[PP6001]: cannot read '${missing}': no such file or directory`);
    expect(read(dir, 'a.plan')).toBe(PRETTY);
  });

  it('a directory without .plan files is PP6002, exit 2', async () => {
    const dir = tree({ 'x.txt': '' });
    const r = await run('--check', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error[PP6002]: no .plan files found');
  });

  it('usage: no path, an unknown option (did you mean), --help', async () => {
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('missing files or directories to format');
    expect(none.stderr).toContain('usage: parplan fmt [--check] <file|dir>...');
    const typo = await run('--chek', 'examples/');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("did you mean '--check'?");
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: parplan fmt \[--check\] <file\|dir>\.\.\./);
    expect(help.stdout).toContain('--check');
  });
});
