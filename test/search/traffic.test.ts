/**
 * `suggest --mode serve` under a plan's traffic and slo blocks (issue 17, item 5): the fewest
 * GPUs that fit in memory AND meet the SLO, then the highest rate still meeting it. The case:
 * Llama-3-8B at 60 requests/s on an 8 × H100 node, where one H100 fits but misses the SLO.
 * The choice is held against `parplan check`'s own verdict on the pinned plans.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { loadProgram, nodeHost } from '../../src/load.js';
import { search, targetOf, type Workload } from '../../src/search/index.js';
import { pinnedText, recheck } from '../../src/search/pinned.js';
import { gpusOf, loadHeadroom } from '../../src/search/rank.js';
import type { ServePlan } from '../../src/plan.js';
import { FIXTURES } from './helpers.js';

const FILE = join(FIXTURES, 'llama3-8b-h100x8-traffic.plan');
const REL = relative(process.cwd(), FILE);

async function run(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(['suggest', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

/** The search as the command runs it, with the traffic of plan chat_peak. */
function searchTraffic() {
  const out: Diagnostic[] = [];
  const program = loadProgram(FILE, nodeHost, new Map(), out)!;
  const decls = program.files.flatMap((f) => f.declarations);
  const target = targetOf(
    decls.find((d) => d.name === 'llama3_8b')!,
    decls.find((d) => d.name === 'h100_node')!,
    out,
  )!;
  const plan = analyze([FILE]).results[0]!.plan as ServePlan;
  const work: Workload = {
    mode: 'serve',
    seq: plan.batch.seq,
    maxTpotSeconds: Infinity,
    traffic: { plan: plan.name, traffic: plan.traffic!, slo: plan.slo!, maxWaitMs: plan.batch.maxWaitMs, queue: plan.batch.queue },
  };
  return { target, work, result: search(target, work), source: plan };
}

/** `check`'s verdict on a candidate's plan, pinned beside the fixture (nothing is written). */
function checkVerdict(plan: ServePlan): string | undefined {
  const text = pinnedText(plan, { name: 'pinned', importPath: 'llama3-8b-h100x8-traffic.plan', header: ['test'] });
  return recheck(text, join(FIXTURES, 'pinned-test.plan'), plan, nodeHost);
}

