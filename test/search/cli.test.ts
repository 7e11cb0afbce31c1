/** `parplan suggest` end to end, in-process: the table, the pinned file `check` accepts, and every error path. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { FIXTURES } from './helpers.js';

const TRAIN = relative(process.cwd(), join(FIXTURES, 'llama2-70b-h100x64.plan'));
const SERVE = relative(process.cwd(), join(FIXTURES, 'llama3-8b-l4x2.plan'));
const dir = () => mkdtempSync(join(tmpdir(), 'parplan-suggest-'));
/** The one line that varies between runs. */
const untimed = (s: string) => s.replace(/ in [\d,]+ ms:/, ' in N ms:');

async function run(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(['suggest', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

describe('parplan suggest', () => {
  it('Llama-2-70B × 64 H100 training: a table, the issue’s summary line, and a pinned plan that check accepts', async () => {
    const file = join(dir(), 'best.plan');
    const r = await run(TRAIN, '--model', 'llama2_70b', '--cluster', 'h100_8n', '-o', file);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('llama2_70b on h100_8n (64 × H100_SXM_80GB), training: global batch 1,024 × seq 4,096');
    expect(lines[2]).toMatch(
      /^#\s+tensor\s+pipeline\s+data\s+zero\s+recompute\s+SP\s+schedule\s+micro × m\s+memory\/GPU\s+headroom\s+step\s+MFU$/,
    );
    expect(lines.filter((l) => /^\d\s/.test(l))).toHaveLength(5);
    expect(untimed(r.out)).toContain(
      // Issue 14 (branch amp): flash's saved log-sum-exp and full recompute's workspace moved 34 candidates from fit to misfit.
      'considered 7,968 candidates in N ms: 967 fit, 3,689 do not fit (3,072 of them pruned without sizing), 3,312 invalid (interleaved-layers 3,312)',
    );
    expect(r.out).toContain(`wrote ${file}: plan 'llama2_70b_h100_8n_train' (#1)`);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(
      /^\/\/ Found by parplan suggest, the fastest of 967 plans that fit llama2_70b on h100_8n \(7,968 candidates\):\n\/\/ estimated step [\d.]+ s, [\d.]+ GiB headroom per GPU\.\n/,
    );
    expect(text).toContain(`import "${relative(join(file, '..'), join(FIXTURES, 'llama2-70b-h100x64.plan'))}"`);
    for (const key of [
      'tensor',
      'pipeline',
      'data',
      'microbatches',
      'zero',
      'recompute',
      'sequence_parallel',
      'precision',
      'optimizer',
      'grad_dtype',
      'reserve',
      'workspace',
    ]) {
      expect(text).toMatch(new RegExp(`^  ${key} +=`, 'm'));
    }
    const check = memoryIo({ NO_COLOR: '1' });
    // The plan is written outside the repository and imports the fixture in it: suggest says which root checks it.
    expect(r.err).toMatch(/^note: .*best\.plan imports .*, outside its directory: check it with --root /m);
    expect(await runCli(['check', file], check)).toBe(1);
    expect(check.out()).toContain('PP2016');
    expect(await runCli(['check', '--root', '/', file], check)).toBe(0);
    expect(check.out()).toContain('1 plan checked: 1 fits, 0 do not fit; 0 errors, 0 warnings');
  });

  it('Llama-3-8B × 2 L4 serving: --top 3 rows, TPOT within the default 100 ms, and check accepts the plan', async () => {
    const file = join(dir(), 'serve.plan');
    const r = await run(SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '--top', '3', '-o', file);
    expect(r.code).toBe(0);
    expect(r.out).toContain('llama3_8b on g2 (2 × L4), serving: seq 8,192, time per output token ≤ 100 ms');
    const rows = r.out.split('\n').filter((l) => /^\d\s/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^1\s+2\s+1\s+1\s+16\s/);
    expect(untimed(r.out)).toContain('considered 33 candidates in N ms: 13 fit, 20 do not fit, 0 invalid');
    expect(await runCli(['check', '--root', '/', file], memoryIo())).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('    max_batch          = 16');
  });

  it('is deterministic apart from the time taken', async () => {
    const a = await run(SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '--seq', '4096');
    const b = await run(SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '--seq', '4096');
    expect(untimed(a.out)).toBe(untimed(b.out));
  });

  it('--format json: the top plans, the counts and the pinned text', async () => {
    const r = await run(
      SERVE,
      '--model',
      'llama3_8b',
      '--cluster',
      'g2',
      '--mode',
      'serve',
      '--format',
      'json',
      '--top',
      '2',
      '--max-latency',
      '60ms',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.workload).toEqual({ mode: 'serve', seq: 8192, maxTpotSeconds: 0.06 });
    expect(j.top).toHaveLength(2);
    expect(j.top[0].cost.tpotSeconds).toBeLessThanOrEqual(0.06);
    expect(j.summary).toMatchObject({ considered: 33, invalid: [] });
    expect(j.summary.fit + j.summary.misfit + j.summary.slow).toBe(33);
    expect(j.best.text).toContain('plan llama3_8b_g2_serve {');
  });

  it('-o - writes the plan to stdout and the summary to stderr', async () => {
    const r = await run(SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '-o', '-');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\/\/ Found by parplan suggest/);
    expect(r.out).toContain('import "test/search/fixtures/llama3-8b-l4x2.plan"');
    expect(r.err).toMatch(/^considered 33 candidates/);
  });

  it('a plan of the same name in the input: the written plan takes the next free name', async () => {
    const d = dir();
    const input = join(d, 'mine.plan');
    writeFileSync(
      input,
      `import "${join(FIXTURES, 'llama3-8b-l4x2.plan')}"\nplan llama3_8b_g2_serve {\n  model = llama3_8b  cluster = g2  mode = serve\n  batch { max_batch = 1  seq = 128 }\n}\n`,
    );
    const r = await run(input, '--root', '/', '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '-o', join(d, 'out.plan'));
    expect(r.code).toBe(0);
    expect(r.out).toContain("plan 'llama3_8b_g2_serve_2'");
    expect(await runCli(['check', '--root', '/', join(d, 'out.plan')], memoryIo())).toBe(0);
  });

  it('nothing fits: exit 1 with the reason, the closest plan and what would help; nothing written', async () => {
    const file = join(dir(), 'none.plan');
    const r = await run(SERVE, '--model', 'llama2_70b', '--cluster', 'one_l4', '-o', file);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/: 0 fit, \d+ do not fit/);
    expect(r.err).toContain('error: no plan fits in memory');
    expect(r.err).toMatch(
      /= closest: tensor = 1, pipeline = 1, data = 1, micro = 1, zero = 0, recompute = full, sequence_parallel = false: rank 0 needs [\d.]+ GiB of [\d.]+ GiB usable/,
    );
    expect(r.err).toContain('= help: use more GPUs or GPUs with more memory, or a shorter --seq');
    expect(existsSync(file)).toBe(false);
  });

  it('a latency bound no plan meets: exit 1, and the bound that the fastest plan would meet', async () => {
    const r = await run(SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '--max-latency', '5ms');
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: no plan that fits has a time per output token within 5.00 ms');
    expect(r.err).toMatch(/= help: allow --max-latency \d+ms/);
  });

  it('usage errors (exit 2): unknown names with did-you-mean, missing or misplaced options, bad values', async () => {
    const unknown = await run(SERVE, '--model', 'llama3_8', '--cluster', 'g2');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain(`error: no model named 'llama3_8' in ${SERVE} or its imports`);
    expect(unknown.err).toContain("help: did you mean 'llama3_8b'?");
    const cluster = await run(SERVE, '--model', 'llama3_8b', '--cluster', 'g3');
    expect(cluster.err).toContain("did you mean 'g2'?");
    for (const argv of [
      [SERVE, '--cluster', 'g2'],
      [SERVE, '--model', 'llama3_8b'],
      ['--model', 'llama3_8b', '--cluster', 'g2'],
      [SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--max-latency', '50ms'],
      [SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '--global-batch', '8'],
      [SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'serve', '--max-latency', 'soon'],
      [SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--top', '0'],
      [SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--mode', 'both'],
      [SERVE, '--model', 'llama3_8b', '--cluster', 'g2', '--format', 'json', '-o', '-'],
      ['no-such.plan', '--model', 'llama3_8b', '--cluster', 'g2'],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(/error/);
    }
  });

  it('a model with errors: its diagnostics, exit 1', async () => {
    const d = dir();
    const input = join(d, 'bad.plan');
    writeFileSync(
      input,
      'model m { arch = llama  layers = 2  hidden = 64  ffn = 128  vocab = 100  max_seq = 64 }\ncluster c { gpu = L4  gpus = 1 }\n',
    );
    const r = await run(input, '--model', 'm', '--cluster', 'c');
    expect(r.code).toBe(1);
    expect(r.err).toContain("error[PP2003]: model 'm' is missing required key 'heads'");
  });

  it('a custom GPU without rates: plans are ranked by headroom, and the output says why', async () => {
    const r = await run('examples/tinyllama-4090-train.plan', '--model', 'tinyllama_1b', '--cluster', 'workstation');
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      "note: the cost is unknown (GPU 'RTX 4090 (workstation)' has no throughput: give tflops in its gpu block), so plans are ranked by memory headroom",
    );
    const headrooms = r.out
      .split('\n')
      .filter((l) => /^\d\s/.test(l))
      .map((l) => Number(/([\d.]+) GiB\s+unknown/.exec(l)![1]));
    expect(headrooms.length).toBeGreaterThan(1);
    expect([...headrooms].sort((a, b) => b - a)).toEqual(headrooms);
  });

  it('help lists the options', async () => {
    const io = memoryIo();
    expect(await runCli(['help', 'suggest'], io)).toBe(0);
    for (const o of ['--model', '--cluster', '--mode', '--global-batch', '--seq', '--max-latency', '--top', '--format', '--output'])
      expect(io.out()).toContain(o);
  });
});

describe('parplan suggest --lora-rank (LoRA / QLoRA)', () => {
  const file = () => {
    const d = dir();
    const f = join(d, 'qlora.plan');
    writeFileSync(
      f,
      `model llama_7b_nf4 { arch = llama  layers = 32  hidden = 4096  heads = 32  ffn = 11008  vocab = 32000  max_seq = 2048
  quantization = nf4  quant_double = true }
cluster one { gpu = L4  gpus = 1 }
`,
    );
    return f;
  };

  it('a quantized model trains only through adapters: every candidate invalid without --lora-rank, plans that fit with it', async () => {
    const f = file();
    const args = [f, '--model', 'llama_7b_nf4', '--cluster', 'one', '--seq', '512', '--global-batch', '16'];
    const without = await run(...args);
    expect(without.code).toBe(1);
    expect(without.err).toContain('quantized-training (PP3060)');
    const out = join(dir(), 'best.plan');
    const lora = await run(...args, '--lora-rank', '64', '--lora-targets', 'all-linear', '-o', out);
    expect(lora.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('--lora-rank 64 --lora-targets all-linear');
    expect(text).toMatch(/adapter \{\n\s+rank\s+= 64\n\s+alpha\s+= 8\n\s+targets = \["all-linear"\]\n\s+dropout = 0\n\s+\}/);
  });

  it('--lora-targets without --lora-rank, and LoRA options when serving, are usage errors', async () => {
    const f = file();
    expect((await run(f, '--model', 'llama_7b_nf4', '--cluster', 'one', '--lora-targets', 'q_proj')).code).toBe(2);
    expect((await run(f, '--model', 'llama_7b_nf4', '--cluster', 'one', '--mode', 'serve', '--lora-rank', '8')).code).toBe(2);
  });
});
