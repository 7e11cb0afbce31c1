/**
 * The `http` fuzz target: hostile clients against a loopback batching server (CPU engine),
 * shared by bench/fuzz.ts (`--target http`) and test/fuzz.test.ts. Each case is one raw TCP
 * client built from a seed (replayable): a generate body (valid, mutated or random bytes)
 * with a right, short, long, missing or malformed length or chunked framing; random
 * methods, paths, versions and headers (huge, many, non-ASCII); pipelined requests; bytes
 * written in slow pieces, stalls, abrupt disconnects, silence. Cases run `concurrency` at a
 * time. A case fails when the server answers 500 or something that is not HTTP/JSON of the
 * documented shape, or when the connection is still open after `HANG_MS`. At the end: no
 * connection left open, no slot held, the stats balance, a normal request works, and a
 * shutdown with slow clients and running generations connected ends within its drain time.
 */
import net from 'node:net';
import { shutdown, startHttpServer, type HttpHandle } from '../../runtime/serving/http.js';
import { createServer, type Server } from '../../runtime/serving/server.js';
import { CpuEngine } from '../../runtime/testing/cpu-engine.js';
import { mulberry32 } from '../../src/util/random.js';

/** A case whose connection is still open this long after it started is a hang. */
export const HANG_MS = 5000;
/** The server's limits during the run: small, so that slow clients end quickly. */
const LIMITS = {
  headersTimeoutMs: 300,
  bodyTimeoutMs: 300,
  requestTimeoutMs: 600,
  keepAliveTimeoutMs: 200,
  maxConnections: 64,
  maxBodyBytes: 64 * 1024,
};
const DRAIN_MS = 1000;
/** Most the process's resident set may grow during a run, bytes (a leak per connection or request shows past it). */
export const RSS_GROWTH_BOUND = 256 * 1024 * 1024;
const VOCAB = 1000;
/** Statuses the front may answer (Node's own: 400 bad framing, 408 timeouts, 413, 431 headers, 505 version). */
const STATUSES = new Set([100, 200, 400, 404, 405, 408, 413, 429, 431, 499, 503, 504, 505]);

export interface HttpFuzzReport {
  cases: number;
  failures: string[];
  /** Cases whose connection closed without a complete answer (refused, cut, or the client left). */
  unanswered: number;
  statuses: Record<number, number>;
  /** Slowest case, ms. */
  slowestMs: number;
  /** Highest resident set size seen, and how much above the start, bytes (server and clients share the process). */
  peakRss: number;
  rssGrowth: number;
  shutdownMs: number;
  seconds: number;
}

