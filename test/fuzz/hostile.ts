/**
 * Hostile-input fuzz targets (issue 13), shared by bench/fuzz.ts and test/fuzz.test.ts:
 *
 * - `imports`: random import paths (absolute, `../` chains, symbolic links into and out of
 *   a temporary repository, FIFOs, /dev/zero, a file past LIMITS.planFileBytes, directories,
 *   link loops, NUL bytes, very long names) through the real file system (nodeHost), and
 *   sometimes `check DIR` over the repository. No exception, no case over 5 s, nothing of
 *   a file outside the repository echoed, and every diagnostic about an import is PP2016,
 *   PP2012 or PP6001 with a position.
 * - `huge`: large and deep inputs (long lines, long strings and comments, many
 *   declarations, deep nesting, binary noise, NUL runs) of up to LIMITS.planFileBytes,
 *   parsed and checked, then rendered as `check` prints them: no exception, time per case
 *   and the process's peak memory bounded; the output's size per input byte is reported.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../src/analyze.js';
import { LIMITS } from '../../src/facts/limits.js';
import { nodeHost } from '../../src/load.js';
import { renderText } from '../../src/render/text.js';
import { memoryHost, rng, violations } from './mutate.js';
import type { Outcome } from './targets.js';

/** A case slower than this is a hang. */
export const CASE_MS = 5000;

const MODEL = 'model m {\n  arch = llama  layers = 2  hidden = 64  heads = 4  ffn = 128  vocab = 100  max_seq = 64\n}\n';
const PLAN =
  'cluster c {\n  gpu = H100_SXM_80GB  gpus = 1\n}\nplan p {\n  model = m  cluster = c  mode = serve\n  batch { max_batch = 1  seq = 64 }\n}\n';
const SECRET = 'parplan-fuzz-secret-91c4';

export interface ImportsWorkspace {
  repo: string;
  outside: string;
  cleanup(): void;
}

