/**
 * Latency under load for a serving plan with a `traffic` block (docs/latency.md, "In the
 * report"): TTFT, TPOT and end-to-end p50 and p99 against the arrival rate (a log scale, so
 * milliseconds below the knee and seconds past it read on one chart), with the SLO's targets
 * as horizontal lines and the plan's rate as a vertical one; then the queue depth and the
 * decode batch over time at the plan's rate; and the numbers as a table. The data is
 * `latencySweep` (src/latency/sweep.ts): every point is a run of check's simulation.
 */
import type { LatencySweep, SweepPoint } from '../latency/sweep.js';
import type { SeriesPoint } from '../latency/simulate.js';
import type { ServeSlo } from '../plan.js';
import { esc, line, n, niceTicks, pct, seconds, svg, text, trim } from './svg.js';

const W = 340;
const H = 236;
const PAD = { left: 58, right: 12, top: 30, bottom: 40 };
const METRICS = [
  ['ttft', 'time to first token'],
  ['tpot', 'time per output token'],
  ['e2e', 'end-to-end latency'],
] as const;
type Metric = (typeof METRICS)[number][0];
const QUANTILES = ['p50', 'p99'] as const;

export function renderLatency(sweep: LatencySweep, slo: ServeSlo | undefined, slots: number): string {
  const parts: string[] = [];
  parts.push(
    `<p class="caption">The plan's traffic simulated at ${sweep.points.length} arrival rates (${sweep.requests.toLocaleString('en-US')} requests each, the server's own batching policy on a virtual clock; docs/latency.md)` +
      (sweep.saturation !== null
        ? `, from 10% to 120% of the predicted saturation rate, ${rate(sweep.saturation)} requests/s (the throughput once the server no longer keeps up).`
        : '.') +
      ` Solid: p50; dark: p99; dashed: the SLO's targets; vertical: the plan's rate (${rate(sweep.rate)} requests/s). Log scale.</p>`,
  );
  parts.push(
    '<div class="legend"><span><i class="swatch-line lat-p50"></i>p50</span><span><i class="swatch-line lat-p99"></i>p99</span>' +
      '<span><i class="swatch-line lat-slo"></i>SLO target</span><span><i class="swatch-line lat-rate"></i>plan rate</span>' +
      (sweep.saturation !== null ? '<span><i class="swatch-line lat-sat"></i>predicted saturation</span>' : '') +
      '</div>',
  );
  parts.push(`<div class="minis lat">${METRICS.map(([m, title]) => percentileChart(sweep, m, title, slo)).join('')}</div>`);
  if (sweep.note) parts.push(`<p class="note">${esc(sweep.note)}.</p>`);
  parts.push(`<h3>Queue and batch over time at ${esc(rate(sweep.rate))} requests/s</h3>`);
  parts.push(
    `<p class="caption">The run at the plan's rate: waiting requests (the deepest per point) and sequences per decode step (the mean per point), ` +
      `${sweep.series.length} points${sweep.series.some((p) => p.calls > 1) ? `, each over ${sweep.series[0]!.calls} engine calls` : ''}.</p>`,
  );
  parts.push(
    `<div class="minis lat">${seriesChart(sweep.series, 'queue', 'queue depth', 'waiting requests')}${seriesChart(sweep.series, 'batch', 'decode batch', 'sequences per step', slots)}</div>`,
  );
  parts.push(table(sweep));
  return parts.join('');
}

const rate = (r: number) => trim(r);

