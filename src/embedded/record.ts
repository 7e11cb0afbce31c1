/**
 * Builder values carry what the builder was given (a Recorded, src/embedded/runtime.ts)
 * under a private symbol: how `analyzePlans` and references tell them from look-alikes.
 */
import type { Recorded } from './runtime.js';

const RECORD = Symbol('parplan.recorded');

export interface Recording {
  readonly [RECORD]: Recorded;
}

export function recordOf(v: unknown): Recorded | undefined {
  return typeof v === 'object' && v !== null && RECORD in v ? (v as Recording)[RECORD] : undefined;
}

/** Attach a record to a value (non-enumerable, so logging a value shows its kind and name only). */
export function withRecord<T extends object>(value: T, record: Recorded): T & Recording {
  return Object.defineProperty(value, RECORD, { value: record, enumerable: false }) as T & Recording;
}