/** A repository with links, a FIFO and an oversized file, and a directory outside it holding a secret. */
export function importsWorkspace(): ImportsWorkspace {
  const base = mkdtempSync(join(tmpdir(), 'parplan-fuzz-imports-'));
  const repo = join(base, 'repo');
  const outside = join(base, 'outside');
  mkdirSync(join(repo, '.git'), { recursive: true });
  mkdirSync(join(repo, 'plans', 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.plan'), `model ${SECRET} {\n`);
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(repo, 'models.plan'), MODEL.replace('model m', 'model shared'));
  writeFileSync(join(repo, 'plans', 'sub', 'deep.plan'), '// nothing\n');
  writeFileSync(join(repo, 'plans', 'cycle-a.plan'), 'import "cycle-b.plan"\n');
  writeFileSync(join(repo, 'plans', 'cycle-b.plan'), 'import "cycle-a.plan"\n');
  writeFileSync(join(repo, 'plans', 'huge.plan'), '// ' + 'x'.repeat(LIMITS.planFileBytes + 10) + '\n');
  writeFileSync(join(repo, 'plans', 'notes.txt'), 'not a plan\n');
  symlinkSync(join(repo, 'models.plan'), join(repo, 'plans', 'in-link.plan'));
  symlinkSync(join(outside, 'secret.plan'), join(repo, 'plans', 'out-link.plan'));
  symlinkSync(outside, join(repo, 'plans', 'out-dir'));
  symlinkSync('/dev/zero', join(repo, 'plans', 'zero.plan'));
  symlinkSync(join(repo, 'plans', 'loop-b.plan'), join(repo, 'plans', 'loop-a.plan'));
  symlinkSync(join(repo, 'plans', 'loop-a.plan'), join(repo, 'plans', 'loop-b.plan'));
  symlinkSync(join(repo, 'plans'), join(repo, 'plans', 'sub', 'up'));
  try {
    execFileSync('mkfifo', [join(repo, 'plans', 'fifo.plan')]);
  } catch {
    // no mkfifo: the other cases still run
  }
  return { repo, outside, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** One random import path: made of parts that lead into, out of and around the repository. */
function importPath(ws: ImportsWorkspace, random: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const names = [
    'models.plan',
    'in-link.plan',
    'out-link.plan',
    'zero.plan',
    'fifo.plan',
    'huge.plan',
    'loop-a.plan',
    'cycle-a.plan',
    'notes.txt',
    'sub',
    'sub/deep.plan',
    'sub/up/models.plan',
    'out-dir/secret.plan',
    'missing.plan',
    'plans',
    '.git',
    '',
  ];
  const absolute = [
    '/dev/zero',
    '/dev/null',
    '/dev/stdin',
    '/proc/self/environ',
    '/proc/self/fd/0',
    '/etc/passwd',
    '/etc',
    '/',
    join(ws.outside, 'secret.plan'),
    join(ws.outside, 'secret.txt'),
    join(ws.repo, 'models.plan'),
    join(ws.repo, 'plans', 'fifo.plan'),
  ];
  switch (Math.floor(random() * 8)) {
    case 0:
      return pick(absolute);
    case 1:
      return '../'.repeat(Math.floor(random() * 12)) + pick(names);
    case 2:
      return `./${pick(names)}`.replace(/\/$/, '') + pick(['', '/', '//', '/.', '/..']);
    case 3:
      return pick(names) + '\u0000' + pick(names);
    case 4:
      return 'a/'.repeat(Math.floor(random() * 3000)) + 'x.plan';
    case 5:
      return 'x'.repeat(Math.floor(random() * 5000)) + '.plan';
    case 6:
      return pick(['../outside/secret.plan', '../../outside/secret.plan', '../../../outside/secret.plan', 'out-dir/../../models.plan']);
    default:
      return pick(names);
  }
}

const IMPORT_CODES = new Set(['PP2016', 'PP2012', 'PP6001']);

export function fuzzImportsOnce(ws: ImportsWorkspace, seed: number): Outcome {
  const random = rng(seed);
  const imports = Array.from({ length: 1 + Math.floor(random() * 3) }, () => importPath(ws, random));
  // Written raw: the plan language has no \u escape (a NUL in a string is a syntax error, PP1001).
  const text = imports.map((p) => `import "${p}"\n`).join('') + MODEL + PLAN;
  const file = join(ws.repo, 'plans', 'case.plan');
  const wholeDir = random() < 0.1;
  const problems: string[] = [];
  try {
    writeFileSync(file, text);
    const t0 = performance.now();
    const a = analyze([wholeDir ? join(ws.repo, 'plans') : file], { host: nodeHost });
    const ms = performance.now() - t0;
    if (ms > CASE_MS) problems.push(`took ${Math.round(ms)} ms`);
    problems.push(...violations(a));
    const rendered = renderText(a, { color: false });
    if (rendered.includes(SECRET)) problems.push('a file outside the repository was echoed');
    for (const d of a.diagnostics) {
      const atImport = d.span?.file === file && d.span.line <= imports.length;
      const syntax = d.code.startsWith('PP1') && imports.some((p) => p.includes('\u0000'));
      if (atImport && !IMPORT_CODES.has(d.code) && !syntax) problems.push(`${d.code} at an import: ${d.message}`);
      if (IMPORT_CODES.has(d.code) && !d.span && d.code !== 'PP6001') problems.push(`${d.code} without a position`);
    }
  } catch (e) {
    problems.push(`threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  return { path: wholeDir ? 'plans/' : 'plans/case.plan', text, problems, reached: true };
}

/** Figures of the `huge` cases run so far in this process (bench/fuzz.ts prints them). */
export const hugeStats = { cases: 0, maxMs: 0, maxOutputRatio: 0, worstKind: '' };
/** The fuzz process's peak RSS bound for `huge`. */
export const HUGE_PEAK_BYTES = 2 * 1024 ** 3;

/** One large or deep input of up to `maxBytes` (default LIMITS.planFileBytes, the most a file may be). */
export function hugeText(random: () => number, maxBytes = LIMITS.planFileBytes): { kind: string; text: string } {
  const size = Math.floor(maxBytes * (0.05 + 0.95 * random()));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const kinds = [
    'long-ident',
    'long-string',
    'long-comment',
    'long-number',
    'declarations',
    'entries',
    'nesting',
    'list-nesting',
    'noise',
    'nul',
    'errors',
    'unterminated',
  ] as const;
  const kind = pick(kinds);
  const fill = (unit: string) => unit.repeat(Math.max(1, Math.floor(size / unit.length)));
  switch (kind) {
    case 'long-ident':
      return { kind, text: `model ${fill('a')} {\n}\n` };
    case 'long-string':
      return { kind, text: `${MODEL}cluster c {\n  gpu { name = "${fill('s')}"  memory = 1 GiB }\n  gpus = 1\n}\n` };
    case 'long-comment':
      return { kind, text: `${MODEL}// ${fill('c')}\n/* ${fill('x\n')} */\n${PLAN}` };
    case 'long-number':
      return { kind, text: `${MODEL.replace('layers = 2', `layers = ${fill('9')}`)}${PLAN}` };
    case 'declarations': {
      const n = Math.floor(size / 120);
      return { kind, text: Array.from({ length: n }, (_, i) => MODEL.replace('model m', `model m${i}`)).join('') + PLAN };
    }
    case 'entries':
      return { kind, text: `model m {\n${fill('  layers = 2\n')}}\n` };
    case 'nesting': {
      const depth = Math.floor(size / 8);
      return { kind, text: `model m {\n${'  x {\n'.repeat(depth)}${'}\n'.repeat(depth)}}\n` };
    }
    case 'list-nesting':
      return { kind, text: `plan p {\n  stages = ${fill('[')}${'0'}${fill(']')}\n}\n` };
    case 'noise': {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
      return { kind, text: Buffer.from(bytes).toString('latin1') };
    }
    case 'nul':
      return { kind, text: fill('\u0000') };
    case 'errors':
      return { kind, text: fill(pick(['= = ', '} ', '{ ', 'model { ', '@#$ ', ':: ', '"a" '])) };
    case 'unterminated':
      return { kind, text: `${MODEL}model x { name = "${fill('u')}\n/* ${fill('z')}` };
  }
}

export function fuzzHugeOnce(seed: number, maxBytes?: number): Outcome {
  const random = rng(seed);
  const { kind, text } = hugeText(random, maxBytes);
  const path = `/huge-${kind}.plan`;
  const problems: string[] = [];
  try {
    const t0 = performance.now();
    const a = analyze([path], { host: memoryHost(new Map([[path, text]])) });
    const out = renderText(a, { color: false });
    const ms = performance.now() - t0;
    if (ms > CASE_MS) problems.push(`took ${Math.round(ms)} ms for ${text.length} bytes`);
    problems.push(...violations(a));
    // Output is measured, not asserted: capping the echoed source line is the renderer's
    // part of issue 13 (item 4); until then a long bad line is echoed once per diagnostic.
    hugeStats.cases++;
    hugeStats.maxMs = Math.max(hugeStats.maxMs, ms);
    const ratio = out.length / Math.max(1, text.length);
    if (ratio > hugeStats.maxOutputRatio) {
      hugeStats.maxOutputRatio = ratio;
      hugeStats.worstKind = kind;
    }
    const peak = process.resourceUsage().maxRSS * 1024;
    if (peak > HUGE_PEAK_BYTES) problems.push(`peak memory ${Math.round(peak / 2 ** 20)} MiB`);
  } catch (e) {
    problems.push(`threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  return { path, text: text.length > 2000 ? `${text.slice(0, 2000)}… (${text.length} bytes, ${kind})` : text, problems, reached: true };
}