type Rng = () => number;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function randomBytes(r: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function tokenValue(r: Rng): unknown {
  return pick(r, [
    () => int(r, 0, VOCAB - 1),
    () => int(r, 0, VOCAB - 1),
    () => -1,
    () => VOCAB,
    () => 1e9,
    () => 1.5,
    () => 'x',
    () => null,
    () => [1],
    () => 2 ** 53,
  ])();
}

/** A generate body: mostly close to valid, sometimes not an object at all. */
function generateBody(r: Rng): string {
  if (r() < 0.1) return JSON.stringify(pick(r, [[], null, 1, 'prompt', { prompt: 'abc' }, [{ prompt: [1] }]]));
  const o: Record<string, unknown> = {};
  if (r() < 0.95)
    o.prompt = Array.from({ length: pick(r, [0, 1, 3, 10, int(r, 1, 300)]) }, () => (r() < 0.9 ? int(r, 0, VOCAB - 1) : tokenValue(r)));
  if (r() < 0.95) o.max_new_tokens = r() < 0.85 ? int(r, 1, 12) : pick(r, [0, -1, 1e9, 1.5, '3', null, 300]);
  if (r() < 0.2) o.stop = r() < 0.8 ? [int(r, 0, VOCAB - 1)] : pick(r, ['x', [null], {}]);
  if (r() < 0.2) o.deadline_ms = r() < 0.8 ? int(r, 0, 50) : pick(r, [-1, 'soon', 1e12]);
  if (r() < 0.05) o[pick(r, ['max_tokens', '__proto__', 'constructor', 'temperature'])] = 1;
  let text = JSON.stringify(o);
  if (r() < 0.15) {
    // Mutate the text: truncate, flip a byte, duplicate a slice.
    const i = int(r, 0, text.length);
    text = pick(r, [
      () => text.slice(0, i),
      () => text.slice(0, i) + String.fromCharCode(int(r, 0, 0x2fff)) + text.slice(i + 1),
      () => text.slice(0, i) + text.slice(int(r, 0, i)),
    ])();
  }
  return text;
}

const METHODS = ['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'post', 'CONNECT', 'TRACE', 'BREW', ''];
const PATHS = [
  '/v1/generate',
  '/v1/generate',
  '/v1/generate',
  '/healthz',
  '/v1/stats',
  '/',
  '/v1/generate?x=1',
  '//v1/generate',
  '/%zz',
  '/v1/../v1/generate',
  'http://127.0.0.1/healthz',
  '*',
  '/\u00e9',
  '',
];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTTPS/1.1', ''];

/** One request's bytes (request line, headers, body, framing), and its method. */
function request(r: Rng): { bytes: Buffer; method: string } {
  const method = r() < 0.8 ? (r() < 0.85 ? 'POST' : 'GET') : pick(r, METHODS);
  const path =
    r() < 0.8
      ? method === 'GET'
        ? pick(r, ['/healthz', '/v1/stats'])
        : '/v1/generate'
      : r() < 0.95
        ? pick(r, PATHS)
        : '/' + 'a'.repeat(int(r, 1000, 20_000));
  const version = r() < 0.95 ? 'HTTP/1.1' : pick(r, VERSIONS);
  let body: Buffer = Buffer.from(method === 'GET' && r() < 0.9 ? '' : r() < 0.75 ? generateBody(r) : '');
  if (body.length === 0 && r() < 0.3) body = randomBytes(r, pick(r, [1, 10, 1000, int(r, 1, 5000), LIMITS.maxBodyBytes + int(r, 1, 1000)]));
  const headers: string[] = ['Host: 127.0.0.1'];
  if (r() < 0.5) headers.push('Content-Type: application/json');
  if (r() < 0.2) headers.push('Connection: close');
  if (r() < 0.1) headers.push('Connection: keep-alive');
  if (r() < 0.03) headers.push('Expect: 100-continue');
  if (r() < 0.03) headers.push('Upgrade: websocket', 'Connection: Upgrade');
  if (r() < 0.05) for (let i = int(r, 1, 300); i > 0; i--) headers.push(`X-Many-${i}: ${i}`);
  if (r() < 0.02) headers.push(`X-Huge: ${'h'.repeat(int(r, 10_000, 40_000))}`);
  if (r() < 0.05) headers.push(pick(r, ['X-Bad\u0000: 1', 'X-Utf8: \u00e9\u4e2d', 'Bad Header: 1', ': empty', 'X-Cr: a\rb', 'X-Tab:\tv']));
  let framed = body;
  const framing = r();
  if (framing < 0.75) headers.push(`Content-Length: ${body.length}`);
  else if (framing < 0.82) headers.push(`Content-Length: ${Math.max(0, body.length + int(r, -20, 20))}`);
  else if (framing < 0.86) headers.push(`Content-Length: ${pick(r, ['abc', '-1', '1e3', '99999999999999999999', ' 5', '5, 6'])}`);
  else if (framing < 0.88) headers.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
  else if (framing < 0.95) {
    headers.push('Transfer-Encoding: chunked');
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length;) {
      const n = Math.min(body.length - i, int(r, 1, 512));
      parts.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(i, i + n), Buffer.from('\r\n'));
      i += n;
    }
    if (r() < 0.8) parts.push(Buffer.from('0\r\n\r\n'));
    else parts.push(Buffer.from(pick(r, ['zz\r\n', 'fffffffffffffff\r\n', '0\r\n', '-1\r\n\r\n'])));
    framed = Buffer.concat(parts);
  }
  // else: no length at all
  const head = `${method} ${path} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`;
  return { bytes: Buffer.concat([Buffer.from(head, r() < 0.98 ? 'utf8' : 'latin1'), framed]), method };
}

type Plan = {
  bytes: Buffer;
  requests: number;
  methods: string[];
  how: 'whole' | 'slow' | 'stall' | 'disconnect' | 'half-close' | 'silent';
  pieces: number;
  delayMs: number;
  cut: number;
};

export function plan(seed: number): Plan {
  const r = mulberry32(seed);
  const requests = r() < 0.1 ? int(r, 2, 5) : 1;
  const reqs = Array.from({ length: requests }, () => request(r));
  const bytes = Buffer.concat(reqs.map((q) => q.bytes));
  const methods = reqs.map((q) => q.method);
  const x = r();
  const how = x < 0.6 ? 'whole' : x < 0.72 ? 'slow' : x < 0.8 ? 'stall' : x < 0.9 ? 'disconnect' : x < 0.97 ? 'half-close' : 'silent';
  return { bytes, requests, methods, how, pieces: int(r, 2, 8), delayMs: int(r, 1, 80), cut: int(r, 0, bytes.length) };
}

