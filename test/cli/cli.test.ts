/**
 * The command line: spawned as a process (`node --import tsx src/cli/main.ts`) for what
 * only a process shows (exit status, streams, the entry point), in-process with `runCli`
 * and a fake `analyze` for the check command's formats and exit codes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { exitCode } from '../../src/cli/commands/check.js';
import { InternalError } from '../../src/diagnostics/codes.js';
import type { Analysis } from '../../src/analyze.js';
import { analysis, breakdown, diagnostic, planResult, pp3001, serveSource } from './fixtures.js';
import { ROOT, parplan } from './spawn.js';

const VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;

describe('parplan (process)', () => {
  it('--help prints usage, commands, exit codes; exit 0', () => {
    const r = parplan(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage:');
    expect(r.stdout).toContain('parplan check');
    expect(r.stdout).toContain('parplan explain <CODE>');
    expect(r.stdout).toContain('--format <text|json|sarif|github>');
    expect(r.stdout).toMatch(/exit status:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 /);
    expect(r.stdout).toContain('parplan compile');
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    expect(parplan(['help']).stdout).toBe(r.stdout);
    expect(parplan(['-h']).stdout).toBe(r.stdout);
  });

  it('help COMMAND and COMMAND --help print the command help', () => {
    const r = parplan(['help', 'check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: parplan check /);
    expect(parplan(['check', '--help']).stdout).toBe(r.stdout);
  });

  it('--version prints the package version', () => {
    const r = parplan(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('an unknown command exits 2 with a did-you-mean', () => {
    const r = parplan(['chek', 'examples/']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("error: unknown command 'chek'");
    expect(r.stderr).toContain("did you mean 'check'?");
  });

  it('an unknown flag exits 2 with a did-you-mean', () => {
    const r = parplan(['check', '--fromat', 'json', 'examples/']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown option '--fromat' for 'check'");
    expect(r.stderr).toContain("did you mean '--format'?");
    expect(r.stderr).toContain('usage: parplan check');
    const top = parplan(['--verison']);
    expect(top.code).toBe(2);
    expect(top.stderr).toContain("did you mean '--version'?");
  });

  it('no command, or check without paths, is a usage error', () => {
    expect(parplan([]).code).toBe(2);
    const r = parplan(['check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing files or directories to check');
  });

  it('explain PP3001 prints the explanation (or the table entry); exit 0', () => {
    const r = parplan(['explain', 'PP3001']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('PP3001');
    expect(r.stderr).toBe('');
    expect(parplan(['explain', 'pp3001']).stdout).toBe(r.stdout);
  });

  it('explain PP9999 exits 2 with a did-you-mean', () => {
    const r = parplan(['explain', 'PP9999']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("error: unknown code 'PP9999'");
    expect(r.stderr).toContain("did you mean 'PP9001'?");
  });
});

describe('runCli (in process)', () => {
  const run = async (argv: string[], a?: Analysis | (() => Analysis), env: Record<string, string> = {}) => {
    const io = memoryIo(env);
    const code = await runCli(argv, io, a === undefined ? {} : { analyze: () => (typeof a === 'function' ? a() : a) });
    return { code, stdout: io.out(), stderr: io.err() };
  };
  const fits = () => analysis([planResult()]);

  it('accepts --format=json and --format json alike, and passes paths and --plan to analyze', async () => {
    const seen: unknown[] = [];
    const io = memoryIo();
    const code = await runCli(['check', '--format=json', '--plan', 'serve_8b', 'a.plan', 'dir/'], io, {
      analyze: (paths, opts) => {
        seen.push(paths, opts);
        return fits();
      },
    });
    expect(code).toBe(EXIT.OK);
    expect(seen).toEqual([['a.plan', 'dir/'], { plan: 'serve_8b' }]);
    expect(JSON.parse(io.out()).ok).toBe(true);
    const spaced = await run(['check', '--format', 'json', 'a.plan'], fits);
    expect(spaced.stdout).toBe(io.out());
  });

  it('renders each format', async () => {
    expect((await run(['check', 'a.plan'], fits)).stdout).toMatch(/^plan serve_8b: serve/);
    expect(JSON.parse((await run(['check', '--format', 'sarif', 'a.plan'], fits)).stdout).version).toBe('2.1.0');
    expect((await run(['check', '--format', 'github', 'a.plan'], fits)).stdout).toMatch(/^parplan: plan serve_8b/);
  });

  it('text output has no colour when NO_COLOR is set, even with FORCE_COLOR', async () => {
    const src = serveSource();
    const a = () => analysis([planResult()], [pp3001(src)], [src]);
    expect((await run(['check', 'a.plan'], a, { FORCE_COLOR: '1' })).stdout).toContain('\u001b[');
    expect((await run(['check', 'a.plan'], a, { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toContain('\u001b[');
    expect((await run(['check', 'a.plan'], a)).stdout).not.toContain('\u001b[');
  });

  it('rejects a bad --format value with a did-you-mean, and a missing value', async () => {
    const bad = await run(['check', '--format', 'jsn', 'a.plan'], fits);
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.stderr).toContain("'jsn' is not a valid value for '--format'");
    expect(bad.stderr).toContain("did you mean 'json'?");
    const missing = await run(['check', 'a.plan', '--format'], fits);
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toContain("option '--format' needs a value");
  });

  it('exit codes: 0 fits, 1 errors or no fit, 2 I/O and --plan errors, 3 internal', async () => {
    const src = serveSource();
    const big = planResult({ name: 'big', stages: [breakdown({ weights: 90 })] });
    const warning = diagnostic('PP3010', undefined, { axes: 'tensor × pipeline × data', product: 6, idle: 2, gpus: 8 }, 'a.plan');
    const unreadable = diagnostic('PP6001', undefined, { path: 'x.plan', reason: 'no such file or directory' }, 'x.plan');
    expect(exitCode(fits())).toBe(0);
    expect(exitCode(analysis([planResult()], [warning]))).toBe(0);
    expect(exitCode(analysis([planResult()], [pp3001(src)], [src]))).toBe(1);
    expect(exitCode(analysis([planResult(), big]))).toBe(1);
    expect(exitCode(analysis([big], [unreadable]))).toBe(2);
    expect(exitCode(analysis([], [diagnostic('PP6002', undefined, { path: 'empty/' }, 'empty/')]))).toBe(2);
    expect(exitCode(analysis([], [diagnostic('PP6003', undefined, { name: 'nope' })]))).toBe(2);
    expect(exitCode(analysis([], [diagnostic('PP9001', undefined, { detail: 'boom' })]))).toBe(3);

    const r = await run(['check', 'x.plan'], analysis([], [unreadable], []));
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("error[PP6001]: cannot read 'x.plan': no such file or directory\n --> x.plan\n");
  });

  it('reports an internal error as PP9001 with exit 3, the stack only with PARPLAN_DEBUG', async () => {
    const boom = () => {
      throw new InternalError('stage 3 has no layers');
    };
    const r = await run(['check', 'a.plan'], boom);
    expect(r.code).toBe(EXIT.INTERNAL);
    expect(r.stderr).toBe(
      'error[PP9001]: internal error: stage 3 has no layers (this is a bug in parplan; please report it)\n' +
        'set PARPLAN_DEBUG=1 for the stack trace\n',
    );
    const debug = await run(['check', 'a.plan'], boom, { PARPLAN_DEBUG: '1' });
    expect(debug.code).toBe(EXIT.INTERNAL);
    expect(debug.stderr).toMatch(
      /^error\[PP9001\]: internal error: stage 3 has no layers .*\nInternalError: internal error: stage 3.*\n\s+at /,
    );

    const unexpected = await run(['check', 'a.plan'], () => {
      throw new TypeError("cannot read properties of undefined (reading 'x')");
    });
    expect(unexpected.code).toBe(EXIT.INTERNAL);
    expect(unexpected.stderr).toContain(
      "error[PP9001]: internal error: TypeError: cannot read properties of undefined (reading 'x') (this is a bug in parplan; please report it)\n",
    );
  });

  it('explain accepts a number or a title, and rejects extra arguments', async () => {
    const byNumber = await run(['explain', '3001']);
    expect(byNumber.code).toBe(0);
    expect((await run(['explain', 'heads-not-divisible'])).stdout).toBe(byNumber.stdout);
    const typo = await run(['explain', 'heads-not-divisble']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("did you mean 'heads-not-divisible' (PP3001)?");
    expect((await run(['explain'])).code).toBe(2);
    expect((await run(['explain', 'PP3001', 'PP3002'])).code).toBe(2);
  });
});
