/** Human formatting of sizes, shared by messages and reports. */
const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** 91625968640 → "85.33 GiB"; below 1 GiB in MiB. */
export function formatBytes(n: number): string {
  if (Math.abs(n) >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (Math.abs(n) >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${n} B`;
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
