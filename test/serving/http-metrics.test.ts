/** GET /metrics: Prometheus text, parsed here, whose counters follow the requests that complete. */
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpHandle } from '../../runtime/serving/http.js';
import type { BatchPolicy } from '../../runtime/serving/policy.js';
import type { CpuEngineOptions } from '../../runtime/testing/cpu-engine.js';
import { setup, waitFor } from './helpers.js';

const handles: HttpHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close({ drainMs: 500 })));
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text exposition format (version 0.0.4): `# TYPE name kind`, then `name{label="v",…} value` lines. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    if (Number.isNaN(value)) throw new Error(`not a value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

async function start(policy: Partial<BatchPolicy> = {}, engine: Partial<CpuEngineOptions> = {}) {
  const ctx = setup(policy, engine);
  const http = await startHttpServer(ctx.server, { port: 0 });
  handles.push(http);
  const scrape = async () => {
    const res = await fetch(`${http.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const parsed = parseExposition(await res.text());
    const value = (name: string, labels: Record<string, string> = {}) => {
      const found = parsed.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
      return found[0]!.value;
    };
    return { ...parsed, value };
  };
  const generate = (prompt: number[], n: number, extra: Record<string, unknown> = {}) =>
    fetch(`${http.url}/v1/generate`, { method: 'POST', body: JSON.stringify({ prompt, max_new_tokens: n, ...extra }) });
  return { ...ctx, http, scrape, generate };
}

describe('GET /metrics', () => {
  it('exports gauges, counters and histograms that move as requests complete', async () => {
    const { scrape, generate, server } = await start({ maxBatch: 4 });
    const before = await scrape();
    expect(before.types.get('parplan_generated_tokens_total')).toBe('counter');
    expect(before.types.get('parplan_requests_total')).toBe('counter');
    expect(before.types.get('parplan_batch_size')).toBe('histogram');
    expect(before.types.get('parplan_time_to_first_token_seconds')).toBe('histogram');
    expect(before.types.get('parplan_queue_depth')).toBe('gauge');
    expect(before.types.get('parplan_running_sequences')).toBe('gauge');
    expect(before.types.get('parplan_tokens_per_second')).toBe('gauge');
    expect(before.value('parplan_generated_tokens_total')).toBe(0);
    expect(before.value('parplan_requests_total', { outcome: 'completed' })).toBe(0);
    expect(before.value('parplan_healthy')).toBe(1);
    expect(before.value('parplan_max_batch')).toBe(4);

    // Four at once: they share decode steps.
    const answers = await Promise.all([1, 2, 3, 4].map((p) => generate([p], 5)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const bad = await generate([], 5);
    expect(bad.status).toBe(400);

    const after = await scrape();
    expect(after.value('parplan_generated_tokens_total')).toBe(20);
    expect(after.value('parplan_requests_total', { outcome: 'completed' })).toBe(4);
    expect(after.value('parplan_requests_total', { outcome: 'rejected' })).toBe(1);
    expect(after.value('parplan_time_to_first_token_seconds_count')).toBe(4);
    expect(after.value('parplan_time_to_first_token_seconds_sum')).toBeGreaterThan(0);
    // The batch histogram holds one observation per decode step, at its batch size.
    const s = server.stats();
    expect(after.value('parplan_batch_size_count')).toBe(s.decodeSteps);
    expect(after.value('parplan_batch_size_sum')).toBe(s.batchHistogram.reduce((sum, n, b) => sum + n * b, 0));
    expect(after.value('parplan_batch_size_bucket', { le: '+Inf' })).toBe(s.decodeSteps);
    expect(after.value('parplan_batch_size_bucket', { le: '2' })).toBe(s.batchHistogram[1]! + s.batchHistogram[2]!);
    expect(after.value('parplan_tokens_per_second')).toBeGreaterThan(0);
    expect(after.value('parplan_http_responses_total', { route: '/v1/generate', status: '200' })).toBe(4);
    expect(after.value('parplan_http_responses_total', { route: '/v1/generate', status: '400' })).toBe(1);

    // A second scrape without new requests: counters and histograms hold (no double counting).
    const again = await scrape();
    expect(again.value('parplan_generated_tokens_total')).toBe(20);
    expect(again.value('parplan_batch_size_count')).toBe(s.decodeSteps);
    await generate([9], 3);
    expect((await scrape()).value('parplan_generated_tokens_total')).toBe(23);
  });

  it('shows the queue, the running sequences and refusals while busy', async () => {
    const { scrape, generate, server } = await start({ maxBatch: 1, queue: 1 }, { decodeMs: 3 });
    const running = generate([1], 60);
    await waitFor(() => server.stats().active === 1, 2000, 'admission');
    const waiting = generate([2], 2);
    await waitFor(() => server.stats().queueDepth === 1, 2000, 'queued');
    expect((await generate([3], 2)).status).toBe(429);
    const busy = await scrape();
    expect(busy.value('parplan_running_sequences')).toBe(1);
    expect(busy.value('parplan_queue_depth')).toBe(1);
    expect(busy.value('parplan_requests_total', { outcome: 'queue_full' })).toBe(1);
    expect(busy.value('parplan_requests_total', { outcome: 'rejected' })).toBe(0);
    await Promise.all([running, waiting]);
    const idle = await scrape();
    expect(idle.value('parplan_running_sequences')).toBe(0);
    expect(idle.value('parplan_queue_depth')).toBe(0);
    expect(idle.value('parplan_requests_total', { outcome: 'completed' })).toBe(2);
  });

  it('keeps each server on its own registry', async () => {
    const a = await start();
    const b = await start();
    await a.generate([1], 4);
    expect((await a.scrape()).value('parplan_generated_tokens_total')).toBe(4);
    expect((await b.scrape()).value('parplan_generated_tokens_total')).toBe(0);
  });
});
