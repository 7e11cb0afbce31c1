/**
 * The pipeline schedule as a Gantt chart, from the simulation's per-rank events: one
 * row per simulated rank (one per pipeline stage), time on x. Forward and backward
 * bars carry their microbatch; waits are thin lines; idle time shows the hatched row
 * background, so pipeline bubbles read as gaps. Each row ends with its idle fraction
 * (idle time / makespan), and the caption gives the overall one.
 *
 * Bounded output: a window with more events than `maxRects` is drawn aggregated
 * (time bins per row, coloured by what filled them) and says so. Dense schedules also
 * get zoomed views of the start and the end of the step, where the bubbles are.
 *
 * Every bar is a `<rect data-kind="F|B|comm|wait|prefill|decode|other|mixed">`, with
 * `data-action="0F3"` when it is one schedule action; each chart `<svg data-view="…">`.
 */
import type { RankTrace, SimResult } from '../graph/simulate.js';
import { esc, grouped, line, niceTicks, pct, rect, seconds, svg, text, timeRange, timeUnit } from './svg.js';

export type BarKind = 'F' | 'B' | 'comm' | 'wait' | 'prefill' | 'decode' | 'other';

export interface Bar {
  start: number;
  end: number;
  kind: BarKind;
  /** Split backward: I (input gradient) or W (weight gradient). */
  sub?: 'I' | 'W';
  /** Model chunk of the action (interleaved schedules): virtual stage ÷ pipeline. */
  chunk: number;
  microbatch?: number;
  action?: string;
  label: string;
  /**
   * Training: the rank's last bar, much longer than its kind's median — the simulation
   * counts the end of the step (gradient sync, optimizer) into the last action.
   */
  tail?: boolean;
}

export interface GanttRow {
  rank: number;
  stage: number;
  bars: Bar[];
}

const ACTION = /^(\d+)([FBIW])(\d+)$/;

/**
 * The bars of one rank. `prefillEvents`: serving, how many of the rank's first events
 * belong to the prefill phase (the rest are decode).
 */
export function classify(trace: RankTrace, pipeline: number, prefillEvents?: number): Bar[] {
  const bars = trace.events.map((e, i) => {
    const bar: Bar = { start: e.start, end: e.end, kind: 'other', chunk: 0, label: e.label };
    const m = e.action === undefined ? null : ACTION.exec(e.action);
    if (e.action !== undefined) bar.action = e.action;
    if (m) {
      bar.chunk = Math.floor(Number(m[1]) / Math.max(1, pipeline));
      bar.microbatch = Number(m[3]);
    }
    if (e.kind === 'wait') bar.kind = 'wait';
    else if (e.kind === 'comm') bar.kind = 'comm';
    else if (m) {
      const k = m[2]!;
      bar.kind = k === 'F' ? 'F' : 'B';
      if (k === 'I' || k === 'W') bar.sub = k;
    } else if (prefillEvents !== undefined) bar.kind = i < prefillEvents ? 'prefill' : 'decode';
    return bar;
  });
  const last = bars.filter((b) => b.kind !== 'wait').pop();
  if (last && (last.kind === 'F' || last.kind === 'B')) {
    const same = bars
      .filter((b) => b.kind === last.kind)
      .map((b) => b.end - b.start)
      .sort((a, b) => a - b);
    const median = same[Math.floor(same.length / 2)]!;
    if (same.length >= 4 && last.end - last.start > 2.5 * median) last.tail = true;
  }
  return bars;
}

export interface BubbleRow {
  rank: number;
  /** Seconds covered by compute or communication (the union of those events). */
  busy: number;
  /** makespan − busy. */
  idle: number;
  /** idle / makespan. */
  fraction: number;
}

/** Idle time per simulated rank and overall: the part of [0, makespan] no compute or communication event covers. */
export function bubbleStats(sim: SimResult): { rows: BubbleRow[]; idle: number; fraction: number } {
  const span = sim.makespan;
  const rows = sim.ranks.map((t) => {
    const busy = unionLength(
      t.events.filter((e) => e.kind !== 'wait'),
      0,
      span,
    );
    const idle = Math.max(0, span - busy);
    return { rank: t.rank, busy, idle, fraction: span > 0 ? idle / span : 0 };
  });
  const idle = rows.reduce((s, r) => s + r.idle, 0);
  return { rows, idle, fraction: span > 0 && rows.length > 0 ? idle / (span * rows.length) : 0 };
}

