/** Shared helpers for the memory model: one category's result and byte rounding (readable numbers: src/format.ts). */

/** One memory category on one device: integer bytes and the formula with its numbers. */
export interface Part {
  bytes: number;
  why: string;
}

/** Within a few ulps of an integer: floating-point noise, not a real fraction of a byte. */
function nearInteger(x: number): number | undefined {
  const r = Math.round(x);
  return Math.abs(x - r) <= Math.max(1e-9, Math.abs(x) * Number.EPSILON * 16) ? r : undefined;
}

/** Ceiling that ignores floating-point noise just above an integer (900.0000000000001 → 900). */
export function ceilBytes(x: number): number {
  return nearInteger(x) ?? Math.ceil(x);
}

/** Floor that ignores floating-point noise just below an integer (899.9999999999999 → 900). */
export function floorBytes(x: number): number {
  return nearInteger(x) ?? Math.floor(x);
}
