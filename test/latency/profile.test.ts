/**
 * Measured step-time profiles (`gpu { profile = "…" }`, src/latency/profile.ts): the file is
 * checked with positions, its times are interpolated as docs/latency.md says (checked by hand
 * at points between and past the grid), and a plan's predictions follow the profile: twice the
 * measured times give twice the unloaded latency, and a slower profile saturates earlier.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { profileStepTimes, parseProfile, type StepProfile } from '../../src/latency/profile.js';
import { SourceFile } from '../../src/source.js';
import { memoryHost } from '../fuzz/mutate.js';

const TINY = JSON.parse(readFileSync('test/cases/traffic/profile-tiny.json', 'utf8')) as StepProfile;

const PLAN = (rate: number) => `model tiny {
  arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32
}
cluster c { gpu { name = "lavapipe"  memory = 2 GiB  profile = "p.json" }  gpus = 1 }
plan p { model = tiny  cluster = c  mode = serve  engine = webgpu
  batch { max_batch = 4  seq = 64  max_wait = 0 ms }
  traffic { rate = ${rate}  prompt = 16  output = 16  requests = 500 } }
`;

function predict(profile: StepProfile, rate: number) {
  const a = analyze(['/r/p.plan'], {
    host: memoryHost(
      new Map([
        ['/r/p.plan', PLAN(rate)],
        ['/r/p.json', JSON.stringify(profile)],
      ]),
    ),
  });
  expect(a.diagnostics.filter((d) => d.severity !== 'note')).toEqual([]);
  return a.results[0]!.latency!;
}

/** The profile with every time multiplied by k. */
function scaled(p: StepProfile, k: number): StepProfile {
  const s = (m: { median: number; min: number; max: number }) => ({ median: m.median * k, min: m.min * k, max: m.max * k });
  return { ...p, host: s(p.host), prefill: p.prefill.map((x) => ({ ...x, ...s(x) })), decode: p.decode.map((x) => ({ ...x, ...s(x) })) };
}

describe('step-time profiles', () => {
  it('reads the file written by parplan profile, and points into a bad one', () => {
    const ok = parseProfile(new SourceFile('/p.json', JSON.stringify(TINY)));
    expect(ok.ok).toBe(true);
    // A hole in the grid (batch 4, context 8 dropped).
    const holed = { ...TINY, decode: TINY.decode.filter((d) => !(d.batch === 4 && d.context === 8)) };
    const text = JSON.stringify(holed, null, 2);
    const bad = parseProfile(new SourceFile('/p.json', text));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.detail).toMatch(/every batch × context/);
      expect(text.slice(bad.span.start, bad.span.end)).toMatch(/"batch": 4/);
    }
    // Version 1 files lack the server's host time: measured again, not read as none.
    const version = parseProfile(new SourceFile('/p.json', JSON.stringify({ ...TINY, version: 1 })));
    expect(!version.ok && version.detail).toMatch(/version the number 1 is not one this parplan reads/);
    const { host: _h, ...hostless } = TINY;
    const noHost = parseProfile(new SourceFile('/p.json', JSON.stringify(hostless)));
    expect(!noHost.ok && noHost.detail).toMatch(/lacks 'host'/);
  });

  it('interpolates linearly between grid points, extrapolates past the grid, keeps the first value below it', () => {
    const t = profileStepTimes(TINY);
    // decode: batch 1 and 4 × context 8 and 64 (medians 5.58, 6.14, 7.08, 7.64 ms).
    expect(t.decode(1, 8)).toBeCloseTo(0.00558, 9);
    expect(t.decode(4, 64)).toBeCloseTo(0.00764, 9);
    // Halfway in both: the mean of the four corners.
    expect(t.decode(2.5, 36)).toBeCloseTo((0.00558 + 0.00614 + 0.00708 + 0.00764) / 4, 9);
    // Past the last batch: the line through batch 1 and 4, at batch 8 (context 8).
    expect(t.decode(8, 8)).toBeCloseTo(0.00558 + ((0.00708 - 0.00558) * 7) / 3, 9);
    // Below the first context: the first value.
    expect(t.decode(1, 1)).toBeCloseTo(0.00558, 9);
    // prefill: 8 tokens 13.2 ms, 64 tokens 35.6 ms.
    expect(t.prefill(36)).toBeCloseTo((0.0132 + 0.0356) / 2, 9);
    expect(t.prefill(1)).toBeCloseTo(0.0132, 9);
  });

  it("a plan's predictions follow its profile", () => {
    const base = predict(TINY, 0.5);
    expect(base.stepTimes).toEqual({ source: 'profile', file: 'p.json', device: TINY.device.description });
    const slow = predict(scaled(TINY, 2), 0.5);
    // Nearly unloaded (0.5 requests/s, each ~0.1 s): latency scales with the step times (a little queueing aside).
    expect(slow.e2e.p50 / base.e2e.p50).toBeGreaterThan(1.9);
    expect(slow.e2e.p50 / base.e2e.p50).toBeLessThan(2.3);
    // One request alone: TTFT is one 16-token prefill, E2E that, 15 decode steps at batch 1 and the
    // server's host time after each of the 14 loop turns before the last (the first prefills and decodes).
    const t = profileStepTimes(TINY);
    expect(t.host!()).toBe(TINY.host.median);
    expect(base.ttft.p50).toBeGreaterThanOrEqual(t.prefill(16) - 1e-12);
    expect(base.e2e.p50).toBeGreaterThanOrEqual(t.prefill(16) + 15 * t.decode(1, 17) + 14 * TINY.host.median - 1e-9);
    // At a load that the fast profile holds, the slow one saturates: its throughput falls short.
    const fast = predict(TINY, 12);
    const saturated = predict(scaled(TINY, 4), 12);
    expect(fast.throughput / 12).toBeGreaterThan(0.9);
    expect(saturated.throughput / 12).toBeLessThan(0.6);
  });
});