/** Total length of the union of [start, end) intervals, clipped to [lo, hi]. */
export function unionLength(intervals: readonly { start: number; end: number }[], lo: number, hi: number): number {
  const sorted = intervals
    .map((e) => [Math.max(lo, e.start), Math.min(hi, e.end)] as const)
    .filter(([a, b]) => b > a)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let curA = -Infinity;
  let curB = -Infinity;
  for (const [a, b] of sorted) {
    if (a > curB) {
      if (curB > curA) total += curB - curA;
      curA = a;
      curB = b;
    } else if (b > curB) curB = b;
  }
  if (curB > curA) total += curB - curA;
  return total;
}

export interface GanttOptions {
  /** Most bar rects in one chart before it is aggregated (default 4000). */
  maxRects?: number;
  /** The cost model's analytic bubble fraction, shown beside the simulated one. */
  analyticBubble?: number;
  mode: 'train' | 'serve';
  /** Schedule name and microbatches, for the caption. */
  schedule?: string;
}

const W = 1100;
const LABEL_W = 120;
const AXIS_H = 34;
const TOP = 6;

export function renderGantt(rows: GanttRow[], sim: SimResult, opts: GanttOptions): string {
  const maxRects = opts.maxRects ?? 4000;
  const stats = bubbleStats(sim);
  const byRank = new Map(stats.rows.map((r) => [r.rank, r]));
  const span = sim.makespan;
  const totalEvents = rows.reduce((s, r) => s + r.bars.length, 0);
  const actions = rows.reduce((s, r) => s + new Set(r.bars.flatMap((b) => (b.action ? [b.action] : []))).size, 0);
  const kinds = new Set(rows.flatMap((r) => r.bars.map((b) => (b.sub ? `B${b.sub}` : b.kind))));
  const chunks = Math.max(0, ...rows.flatMap((r) => r.bars.map((b) => b.chunk))) + 1;

  const parts: string[] = [];
  parts.push(ganttLegend(kinds, chunks));
  const analytic = opts.analyticBubble !== undefined ? `; analytic (p − 1) / (m + p − 1): <b>${pct(opts.analyticBubble)}</b>` : '';
  parts.push(
    `<p class="caption">Makespan <b>${esc(seconds(span))}</b> (simulated${opts.schedule ? `, ${esc(opts.schedule)}` : ''}). ` +
      `Idle (bubble) fraction overall: <b data-bubble-overall="${stats.fraction.toFixed(6)}">${pct(stats.fraction)}</b> of ${rows.length} × makespan${analytic}. ` +
      `${grouped(totalEvents)} events${actions > 0 ? `, ${grouped(actions)} schedule actions` : ''}.</p>`,
  );
  const overview = renderWindow(rows, 0, span, { maxRects, view: 'overview', bubbles: byRank });
  parts.push(overview.html);
  // Actions with no simulated work (a W slot: the lowering computes the whole backward in I).
  const missing = sim.ranks.flatMap((t) => {
    const drawn = new Set(t.events.flatMap((e) => (e.action ? [e.action] : [])));
    return t.actions.filter((a) => !drawn.has(a));
  });
  if (missing.length > 0) {
    const allW = missing.every((a) => /W\d+$/.test(a));
    parts.push(
      `<p class="note" data-undrawn-actions="${missing.length}">${grouped(missing.length)} schedule action${missing.length === 1 ? '' : 's'} (${esc(missing.slice(0, 4).join(', '))}${missing.length > 4 ? ', …' : ''}) ` +
        `take${missing.length === 1 ? 's' : ''} no simulated time and ${missing.length === 1 ? 'has' : 'have'} no bar${allW ? ': the graph computes the whole backward in I, W only marks its slot' : ''}.</p>`,
    );
  }

  // Zoomed views where the overview's bars are too thin to read.
  for (const z of zoomWindows(rows, span, opts.mode)) {
    const w = renderWindow(rows, z.t0, z.t1, { maxRects: Math.min(maxRects, 1500), view: z.view });
    parts.push(`<h4>${esc(z.title)} <span class="dim">(${esc(timeRange(z.t0, z.t1))})</span></h4>${w.html}`);
  }
  return parts.join('');
}

