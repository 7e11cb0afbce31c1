/** Shared helpers for the memory model: one category's result and byte rounding (readable numbers: src/format.ts). */

/** One memory category on one device: integer bytes and the formula with its numbers. */
export interface Part {
  readonly bytes: number;
  readonly why: string;
}

/**
 * A Part whose formula text `render` builds on first read of `why`: most footprints (fit
 * suggestions, plan search, `check` without text output) are never printed, and formatting
 * their numbers was a good share of the checker's time.
 */
export function part(bytes: number, render: () => string): Part {
  return new LazyPart(bytes, render);
}

class LazyPart implements Part {
  private text: string | undefined;
  constructor(
    readonly bytes: number,
    private readonly render: () => string,
  ) {}
  get why(): string {
    return (this.text ??= this.render());
  }
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
