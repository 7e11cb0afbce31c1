/**
 * Issue 13, item 6 (compile bounds): a plan that checks in milliseconds must not make
 * `compile` run for minutes or out of memory (the graph's size is refused before any
 * lowering, PP5005), and numbers beyond physical sense are range errors (PP2008), never
 * "Infinity GiB", NaN or an internal error. Each case asserts the exit code, the first
 * line of the message, and bounded time and memory.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { LIMITS } from '../../src/facts/limits.js';

const MODEL = 'model m {\n  arch = llama  layers = 4  hidden = 512  heads = 8  ffn = 1024  vocab = 1000  max_seq = 512\n}\n';
const PAIR = 'cluster pair {\n  gpu = H100_SXM_80GB  gpus = 2\n}\n';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parplan-hostile-compile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plan(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function train(batch: string, extra = ''): string {
  return `${MODEL}${PAIR}plan train {\n  model = m  cluster = pair  mode = train  pipeline = 2${extra}\n  batch { ${batch}  seq = 512 }\n}\n`;
}

/** Runs the CLI in-process; time in ms and the heap growth it caused. */
async function cli(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' }, dir);
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const code = await runCli(argv, io);
  const ms = performance.now() - t0;
  const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  return { code, out: io.out(), err: io.err(), first: io.err().split('\n')[0] ?? '', ms, heapMiB };
}

describe('compile refuses a graph too large to build, before building it', () => {
  it('global = 1000000, micro = 1 (4 million actions; was 4.7 GB and out of memory): PP5005 at the batch, no file', async () => {
    const p = plan('million.plan', train('global = 1000000  micro = 1'));
    const out = join(dir, 'million.json');
    const r = await cli('compile', p, '-o', out);
    expect(r.code).toBe(1);
    expect(r.first).toBe(
      "error[PP5005]: plan 'train' would compile to a graph of 4,000,000 schedule actions (pipeline 2 × 1,000,000 microbatches × forward and backward), more than 131,072 actions",
    );
    expect(r.err).toContain('million.plan:9:20');
    expect(r.err).toContain('use fewer microbatches per step (at most 32,768 here');
    expect(existsSync(out)).toBe(false);
    expect(r.ms).toBeLessThan(5000);
    expect(r.heapMiB).toBeLessThan(200);
  });

  it('global = 100000 (was 9.9 s and a 208 MB graph): refused; report too', async () => {
    const p = plan('hundred-k.plan', train('global = 100000  micro = 1'));
    for (const cmd of [
      ['compile', p, '-o', join(dir, 'hk.json')],
      ['report', p, '-o', join(dir, 'hk.html')],
    ]) {
      const r = await cli(...cmd);
      expect(r.code).toBe(1);
      expect(r.first).toMatch(/^error\[PP5005\]: plan 'train' would compile to a graph of 400,000 schedule actions/);
      expect(r.ms).toBeLessThan(5000);
    }
  });

  it('check stays fast for the same plan: the memory and cost models do not enumerate microbatches', async () => {
    const p = plan('million-check.plan', train('global = 16777216  micro = 1'));
    const r = await cli('check', '--format', 'json', p);
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(3000);
  });

  it(`a graph of more than ${LIMITS.graphDevices} devices is refused at the mesh`, async () => {
    const p = plan(
      'devices.plan',
      `${MODEL}cluster big {\n  gpu = H100_SXM_80GB  nodes = 12500  gpus_per_node = 8\n}\nplan serve {\n  model = m  cluster = big  mode = serve  data = 100000\n  batch { max_batch = 4  seq = 512 }\n}\n`,
    );
    const r = await cli('compile', p, '-o', join(dir, 'devices.json'));
    expect(r.code).toBe(1);
    expect(r.first).toBe("error[PP5005]: plan 'serve' would compile to a graph of 100,000 devices, more than 65,536 devices");
    expect(r.ms).toBeLessThan(10000);
  });

  it('a graph just under the limit compiles', async () => {
    // 2 × 32,768 microbatches × 2 = the limit exactly.
    const p = plan('at-limit.plan', train('global = 32768  micro = 1'));
    const r = await cli('compile', p, '-o', join(dir, 'at-limit.json'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);
});

describe('numbers beyond physical sense are range errors', () => {
  it('memory = 1e300 TiB (was "Infinity GiB", and an internal error in JSON): PP2008 with the bound', async () => {
    const p = plan(
      'infinite.plan',
      `${MODEL}cluster c {\n  gpu { name = "x"  memory = 1e300 TiB }\n  gpus = 2\n}\nplan serve {\n  model = m  cluster = c  mode = serve\n  batch { max_batch = 4  seq = 512 }\n}\n`,
    );
    for (const format of ['text', 'json']) {
      const r = await cli('check', '--format', format, p);
      expect(r.code).toBe(1);
      expect(r.out + r.err).not.toMatch(/\bInfinity\b|\bNaN\b/);
    }
    const r = await cli('check', p);
    expect(r.out.split('\n')[0]).toBe("error[PP2008]: 'memory' = 1e300 TiB is out of range: must be at most 1024 TiB");
  });

  it('max_batch and micro at their bounds finish quickly (a 32-bit midpoint and a loop over every micro hung)', async () => {
    const serve = plan(
      'max-batch.plan',
      `${MODEL}${PAIR}plan serve {\n  model = m  cluster = pair  mode = serve  tensor = 2\n  batch { max_batch = 16777216  seq = 512 }\n}\n`,
    );
    const big = plan('micro.plan', train('global = 16777216  micro = 16777216').replace('pipeline = 2', 'pipeline = 1'));
    for (const p of [serve, big]) {
      const r = await cli('check', '--format', 'json', p);
      expect(r.code).toBe(1);
      expect(r.out).toContain('PP4001');
      expect(r.out).not.toMatch(/\bInfinity\b|\bNaN\b/);
      expect(r.ms).toBeLessThan(5000);
    }
  });

  it('a model within every bound but beyond any GPU (8 PiB) is PP4003, not an internal error', async () => {
    const p = plan(
      'enormous.plan',
      `model e {\n  arch = llama  layers = 10000  hidden = 1000000  heads = 1000  ffn = 4000000  vocab = 1000  max_seq = 512\n}\n${PAIR}plan serve {\n  model = e  cluster = pair  mode = serve  tensor = 2\n  batch { max_batch = 4  seq = 512 }\n}\n`,
    );
    for (const format of ['text', 'json', 'sarif']) {
      const r = await cli('check', '--format', format, p);
      expect(r.code).toBe(1);
      expect(r.out + r.err).toContain('PP4003');
      expect(r.out + r.err).not.toContain('PP9001');
    }
  });
});