describe('suggest --mode serve under traffic', () => {
  const { result, source } = searchTraffic();

  it('one GPU fits but misses the SLO, so the suggestion takes more GPUs; the search stops at the first count that meets it', () => {
    const best = result.ranked[0]!;
    expect(result.summary.gpuCounts).toEqual([1, 2]);
    expect(gpusOf(best)).toBe(2);
    const oneGpu = result.sloMisses.filter((f) => gpusOf(f) === 1);
    expect(oneGpu.length).toBeGreaterThan(0);
    // Every 1-GPU plan that fits is an SLO miss: none is ranked.
    expect(result.ranked.some((f) => gpusOf(f) === 1)).toBe(false);
    for (const f of result.sloMisses) expect(f.latency!.slo.some((r) => !r.ok)).toBe(true);
    expect(result.summary.sloMissed).toBe(result.sloMisses.length);
    expect(result.rejected.filter((r) => r.why.kind === 'slo').length).toBe(result.sloMisses.length);
  });

  it("check agrees: the winner's pinned plan checks clean with the same figures, the nearest 1-GPU plans miss (PP4010)", () => {
    const best = result.ranked[0]!;
    expect(best.confirmed).toBe(true);
    const plan = best.plan as ServePlan;
    expect(checkVerdict(plan)).toBeUndefined();
    // The source plan itself (one H100 at max_batch 32) misses too, as check says.
    expect(source.mesh.tensor * source.mesh.data).toBe(1);
    expect(analyze([FILE]).diagnostics.some((d) => d.code === 'PP4010')).toBe(true);
    for (const miss of result.sloMisses.filter((f) => gpusOf(f) === 1).slice(0, 2)) {
      const verdict = checkVerdict(miss.plan as ServePlan);
      expect(verdict).toMatch(/PP4010/);
    }
  });

  it('ranked plans all meet the SLO: fewest GPUs, the confirmed plan first, then the highest rate meeting it', () => {
    const r = result.ranked;
    for (let i = 1; i < r.length; i++) {
      expect(gpusOf(r[i - 1]!)).toBeLessThanOrEqual(gpusOf(r[i]!));
      const same = (f: (typeof r)[number]) => [gpusOf(f), Boolean(f.confirmed), f.warnings.length].join();
      if (same(r[i - 1]!) === same(r[i]!)) expect(loadHeadroom(r[i - 1]!)).toBeGreaterThanOrEqual(loadHeadroom(r[i]!));
    }
    for (const f of r) {
      expect(f.latency!.slo.every((o) => o.ok)).toBe(true);
      expect(f.latency!.maxRateMeetingSlo!).toBeGreaterThanOrEqual(source.traffic!.rate);
    }
  });

  it('the command: the table with p99s and max rate, the rejected plans with their reason, JSON, and a pinned plan with traffic and slo', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'parplan-suggest-')), 'best.plan');
    const r = await run(REL, '--model', 'llama3_8b', '--cluster', 'h100_node', '--mode', 'serve', '-o', out);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toContain("meeting plan 'chat_peak': ttft_p99 ≤ 500 ms, tpot_p99 ≤ 50.0 ms, max_rejected ≤ 1.0% at 60 requests/s");
    expect(lines[2]).toMatch(/^#\s+GPUs\s+tensor.*TTFT p99\s+TPOT p99\s+E2E p99\s+max rate\/s\s+load headroom/);
    expect(lines[3]).toMatch(/^1\s+2\s/);
    expect(r.out).toMatch(/rejected: \d+ plans with fewer GPUs fit but miss the SLO at 60 requests\/s/);
    expect(r.out).toMatch(/\n {2}1 GPU: tensor = 1, pipeline = 1, data = 1, max_batch = \d+.*: ttft_p99 [\d.]+ s > 500 ms/);
    expect(r.out).toContain(
      'latency: #1–#3 as parplan check predicts them (2,000 requests); the rejected ones from at most 500 requests each',
    );
    expect(r.out).toMatch(/considered \d+ candidates \(1, 2 GPUs\) in [\d,]+ ms: \d+ fit, \d+ do not fit, \d+ miss the SLO/);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^\/\/ Found by parplan suggest, the fewest GPUs \(2\) meeting plan 'chat_peak'/);
    expect(text).toContain('--plan chat_peak');
    expect(text).toMatch(/traffic \{\n {4}rate += 60\n/);
    expect(text).toMatch(/slo \{\n {4}ttft_p99 += 500 ms\n/);
    // check on the written file, as a user would run it: clean, with the same prediction.
    const io = memoryIo({ NO_COLOR: '1' });
    const root = relative(process.cwd(), '/') || '/';
    const code = await runCli(['check', '--root', root, '--format', 'json', out], io);
    expect(code, io.err()).toBe(0);
    const checked = JSON.parse(io.out()) as { plans: { latency: { ttft: { p99: number }; maxRateMeetingSlo: number } }[] };
    const json = await run(REL, '--model', 'llama3_8b', '--cluster', 'h100_node', '--mode', 'serve', '--format', 'json');
    const doc = JSON.parse(json.out) as {
      top: { gpus: number; latency: { ttftP99: number; maxRateMeetingSlo: number } }[];
      sloRejected: { gpus: number; missed: { metric: string; ok: boolean }[] }[];
      workload: { traffic: { plan: string; rate: number } };
    };
    expect(doc.top[0]!.gpus).toBe(2);
    expect(doc.top[0]!.latency.ttftP99).toBe(checked.plans[0]!.latency.ttft.p99);
    expect(doc.top[0]!.latency.maxRateMeetingSlo).toBe(checked.plans[0]!.latency.maxRateMeetingSlo);
    expect(doc.sloRejected.length).toBeGreaterThan(0);
    expect(doc.sloRejected.every((x) => x.gpus === 1 && x.missed.length > 0 && x.missed.every((m) => !m.ok))).toBe(true);
    expect(doc.workload.traffic).toMatchObject({ plan: 'chat_peak', rate: 60 });
  });

  it('one H100: nothing that fits meets the SLO; the error names the nearest plan, what it misses and the rate it holds', async () => {
    const r = await run(REL, '--model', 'llama3_8b', '--cluster', 'one_h100', '--mode', 'serve');
    expect(r.code).toBe(1);
    expect(r.err).toContain("error: no plan that fits meets the SLO of plan 'chat_peak'");
    expect(r.err).toMatch(
      /= closest: tensor = 1, pipeline = 1, data = 1, max_batch = \d+.*: fits, but misses ttft_p99 [\d.]+ s > 500 ms.*; it holds [\d.]+ requests\/s/,
    );
    expect(r.out).toMatch(/considered \d+ candidates \(1 GPU\) in/);
    expect(r.out).toMatch(/rejected: \d+ plans fit but miss the SLO at 60 requests\/s/);
  });

  it('usage: --plan names a serving plan with traffic and slo, and only for --mode serve', async () => {
    const train = await run(REL, '--model', 'llama3_8b', '--cluster', 'h100_node', '--plan', 'chat_peak');
    expect(train.code).toBe(2);
    expect(train.err).toContain("'--plan' is for --mode serve");
    const unknown = await run(REL, '--model', 'llama3_8b', '--cluster', 'h100_node', '--mode', 'serve', '--plan', 'chat_peek');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no plan named 'chat_peek'.*\n.*chat_peak/);
  });
});
