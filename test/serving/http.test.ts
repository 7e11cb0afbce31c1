/** The HTTP front: JSON round trip, error statuses, client disconnect cancels, stats and health. */
import { afterEach, describe, expect, it } from 'vitest';
import { cpuReference } from '../../runtime/testing/cpu-engine.js';
import { startHttpServer, type HttpHandle } from '../../runtime/serving/http.js';
import type { BatchPolicy } from '../../runtime/serving/policy.js';
import type { CpuEngineOptions } from '../../runtime/testing/cpu-engine.js';
import { VOCAB, setup, sleep, waitFor } from './helpers.js';

const handles: HttpHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close()));
});

async function start(policy: Partial<BatchPolicy> = {}, engine: Partial<CpuEngineOptions> = {}, maxBodyBytes?: number) {
  const ctx = setup(policy, engine);
  const http = await startHttpServer(ctx.server, { port: 0, ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}) });
  handles.push(http);
  const post = async (body: unknown, init: RequestInit = {}) => {
    const res = await fetch(`${http.url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...init,
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
  };
  const get = async (path: string) => {
    const res = await fetch(`${http.url}${path}`);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  return { ...ctx, http, post, get };
}

describe('HTTP front', () => {
  it('listens on loopback and answers a generate round trip', async () => {
    const { http, post } = await start();
    expect(http.host).toBe('127.0.0.1');
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ref = cpuReference([1, 2, 3], 8, { vocabSize: VOCAB });
    expect(await post({ prompt: [1, 2, 3], max_new_tokens: 8 })).toEqual({ status: 200, json: { tokens: ref.tokens, finish: 'length' } });
    const stop = ref.tokens[2]!;
    const r = await post({ prompt: [1, 2, 3], max_new_tokens: 8, stop: [stop] });
    expect(r.json).toEqual(cpuReference([1, 2, 3], 8, { vocabSize: VOCAB, stop: [stop] }));
    expect(r.json.finish).toBe('stop');
  });

  it('answers bad input with 400 and a JSON error', async () => {
    const { post } = await start({ maxSeq: 16 });
    const bad: [unknown, string, RegExp][] = [
      ['{"prompt": [1', 'invalid_json', /not valid JSON/],
      [[1, 2], 'invalid_request', /JSON object/],
      [{ prompt: [1] }, 'invalid_request', /"max_new_tokens" is required/],
      [{ prompt: [1], max_new_tokens: 2, max_tokens: 3 }, 'invalid_request', /unknown field "max_tokens"/],
      [{ prompt: [], max_new_tokens: 2 }, 'invalid_request', /prompt is empty/],
      [{ prompt: [1, 'a'], max_new_tokens: 2 }, 'invalid_request', /prompt\[1\] = "a"/],
      [{ prompt: [1], max_new_tokens: 99 }, 'invalid_request', /exceeds the sequence limit of 16/],
      [{ prompt: [1], max_new_tokens: '2' }, 'invalid_request', /must be a number/],
    ];
    for (const [body, code, message] of bad) {
      const r = await post(body);
      expect({ body, status: r.status, code: r.json.error?.code }).toEqual({ body, status: 400, code });
      expect(r.json.error?.message).toMatch(message);
    }
  });

  it('refuses a body over the limit with 413', async () => {
    const { post } = await start({}, {}, 1000);
    const r = await post({ prompt: Array(2000).fill(1), max_new_tokens: 1 });
    expect(r.status).toBe(413);
    expect(r.json.error?.code).toBe('body_too_large');
  });

  it('answers 404 and 405', async () => {
    const { http, get } = await start();
    expect((await get('/nope')).status).toBe(404);
    const res = await fetch(`${http.url}/v1/generate`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    await res.body?.cancel();
  });

  it('answers 429 when the queue is full', async () => {
    const { post, server } = await start({ maxBatch: 1, queue: 0 }, { decodeMs: 3 });
    const first = post({ prompt: [1], max_new_tokens: 30 });
    await waitFor(() => server.stats().active === 1, 2000, 'admission');
    const r = await post({ prompt: [2], max_new_tokens: 1 });
    expect(r.status).toBe(429);
    expect(r.json.error).toMatchObject({ code: 'queue_full', message: expect.stringMatching(/queue is full/) });
    expect((await first).status).toBe(200);
  });

  it('answers 504 with the partial tokens when the deadline passes', async () => {
    const { post } = await start({}, { decodeMs: 2 });
    const r = await post({ prompt: [4], max_new_tokens: 200, deadline_ms: 30 });
    expect(r.status).toBe(504);
    const err = r.json.error as unknown as { code: string; tokens: number[] };
    expect(err.code).toBe('deadline_exceeded');
    expect(err.tokens).toEqual(cpuReference([4], err.tokens.length, { vocabSize: VOCAB }).tokens);
  });

  it('cancels the request when the client disconnects', async () => {
    const { http, server, engine } = await start({}, { decodeMs: 3 });
    const ac = new AbortController();
    const req = fetch(`${http.url}/v1/generate`, {
      method: 'POST',
      body: JSON.stringify({ prompt: [1, 2], max_new_tokens: 200 }),
      signal: ac.signal,
    }).catch((e: unknown) => e);
    await waitFor(() => server.stats().decodeSteps >= 3, 2000, 'decode steps');
    ac.abort();
    expect(await req).toMatchObject({ name: 'AbortError' });
    await waitFor(() => server.stats().requests.cancelled === 1, 2000, 'cancellation');
    await waitFor(() => engine.occupiedSlots().length === 0, 2000, 'slot release');
    expect(server.stats()).toMatchObject({ active: 0, requests: { completed: 0, cancelled: 1 } });
  });

  it('serves stats and health; 503 once closed or unhealthy', async () => {
    const { post, get, server, engine } = await start();
    await post({ prompt: [1], max_new_tokens: 3 });
    const stats = await get('/v1/stats');
    expect(stats.status).toBe(200);
    expect(stats.json).toMatchObject({
      healthy: true,
      closed: false,
      queueDepth: 0,
      active: 0,
      requests: { submitted: 1, completed: 1 },
      tokens: { total: 3 },
    });
    expect(await get('/healthz')).toEqual({ status: 200, json: { status: 'ok' } });

    engine.loseDevice('test loss');
    await sleep(1);
    expect(await get('/healthz')).toEqual({ status: 503, json: { status: 'unhealthy', reason: 'test loss' } });
    const lost = await post({ prompt: [1], max_new_tokens: 3 });
    expect(lost.status).toBe(503);
    expect(lost.json.error?.code).toBe('device_lost');

    await server.close();
    const closed = await post({ prompt: [1], max_new_tokens: 3 });
    expect(closed.status).toBe(503);
    expect(closed.json.error?.code).toBe('server_closed');
  });

  it('reports a closed (healthy) server as 503 closed', async () => {
    const { get, server } = await start();
    await server.close();
    expect(await get('/healthz')).toEqual({ status: 503, json: { status: 'closed' } });
  });
});
