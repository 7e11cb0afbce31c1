/**
 * Issue 13, item 7: HTTP clients that hold the server. A half-sent body, a slowloris on the
 * headers, a byte a second, thousands of half-open connections and a shutdown with such a
 * client: each is cut within its configured time, extra connections are refused at the cap,
 * and normal requests keep working. Loopback only, the CPU engine, small timeouts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { shutdown, startHttpServer, type HttpHandle, type HttpOptions } from '../../runtime/serving/http.js';
import { cpuReference } from '../../runtime/testing/cpu-engine.js';
import { LIMITS } from '../../src/facts/limits.js';
import { parseServeArgs } from '../../src/cli/commands/serve.js';
import { UsageError } from '../../src/cli/usage.js';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import { ROOT, TSX } from '../cli/spawn.js';
import { VOCAB, setup, sleep, waitFor } from '../serving/helpers.js';

const handles: HttpHandle[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(handles.splice(0).map((h) => h.close({ drainMs: 100 })));
});

async function start(options: Omit<HttpOptions, 'port'> = {}, engine: { decodeMs?: number } = {}) {
  const ctx = setup({}, engine);
  const http = await startHttpServer(ctx.server, { port: 0, ...options });
  handles.push(http);
  return { ...ctx, http };
}

interface Raw {
  socket: net.Socket;
  /** Everything the server sent. */
  data(): string;
  /** Resolves with ms since the connection was opened when the server closes it. */
  closed: Promise<number>;
}

/** A raw TCP client on loopback that writes `first` once connected (and whatever the test writes later). */
function raw(port: number, first = ''): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => {});
    const closed = new Promise<number>((r) => socket.on('close', () => r(performance.now() - t0)));
    socket.once('connect', () => {
      if (first !== '') socket.write(first);
      resolve({ socket, data: () => text, closed });
    });
    socket.once('error', reject);
  });
}