function ganttLegend(kinds: Set<string>, chunks: number): string {
  const item = (cls: string, label: string) => `<span><i class="${cls}"></i>${esc(label)}</span>`;
  const items: string[] = [];
  if (kinds.has('F')) items.push(item('sw k-F', 'forward (F)'));
  if (kinds.has('B')) items.push(item('sw k-B', 'backward (B)'));
  if (kinds.has('BI')) items.push(item('sw k-B s-I', 'backward input (I)'));
  if (kinds.has('BW')) items.push(item('sw k-B s-W', 'backward weight (W)'));
  if (kinds.has('prefill')) items.push(item('sw k-prefill', 'prefill'));
  if (kinds.has('decode')) items.push(item('sw k-decode', 'decode'));
  if (kinds.has('other')) items.push(item('sw k-other', 'other compute'));
  items.push(item('sw k-comm', 'communication'));
  items.push(item('sw-wait', 'waiting for a message'));
  items.push(item('sw-idle', 'idle (bubble)'));
  if (chunks > 1) items.push(`<span class="dim">lighter shade: model chunk 2${chunks > 2 ? '+' : ''} (interleaved)</span>`);
  return `<div class="legend">${items.join('')}</div>`;
}

interface Zoom {
  t0: number;
  t1: number;
  view: string;
  title: string;
}

function zoomWindows(rows: GanttRow[], span: number, mode: 'train' | 'serve'): Zoom[] {
  if (!(span > 0)) return [];
  if (mode === 'serve') {
    // The decode step is short next to the prefill: show it on its own.
    const starts = rows.flatMap((r) => {
      const i = r.bars.findIndex((b) => b.kind === 'decode');
      return i < 0 ? [] : [r.bars.slice(i).reduce((m, b) => Math.min(m, b.start), Infinity)];
    });
    if (starts.length === 0) return [];
    const t0 = Math.min(...starts);
    if ((span - t0) / span > 0.3) return [];
    return [{ t0, t1: span, view: 'zoom-decode', title: 'Decode step' }];
  }
  const durations = rows
    .flatMap((r) => r.bars.filter((b) => b.kind === 'F' || b.kind === 'B').map((b) => b.end - b.start))
    .sort((a, b) => a - b);
  if (durations.length === 0) return [];
  const median = durations[Math.floor(durations.length / 2)]!;
  const plotW = W - LABEL_W - 80;
  if ((median / span) * plotW >= 16) return [];
  const w = median * 30;
  if (w >= span * 0.6) return [];
  return [
    { t0: 0, t1: w, view: 'zoom-start', title: 'Start of the step: the pipeline fills' },
    { t0: span - w, t1: span, view: 'zoom-end', title: 'End of the step: the pipeline drains' },
  ];
}

interface WindowOptions {
  maxRects: number;
  view: string;
  /** Per-rank idle fractions, shown at the right of each row (the overview). */
  bubbles?: Map<number, BubbleRow>;
}

function rowHeight(rows: number): number {
  return rows <= 8 ? 30 : rows <= 16 ? 24 : rows <= 32 ? 16 : 12;
}

