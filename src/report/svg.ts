/**
 * Small helpers for writing HTML and SVG as strings: escaping, compact numbers,
 * "nice" axis ticks, time units, colours (byte units: src/format.ts). No DOM.
 */
import { groupDigits, printableLines } from '../format.js';

/** Escapes text and attribute values (`&`, `<`, `>`, `"`, `'`); control and bidirectional characters of the input are shown as `\u{…}`. */
export function esc(s: string | number): string {
  return printableLines(String(s)).replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** A coordinate with at most 2 decimals, no trailing zeros (`12`, `12.5`, `0.25`). */
export function n(x: number): string {
  if (!Number.isFinite(x)) return '0';
  const r = Math.round(x * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** ` key="value"` pairs for the defined entries, escaped. */
export function attrs(a: Record<string, string | number | undefined>): string {
  let s = '';
  for (const [k, v] of Object.entries(a)) if (v !== undefined) s += ` ${k}="${typeof v === 'number' ? n(v) : esc(v)}"`;
  return s;
}

export function rect(a: Record<string, string | number | undefined>, title?: string): string {
  return title === undefined ? `<rect${attrs(a)}/>` : `<rect${attrs(a)}><title>${esc(title)}</title></rect>`;
}

export function text(x: number, y: number, content: string, a: Record<string, string | number | undefined> = {}): string {
  return `<text${attrs({ x, y, ...a })}>${esc(content)}</text>`;
}

export function line(x1: number, y1: number, x2: number, y2: number, a: Record<string, string | number | undefined> = {}): string {
  return `<line${attrs({ x1, y1, x2, y2, ...a })}/>`;
}

/** An inline `<svg>` (no xmlns needed inside HTML) with a viewBox, scaling down to its container. */
export function svg(width: number, height: number, body: string, a: Record<string, string | number | undefined> = {}): string {
  return `<svg${attrs({ viewBox: `0 0 ${n(width)} ${n(height)}`, width, height, ...a })}>${body}</svg>`;
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9) * step;
  for (let v = first; v <= hi + step * 1e-9; v += step) out.push(Number((Math.round(v / step) * step).toPrecision(12)) || 0);
  return out;
}

/** A unit for a time span in seconds: the largest of s, ms, µs in which `span` is ≥ 1. */
export function timeUnit(span: number): { unit: string; scale: number } {
  if (span >= 1) return { unit: 's', scale: 1 };
  if (span >= 1e-3) return { unit: 'ms', scale: 1e3 };
  return { unit: 'µs', scale: 1e6 };
}

/** Seconds as a short human string: `15.95 s`, `36.4 ms`, `0.93 µs`. */
export function seconds(x: number, unitOf = x): string {
  if (x === 0 && unitOf === 0) return '0 s';
  const { unit, scale } = timeUnit(Math.abs(unitOf));
  return `${trim(x * scale)} ${unit}`;
}

/** A time window `3.877 s – 3.884 s`: one unit, enough decimals to tell the ends apart. */
export function timeRange(t0: number, t1: number): string {
  const { unit, scale } = timeUnit(Math.max(Math.abs(t0), Math.abs(t1)));
  const span = Math.abs(t1 - t0) * scale;
  const decimals = span > 0 ? Math.max(0, Math.min(6, 1 - Math.floor(Math.log10(span)))) : 0;
  return `${(t0 * scale).toFixed(decimals)} – ${(t1 * scale).toFixed(decimals)} ${unit}`;
}

/** Up to 3 significant digits, but never more than 2 decimals, no trailing zeros. */
export function trim(v: number): string {
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return String(Number(v.toFixed(digits)));
}

/** A fraction as a percentage with 1 decimal. */
export function pct(f: number): string {
  return `${(f * 100).toFixed(1)}%`;
}

/** Thousands separators: 65536 → "65,536". */
export function grouped(v: number): string {
  return groupDigits(Math.round(v));
}

/** Categorical colours for up to 10 pipeline stages (Tableau 10, softened). */
const STAGE_PALETTE = ['#6fa8dc', '#f6b26b', '#93c47d', '#e06666', '#b4a7d6', '#c9a27e', '#f4a6c8', '#a0a0a0', '#d5d56b', '#76d7d7'];

/**
 * The colour of pipeline stage `s` of `p`: categorical up to 10 stages, else a
 * smooth ramp (so neighbouring stages look alike and the order reads left to right).
 */
export function stageColor(s: number, p: number): string {
  if (p <= STAGE_PALETTE.length) return STAGE_PALETTE[s % STAGE_PALETTE.length]!;
  const t = p <= 1 ? 0 : s / (p - 1);
  return ramp(t);
}

/** A perceptually smooth blue → green → yellow → orange ramp, t in [0, 1]. */
export function ramp(t: number): string {
  const stops: [number, number, number][] = [
    [94, 129, 199],
    [91, 181, 170],
    [150, 205, 110],
    [240, 209, 95],
    [240, 140, 90],
  ];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [stops[i]!, stops[i + 1]!];
  const c = a.map((v, k) => Math.round(v + (b[k]! - v) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Black or white text, whichever reads better on `hex`. */
export function inkOn(hex: string): string {
  const v = parseInt(hex.slice(1), 16);
  const [r, g, b] = [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#1d2430' : '#ffffff';
}
