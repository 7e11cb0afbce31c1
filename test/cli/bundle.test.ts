/**
 * The bundled CLI (scripts/bundle-cli.ts, what `npm run build` ships as dist/src/cli/main.js)
 * says exactly what the CLI run from the sources says: the same stdout, stderr and exit
 * status. Bundled into a fresh directory two levels below dist/ (a depth the build never
 * has), so that it must find the package root (explain pages, version, parplan's own entry
 * point) by looking for package.json, not from where its modules happen to sit.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli } from '../../scripts/bundle-cli.js';
import { ROOT, parplan, type Run } from './spawn.js';

let tmp = '';
let dir = '';

beforeAll(async () => {
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  tmp = mkdtempSync(join(ROOT, 'dist', 'bundle-test-'));
  dir = join(tmp, 'nested', 'cli');
  await bundleCli(dir);
  // A plan embedded in TypeScript that imports parplan by relative path (as this repository's own files do).
  mkdirSync(join(dir, 'fixture'), { recursive: true });
  const entry = relative(join(dir, 'fixture'), join(ROOT, 'src', 'index.js'));
  writeFileSync(
    join(dir, 'fixture', 'own.ts'),
    // The comment names the package in quotes: else the file is not read for plans (src/load.ts mentionsParplan).
    `// 'parplan' by relative path\nimport { cluster, model, plan } from '${entry}';\n` +
      "const m = model('tiny', { arch: 'llama', layers: 2, hidden: 256, heads: 4, ffn: 512, vocab: 1000, max_seq: 512, dtype: 'bf16' });\n" +
      "const c = cluster('one', { gpu: 'H100_SXM_80GB', gpus: 1 });\n" +
      "export const p = plan('own_entry', { model: m, cluster: c, mode: 'serve', batch: { max_batch: 1, max_wait: '5 ms', seq: 512 } });\n",
  );
}, 60_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function bundled(args: string[]): Run {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
  delete env['FORCE_COLOR'];
  delete env['PARPLAN_DEBUG'];
  const r = spawnSync(process.execPath, [join(dir, 'main.js'), ...args], { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the bundled CLI', () => {
  const cases: [string, () => string[]][] = [
    ['--version', () => ['--version']],
    ['check examples/ (plans embedded in TypeScript too)', () => ['check', 'examples/']],
    ['check --format json, with a traffic block', () => ['check', '--format', 'json', 'examples/llama3-8b-h100-traffic-serve.plan']],
    ['a plan that imports parplan by relative path', () => ['check', relative(ROOT, join(dir, 'fixture', 'own.ts'))]],
    ['explain', () => ['explain', 'PP2008']],
    ['compile to stdout', () => ['compile', 'examples/gpt2-t4-serve.plan', '-o', '-']],
    ['a usage error', () => ['check', '--format', 'yaml', 'examples/']],
  ];
  it.each(cases)('%s: the same as from the sources', (_, args) => {
    const want = parplan(args());
    expect(bundled(args())).toEqual(want);
  });

  it('finds the embedded plan of the relative-path fixture', () => {
    const r = bundled(['check', '--format', 'json', relative(ROOT, join(dir, 'fixture', 'own.ts'))]);
    expect(r.stdout).toContain('"own_entry"');
  });
});