/** Final responses (not 100 Continue) complete in `buf`, with their statuses and bodies; an answer to HEAD has none. */
function responses(buf: Buffer, methods: readonly string[]): { status: number; body: string; json: boolean }[] | string {
  const out: { status: number; body: string; json: boolean }[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = buf.subarray(at, end).toString('latin1');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    if (!m)
      return `not an HTTP response: ${JSON.stringify(head.slice(0, 60))} after ${JSON.stringify(buf.subarray(0, at).toString('latin1').slice(0, 400))}`;
    const length = methods[out.length] === 'HEAD' ? 0 : Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (end + 4 + length > buf.length) break;
    const status = Number(m[1]);
    const json = methods[out.length] !== 'HEAD' && /content-type: application\/json/i.test(head);
    if (status !== 100) out.push({ status, body: buf.subarray(end + 4, end + 4 + length).toString('utf8'), json });
    at = end + 4 + length;
  }
  return out;
}

/** What is wrong with one answer, or undefined. */
function answerProblem(a: { status: number; body: string; json: boolean }): string | undefined {
  if (!STATUSES.has(a.status)) return `status ${a.status}: ${a.body.slice(0, 200)}`;
  if (!a.json) return a.body === '' ? undefined : `status ${a.status} with a body that is not JSON`;
  let v: unknown;
  try {
    v = JSON.parse(a.body);
  } catch {
    return `status ${a.status}: the body is not JSON: ${a.body.slice(0, 100)}`;
  }
  const o = v as { tokens?: unknown; error?: { code?: unknown; message?: unknown }; status?: unknown };
  if (
    a.status === 200 &&
    !Array.isArray(o.tokens) &&
    typeof o.status !== 'string' &&
    typeof (o as { healthy?: unknown }).healthy !== 'boolean'
  )
    return `200 without tokens, status or stats: ${a.body.slice(0, 100)}`;
  if (a.status >= 400 && (typeof o.error?.code !== 'string' || typeof o.error.message !== 'string') && typeof o.status !== 'string')
    return `status ${a.status} without an error code and message: ${a.body.slice(0, 100)}`;
  return undefined;
}

/** Runs one case against `port`; resolves with its problems, answers and duration. */
function runCase(port: number, seed: number): Promise<{ problems: string[]; answers: number[]; answered: boolean; ms: number }> {
  const p = plan(seed);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    let hang = false;
    const finish = () => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      const got = responses(Buffer.concat(chunks), p.methods);
      const problems: string[] = [];
      if (hang) problems.push(`the connection was still open after ${HANG_MS} ms (${p.how})`);
      if (typeof got === 'string') problems.push(got);
      const list = typeof got === 'string' ? [] : got;
      for (const a of list) {
        const why = answerProblem(a);
        if (why !== undefined) problems.push(why);
      }
      resolve({ problems, answers: list.map((a) => a.status), answered: list.length >= p.requests, ms: performance.now() - t0 });
    };
    const later = (ms: number, f: () => void) => timers.push(setTimeout(f, ms));
    later(HANG_MS, () => {
      hang = true;
      finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // Every request answered: leave, as a client would (a keep-alive server waits otherwise).
      const got = responses(Buffer.concat(chunks), p.methods);
      if (typeof got !== 'string' && got.length >= p.requests) socket.end();
    });
    socket.on('connect', () => {
      const write = (b: Buffer) => {
        if (!socket.destroyed) socket.write(b);
      };
      switch (p.how) {
        case 'whole':
          write(p.bytes);
          break;
        case 'slow':
        case 'stall': {
          // Pieces spaced by the delay; 'stall' stops before the end and waits for the server.
          const last = p.how === 'stall' ? p.pieces - 1 : p.pieces;
          const size = Math.ceil(p.bytes.length / p.pieces);
          // One after another: timers of different delays may fire out of order on a busy loop.
          const piece = (i: number) => {
            if (i >= last) return;
            write(p.bytes.subarray(i * size, (i + 1) * size));
            later(p.delayMs, () => piece(i + 1));
          };
          piece(0);
          break;
        }
        case 'disconnect':
          write(p.bytes.subarray(0, p.cut));
          later(p.delayMs, () => socket.destroy());
          break;
        case 'half-close':
          write(p.bytes.subarray(0, p.cut));
          socket.end();
          break;
        case 'silent':
          break;
      }
    });
  });
}

