/**
 * Memory per device as stacked bars: one bar per group of identical devices (same
 * stage and breakdown), one segment per category, against the usable capacity and
 * the capacity (horizontal markers). Bars over the usable bytes are outlined red.
 *
 * Every bar is a `<g data-ranks="…" data-stage="…">` holding one
 * `<rect data-category="…" data-bytes="…">` per category (zero bytes: zero height),
 * so tests and tools can read the picture back: heights are bytes × one scale.
 */
import { compactRanks, groupDevices, type DeviceGroup } from '../render/common.js';
import { CATEGORIES, type Category, type DeviceMemory } from '../memory/types.js';
import { GiB, gibText } from '../format.js';
import { esc, inkOn, line, n, niceTicks, rect, svg, text } from './svg.js';

export const CATEGORY_COLORS: Record<Category, string> = {
  weights: '#4e79a7',
  gradients: '#f28e2b',
  optimizer: '#9c6fc4',
  activations: '#59a14f',
  kvCache: '#3fb1ad',
  workspace: '#a8a29e',
};

export const CATEGORY_NAMES: Record<Category, string> = {
  weights: 'weights',
  gradients: 'gradients',
  optimizer: 'optimizer states',
  activations: 'activations',
  kvCache: 'KV cache',
  workspace: 'workspace',
};

export const OVER_COLOR = '#d62728';

export interface MemoryBarsLayout {
  /** Pixels per byte of the bars (height = bytes × scale). */
  scale: number;
  groups: DeviceGroup[];
}

const PLOT_H = 270;
const MARGIN = { left: 64, right: 150, top: 30 };

/** The legend, as HTML (shared by the bars and the table). */
export function categoryLegend(): string {
  return `<div class="legend">${CATEGORIES.map((c) => `<span><i style="background:${CATEGORY_COLORS[c]}"></i>${esc(CATEGORY_NAMES[c])}</span>`).join('')}<span><i class="swatch-line usable"></i>usable</span><span><i class="swatch-line capacity"></i>capacity</span><span><i class="swatch-over"></i>over usable</span></div>`;
}

