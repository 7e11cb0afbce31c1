/**
 * Prometheus metrics of one batching server and its HTTP front (`GET /metrics`), on a
 * Registry of its own: two servers in one process (tests, several models) never share or
 * clash over a metric, and nothing lands in prom-client's global registry.
 *
 * The server's own counters (`stats()`) are the one source: at each scrape the counters
 * and the batch-size histogram advance by what changed since the last one, so a metric can
 * never disagree with `/v1/stats`. What the server does not count (time to first token,
 * HTTP answers) is observed by the front as requests end. Names in docs/serving.md.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GenerateResult, Server } from './server.js';
import type { RequestCounts } from './stats.js';

/** stats().requests fields as the `outcome` label of parplan_requests_total. */
const OUTCOMES: readonly [keyof RequestCounts, string][] = [
  ['completed', 'completed'],
  ['cancelled', 'cancelled'],
  ['deadline', 'deadline'],
  ['failed', 'failed'],
  // `rejected` includes the queue-full refusals; the label keeps them apart.
  ['queueFull', 'queue_full'],
];

export interface Metrics {
  readonly registry: Registry;
  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string>;
  readonly contentType: string;
  /** A generation finished with tokens: its time to first token. */
  observeCompleted(timing: GenerateResult['timing']): void;
  /** An HTTP answer was sent. */
  observeResponse(route: string, status: number): void;
}

export function createMetrics(server: Server): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const stats = () => server.stats();

  new Gauge({
    name: 'parplan_queue_depth',
    help: 'Requests waiting for a slot.',
    registers,
    collect() {
      this.set(stats().queueDepth);
    },
  });
  new Gauge({
    name: 'parplan_running_sequences',
    help: 'Sequences being generated (holding a KV-cache slot).',
    registers,
    collect() {
      this.set(stats().active);
    },
  });
  new Gauge({
    name: 'parplan_max_batch',
    help: 'KV-cache slots the server uses (the plan policy max_batch times data-parallel replicas).',
    registers,
    collect() {
      this.set(server.policy.maxBatch);
    },
  });
  new Gauge({
    name: 'parplan_healthy',
    help: '1 while the server accepts requests; 0 once the device is lost or the server is closed.',
    registers,
    collect() {
      const s = stats();
      this.set(s.healthy && !s.closed ? 1 : 0);
    },
  });
  new Gauge({
    name: 'parplan_tokens_per_second',
    help: 'Generated tokens per second over the recent window (stats().tokens.windowMs).',
    registers,
    collect() {
      this.set(stats().tokens.perSecondRecent);
    },
  });

  let tokensSeen = 0;
  new Counter({
    name: 'parplan_generated_tokens_total',
    help: 'Generated tokens delivered to requests (the first token of each prefill included).',
    registers,
    collect() {
      const total = stats().tokens.total;
      if (total > tokensSeen) this.inc(total - tokensSeen);
      tokensSeen = total;
    },
  });

  const outcomeSeen = new Map<string, number>();
  const requests = new Counter({
    name: 'parplan_requests_total',
    help: 'Requests that ended, by outcome: completed, cancelled, deadline, failed (engine failure, device loss, shutdown), queue_full, rejected (other refusals: invalid, closed, unhealthy).',
    labelNames: ['outcome'],
    registers,
    collect() {
      const r = stats().requests;
      const counts: [string, number][] = OUTCOMES.map(([field, label]) => [label, r[field]]);
      counts.push(['rejected', r.rejected - r.queueFull]);
      for (const [label, n] of counts) {
        const seen = outcomeSeen.get(label) ?? 0;
        if (n > seen) this.inc({ outcome: label }, n - seen);
        outcomeSeen.set(label, n);
      }
    },
  });
  // Every outcome is exported from the start, so a rate over it exists before the first event.
  for (const [, label] of OUTCOMES) requests.inc({ outcome: label }, 0);
  requests.inc({ outcome: 'rejected' }, 0);

  const maxBatch = server.policy.maxBatch;
  const batchBuckets: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) batchBuckets.push(b);
  batchBuckets.push(maxBatch);
  let stepsSeen: number[] = [];
  new Histogram({
    name: 'parplan_batch_size',
    help: 'Sequences per decode step.',
    buckets: batchBuckets,
    registers,
    collect() {
      const hist = stats().batchHistogram;
      // One observation per decode step since the last scrape: O(steps), as the steps themselves.
      hist.forEach((n, b) => {
        for (let k = stepsSeen[b] ?? 0; k < n; k++) this.observe(b);
      });
      stepsSeen = hist;
    },
  });

  const ttft = new Histogram({
    name: 'parplan_time_to_first_token_seconds',
    help: 'From the request reaching the server to its first generated token (completed requests).',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });

  const responses = new Counter({
    name: 'parplan_http_responses_total',
    help: 'HTTP answers by route and status code (a stream counts once, with the status of its headers).',
    labelNames: ['route', 'status'],
    registers,
  });

  return {
    registry,
    text: () => registry.metrics(),
    contentType: registry.contentType,
    observeCompleted: (timing) => ttft.observe(timing.firstTokenMs / 1000),
    observeResponse: (route, status) => responses.inc({ route, status: String(status) }),
  };
}
