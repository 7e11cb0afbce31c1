/**
 * A training run's log (`parplan train --log FILE`: one JSON object per step) in the report:
 * loss and gradient norm against the step, as line charts drawn like the memory timeline
 * (inline SVG, src/report/svg.ts). Each chart maps steps and values to pixels by one affine map
 * per axis, so the polyline's points are the log's values (test/report/loss-curve.test.ts).
 */
import { esc, grouped, line, n, niceTicks, svg, text, trim } from './svg.js';

/** One line of the log, as src/cli/commands/train.ts writes it. */
export interface TrainLogEntry {
  step: number;
  loss: number;
  gradNorm: number;
  tokens: number;
  seconds: number;
}

export class TrainLogError extends Error {
  constructor(
    readonly line: number | undefined,
    problem: string,
  ) {
    super(line === undefined ? problem : `line ${line}: ${problem}`);
    this.name = 'TrainLogError';
  }
}

/** The entries of a JSONL training log; a line that is not one is a TrainLogError naming it. Blank lines are skipped. */
export function parseTrainLog(textIn: string): TrainLogEntry[] {
  const out: TrainLogEntry[] = [];
  const lines = textIn.split('\n');
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      throw new TrainLogError(i + 1, 'not JSON (a training log has one JSON object per line, as parplan train --log writes it)');
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TrainLogError(i + 1, 'not a JSON object');
    const o = v as Record<string, unknown>;
    const num = (k: string, ok: (x: number) => boolean, what: string): number => {
      const x = o[k];
      if (typeof x !== 'number' || !ok(x))
        throw new TrainLogError(i + 1, `"${k}" must be ${what}, found ${JSON.stringify(x) ?? 'nothing'}`);
      return x;
    };
    const step = num('step', (x) => Number.isInteger(x) && x >= 1, 'a whole number ≥ 1');
    const prev = out[out.length - 1];
    if (prev && step <= prev.step) throw new TrainLogError(i + 1, `step ${step} after step ${prev.step} (steps must increase)`);
    out.push({
      step,
      loss: num('loss', Number.isFinite, 'a finite number'),
      gradNorm: num('gradNorm', (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0'),
      tokens: num('tokens', (x) => Number.isInteger(x) && x >= 0, 'a whole number ≥ 0'),
      seconds: num('seconds', (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0'),
    });
  }
  if (out.length === 0) throw new TrainLogError(undefined, 'no steps in the log');
  return out;
}

const CW = 420;
const CH = 200;
const PAD = { left: 52, right: 12, top: 30, bottom: 30 };

/** One chart: `values` against `steps`, with round ticks on both axes. */
function chart(series: 'loss' | 'grad-norm', title: string, steps: number[], values: number[]): string {
  const pw = CW - PAD.left - PAD.right;
  const ph = CH - PAD.top - PAD.bottom;
  const s0 = steps[0]!;
  const s1 = Math.max(steps[steps.length - 1]!, s0 + 1);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.06;
  [lo, hi] = [lo - pad, hi + pad];
  const x = (s: number) => PAD.left + ((s - s0) / (s1 - s0)) * pw;
  const y = (v: number) => PAD.top + ph - ((v - lo) / (hi - lo)) * ph;
  const pts = values.map((v, i) => `${n(x(steps[i]!))},${n(y(v))}`).join(' ');
  const yTicks = niceTicks(lo, hi, 5).filter((t) => t >= lo && t <= hi);
  const xTicks = niceTicks(s0, s1, 6).filter((t) => t >= s0 && t <= s1);
  const body = [
    `<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" class="plot-bg"/>`,
    ...yTicks.map(
      (t) =>
        line(PAD.left, y(t), PAD.left + pw, y(t), { class: 'grid' }) +
        text(PAD.left - 4, y(t) + 3, trim(t), { class: 'tick small', 'text-anchor': 'end' }),
    ),
    ...xTicks.map((t) => text(x(t), PAD.top + ph + 13, grouped(t), { class: 'tick small', 'text-anchor': 'middle' })),
    `<polyline class="${series === 'loss' ? 'loss-line' : 'norm-line'}" data-series="${series}" points="${pts}"/>`,
    text(PAD.left, 14, title, { class: 'mini-title' }),
    text(PAD.left + pw / 2, CH - 4, 'step', { class: 'tick small', 'text-anchor': 'middle' }),
  ].join('');
  return svg(CW, CH, body, { class: 'chart mini', role: 'img', 'aria-label': `${title} against the step` });
}

/** The training run's section: a summary line and the loss and gradient-norm charts. */
export function renderTrainingRun(entries: readonly TrainLogEntry[], source: string): string {
  const steps = entries.map((e) => e.step);
  const first = entries[0]!;
  const last = entries.slice(-10);
  const mean = last.reduce((a, e) => a + e.loss, 0) / last.length;
  const tokens = entries.reduce((a, e) => a + e.tokens, 0);
  const secs = entries.reduce((a, e) => a + e.seconds, 0);
  const rate = secs > 0 ? ` · ${grouped(tokens / secs)} tokens/s` : '';
  return (
    `<section class="card" id="training-run"><h2>Training run</h2>` +
    `<p class="dim">${esc(source)}: ${grouped(entries.length)} steps, ${grouped(tokens)} tokens${rate} · loss ${trim(first.loss)} at step ${first.step}, ` +
    `${trim(mean)} over the last ${last.length}</p>` +
    `<div class="minis">${chart(
      'loss',
      'loss (mean next-token cross-entropy, nats)',
      steps,
      entries.map((e) => e.loss),
    )}` +
    `${chart(
      'grad-norm',
      'gradient norm (before clipping)',
      steps,
      entries.map((e) => e.gradNorm),
    )}</div></section>`
  );
}