/** Seeds `first` … `first + count − 1`, `concurrency` at a time, then the checks at the end. */
export async function fuzzHttp(options: {
  count: number;
  first?: number;
  concurrency?: number;
  progress?: (done: number, failures: number) => void;
}): Promise<HttpFuzzReport> {
  const t0 = performance.now();
  const first = options.first ?? 1;
  const concurrency = options.concurrency ?? 32;
  const engine = new CpuEngine({ slots: 8, maxSeq: 256, vocabSize: VOCAB, decodeMs: 1 });
  const server: Server = createServer(
    engine,
    { maxBatch: 8, maxWaitMs: 2, queue: 16, maxSeq: 256, maxPrefillTokens: 512 },
    { vocabSize: VOCAB },
  );
  const http: HttpHandle = await startHttpServer(server, { port: 0, ...LIMITS });
  const failures: string[] = [];
  const statuses: Record<number, number> = {};
  let unanswered = 0;
  let slowestMs = 0;
  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  let next = first;
  let done = 0;
  const worker = async () => {
    while (next < first + options.count) {
      const seed = next++;
      const c = await runCase(http.port, seed);
      done++;
      slowestMs = Math.max(slowestMs, c.ms);
      if (!c.answered) unanswered++;
      for (const s of c.answers) statuses[s] = (statuses[s] ?? 0) + 1;
      if (c.problems.length > 0 && failures.length < 20) failures.push(`seed ${seed}: ${c.problems.join('; ')}`);
      if (options.progress && done % 5000 === 0) options.progress(done, failures.length);
    }
  };
  let shutdownMs = 0;
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
    // Nothing left behind: connections, slots, queue; the counters balance.
    await until(() => http.connections().open === 0, 2000).catch(() =>
      failures.push(`${http.connections().open} connections still open after the run`),
    );
    await until(() => server.stats().active === 0 && server.stats().queueDepth === 0, 2000).catch(() =>
      failures.push('requests still running after the run'),
    );
    await until(() => engine.occupiedSlots().length === 0, 2000).catch(() =>
      failures.push(`slots still held: ${engine.occupiedSlots().join(', ')}`),
    );
    const s = server.stats();
    const q = s.requests;
    if (q.submitted !== q.completed + q.rejected + q.cancelled + q.deadline + q.failed + s.queueDepth + s.active)
      failures.push(`the counters do not balance: ${JSON.stringify(s.requests)}`);
    const ok = await fetch(`${http.url}/v1/generate`, { method: 'POST', body: '{"prompt":[1,2],"max_new_tokens":2}' });
    if (ok.status !== 200) failures.push(`a normal request after the run: ${ok.status}`);
    await ok.arrayBuffer();

    // A SIGTERM-style shutdown with slow clients and long generations connected.
    const holders = await Promise.all([
      openRaw(http.port, 'POST /v1/generate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"pro'),
      openRaw(http.port, 'GET /healthz HTTP/1.1\r\n'),
      openRaw(http.port, ''),
    ]);
    const long = Array.from({ length: 4 }, () =>
      fetch(`${http.url}/v1/generate`, { method: 'POST', body: '{"prompt":[1],"max_new_tokens":250}' }).then(
        (r) => r.status,
        () => 0,
      ),
    );
    await until(() => server.stats().active >= 4, 2000).catch(() => failures.push('the long generations did not start'));
    const ts = performance.now();
    await shutdown(server, http, DRAIN_MS);
    shutdownMs = performance.now() - ts;
    if (shutdownMs > DRAIN_MS + 500) failures.push(`shutdown took ${Math.round(shutdownMs)} ms (drain ${DRAIN_MS} ms)`);
    const longStatuses = await Promise.all(long);
    if (longStatuses.some((st) => st !== 503 && st !== 200))
      failures.push(`generations stopped by the shutdown answered ${longStatuses.join(', ')}`);
    for (const h of holders) h.destroy();
    if (peakRss - startRss > RSS_GROWTH_BOUND) failures.push(`the resident set grew by ${Math.round((peakRss - startRss) / 2 ** 20)} MiB`);
  } finally {
    clearInterval(sampler);
    await http.close({ drainMs: 100 });
  }
  return {
    cases: options.count,
    failures,
    unanswered,
    statuses,
    slowestMs,
    peakRss,
    rssGrowth: peakRss - startRss,
    shutdownMs,
    seconds: (performance.now() - t0) / 1000,
  };
}

function openRaw(port: number, text: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (text !== '') s.write(text);
      resolve(s);
    });
    s.on('error', () => {});
  });
}

async function until(pred: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
