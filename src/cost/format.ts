/** Short human forms of the cost model's numbers, for the text report (3 significant digits). */
import { num, sig3 } from '../format.js';

/** The byte format beside bandwidths (src/format.ts, with the other byte formats). */
export { decimalBytesText } from '../format.js';

/** Thousands separators: 4096 → "4,096". */
function grouped(n: number): string {
  return num(Math.round(n));
}

/** 33.14 → "33.1 s", 0.0051 → "5.10 ms", 0.00034 → "340 µs", 412.7 → "413 s". */
export function secondsText(x: number): string {
  const s = sig3(x);
  if (s === 0) return '0 s';
  if (s >= 100) return `${grouped(s)} s`;
  if (s >= 1) return `${s.toPrecision(3)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toPrecision(3)} ms`;
  return `${(s * 1e6).toPrecision(3)} µs`;
}

/** A rate: 286.4 → "286", 9623 → "9,623", 94902 → "94.9k", 1.23e6 → "1.23M", 11.81 → "11.8". */
export function rateText(v: number): string {
  const x = sig3(v);
  if (x >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (x >= 1e4) return `${(x / 1e3).toPrecision(3)}k`;
  if (x >= 100) return grouped(x);
  return x.toPrecision(3);
}

/** A fraction as a percentage: 0.0278 → "2.8%" (digits decimals). */
export function percentText(f: number, digits = 1): string {
  return `${(f * 100).toFixed(digits)}%`;
}

export { grouped as groupedText };
