/** A token counter over a sliding window, in fixed buckets (cheap to add to, cheap to read). */
export class RateWindow {
  private static readonly BUCKETS = 20;
  private readonly bucketMs: number;
  private readonly ids = new Array<number>(RateWindow.BUCKETS).fill(-1);
  private readonly counts = new Array<number>(RateWindow.BUCKETS).fill(0);

  constructor(
    readonly windowMs: number,
    private readonly startedAt: number,
  ) {
    this.bucketMs = windowMs / RateWindow.BUCKETS;
  }

  add(now: number, n: number): void {
    const id = Math.floor((now - this.startedAt) / this.bucketMs);
    const i = id % RateWindow.BUCKETS;
    if (this.ids[i] !== id) {
      this.ids[i] = id;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  /** Events per second over the last `windowMs` (or since the start, when that is shorter). */
  perSecond(now: number): number {
    const elapsed = now - this.startedAt;
    if (elapsed <= 0) return 0;
    const idNow = Math.floor(elapsed / this.bucketMs);
    let sum = 0;
    for (let i = 0; i < RateWindow.BUCKETS; i++) {
      const id = this.ids[i]!;
      if (id >= 0 && id > idNow - RateWindow.BUCKETS) sum += this.counts[i]!;
    }
    const span = Math.min(this.windowMs, elapsed);
    return (sum * 1000) / span;
  }
}

export interface RequestCounts {
  /** Every `generate` call. */
  submitted: number;
  /** Resolved with tokens (finish 'length' or 'stop'). */
  completed: number;
  /** Refused at submission: invalid input, queue full, server closed or unhealthy. */
  rejected: number;
  /** Of `rejected`, those refused because the queue was full. */
  queueFull: number;
  /** Cancelled through their `AbortSignal` (before admission or mid-generation). */
  cancelled: number;
  /** Rejected with `DeadlineError`. */
  deadline: number;
  /** Accepted, then rejected by an engine failure, device loss or `close()`. */
  failed: number;
}

export interface ServerStats {
  healthy: boolean;
  /** Why the server is unhealthy (the device-lost reason), when it is. */
  lostReason?: string;
  closed: boolean;
  /** Requests waiting for a slot. */
  queueDepth: number;
  /** Sequences being generated (holding a KV-cache slot). */
  active: number;
  /** The policy's maxBatch (slots in use by the server). */
  maxBatch: number;
  /** Prefill calls made. */
  prefills: number;
  /** Decode steps made. */
  decodeSteps: number;
  /** `batchHistogram[b]` = decode steps that ran with `b` sequences (index 0 unused). */
  batchHistogram: number[];
  /** Mean sequences per decode step (0 before the first step). */
  meanBatch: number;
  tokens: {
    /** Generated tokens delivered to requests (the prefill's first token included). */
    total: number;
    /** total / uptime. */
    perSecond: number;
    /** Over the last `windowMs`. */
    perSecondRecent: number;
    windowMs: number;
  };
  /** Engine busy time since the server started / wall time since then (0 … 1). */
  busyFraction: number;
  uptimeMs: number;
  requests: RequestCounts;
}
