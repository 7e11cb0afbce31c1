/**
 * `parplan report --train-log FILE`: the training run's loss and gradient norm drawn as inline
 * SVG polylines whose points are the log's values — every step a point, x one affine map of the
 * step, y one affine map of the value (decreasing: SVG's y grows downwards), to the 0.01 px the
 * coordinates are written with — and a log that is not one is a usage error naming the line.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { parseTrainLog } from '../../src/report/loss-curve.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PLAN = join(ROOT, 'examples/runtime/train.plan');
const dir = mkdtempSync(join(tmpdir(), 'parplan-loss-curve-'));

/** A made-up run: a decaying loss with wiggles, a norm that falls and spikes once, uneven step times. */
const ENTRIES = Array.from({ length: 200 }, (_, i) => ({
  step: i + 1,
  loss: 10.8 * Math.exp(-i / 60) + 3 + 0.2 * Math.sin(i * 1.7),
  gradNorm: i === 50 ? 9.5 : 2 / (1 + i / 30) + 0.1 * Math.cos(i),
  tokens: 64,
  seconds: 0.2 + (i % 7) * 0.01,
}));

async function report(...args: string[]) {
  const io = memoryIo({ NO_COLOR: '1' }, dir);
  const code = await runCli(['report', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

function points(html: string, series: string): [number, number][] {
  const m = new RegExp(`<polyline[^>]*data-series="${series}" points="([^"]*)"`).exec(html);
  expect(m, `a polyline for ${series}`).not.toBeNull();
  return m![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
}

/** The largest distance (px) of the points from the one affine map through the first and last. */
function affineResidual(domain: number[], pixels: number[]): { slope: number; worst: number } {
  const [d0, d1] = [domain[0]!, domain[domain.length - 1]!];
  const [p0, p1] = [pixels[0]!, pixels[pixels.length - 1]!];
  const slope = (p1 - p0) / (d1 - d0);
  const worst = Math.max(...domain.map((d, i) => Math.abs(p0 + slope * (d - d0) - pixels[i]!)));
  return { slope, worst };
}

describe('parplan report --train-log', () => {
  const log = join(dir, 'run.jsonl');
  writeFileSync(log, ENTRIES.map((e) => JSON.stringify(e)).join('\n') + '\n');

  it("draws every step's loss and gradient norm: the points are the log's values under one affine map per axis", async () => {
    const out = join(dir, 'report.html');
    const r = await report('--train-log', log, '-o', out, PLAN);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<h2>Training run</h2>');
    expect(html).toContain('200 steps, 12,800 tokens');
    for (const [series, values] of [
      ['loss', ENTRIES.map((e) => e.loss)],
      ['grad-norm', ENTRIES.map((e) => e.gradNorm)],
    ] as const) {
      const pts = points(html, series);
      expect(pts).toHaveLength(ENTRIES.length);
      const x = affineResidual(
        ENTRIES.map((e) => e.step),
        pts.map((p) => p[0]),
      );
      const y = affineResidual(
        [...values],
        pts.map((p) => p[1]),
      );
      expect(x.slope).toBeGreaterThan(0);
      expect(y.slope).toBeLessThan(0);
      // Coordinates are written with 2 decimals: within 0.005 px each, so 0.01 between two maps.
      expect(x.worst).toBeLessThan(0.011);
      expect(y.worst).toBeLessThan(0.011);
    }
    // The gradient norm's spike at step 51 is the highest point (smallest y) of its chart.
    const norm = points(html, 'grad-norm');
    expect(norm.findIndex((p) => p[1] === Math.min(...norm.map((q) => q[1])))).toBe(50);
  });

  it.each([
    ['not JSON', '{"step": 1, "loss": 2, "gradNorm": 1, "tokens": 4, "seconds": 1}\nnope\n', 'line 2: not JSON'],
    [
      'a missing field',
      '{"step": 1, "loss": 2, "tokens": 4, "seconds": 1}\n',
      'line 1: "gradNorm" must be a finite number ≥ 0, found nothing',
    ],
    [
      'steps out of order',
      '{"step": 2, "loss": 2, "gradNorm": 1, "tokens": 4, "seconds": 1}\n{"step": 1, "loss": 2, "gradNorm": 1, "tokens": 4, "seconds": 1}\n',
      'line 2: step 1 after step 2 (steps must increase)',
    ],
    ['empty', '\n', 'no steps in the log'],
  ])('a log with %s: a usage error naming the line (exit 2), no report', async (_, content, message) => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, content);
    const r = await report('--train-log', bad, '-o', join(dir, 'never.html'), PLAN);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`'${bad}' is not a training log: ${message}`);
  });

  it('a missing log: a usage error', async () => {
    const r = await report('--train-log', join(dir, 'none.jsonl'), PLAN);
    expect(r.code).toBe(2);
    expect(r.err).toContain("cannot read the training log '");
    expect(r.err).toContain('no such file');
  });

  it('parseTrainLog reads what parplan train writes', () => {
    expect(parseTrainLog(readFileSync(log, 'utf8'))).toEqual(ENTRIES);
  });
});