function renderWindow(rows: GanttRow[], t0: number, t1: number, o: WindowOptions): { html: string; rects: number; aggregated: boolean } {
  const rightW = o.bubbles ? 78 : 14;
  const plotW = W - LABEL_W - rightW;
  const rowH = rowHeight(rows.length);
  const barH = Math.max(8, rowH - (rowH >= 24 ? 8 : 4));
  const H = TOP + rows.length * rowH + AXIS_H;
  const dt = t1 - t0 || 1;
  const x = (t: number) => LABEL_W + ((Math.min(t1, Math.max(t0, t)) - t0) / dt) * plotW;
  const visible = rows.map((r) => r.bars.filter((b) => b.end > t0 && b.start < t1));
  const count = visible.reduce((s, b) => s + b.length, 0);
  const aggregated = count > o.maxRects;
  // Aggregated: as many bins per row as pixels, fewer while the merged runs exceed the budget.
  let bins = Math.floor(plotW);
  let binned: string[][] = [];
  if (aggregated) {
    const bin = (k: number) => rows.map((_, i) => aggregateRow(visible[i]!, t0, t1, k, x, TOP + i * rowH + (rowH - barH) / 2, barH));
    const size = (b: string[][]) => b.reduce((s, r) => s + r.length, 0);
    binned = bin(bins);
    if (size(binned) > o.maxRects) {
      // The finest binning within the budget (binary search; 24 bins per row at least).
      let lo = 24;
      let hi = bins;
      binned = bin(lo);
      bins = lo;
      while (hi - lo > Math.max(2, lo * 0.05)) {
        const mid = Math.floor((lo + hi) / 2);
        const b = bin(mid);
        if (size(b) <= o.maxRects) {
          lo = mid;
          binned = b;
          bins = mid;
        } else hi = mid;
      }
    }
  }
  const out: string[] = [];
  let rects = 0;

  // Time axis: grid lines and ticks (in one unit for the window).
  const { unit, scale } = timeUnit(Math.max(Math.abs(t1), dt));
  const ticks = niceTicks(t0 * scale, t1 * scale, 10);
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  const yAxis = TOP + rows.length * rowH;
  for (const v of ticks) {
    const tx = x(v / scale);
    out.push(line(tx, TOP, tx, yAxis + 4, { class: 'grid' }));
    out.push(text(tx, yAxis + 17, v.toFixed(decimals), { class: 'tick', 'text-anchor': 'middle' }));
  }
  out.push(text(LABEL_W + plotW, yAxis + 31, `time (${unit})`, { class: 'axis-title', 'text-anchor': 'end' }));

  const labelEvery = Math.ceil(11 / rowH);
  rows.forEach((row, i) => {
    const y = TOP + i * rowH;
    const by = y + (rowH - barH) / 2;
    const cells: string[] = [];
    cells.push(rect({ x: LABEL_W, y: by, width: plotW, height: barH, class: 'idle' }));
    if (aggregated) {
      const drawn = binned[i]!;
      cells.push(...drawn);
      rects += drawn.length;
    } else {
      for (const b of visible[i]!) {
        const x0 = x(b.start);
        const w = Math.max(0.6, x(b.end) - x0);
        const cls = barClass(b);
        const what = `${b.action ? `${b.action} ` : ''}${b.label === b.action ? '' : b.label}${b.tail ? ' then the end of the step (gradient sync, optimizer)' : ''}`;
        const title = `${what} ${seconds(b.start)} – ${seconds(b.end)} (${seconds(b.end - b.start)})`.replace(/\s+/g, ' ').trim();
        const a: Record<string, string | number | undefined> = {
          class: cls,
          'data-kind': b.kind,
          'data-action': b.action,
          x: x0,
          y: b.kind === 'wait' ? by + barH / 2 - 1.5 : by,
          width: w,
          height: b.kind === 'wait' ? 3 : barH,
        };
        cells.push(rect(a, title));
        rects++;
        let label = b.microbatch !== undefined && (b.kind === 'F' || b.kind === 'B') ? String(b.microbatch) : undefined;
        if (label !== undefined && b.tail && w >= 150) label += ' + gradient sync, optimizer';
        if (label !== undefined && w >= label.length * 6.4 + 5 && barH >= 12)
          cells.push(
            text(x0 + w / 2, by + barH / 2 + 3.8, label, { class: b.chunk > 0 ? 'bar-text light' : 'bar-text', 'text-anchor': 'middle' }),
          );
      }
    }
    if (i % labelEvery === 0 || i === rows.length - 1) {
      const small = rowH < 16;
      cells.push(
        text(LABEL_W - 8, y + rowH / 2 + 4, small ? `s${row.stage} r${row.rank}` : `stage ${row.stage}`, {
          class: small ? 'row-label small' : 'row-label',
          'text-anchor': 'end',
        }),
      );
      if (!small) cells.push(text(4, y + rowH / 2 + 4, `rank ${row.rank}`, { class: 'row-label dim' }));
    }
    const b = o.bubbles?.get(row.rank);
    if (b)
      cells.push(
        text(W - 6, y + rowH / 2 + 4, `${pct(b.fraction)}`, { class: rowH < 16 ? 'bubble small' : 'bubble', 'text-anchor': 'end' }),
      );
    out.push(
      `<g class="row" data-sim-rank="${row.rank}" data-stage="${row.stage}"${b ? ` data-bubble="${b.fraction.toFixed(6)}"` : ''}>${cells.join('')}</g>`,
    );
  });
  const head = o.bubbles ? `<div class="gantt-head"><span>simulated rank</span><span>idle / makespan</span></div>` : '';
  const note = aggregated
    ? `<p class="note" data-aggregated="true">Aggregated: ${grouped(count)} events are more than ${grouped(o.maxRects)} bars, so each row is drawn as time bins of ${esc(seconds(dt / bins))}, ` +
      `coloured by what filled most of the bin (<i class="sw-mixed"></i> striped: forward and backward interleaved), paler when partly idle. ${rects} bars drawn.</p>`
    : '';
  const chart = svg(W, H, out.join(''), {
    class: 'chart gantt',
    'data-view': o.view,
    'data-aggregated': aggregated ? 'true' : 'false',
    role: 'img',
    'aria-label': 'pipeline schedule',
  });
  return { html: `${head}<div class="scroll">${chart}</div>${note}`, rects, aggregated };
}

