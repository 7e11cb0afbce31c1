/**
 * `parplan check` on TypeScript: files and directories, every output format naming the
 * `.ts` file and showing its lines, and the exit codes (0 fits, 1 errors or a misfit,
 * 2 nothing to check). In process, through runCli, with the real analysis.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/run.js';
import { project } from './helpers.js';

const run = async (...argv: string[]) => {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
};

const SERVE = `import { cluster, model, plan } from 'parplan';
const gpt2 = model('gpt2', { arch: 'gpt2', layers: 12, hidden: 768, heads: 12, vocab: 50257, max_seq: 1024, dtype: 'fp16' });
const t4 = cluster('t4', { gpu: 'T4', gpus: 1 });
export const small = plan('small', { model: gpt2, cluster: t4, mode: 'serve', batch: { max_batch: 8, max_wait: '5 ms', seq: 1024 } });
`;

const files = project({
  'app/serve.ts': SERVE,
  'app/bad.tsx': SERVE.replace("'small'", "'bad'").replace('max_batch: 8', 'max_batch: 8, tensor: 5'),
  'app/types.d.ts': `import type { Plan } from 'parplan';\nexport declare const p: Plan;\n`,
  'app/util.ts': `export const nothing = 'no plans, and no mention of the package';\n`,
  'app/node_modules/dep/index.ts': SERVE,
  'quiet/types.ts': `import type { Plan } from 'parplan';\nexport const plans: Plan[] = [];\n`,
  'quiet/comment.ts': `// mentions parplan in a comment only: not even read as TypeScript\nexport const a = 1;\n`,
  'empty/notes.ts': `export const a = 1;\n`,
});
afterAll(files.cleanup);

describe('parplan check with TypeScript', () => {
  it('a .ts file: its plan, exit 0', async () => {
    const r = await run('check', files.path('app/serve.ts'));
    expect(r.stdout).toContain(`plan small: serve, model gpt2`);
    expect(r.stdout).toContain(`--> ${files.path('app/serve.ts')}:4:28`);
    expect(r.stdout).toContain('1 plan checked: 1 fits, 0 do not fit; 0 errors, 0 warnings');
    expect(r.code).toBe(EXIT.OK);
  });

  it('a directory: .ts and .tsx files that import parplan, not .d.ts nor node_modules; exit 1 for an error', async () => {
    const r = await run('check', '--format', 'json', files.path('app'));
    const j = JSON.parse(r.stdout) as {
      plans: { name: string; file: string }[];
      diagnostics: { code: string; file: string; line: number; column: number }[];
    };
    expect(j.plans.map((p) => [p.name, p.file])).toEqual([['small', files.path('app/serve.ts')]]);
    // bad.tsx puts `tensor` inside the batch block: an unknown key there.
    expect(j.diagnostics.map((d) => [d.code, d.file, d.line])).toEqual([['PP2002', files.path('app/bad.tsx'), 4]]);
    expect(r.code).toBe(EXIT.FAILED);
  });

  it('a TypeScript file that imports parplan but declares no plans is silent', async () => {
    const r = await run('check', files.path('quiet'));
    expect(r.stdout).toBe('0 plans checked: 0 fit, 0 do not fit; 0 errors, 0 warnings\n');
    expect(r.code).toBe(EXIT.OK);
  });

  it('a directory with neither .plan files nor TypeScript that imports parplan: PP6002, exit 2', async () => {
    const r = await run('check', files.path('empty'));
    expect(r.stdout).toContain(`error[PP6002]: no .plan files found in '${files.path('empty')}'`);
    expect(r.stdout).toContain('nor TypeScript files that import parplan');
    expect(r.code).toBe(EXIT.USAGE);
  });

  it('github and sarif name the .ts file; text shows its line', async () => {
    const github = await run('check', '--format', 'github', files.path('app/bad.tsx'));
    expect(github.stdout).toMatch(new RegExp(`::error file=${files.path('app/bad.tsx').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')},line=4,`));
    const sarif = JSON.parse((await run('check', '--format', 'sarif', files.path('app/bad.tsx'))).stdout) as {
      runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[] }[];
    };
    const loc = sarif.runs[0]!.results[0]!.locations[0]!.physicalLocation;
    expect(loc.artifactLocation.uri).toContain('bad.tsx');
    expect(loc.region.startLine).toBe(4);
    const text = await run('check', files.path('app/bad.tsx'));
    expect(text.stdout).toContain(
      [
        "4 | export const small = plan('bad', { model: gpt2, cluster: t4, mode: 'serve', batch: { max_batch: 8, tensor: 5, max_wait: '5 ms', seq: 1024 } });",
        `  | ${' '.repeat(99)}^^^^^^`,
      ].join('\n'),
    );
  });

  it('the examples: embedded/ fits (exit 0), embedded/misfit does not (PP4001, exit 1)', async () => {
    const ok = await run('check', 'examples/embedded');
    expect(ok.stdout).toContain('3 plans checked: 2 fit, 1 does not fit');
    const fits = await run('check', 'examples/embedded/service.ts');
    expect(fits.stdout).toContain('2 plans checked: 2 fit, 0 do not fit; 0 errors, 0 warnings');
    expect(fits.code).toBe(EXIT.OK);
    const misfit = await run('check', 'examples/embedded/misfit');
    expect(misfit.stdout).toContain("error[PP4001]: plan 'llama2_70b_single' does not fit");
    expect(misfit.stdout).toContain('--> examples/embedded/misfit/one-gpu.ts:21:29');
    expect(misfit.code).toBe(EXIT.FAILED);
  });

  it('examples/service/server.ts declares no plan: no output about it', async () => {
    const r = await run('check', 'examples/service');
    expect(r.stdout).not.toContain('server.ts');
    expect(r.code).toBe(EXIT.OK);
  });
});