/** Log-scale ticks (1, 2, 5 × 10^k) covering [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(Number(v.toPrecision(6)));
    }
  return out;
}

function percentileChart(sweep: LatencySweep, metric: Metric, title: string, slo: ServeSlo | undefined): string {
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const targets = (slo?.latency ?? []).filter((o) => o.metric === metric);
  const values = sweep.points.flatMap((p) => QUANTILES.map((q) => p[metric][q])).filter((v) => Number.isFinite(v) && v > 0);
  if (values.length === 0)
    return svg(
      W,
      H,
      `<title>${esc(title)}: no completed request</title>${text(PAD.left, 16, `${title}: no data`, { class: 'mini-title' })}`,
      {
        class: 'chart mini',
        role: 'img',
        'aria-label': `${title}: no completed request`,
      },
    );
  const all = [...values, ...targets.map((t) => t.seconds)];
  const lo = Math.min(...all) / 1.3;
  const hi = Math.max(...all) * 1.3;
  const xMax = Math.max(...sweep.points.map((p) => p.rate), sweep.rate) * 1.04;
  const x = (r: number) => PAD.left + (r / xMax) * pw;
  const y = (v: number) => PAD.top + ph - ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * ph;
  const body: string[] = [];
  const label = `${title} (p50 and p99) against the arrival rate${targets.length > 0 ? `, with the objective${targets.length > 1 ? 's' : ''} ${targets.map((t) => `${t.key} ${seconds(t.seconds)}`).join(', ')}` : ''}`;
  body.push(`<title>${esc(label)}</title>`);
  body.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" class="plot-bg"/>`);
  let ticks = logTicks(lo, hi);
  if (ticks.length > 7) ticks = ticks.filter((t) => /^1|^5/.test(t.toExponential()));
  for (const t of ticks) {
    body.push(line(PAD.left, y(t), PAD.left + pw, y(t), { class: 'grid' }));
    body.push(text(PAD.left - 4, y(t) + 3, seconds(t), { class: 'tick small', 'text-anchor': 'end' }));
  }
  for (const t of niceTicks(0, xMax, 5)) {
    body.push(line(x(t), PAD.top + ph, x(t), PAD.top + ph + 3, { class: 'axis' }));
    body.push(text(x(t), PAD.top + ph + 13, trim(t), { class: 'tick small', 'text-anchor': 'middle' }));
  }
  body.push(text(PAD.left + pw / 2, H - 6, 'arrival rate, requests/s', { class: 'axis-title', 'text-anchor': 'middle' }));
  body.push(text(PAD.left, 13, title, { class: 'mini-title' }));
  if (sweep.saturation !== null)
    body.push(line(x(sweep.saturation), PAD.top, x(sweep.saturation), PAD.top + ph, { class: 'lat-sat', 'data-marker': 'saturation' }));
  body.push(
    `<line x1="${n(x(sweep.rate))}" y1="${PAD.top}" x2="${n(x(sweep.rate))}" y2="${PAD.top + ph}" class="lat-rate" data-marker="rate" data-rate="${sweep.rate}"><title>the plan's rate: ${esc(rate(sweep.rate))} requests/s</title></line>`,
  );
  for (const t of targets)
    body.push(
      `<line x1="${PAD.left}" y1="${n(y(t.seconds))}" x2="${PAD.left + pw}" y2="${n(y(t.seconds))}" class="lat-slo" data-marker="slo" data-slo="${esc(t.key)}" data-target="${t.seconds}"><title>${esc(`${t.key} = ${seconds(t.seconds)}`)}</title></line>` +
        text(PAD.left + pw - 2, y(t.seconds) - 3, `${t.key} ${seconds(t.seconds)}`, { class: 'lat-slo-label', 'text-anchor': 'end' }),
    );
  for (const q of QUANTILES) {
    const pts = sweep.points.filter((p) => Number.isFinite(p[metric][q]) && p[metric][q] > 0);
    body.push(`<polyline class="lat-${q}" points="${pts.map((p) => `${n(x(p.rate))},${n(y(p[metric][q]))}`).join(' ')}"/>`);
    for (const p of pts)
      body.push(
        `<circle class="lat-pt lat-${q}" cx="${n(x(p.rate))}" cy="${n(y(p[metric][q]))}" r="2.4" data-metric="${metric}" data-q="${q}" data-rate="${p.rate}" data-value="${p[metric][q]}"><title>${esc(`${metric.toUpperCase()} ${q} at ${rate(p.rate)} requests/s: ${seconds(p[metric][q])}`)}</title></circle>`,
      );
  }
  return svg(W, H, body.join(''), { class: 'chart mini', role: 'img', 'aria-label': label, 'data-latency': metric });
}

function seriesChart(series: readonly SeriesPoint[], key: 'queue' | 'batch', title: string, unit: string, limit?: number): string {
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const label = `${title} over time at the plan's rate (${unit})`;
  if (series.length === 0)
    return svg(W, H, `<title>${esc(label)}: no engine call</title>${text(PAD.left, 16, `${title}: no data`, { class: 'mini-title' })}`, {
      class: 'chart mini',
      role: 'img',
      'aria-label': label,
    });
  const tMax = Math.max(...series.map((p) => p.t)) || 1;
  const hi = Math.max(1, ...series.map((p) => p[key]), limit ?? 0) * 1.08;
  const x = (t: number) => PAD.left + (t / tMax) * pw;
  const y = (v: number) => PAD.top + ph - (v / hi) * ph;
  const body: string[] = [`<title>${esc(label)}</title>`];
  body.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" class="plot-bg"/>`);
  for (const t of niceTicks(0, hi, 4)) {
    body.push(line(PAD.left, y(t), PAD.left + pw, y(t), { class: 'grid' }));
    body.push(text(PAD.left - 4, y(t) + 3, trim(t), { class: 'tick small', 'text-anchor': 'end' }));
  }
  for (const t of niceTicks(0, tMax, 5)) {
    body.push(line(x(t), PAD.top + ph, x(t), PAD.top + ph + 3, { class: 'axis' }));
    body.push(text(x(t), PAD.top + ph + 13, seconds(t, tMax), { class: 'tick small', 'text-anchor': 'middle' }));
  }
  body.push(text(PAD.left + pw / 2, H - 6, 'simulated time', { class: 'axis-title', 'text-anchor': 'middle' }));
  body.push(text(PAD.left, 13, title, { class: 'mini-title' }));
  if (limit !== undefined)
    body.push(
      line(PAD.left, y(limit), PAD.left + pw, y(limit), { class: 'lat-slo', 'data-marker': 'slots' }) +
        text(PAD.left + pw - 2, y(limit) - 3, `${limit} slots`, { class: 'lat-slo-label', 'text-anchor': 'end' }),
    );
  // A step line: each point's value holds until the next point.
  const pts: string[] = [];
  series.forEach((p, i) => {
    const next = series[i + 1]?.t ?? p.t;
    pts.push(`${n(x(p.t))},${n(y(p[key]))}`, `${n(x(next))},${n(y(p[key]))}`);
  });
  body.push(
    `<polyline class="lat-series" points="${pts.join(' ')}" data-series="${key}" data-values="${series.map((p) => p[key]).join(' ')}"/>`,
  );
  return svg(W, H, body.join(''), { class: 'chart mini', role: 'img', 'aria-label': label, 'data-latency-series': key });
}

function table(sweep: LatencySweep): string {
  const head = [
    'rate /s',
    'of saturation',
    'served /s',
    'busy',
    'rejected',
    'TTFT p50',
    'TTFT p99',
    'TPOT p50',
    'TPOT p99',
    'E2E p50',
    'E2E p99',
  ];
  const cell = (v: number) => (Number.isFinite(v) ? seconds(v) : '–');
  const rows = sweep.points.map((p: SweepPoint) => {
    const mine = p.rate === sweep.rate;
    const cells = [
      `${trim(p.rate)}${mine ? ' (plan)' : ''}${p.capped ? ' (cut)' : ''}`,
      sweep.saturation !== null ? pct(p.rate / sweep.saturation) : '–',
      trim(p.throughput),
      pct(p.utilization),
      pct(p.rejected),
      cell(p.ttft.p50),
      cell(p.ttft.p99),
      cell(p.tpot.p50),
      cell(p.tpot.p99),
      cell(p.e2e.p50),
      cell(p.e2e.p99),
    ];
    return `<tr${mine ? ' class="plan-rate"' : ''} data-rate="${p.rate}">${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return (
    `<details class="table" open><summary>The numbers (${sweep.points.length} rates)</summary><table class="numbers latency">` +
    `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></details>`
  );
}
