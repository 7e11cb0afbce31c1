/**
 * Issue 11, item 1: `hf_config = "…"` reads a Hugging Face config under exactly the rules of an
 * import (docs/security.md): only `.json` files inside the import root (real path, links
 * followed), regular files of at most LIMITS.planFileBytes. Each case asserts the exit code and
 * the diagnostic; none may echo what a refused file holds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { LIMITS } from '../../src/facts/limits.js';

const FORMATS = ['text', 'json', 'sarif', 'github'] as const;
const SECRET = 'parplan-hostile-config-secret-91c2';
const CONFIG = JSON.stringify({
  model_type: 'llama',
  num_hidden_layers: 2,
  hidden_size: 64,
  num_attention_heads: 4,
  intermediate_size: 128,
  vocab_size: 100,
  max_position_embeddings: 64,
});

let base: string;
let repo: string;
let outside: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'parplan-hostile-config-'));
  repo = join(base, 'repo');
  outside = join(base, 'outside');
  mkdirSync(join(repo, '.git'), { recursive: true });
  mkdirSync(join(repo, 'plans'), { recursive: true });
  mkdirSync(outside);
  // A config outside the repository whose text would show in a diagnostic if it were read.
  writeFileSync(join(outside, 'secret.json'), `{ "model_type": "${SECRET}" }`);
  writeFileSync(join(repo, 'config.json'), CONFIG);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function check(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(['check', ...argv], io);
  return { code, out: io.out(), err: io.err(), all: io.out() + io.err() };
}

function plan(name: string, config: string): string {
  const p = join(repo, 'plans', name);
  writeFileSync(p, `model m {\n  hf_config = "${config}"\n}\n`);
  return p;
}

describe('hf_config is confined like an import', () => {
  it('"/proc/self/environ" is refused before reading, in every output format', async () => {
    const p = plan('environ.plan', '/proc/self/environ');
    for (const format of FORMATS) {
      const r = await check('--format', format, p);
      expect(r.code).toBe(1);
      expect(r.all).toContain('PP2018');
      expect(r.all).toContain('only .json files can be read as a Hugging Face config');
    }
  });

  it('a .json file outside the repository is refused, by a relative or an absolute path', async () => {
    for (const path of ['../../outside/secret.json', join(outside, 'secret.json')]) {
      const r = await check(plan('escape.plan', path));
      expect(r.code).toBe(1);
      expect(r.out).toContain('is not allowed: it is outside the repository that holds the checked file');
      expect(r.out).not.toContain(SECRET);
    }
  });

  it('a symbolic link inside the repository that points outside it is refused (the real path decides)', async () => {
    symlinkSync(join(outside, 'secret.json'), join(repo, 'plans', 'link.json'));
    const r = await check(plan('via-link.plan', 'link.json'));
    expect(r.code).toBe(1);
    expect(r.out).toContain("hf_config 'link.json' is not allowed: it is outside the repository");
    expect(r.out).not.toContain(SECRET);
    rmSync(join(repo, 'plans', 'link.json'));
  });

  it('--root widens the tree; a config inside it is read', async () => {
    const p = plan('wide.plan', '../../outside/secret.json');
    expect((await check(p)).out).not.toContain(SECRET);
    const r = await check('--root', base, p);
    expect(r.all).not.toContain('PP2018');
    // Now read: its unsupported model_type is reported (quoting it is fine: the tree was allowed).
    expect(r.all).toContain('PP2020');
  });

  it('a config inside the repository is read, in the tree above the checked file too', async () => {
    const r = await check(plan('fine.plan', '../config.json'));
    expect(r.all).not.toMatch(/PP20\d\d/);
    expect(r.code).toBe(0);
  });

  it('a missing config is PP2017 at the path, relative to the plan', async () => {
    const r = await check(plan('missing.plan', 'nope.json'));
    expect(r.code).toBe(1);
    expect(r.out).toContain("cannot read hf_config 'nope.json': no such file");
  });
});

describe('nothing an hf_config names hangs or exhausts memory', () => {
  it('a FIFO is refused without being opened', async () => {
    const dir = join(repo, 'fifo');
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'pipe.json')]);
    const r = await check(plan('fifo.plan', '../fifo/pipe.json'));
    expect(r.out).toContain("hf_config '../fifo/pipe.json' is not allowed: it is not a regular file");
    rmSync(dir, { recursive: true });
  });

  it('a link to /dev/zero named *.json: outside the repository; with --root /, not a regular file', async () => {
    symlinkSync('/dev/zero', join(repo, 'plans', 'zero.json'));
    const p = plan('zero.plan', 'zero.json');
    expect((await check(p)).out).toContain('it is outside the repository');
    expect((await check('--root', '/', p)).out).toContain("hf_config 'zero.json' is not allowed: it is not a regular file");
    rmSync(join(repo, 'plans', 'zero.json'));
  });

  it(`a config over ${LIMITS.planFileBytes} bytes is not read`, async () => {
    writeFileSync(join(repo, 'big.json'), `{"model_type": "llama", "pad": "${'x'.repeat(LIMITS.planFileBytes)}"}`);
    const r = await check(plan('big.plan', '../big.json'));
    expect(r.out).toContain("hf_config '../big.json' is not allowed: it is larger than 1 MiB");
    rmSync(join(repo, 'big.json'));
  });

  it(`JSON nested deeper than ${LIMITS.nesting} levels is an error at the place, not a stack overflow`, async () => {
    writeFileSync(join(repo, 'deep.json'), '['.repeat(100_000) + ']'.repeat(100_000));
    const r = await check(plan('deep.plan', '../deep.json'));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`nest deeper than ${LIMITS.nesting} levels`);
    rmSync(join(repo, 'deep.json'));
  });
});
