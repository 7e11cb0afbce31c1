/**
 * End to end: `parplan check` as a process on small temporary .plan files, through the
 * real parser, checker and memory model (src/analyze.ts). These pin the CLI contract
 * (exit codes, streams, formats), not the numbers, which their own tests pin.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parplan } from './spawn.js';

const GPT2 = `model gpt2 {
  arch    = gpt2
  layers  = 12
  hidden  = 768
  heads   = 12
  vocab   = 50257
  max_seq = 1024
  dtype   = fp16
}

cluster t4 {
  gpu  = T4
  gpus = 1
}
`;

const FITS = `${GPT2}
plan small {
  model = gpt2  cluster = t4  mode = serve
  batch { max_batch = 8  max_wait = 5 ms  seq = 1024  queue = 64 }
}
`;

const HUGE = `${GPT2}
plan huge {
  model = gpt2  cluster = t4  mode = serve
  batch { max_batch = 4096  max_wait = 5 ms  seq = 1024  queue = 8192 }
}
`;

const BAD = `${GPT2}
plan bad {
  model = gpt2  cluster = t4  mode = serve
  tensor = 5
  batch { max_batch = 8  max_wait = 5 ms  seq = 1024  queue = 64 }
}
`;

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parplan-cli-'));
  writeFileSync(join(dir, 'fits.plan'), FITS);
  writeFileSync(join(dir, 'huge.plan'), HUGE);
  writeFileSync(join(dir, 'bad.plan'), BAD);
  mkdirSync(join(dir, 'ok'));
  writeFileSync(join(dir, 'ok', 'fits.plan'), FITS);
  mkdirSync(join(dir, 'empty'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const check = (...args: string[]) => parplan(['check', ...args], {}, dir);

describe('parplan check (end to end)', () => {
  it('exits 0 when every plan fits, with the table and the summary', () => {
    const r = check('fits.plan');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plan small: serve, model gpt2 with 124\.44M params\n {2}--> fits\.plan:\d+:\d+\n/);
    expect(r.stdout).toContain('  fits: tightest is rank 0');
    expect(r.stdout.endsWith('1 plan checked: 1 fits, 0 do not fit; 0 errors, 0 warnings\n')).toBe(true);
    expect(check('ok').code).toBe(0);
  });

  it('exits 1 when a plan does not fit (PP4001) or has errors', () => {
    const huge = check('huge.plan');
    expect(huge.code).toBe(1);
    expect(huge.stdout).toContain('error[PP4001]');
    expect(huge.stdout).toContain('DOES NOT FIT: rank 0 needs');
    const bad = check('bad.plan');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/error\[PP3001\]: heads = 12 is not divisible by tensor = 5\n {2}--> bad\.plan:\d+:12\n/);
  });

  it('exits 2 for an unreadable path or a directory without plans, and still reports the rest', () => {
    const missing = check('fits.plan', 'nope.plan');
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain("error[PP6001]: cannot read 'nope.plan'");
    expect(missing.stdout).toContain('plan small');
    const empty = check('empty');
    expect(empty.code).toBe(2);
    expect(empty.stdout).toContain('error[PP6002]');
  });

  it('--plan selects one plan; an unknown name exits 2 (PP6003)', () => {
    expect(check('--plan', 'small', 'fits.plan').code).toBe(0);
    const r = check('--plan=smal', 'fits.plan');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("error[PP6003]: no plan named 'smal'");
  });

  it('--format json: the documented shape', () => {
    const r = check('--format', 'json', 'fits.plan', 'huge.plan');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.plans.map((p: { name: string; fits: boolean }) => [p.name, p.fits])).toEqual([
      ['small', true],
      ['huge', false],
    ]);
    expect(report.plans[0].mesh).toEqual({ tensor: 1, pipeline: 1, data: 1, gpus: 1 });
    expect(report.plans[0].devices[0].rank).toBe(0);
    expect(report.diagnostics.map((d: { code: string }) => d.code)).toContain('PP4001');
  });

  it('--format sarif and github', () => {
    const sarif = JSON.parse(check('--format=sarif', 'bad.plan').stdout);
    expect(sarif.runs[0].results[0].ruleId).toBe('PP3001');
    expect(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe('bad.plan');
    const gh = check('--format=github', 'bad.plan');
    expect(gh.code).toBe(1);
    expect(gh.stdout).toMatch(/^::error file=bad\.plan,line=\d+,col=12,endLine=\d+,endColumn=13,title=PP3001::heads = 12/m);
  });
});
