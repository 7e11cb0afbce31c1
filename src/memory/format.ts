/** Shared helpers for the memory model: one category's result and readable numbers. */
import { groupDigits } from '../format.js';

/** One memory category on one device: integer bytes and the formula with its numbers. */
export interface Part {
  bytes: number;
  why: string;
}

/** 1234567 → "1,234,567"; non-integers with up to 3 decimals ("0.5", "10.375"). */
export function num(n: number): string {
  return Number.isInteger(n) ? groupDigits(n) : String(Number(n.toFixed(3)));
}

const GiB = 2 ** 30;

/** "7,530,094,592 B (7.01 GiB)". */
export function bytesText(bytes: number): string {
  return `${num(bytes)} B (${(bytes / GiB).toFixed(2)} GiB)`;
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
