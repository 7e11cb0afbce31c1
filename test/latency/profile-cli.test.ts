/**
 * `parplan profile` on WebGPU (lavapipe on CI): the file it writes reads back through the
 * profile parser, the grid is complete, every figure positive with min ≤ median ≤ max, and
 * prefill is monotone where the work differs 16-fold (4 vs 64 tokens). Bad grids and graphs
 * that are not serving graphs are usage errors before WebGPU loads.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { compilePlan } from '../../src/compile.js';
import { parseProfile } from '../../src/latency/profile.js';
import { SourceFile } from '../../src/source.js';

const MODEL = `model tiny { arch = gpt2  layers = 4  hidden = 256  heads = 4  vocab = 97  max_seq = 64  dtype = fp32 }
cluster one { gpu { name = "lavapipe"  memory = 2 GiB }  gpus = 1 }
`;
const dir = mkdtempSync(join(tmpdir(), 'parplan-profile-'));
function graphOf(name: string, plan: string): string {
  const file = join(dir, `${name}.plan`);
  writeFileSync(file, MODEL + plan);
  const a = analyze([file]);
  const r = a.results[0]!;
  const out = join(dir, `${name}.graph.json`);
  writeFileSync(out, JSON.stringify(compilePlan(r.plan, r.memory).graph));
  return out;
}
const serving = graphOf(
  'serve',
  'plan tiny { model = tiny  cluster = one  mode = serve  engine = webgpu\n  batch { max_batch = 4  seq = 64  max_prefill_tokens = 64 } }\n',
);
const training = graphOf('train', 'plan tiny { model = tiny  cluster = one  mode = train\n  batch { global = 8  micro = 2  seq = 64 } }\n');

describe('parplan profile', () => {
  it('writes a complete, positive profile that reads back, prefill growing with the prompt', async () => {
    const io = memoryIo({}, dir);
    const args = ['profile', '--weights', 'random:1', '-o', 'p.json', '--prompts', '4,64', '--batches', '1,2,4', '--contexts', '8,64'];
    const code = await runCli([...args, '--repeats', '5', serving], io);
    expect(code, io.err()).toBe(0);
    const text = readFileSync(join(dir, 'p.json'), 'utf8');
    const parsed = parseProfile(new SourceFile('p.json', text));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const p = parsed.profile;
    expect(p.graph).toMatchObject({ plan: 'tiny', tensor: 1, pipeline: 1, data: 1, maxBatch: 4, seq: 64 });
    expect(p.graph.model).toMatchObject({ arch: 'gpt2', layers: 4, hidden: 256, vocab: 97 });
    expect(p.method).toEqual({ warmup: 2, repeats: 5, statistic: 'median' });
    expect(p.prefill.map((x) => x.tokens)).toEqual([4, 64]);
    expect(p.decode.map((d) => [d.batch, d.context])).toEqual([
      [1, 8],
      [1, 64],
      [2, 8],
      [2, 64],
      [4, 8],
      [4, 64],
    ]);
    for (const m of [...p.prefill, ...p.decode]) {
      expect(m.min).toBeGreaterThan(0);
      expect(m.min).toBeLessThanOrEqual(m.median);
      expect(m.median).toBeLessThanOrEqual(m.max);
    }
    // 16 times the tokens: the fastest 64-token prefill is over 3 times the fastest 4-token one (minima: the least contended calls; about 13× measured on a loaded lavapipe).
    expect(p.prefill[1]!.min).toBeGreaterThan(3 * p.prefill[0]!.min);
    expect(io.err()).toMatch(/prefill: 4 tokens [\d.]+ ms, 64 tokens [\d.]+ ms/);
    // The server's host time per loop turn: measured (positive), and a fraction of a decode step
    // (it is the loop's bookkeeping and one event-loop turn; 0.2–1.5 ms against 10–40 ms steps here).
    expect(p.host.min).toBeGreaterThan(0);
    expect(p.host.min).toBeLessThanOrEqual(p.host.median);
    expect(p.host.median).toBeLessThan(p.decode[0]!.median);
    expect(io.err()).toMatch(/server host time per loop turn: [\d.]+ ms/);
  }, 120_000);

  it('refuses a training graph, a grid past the plan, and a grid over the call limit, before WebGPU', async () => {
    const train = memoryIo({}, dir);
    expect(await runCli(['profile', '--weights', 'random:1', training], train)).toBe(2);
    expect(train.err()).toMatch(/usage: parplan profile/);
    expect(train.err()).toMatch(/train/);
    const wide = memoryIo({}, dir);
    expect(await runCli(['profile', '--weights', 'random:1', '--batches', '1,8', serving], wide)).toBe(2);
    expect(wide.err()).toMatch(/option '--batches' needs whole numbers from 1 to 4 \(the plan's max_batch\), found '8'/);
    const many = memoryIo({}, dir);
    expect(await runCli(['profile', '--weights', 'random:1', '--repeats', '9999', serving], many)).toBe(2);
    expect(many.err()).toMatch(/over the limit of 5000 \(LIMITS.profileCalls\)/);
  });
});
