/**
 * The simulated memory timeline: per simulated rank, live bytes after each step
 * (static memory plus the activations alive) against the memory plan's total, as
 * small line charts. Long series are decimated (min and max per bucket, so peaks
 * stay); more than `MAX_CHARTS` ranks show an evenly spaced selection.
 */
import type { SimResult } from '../graph/simulate.js';
import { gibText } from '../format.js';
import { line, n, svg, text } from './svg.js';

export const MAX_CHARTS = 16;
const CW = 264;
const CH = 132;
const PAD = { left: 46, right: 8, top: 34, bottom: 16 };

export function renderMemoryTimeline(sim: SimResult, stageOf: ReadonlyMap<number, number>): string {
  const traces = sim.ranks.filter((t) => t.memory.length > 0);
  if (traces.length === 0) return '<p class="note">No memory timeline (the simulation recorded no steps).</p>';
  const pick = traces.length <= MAX_CHARTS ? traces : evenly(traces, MAX_CHARTS);
  const charts = pick.map((t) => {
    const series = decimate(t.memory, 240);
    const lo0 = Math.min(t.planBytes, ...series);
    const hi0 = Math.max(t.planBytes, t.peakBytes, ...series);
    const padY = Math.max((hi0 - lo0) * 0.12, 64 * 1024 ** 2);
    const lo = Math.max(0, lo0 - padY);
    const hi = hi0 + padY;
    const pw = CW - PAD.left - PAD.right;
    const ph = CH - PAD.top - PAD.bottom;
    const x = (i: number) => PAD.left + (series.length <= 1 ? 0 : (i / (series.length - 1)) * pw);
    const y = (v: number) => PAD.top + ph - ((v - lo) / (hi - lo)) * ph;
    const pts = series.map((v, i) => `${n(x(i))},${n(y(v))}`).join(' ');
    const over = t.peakBytes > t.planBytes;
    const body = [
      `<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" class="plot-bg"/>`,
      line(PAD.left, y(t.planBytes), PAD.left + pw, y(t.planBytes), { class: 'plan-line', 'data-marker': 'plan' }),
      `<polyline class="mem-line" points="${pts}"/>`,
      text(PAD.left - 4, PAD.top + 4, gibText(hi), { class: 'tick small', 'text-anchor': 'end' }),
      text(PAD.left - 4, PAD.top + ph, gibText(lo), { class: 'tick small', 'text-anchor': 'end' }),
      text(PAD.left, 13, `stage ${stageOf.get(t.rank) ?? '?'} · rank ${t.rank}`, { class: 'mini-title' }),
      text(PAD.left, 26, `peak ${gibText(t.peakBytes)} GiB, plan ${gibText(t.planBytes)} GiB${over ? ' (over)' : ''}`, {
        class: over ? 'mini-note over' : 'mini-note',
      }),
      text(PAD.left + pw / 2, CH - 3, `${t.memory.length} steps →`, { class: 'tick small', 'text-anchor': 'middle' }),
    ].join('');
    return svg(CW, CH, body, {
      class: 'chart mini',
      'data-sim-rank': String(t.rank),
      role: 'img',
      'aria-label': `memory timeline of rank ${t.rank}`,
    });
  });
  const note =
    pick.length < traces.length
      ? `<p class="note">Showing ${pick.length} of ${traces.length} simulated ranks (evenly spaced stages).</p>`
      : '';
  return `<div class="legend"><span><i class="swatch-line mem"></i>live bytes after each step</span><span><i class="swatch-line plan"></i>memory plan total</span></div><div class="minis">${charts.join('')}</div>${note}`;
}

function evenly<T>(xs: readonly T[], k: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < k; i++) out.push(xs[Math.round((i * (xs.length - 1)) / (k - 1))]!);
  return [...new Set(out)];
}

/** At most about `max` points: per bucket its minimum and maximum, in order. */
export function decimate(xs: readonly number[], max: number): number[] {
  if (xs.length <= max) return [...xs];
  const size = Math.ceil(xs.length / (max / 2));
  const out: number[] = [];
  for (let i = 0; i < xs.length; i += size) {
    let lo = i;
    let hi = i;
    for (let j = i; j < Math.min(xs.length, i + size); j++) {
      if (xs[j]! < xs[lo]!) lo = j;
      if (xs[j]! > xs[hi]!) hi = j;
    }
    if (lo <= hi) out.push(xs[lo]!, xs[hi]!);
    else out.push(xs[hi]!, xs[lo]!);
  }
  return out;
}