const LEVELS = ['', 'under 20%', '20–50%', '50–80%', 'over 80%'];

function barClass(b: Bar): string {
  let c = `k-${b.kind}`;
  if (b.sub) c += ` s-${b.sub}`;
  if (b.chunk > 0) c += ' c1';
  return c;
}

/**
 * One row as bins: each bin's time per kind, the dominant kind (or `mixed` when forward
 * and backward share it), runs of equal bins merged into one rect.
 */
function aggregateRow(bars: Bar[], t0: number, t1: number, bins: number, x: (t: number) => number, y: number, h: number): string[] {
  const kinds = ['F', 'B', 'comm', 'prefill', 'decode', 'other'] as const;
  const acc = kinds.map(() => new Float64Array(bins));
  const width = (t1 - t0) / bins;
  for (const b of bars) {
    if (b.kind === 'wait') continue;
    const k = kinds.indexOf(b.kind as (typeof kinds)[number]);
    const a = Math.max(t0, b.start);
    const e = Math.min(t1, b.end);
    if (e <= a) continue;
    let i = Math.min(bins - 1, Math.floor((a - t0) / width));
    const last = Math.min(bins - 1, Math.floor((e - t0) / width));
    for (; i <= last; i++) {
      const lo = t0 + i * width;
      const overlap = Math.min(e, lo + width) - Math.max(a, lo);
      if (overlap > 0) acc[k]![i]! += overlap;
    }
  }
  const cells: { cls: string; kind: string; level: number }[] = [];
  for (let i = 0; i < bins; i++) {
    const v = kinds.map((_, k) => acc[k]![i]!);
    const busy = v.reduce((s, t) => s + t, 0);
    const frac = Math.min(1, busy / width);
    if (frac < 0.04) {
      cells.push({ cls: '', kind: '', level: 0 });
      continue;
    }
    const top = v.indexOf(Math.max(...v));
    let kind: string = kinds[top]!;
    if ((kind === 'F' || kind === 'B') && v[0]! < 0.8 * busy && v[1]! < 0.8 * busy && v[0]! + v[1]! >= 0.7 * busy) kind = 'mixed';
    // Coarse levels, so that runs of nearly busy bins merge into one rect.
    const level = frac >= 0.8 ? 4 : frac >= 0.5 ? 3 : frac >= 0.2 ? 2 : 1;
    cells.push({ cls: `k-${kind} o${level}`, kind, level });
  }
  const out: string[] = [];
  for (let i = 0; i < bins;) {
    let j = i;
    while (j + 1 < bins && cells[j + 1]!.cls === cells[i]!.cls) j++;
    const c = cells[i]!;
    if (c.level > 0) {
      const x0 = x(t0 + i * width);
      const x1 = x(t0 + (j + 1) * width);
      out.push(
        rect(
          { class: c.cls, 'data-kind': c.kind, x: x0, y, width: Math.max(0.6, x1 - x0), height: h },
          `${c.kind === 'mixed' ? 'forward + backward' : c.kind}, ${LEVELS[c.level]} busy: ${seconds(t0 + i * width)} – ${seconds(t0 + (j + 1) * width)}`,
        ),
      );
    }
    i = j + 1;
  }
  return out;
}
