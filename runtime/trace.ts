/**
 * An optional record of what each device did when (`RuntimeOptions.trace`): spans of
 * compute (encoding and submitting kernels) and of communication through the host
 * (waiting for a readback's `mapAsync`, summing on the host, waiting for the upload
 * buffer's map and writing it). Every span carries the order in which it began and
 * ended among all spans, so tests can assert that work overlapped from the order of
 * events alone (never from durations); the bench sums the durations.
 */

export type SpanKind =
  /** Kernels recorded into one command encoder and submitted (host time; the device runs them after). */
  | 'compute'
  /** A device→host copy submitted and its `mapAsync(READ)` awaited: waits for the device's queued work too. */
  | 'readback'
  /** Partial sums added (or logits gathered) on the host. */
  | 'reduce'
  /** The upload buffer's `mapAsync(WRITE)` awaited (nothing to wait for when it was mapped ahead). */
  | 'map-write'
  /** Host data copied into the mapped upload buffer and the host→device copy submitted. */
  | 'upload';

export interface Span {
  rank: number;
  /** Data-parallel replica of the device. */
  replica: number;
  kind: SpanKind;
  /** What for: `all-reduce`, `send`, `recv`, `logits`, a step's kind. */
  label: string;
  /** performance.now() at the start and end, ms. */
  start: number;
  end: number;
  /** Position of the span's start and of its end among all starts and ends recorded (0, 1, 2, …). */
  startSeq: number;
  endSeq: number;
}

/** Where spans go; `undefined` where tracing is off (then nothing is measured). */
export class Trace {
  readonly spans: Span[] = [];
  private seq = 0;

  /** Start a span now; call the result to end it. */
  begin(rank: number, replica: number, kind: SpanKind, label: string): () => void {
    const start = performance.now();
    const startSeq = this.seq++;
    return () => {
      this.spans.push({ rank, replica, kind, label, start, end: performance.now(), startSeq, endSeq: this.seq++ });
    };
  }

  /** Milliseconds per span kind (summed over devices), for reports. */
  totals(): Record<SpanKind, number> {
    const out: Record<SpanKind, number> = { compute: 0, readback: 0, reduce: 0, 'map-write': 0, upload: 0 };
    for (const s of this.spans) out[s.kind] += s.end - s.start;
    return out;
  }

  clear(): void {
    this.spans.length = 0;
  }
}

/** A device's handle on the trace: its rank and replica filled in. */
export interface DeviceTrace {
  trace: Trace;
  rank: number;
  replica: number;
}

/** `begin` on a device's trace, or a no-op where tracing is off. */
export function beginSpan(t: DeviceTrace | undefined, kind: SpanKind, label: string): () => void {
  return t ? t.trace.begin(t.rank, t.replica, kind, label) : noop;
}

const noop = (): void => {};