export function renderMemoryBars(devices: readonly DeviceMemory[]): { html: string; layout: MemoryBarsLayout } {
  const groups = groupDevices(devices);
  const G = groups.length;
  const maxBytes = Math.max(1, ...devices.map((d) => Math.max(d.totalBytes, d.capacityBytes)));
  const ticks = niceTicks(0, (maxBytes * 1.04) / GiB, 6);
  const top = Math.max((maxBytes * 1.04) / GiB, ticks[ticks.length - 1]!) * GiB;
  const scale = PLOT_H / top;
  const slot = Math.max(12, Math.min(110, Math.floor(900 / Math.max(1, G))));
  const plotW = Math.max(slot * G, 420);
  const x0 = MARGIN.left + (plotW - slot * G) / 2;
  const barW = Math.min(70, Math.round(slot * 0.64));
  // Wide slots: stage, ranks and GPU count under each bar; narrow ones: the stage number only.
  const compact = slot < 64;
  const bottom = compact && slot < 36 ? 36 : 48;
  const W = MARGIN.left + plotW + MARGIN.right;
  const H = MARGIN.top + PLOT_H + bottom;
  const y0 = MARGIN.top + PLOT_H;
  const out: string[] = [];

  // Axis and grid.
  for (const t of ticks) {
    const y = y0 - t * GiB * scale;
    out.push(line(MARGIN.left, y, MARGIN.left + plotW, y, { class: 'grid' }));
    out.push(text(MARGIN.left - 8, y + 4, `${t}`, { class: 'tick', 'text-anchor': 'end' }));
  }
  out.push(
    text(16, MARGIN.top + PLOT_H / 2, 'GiB per GPU', {
      class: 'axis-title',
      transform: `rotate(-90 16 ${n(MARGIN.top + PLOT_H / 2)})`,
      'text-anchor': 'middle',
    }),
  );
  out.push(line(MARGIN.left, y0, MARGIN.left + plotW, y0, { class: 'axis' }));

  // Markers (drawn over the bars): one line across when every device has the same capacity, else one per bar.
  const same = devices.every((d) => d.capacityBytes === devices[0]!.capacityBytes && d.usableBytes === devices[0]!.usableBytes);
  groups.forEach((g, i) => {
    const d = g.device;
    const cx = x0 + slot * i + slot / 2;
    const x = cx - barW / 2;
    const over = d.totalBytes > d.usableBytes;
    const ranks = compactRanks(g.ranks);
    const parts: string[] = [];
    let y = y0;
    for (const c of CATEGORIES) {
      const bytes = d.breakdown[c];
      const h = bytes * scale;
      y -= h;
      parts.push(
        rect(
          { x, y, width: barW, height: h, fill: CATEGORY_COLORS[c], 'data-category': c, 'data-bytes': String(bytes) },
          `${CATEGORY_NAMES[c]}: ${gibText(bytes)} GiB`,
        ),
      );
      if (h >= 14 && barW >= 30)
        parts.push(
          text(cx, y + h / 2 + 3.5, gibText(bytes), { class: 'seg-label', fill: inkOn(CATEGORY_COLORS[c]), 'text-anchor': 'middle' }),
        );
    }
    const totalH = d.totalBytes * scale;
    if (over)
      parts.push(
        rect({ x: x - 1.5, y: y0 - totalH - 1.5, width: barW + 3, height: totalH + 3, class: 'over-outline', 'data-over': 'true' }),
      );
    if (!same) {
      const yc = y0 - d.capacityBytes * scale;
      const yu = y0 - d.usableBytes * scale;
      parts.push(
        line(x - 5, yc, x + barW + 5, yc, { class: 'marker capacity', 'data-marker': 'capacity', 'data-bytes': String(d.capacityBytes) }),
      );
      parts.push(
        line(x - 5, yu, x + barW + 5, yu, { class: 'marker usable', 'data-marker': 'usable', 'data-bytes': String(d.usableBytes) }),
      );
    }
    const totalText = slot >= 56 ? `${gibText(d.totalBytes)} GiB` : gibText(d.totalBytes);
    if (slot >= 40) parts.push(text(cx, y0 - totalH - 7, totalText, { class: over ? 'total over' : 'total', 'text-anchor': 'middle' }));
    const gpus = `${g.ranks.length} GPU${g.ranks.length === 1 ? '' : 's'}`;
    if (compact) {
      const every = slot >= 22 ? 1 : slot >= 14 ? 2 : 4;
      if (i % every === 0) parts.push(text(cx, y0 + 14, String(d.stage), { class: 'bar-label strong small', 'text-anchor': 'middle' }));
      if (slot >= 36) parts.push(text(cx, y0 + 27, gpus, { class: 'bar-label dim', 'text-anchor': 'middle' }));
    } else {
      const maxChars = Math.max(6, Math.floor(slot / 6.2));
      parts.push(text(cx, y0 + 16, `stage ${d.stage}`, { class: 'bar-label strong', 'text-anchor': 'middle' }));
      parts.push(
        text(cx, y0 + 30, g.ranks.length === 1 ? `rank ${ranks}` : compactRanks(g.ranks, maxChars), {
          class: 'bar-label',
          'text-anchor': 'middle',
        }),
      );
      parts.push(text(cx, y0 + 43, gpus, { class: 'bar-label dim', 'text-anchor': 'middle' }));
    }
    const title = `ranks ${ranks} (${gpus}, stage ${d.stage}): ${gibText(d.totalBytes)} GiB of ${gibText(d.usableBytes)} GiB usable${over ? ` — over by ${gibText(d.totalBytes - d.usableBytes)} GiB` : ''}`;
    out.push(
      `<g class="bar${over ? ' over' : ''}" data-ranks="${esc(ranks)}" data-stage="${d.stage}" data-gpus="${g.ranks.length}" data-total-bytes="${d.totalBytes}"><title>${esc(title)}</title>${parts.join('')}</g>`,
    );
  });

  if (same && devices.length > 0) {
    const d = devices[0]!;
    const yc = y0 - d.capacityBytes * scale;
    const yu = y0 - d.usableBytes * scale;
    const close = Math.abs(yc - yu) < 13;
    out.push(
      line(MARGIN.left, yc, MARGIN.left + plotW + 6, yc, {
        class: 'marker capacity',
        'data-marker': 'capacity',
        'data-bytes': String(d.capacityBytes),
      }),
    );
    out.push(
      text(MARGIN.left + plotW + 10, yc + (close ? -2 : 4), `capacity ${gibText(d.capacityBytes)} GiB`, { class: 'marker-label capacity' }),
    );
    out.push(
      line(MARGIN.left, yu, MARGIN.left + plotW + 6, yu, {
        class: 'marker usable',
        'data-marker': 'usable',
        'data-bytes': String(d.usableBytes),
      }),
    );
    out.push(
      text(MARGIN.left + plotW + 10, yu + (close ? 11 : 4), `usable ${gibText(d.usableBytes)} GiB`, { class: 'marker-label usable' }),
    );
  }

  if (compact)
    out.push(
      text(
        MARGIN.left + plotW / 2,
        H - 4,
        slot >= 36 ? 'pipeline stage (GPUs per bar below)' : 'pipeline stage (hover a bar for its ranks)',
        { class: 'axis-title', 'text-anchor': 'middle' },
      ),
    );
  const chart = svg(W, H, out.join(''), { class: 'chart memory-bars', role: 'img', 'aria-label': 'memory per GPU, stacked by category' });
  return { html: `${categoryLegend()}<div class="scroll">${chart}</div>${memoryTable(groups)}`, layout: { scale, groups } };
}

/** The numbers behind the bars; collapsed when there are many groups. */
function memoryTable(groups: DeviceGroup[]): string {
  const head = `<tr><th>ranks</th><th>stage</th><th>GPUs</th>${CATEGORIES.map((c) => `<th><i class="dot" style="background:${CATEGORY_COLORS[c]}"></i>${esc(CATEGORY_NAMES[c])}</th>`).join('')}<th>total</th><th>usable</th><th>headroom</th></tr>`;
  const rows = groups.map((g) => {
    const d = g.device;
    const head = d.usableBytes - d.totalBytes;
    return `<tr${head < 0 ? ' class="over"' : ''}><td class="ranks">${esc(compactRanks(g.ranks, 28))}</td><td>${d.stage}</td><td>${g.ranks.length}</td>${CATEGORIES.map((c) => `<td>${gibText(d.breakdown[c])}</td>`).join('')}<td><b>${gibText(d.totalBytes)}</b></td><td>${gibText(d.usableBytes)}</td><td class="${head < 0 ? 'neg' : 'pos'}">${gibText(head)}</td></tr>`;
  });
  const table = `<table class="numbers"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
  const summary = `GiB per GPU, ${groups.length} distinct device kind${groups.length === 1 ? '' : 's'}`;
  return `<details class="table"${groups.length <= 8 ? ' open' : ''}><summary>${summary}</summary><div class="scroll">${table}</div></details>`;
}
