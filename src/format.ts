/**
 * Human formatting of numbers and sizes, the one module every stage uses (messages, the
 * memory formulas, the text and HTML reports, the CLI, the runtime). The byte formats are
 * named options, each for its purpose; they differ on purpose (exact vs rounded, binary
 * GiB for memory vs decimal GB beside bandwidths in GB/s).
 */
export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** 91625968640 → "85.33 GiB"; below 1 GiB in MiB ("12.5 MiB"), below 1 MiB in bytes. Messages. */
export function formatBytes(n: number): string {
  if (Math.abs(n) >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (Math.abs(n) >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${n} B`;
}

/** GiB with 2 decimals and no unit, never "-0.00": 91625968640 → "85.33". Tables and charts that name the unit once. */
export function gibText(bytes: number): string {
  const s = (bytes / GiB).toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

/** Exact, then rounded: "7,530,094,592 B (7.01 GiB)". The memory model's formulas. */
export function bytesText(bytes: number): string {
  return `${num(bytes)} B (${(bytes / GiB).toFixed(2)} GiB)`;
}

/** Exact: "1,234,567 B". The runtime's allocation and binding errors. */
export function exactBytes(bytes: number): string {
  return `${groupDigits(bytes)} B`;
}

/** Decimal units, 3 significant digits, beside bandwidths in GB/s: 541165879296 → "541 GB", 8388608 → "8.39 MB". */
export function decimalBytesText(bytes: number): string {
  const b = sig3(bytes);
  const units: [number, string][] = [
    [1e12, 'TB'],
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'kB'],
  ];
  for (const [size, unit] of units) if (b >= size) return `${(b / size).toPrecision(3)} ${unit}`;
  return `${b} B`;
}

/** Rounded to 3 significant digits first, so that 999.7 ms is "1.00 s", not "1.00e+3 ms". */
export function sig3(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(3));
}

/** 1234567 → "1,234,567"; non-integers with up to 3 decimals ("0.5", "10.375"). */
export function num(n: number): string {
  return Number.isInteger(n) ? groupDigits(n) : String(Number(n.toFixed(3)));
}

/**
 * 1234567 → "1,234,567" (integers; others as String does). By hand: the first
 * `toLocaleString` call initialises ICU, which costs ~30 ms of every CLI start.
 */
export function groupDigits(n: number): string {
  const s = String(Math.abs(n));
  if (!Number.isInteger(n) || s.length <= 3 || s.includes('e')) return String(n);
  const head = s.length % 3;
  let out = head ? s.slice(0, head) : '';
  for (let i = head; i < s.length; i += 3) out += (out ? ',' : '') + s.slice(i, i + 3);
  return n < 0 ? `-${out}` : out;
}

/**
 * Characters that must not reach a terminal or a log viewer as they are: C0 controls but
 * tab and newline (ESC starts terminal escape sequences, CR overwrites a line), DEL, C1
 * controls (U+009B is CSI on some terminals), line and paragraph separators, the byte
 * order mark, and the bidirectional controls that can make text read other than it runs
 * ("Trojan source": U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069).
 */
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/** Text from an input, safe to show: each unprintable character as `\u{1b}`; newlines too (one line stays one line). */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, escapeChar).replace(/\n/g, '\\u{a}');
}

/** As `printable`, keeping newlines (a message with its help on the next line). */
export function printableLines(s: string): string {
  return s.replace(UNPRINTABLE, escapeChar);
}

function escapeChar(c: string): string {
  return `\\u{${c.charCodeAt(0).toString(16)}}`;
}

/**
 * JSON text with the characters above written as `\uXXXX` escapes: the same value once
 * parsed, but none of them raw in a terminal or log that shows the JSON (JSON.stringify
 * escapes C0 controls itself, not DEL, C1, the separators or the bidirectional controls).
 */
export function jsonSafe(json: string): string {
  return json.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** At most `max` characters: a longer text keeps its start and ends with '…'. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  // Never cut a surrogate pair in two.
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}