/** Resolves with `p`'s value, or 'timeout' after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const BODY = JSON.stringify({ prompt: [1, 2, 3], max_new_tokens: 4 });
const head = (length: number) =>
  `POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

async function generate(url: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}/v1/generate`, { method: 'POST', body: BODY });
  return { status: res.status, json: await res.json() };
}

describe('HTTP clients that hold the server (issue 13, item 7)', () => {
  it('the defaults are the named limits', () => {
    expect(LIMITS).toMatchObject({
      httpHeadersTimeoutMs: 10_000,
      httpBodyTimeoutMs: 10_000,
      httpRequestTimeoutMs: 20_000,
      httpKeepAliveTimeoutMs: 5_000,
      httpMaxConnections: 512,
      httpDrainMs: 10_000,
    });
  });

  it('headers and half a body, then nothing: 408 request_timeout and the connection closed within the body timeout', async () => {
    const { http } = await start({ bodyTimeoutMs: 300 });
    const c = await raw(http.port, head(BODY.length) + BODY.slice(0, 10));
    const ms = await within(c.closed, 3000);
    expect(ms).not.toBe('timeout');
    expect(ms).toBeGreaterThan(250);
    expect(ms).toBeLessThan(1500);
    expect(c.data().split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(c.data()).toMatch(
      /"message":"the request body did not arrive within 300 ms","type":"invalid_request_error","param":null,"code":"request_timeout"/,
    );
    // The server is fine afterwards.
    expect((await generate(http.url)).status).toBe(200);
  });

  it('a body trickled a byte every 50 ms is cut off at the body timeout, not read to the end', async () => {
    const { http, server } = await start({ bodyTimeoutMs: 400 });
    const c = await raw(http.port, head(BODY.length));
    let sent = 0;
    const trickle = setInterval(() => {
      if (!c.socket.destroyed && sent < BODY.length) c.socket.write(BODY[sent++]!);
    }, 50);
    try {
      const ms = await within(c.closed, 3000);
      expect(ms).not.toBe('timeout');
      expect(ms).toBeLessThan(1500);
      expect(sent).toBeLessThan(BODY.length);
      expect(c.data().split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
      expect(server.stats().requests.submitted).toBe(0);
    } finally {
      clearInterval(trickle);
    }
  });

  it('slowloris on the headers (a header line every 50 ms, never finished): closed with 408 within the headers timeout', async () => {
    const { http } = await start({ headersTimeoutMs: 300 });
    const c = await raw(http.port, 'POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    let i = 0;
    const drip = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write(`X-Drip-${i++}: 1\r\n`);
    }, 50);
    const silent = await raw(http.port);
    try {
      const [ms, silentMs] = await Promise.all([within(c.closed, 3000), within(silent.closed, 3000)]);
      expect(ms).not.toBe('timeout');
      expect(ms).toBeLessThan(1500);
      expect(c.data().split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
      // A connection that sends nothing at all is cut the same way.
      expect(silentMs).not.toBe('timeout');
      expect(silentMs).toBeLessThan(1500);
    } finally {
      clearInterval(drip);
    }
  });

  it("http.close() with a client holding a half-sent body ends at once, not after Node's 300 s body timeout", async () => {
    const { http } = await start();
    const c = await raw(http.port, head(1000) + '{"prompt": [1');
    await waitFor(() => http.connections().open === 1, 2000, 'the connection');
    await sleep(20);
    const t0 = performance.now();
    expect(await within(http.close(), 2000)).not.toBe('timeout');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(await within(c.closed, 1000)).not.toBe('timeout');
  });

  it('shutdown with a half-sent body, a slowloris and running generations completes within the drain time', async () => {
    // decodeMs 20: 4 tokens finish inside the drain; 10,000 tokens cannot.
    const { http, server } = await start({}, { decodeMs: 20 });
    const halfBody = await raw(http.port, head(1000) + '{"prompt": [1');
    const loris = await raw(http.port, 'GET /healthz HTTP/1.1\r\n');
    const short = fetch(`${http.url}/v1/generate`, { method: 'POST', body: BODY }).then(async (r) => ({
      status: r.status,
      json: await r.json(),
    }));
    const long = fetch(`${http.url}/v1/generate`, { method: 'POST', body: JSON.stringify({ prompt: [5], max_new_tokens: 200 }) }).then(
      async (r) => ({ status: r.status, json: (await r.json()) as { error?: { code: string } } }),
      (e: unknown) => ({ status: 0, json: { error: { code: String(e) } } }),
    );
    await waitFor(() => server.stats().active === 2, 2000, 'two running generations');
    const drainMs = 1000;
    const t0 = performance.now();
    const drained = await within(shutdown(server, http, drainMs), drainMs + 2000);
    const took = performance.now() - t0;
    expect(drained).toBe(false);
    expect(took).toBeLessThan(drainMs + 300);
    expect(await short).toEqual({
      status: 200,
      json: { tokens: cpuReference([1, 2, 3], 4, { vocabSize: VOCAB }).tokens, finish: 'length' },
    });
    expect((await long).status).toBe(503);
    expect((await long).json.error?.code).toBe('server_closed');
    for (const c of [halfBody, loris]) expect(await within(c.closed, 100)).not.toBe('timeout');
    await waitFor(() => http.connections().open === 0, 100, 'every connection closed');
  });

  it('connections past the cap are refused at once; a client already connected is served; fresh ones again once the holders time out', async () => {
    const cap = 8;
    const { http } = await start({ maxConnections: cap, headersTimeoutMs: 600, keepAliveTimeoutMs: 5000 });
    // A well-behaved client with a keep-alive connection.
    const friend = await raw(http.port);
    const ask = async (c: Raw) => {
      const before = c.data().length;
      c.socket.write(head(BODY.length) + BODY);
      await waitFor(() => /\r\n\r\n\{.*\}$/s.test(c.data().slice(before)), 2000, 'the answer');
      return c.data().slice(before).split('\r\n')[0];
    };
    expect(await ask(friend)).toBe('HTTP/1.1 200 OK');
    // cap − 1 slowloris connections fill the cap.
    const holders = await Promise.all(Array.from({ length: cap - 1 }, () => raw(http.port, 'POST /v1/generate HTTP/1.1\r\n')));
    await waitFor(() => http.connections().open === cap, 2000, 'the cap filled');
    // 20 more: each closed at once, before any byte is read.
    const extras = await Promise.all(Array.from({ length: 20 }, () => raw(http.port, head(BODY.length) + BODY)));
    const extraMs = await Promise.all(extras.map((c) => within(c.closed, 1000)));
    expect(extraMs.every((ms) => ms !== 'timeout' && ms < 500)).toBe(true);
    expect(extras.every((c) => c.data() === '')).toBe(true);
    expect(http.connections()).toEqual({ open: cap, refused: 20 });
    // The client already connected is still served while the cap is full.
    expect(await ask(friend)).toBe('HTTP/1.1 200 OK');
    // The holders are cut by the headers timeout; then a new client gets in.
    const held = await Promise.all(holders.map((c) => within(c.closed, 3000)));
    expect(held.every((ms) => ms !== 'timeout')).toBe(true);
    expect((await generate(http.url)).status).toBe(200);
  });

  it('2,000 half-open connections against a cap of 64: the process keeps its file descriptors and answers a normal request', async () => {
    const { http } = await start({ maxConnections: 64, headersTimeoutMs: 5000 });
    const flood: Raw[] = [];
    for (let i = 0; i < 2000; i += 100) {
      flood.push(
        ...(await Promise.all(Array.from({ length: 100 }, () => raw(http.port, 'POST /v1/generate HTTP/1.1\r\nContent-Length: 10\r\n')))),
      );
      // Refused ones are closed: free their client-side descriptors as we go.
      await sleep(5);
      for (const c of flood) if (c.socket.destroyed || c.socket.readyState === 'closed') c.socket.destroy();
    }
    // Generous bounds: on a loaded 2-core machine the 2,000 refusals alone took over 3 s (a hang still fails).
    await waitFor(() => http.connections().refused >= 2000 - 64, 20_000, 'the refusals');
    expect(http.connections().open).toBeLessThanOrEqual(64);
    // Free the cap, then a normal request works at once.
    for (const c of flood) c.socket.destroy();
    await waitFor(() => http.connections().open === 0, 10_000, 'the holders gone');
    expect((await generate(http.url)).status).toBe(200);
  });
});

describe('parplan serve: the HTTP limit flags', () => {
  const base = ['--weights', 'random:1', 'g.graph.json'];
  it('parses times and the cap, and passes nothing it was not given', () => {
    const a = parseServeArgs([
      ...base,
      '--headers-timeout',
      '2s',
      '--body-timeout',
      '1500ms',
      '--request-timeout',
      '4000',
      '--keep-alive-timeout',
      '0.5s',
      '--max-connections',
      '100',
    ]);
    expect(a !== 'help' && a.limits).toEqual({
      headersTimeoutMs: 2000,
      bodyTimeoutMs: 1500,
      requestTimeoutMs: 4000,
      keepAliveTimeoutMs: 500,
      maxConnections: 100,
    });
    const d = parseServeArgs(base);
    expect(d !== 'help' && d.limits).toEqual({});
  });
  it.each([
    [['--max-connections', '0'], "option '--max-connections' needs a whole number ≥ 1, found '0'"],
    [['--headers-timeout', '10 min'], "option '--headers-timeout' needs a time such as 500ms or 10s, found '10 min'"],
    [['--body-timeout', '1h'], "option '--body-timeout' needs a time such as 500ms or 10s, found '1h'"],
    [['--keep-alive-timeout', '0'], "option '--keep-alive-timeout' needs a time such as 500ms or 10s, found '0'"],
    [['--request-timeout', '1s'], "'--request-timeout' is shorter than the headers timeout"],
  ])('%j is a usage error', (flags, message) => {
    let err: unknown;
    try {
      parseServeArgs([...base, ...flags]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(message);
  });
});

describe('parplan serve (process): the limit flags reach the server, and SIGTERM is not held by slow clients', () => {
  it('SIGTERM with a half-sent body, a slowloris and a silent client connected: exit 0 at once; the cap refuses extras', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-hostile-serve-'));
    const planFile = join(dir, 'tiny.plan');
    writeFileSync(
      planFile,
      `model tiny { arch = gpt2  layers = 1  hidden = 32  heads = 2  vocab = 50  max_seq = 32  dtype = fp32 }
cluster one { gpu { name = "lavapipe"  memory = 1 GiB }  gpus = 1 }
plan tiny { model = tiny  cluster = one  mode = serve  engine = webgpu
  batch { max_batch = 2  max_wait = 1 ms  seq = 32  queue = 4  max_prefill_tokens = 16 } }
`,
    );
    const a = analyze([planFile]);
    const graphFile = join(dir, 'tiny.graph.json');
    writeFileSync(graphFile, JSON.stringify(compilePlan(a.results[0]!.plan, a.results[0]!.memory).graph));
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
    const child = spawn(
      process.execPath,
      [
        '--import',
        TSX,
        `${ROOT}src/cli/main.ts`,
        'serve',
        graphFile,
        '--weights',
        'random:1',
        '--port',
        '0',
        '--max-connections',
        '4',
        '--headers-timeout',
        '30s',
        '--request-timeout',
        '60s',
        '--body-timeout',
        '30s',
      ],
      { cwd: ROOT, env },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    try {
      await waitFor(
        () => /on http:\/\/127\.0\.0\.1:\d+ /.test(out) || child.exitCode !== null,
        45_000,
        `the serving line (stderr: ${err})`,
      );
      const port = Number(/on http:\/\/127\.0\.0\.1:(\d+) /.exec(out)![1]);
      const holders = [await raw(port, head(1000) + '{"prompt": [1'), await raw(port, 'POST /v1/generate HTTP/1.1\r\n'), await raw(port)];
      await sleep(200);
      // 4 allowed: one more is accepted, the ones after it closed at once.
      const extras = await Promise.all(Array.from({ length: 4 }, () => raw(port)));
      const closedSoon = await Promise.all(extras.map((c) => within(c.closed, 1000)));
      expect(closedSoon.filter((ms) => ms !== 'timeout').length).toBeGreaterThanOrEqual(3);
      for (const c of extras) c.socket.destroy();
      const t0 = performance.now();
      child.kill('SIGTERM');
      const result = await within(exit, 15_000);
      expect(result).toEqual({ code: 0, signal: null });
      // Nothing was running: the half-sent body and the idle connections are cut at once, not after the drain or the timeouts.
      expect(performance.now() - t0).toBeLessThan(3000);
      expect(err).toContain('SIGTERM: stopping (running requests get 10 s to finish)');
      for (const c of holders) expect(await within(c.closed, 500)).not.toBe('timeout');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
