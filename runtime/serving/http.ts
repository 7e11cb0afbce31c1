/**
 * The HTTP front of a batching server (Node's `http`; prom-client for /metrics). JSON in,
 * JSON out, and the OpenAI-compatible routes that vLLM, TGI and llama.cpp's server speak:
 *
 *   POST /v1/completions       OpenAI completions (prompt text or token ids); `stream: true` → server-sent events
 *   POST /v1/chat/completions  OpenAI chat (messages through the checkpoint's chat template); `stream: true` too
 *   GET  /v1/models, /v1/models/{id}   the served model
 *   POST /v1/generate  { "prompt": [ints], "max_new_tokens": n, "stop"?: [ints], "deadline_ms"?: n }
 *                      → 200 { "tokens": [ints], "finish": "length" | "stop" }
 *   GET  /v1/stats     → 200 the server's stats()
 *   GET  /health, /healthz → 200 { "status": "ok" } or 503 { "status": "unhealthy" | "closed", … }
 *   GET  /metrics      Prometheus text (runtime/serving/metrics.ts)
 *
 * Errors are OpenAI's `{ "error": { "message", "type", "param", "code" } }`: 400 invalid JSON
 * or input (`param` names the field), 404 route or model, 405, 408 request too slow, 413
 * body too large, 429 queue full, 499 cancelled, 500 engine failure, 501 no tokenizer, 503
 * closed or device lost, 504 deadline (/v1/generate adds the partial `tokens`). A client
 * that disconnects before its answer is complete (mid-stream too) cancels the request.
 * Listens on loopback unless told otherwise. Every client is bounded in time (headers,
 * body, whole request, keep-alive) and in number (a connection cap): the limits are in
 * src/facts/limits.ts, docs/security.md. The protocol details are runtime/serving/openai.ts.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LIMITS } from '../../src/facts/limits.js';
import type { TextCodec } from '../text/types.js';
import { DeadlineError } from './errors.js';
import { createMetrics, type Metrics } from './metrics.js';
import {
  ApiError,
  apiErrorOf,
  chunkBody,
  completionBody,
  generateRequest,
  modelObject,
  newId,
  parseChatRequest,
  parseCompletionRequest,
  promptCharsLimit,
  type Endpoint,
  type ServedModel,
  type TextRequest,
} from './openai.js';
import type { GenerateOptions, Server } from './server.js';
import { promptKey, type ServingTimeline } from './timeline.js';

export interface HttpOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default '127.0.0.1' (loopback only). */
  host?: string;
  /** Largest accepted request body, bytes (default LIMITS.httpBodyBytes, 1 MiB); larger → 413. */
  maxBodyBytes?: number;
  /** Time to send the request line and headers, ms (default LIMITS.httpHeadersTimeoutMs); then 408 and the connection is closed. */
  headersTimeoutMs?: number;
  /** Time to send the body once the headers are in, ms (default LIMITS.httpBodyTimeoutMs); then 408 and the connection is closed. */
  bodyTimeoutMs?: number;
  /** Time to send the whole request, ms (default LIMITS.httpRequestTimeoutMs, at least headersTimeoutMs); then 408. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this, ms (default LIMITS.httpKeepAliveTimeoutMs). */
  keepAliveTimeoutMs?: number;
  /** Most connections open at once (default LIMITS.httpMaxConnections); more are closed as they are accepted. */
  maxConnections?: number;
  /** The checkpoint's tokenizer and chat template; without it the text routes answer 501. */
  codec?: TextCodec;
  /** The model id of /v1/models and the `model` field (default 'parplan'; `parplan serve`: the graph's model name or --served-model-name). */
  modelName?: string;
  /** Record each streamed completion's arrival, parse, first event and end here (./timeline.ts; for measurement). */
  timeline?: ServingTimeline;
}

export interface CloseHttpOptions {
  /** How long responses in flight get before every connection is closed, ms (default LIMITS.httpDrainMs). */
  drainMs?: number;
}

export interface HttpHandle {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly server: http.Server;
  /** Connections open now, and connections refused at the cap since the start. */
  connections(): { open: number; refused: number };
  /** The Prometheus metrics of /metrics (a registry of this server's own). */
  readonly metrics: Metrics;
  /**
   * Stops listening; ends at once the connections that are idle or still sending their
   * request (a half-sent body cannot become a generation), the others after their
   * response, and every one still open after `drainMs`. Resolves when all are closed.
   */
  close(options?: CloseHttpOptions): Promise<void>;
}

const GENERATE_FIELDS = ['prompt', 'max_new_tokens', 'stop', 'deadline_ms'] as const;

/** The options with their defaults, or a RangeError naming the bad one. */
function resolveOptions(options: HttpOptions): Required<Omit<HttpOptions, 'port' | 'host' | 'codec' | 'modelName' | 'timeline'>> {
  const headersTimeoutMs = options.headersTimeoutMs ?? LIMITS.httpHeadersTimeoutMs;
  const o = {
    maxBodyBytes: options.maxBodyBytes ?? LIMITS.httpBodyBytes,
    headersTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs ?? LIMITS.httpBodyTimeoutMs,
    // Node refuses a request timeout below the headers timeout.
    requestTimeoutMs: options.requestTimeoutMs ?? Math.max(LIMITS.httpRequestTimeoutMs, headersTimeoutMs),
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? LIMITS.httpKeepAliveTimeoutMs,
    maxConnections: options.maxConnections ?? LIMITS.httpMaxConnections,
  };
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`startHttpServer: ${name} must be a whole number ≥ 1, got ${String(value)}`);
  }
  if (o.requestTimeoutMs < o.headersTimeoutMs) {
    throw new RangeError(
      `startHttpServer: requestTimeoutMs (${o.requestTimeoutMs}) must be at least headersTimeoutMs (${o.headersTimeoutMs})`,
    );
  }
  return o;
}

export async function startHttpServer(server: Server, options: HttpOptions): Promise<HttpHandle> {
  const host = options.host ?? '127.0.0.1';
  const o = resolveOptions(options);
  const modelName = options.modelName ?? 'parplan';
  if (typeof modelName !== 'string' || modelName === '')
    throw new RangeError(`startHttpServer: modelName must be a non-empty string, got ${JSON.stringify(modelName)}`);
  const metrics = createMetrics(server);
  // Requests in flight per connection, so that close() can end every connection that
  // serves none (idle keep-alive ones, and ones opened but never used) at once.
  const connections = new Map<Socket, number>();
  // Requests whose body is still arriving: close() ends their connections at once.
  const reading = new Set<http.IncomingMessage>();
  let closing = false;
  let refused = 0;
  const ctx: Context = {
    server,
    limits: o,
    reading,
    codec: options.codec,
    model: {
      id: modelName,
      maxSeq: server.policy.maxSeq,
      created: Math.floor(Date.now() / 1000),
      ...promptLimit(options.codec, server.policy.maxSeq),
    },
    metrics,
    timeline: options.timeline,
  };
  const httpServer = http.createServer(
    {
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      maxHeaderSize: LIMITS.httpHeaderBytes,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(o.headersTimeoutMs / 4))),
    },
    (req, res) => {
      const arrived = ctx.timeline ? performance.now() : 0;
      const socket = req.socket;
      connections.set(socket, (connections.get(socket) ?? 0) + 1);
      res.on('close', () => {
        reading.delete(req);
        const n = (connections.get(socket) ?? 1) - 1;
        if (connections.has(socket)) connections.set(socket, n);
        if (closing && n === 0) socket.destroy();
      });
      if (closing) res.setHeader('Connection', 'close');
      handle(ctx, req, res, arrived).catch((err: unknown) => {
        // Only a bug in this file lands here.
        sendError(
          res,
          new ApiError(
            500,
            'internal_error',
            `internal error: ${err instanceof Error ? err.message : String(err)} (this is a bug in parplan)`,
          ),
        );
      });
    },
  );
  // Node closes connections past the cap as it accepts them, before any byte is read.
  httpServer.maxConnections = o.maxConnections;
  httpServer.on('drop', () => refused++);
  httpServer.on('connection', (socket: Socket) => {
    connections.set(socket, 0);
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    host,
    server: httpServer,
    connections: () => ({ open: connections.size, refused }),
    metrics,
    close: (closeOptions = {}) =>
      (closed ??= new Promise<void>((resolve, reject) => {
        closing = true;
        const drainMs = closeOptions.drainMs ?? LIMITS.httpDrainMs;
        let timer: NodeJS.Timeout | undefined;
        httpServer.close((err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        });
        for (const [socket, n] of connections) if (n === 0) socket.destroy();
        for (const req of reading) req.socket.destroy();
        timer = setTimeout(() => {
          httpServer.closeAllConnections();
          for (const socket of connections.keys()) socket.destroy();
        }, drainMs);
      })),
  };
}

/**
 * What `parplan serve` does on SIGINT or SIGTERM, within `drainMs` in all: stops accepting
 * connections and ends the idle and half-sent ones at once; lets running generations
 * finish until a second before the end (`drainMs / 10` when shorter), then stops them
 * (503 server_closed); then closes every connection still open. Resolves with whether
 * every generation finished.
 */
export async function shutdown(server: Server, http: HttpHandle, drainMs: number = LIMITS.httpDrainMs): Promise<boolean> {
  const connectionsClosed = http.close({ drainMs });
  // The stopped requests' 503s need a moment to be written before the connections go.
  const generationsMs = drainMs - Math.min(1000, drainMs / 10);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), generationsMs)));
  const drained = await Promise.race([server.close({ drain: true }).then(() => true), late]);
  clearTimeout(timer);
  if (!drained) await server.close({ drain: false });
  await connectionsClosed;
  return drained;
}

type Limits = ReturnType<typeof resolveOptions>;

function promptLimit(codec: TextCodec | undefined, maxSeq: number): { maxPromptChars?: number } {
  const max = codec === undefined ? undefined : promptCharsLimit(codec, maxSeq);
  return max === undefined ? {} : { maxPromptChars: max };
}

/** What every request handler shares. */
interface Context {
  server: Server;
  limits: Limits;
  reading: Set<http.IncomingMessage>;
  codec: TextCodec | undefined;
  model: ServedModel;
  metrics: Metrics;
  timeline: ServingTimeline | undefined;
}

/** Routes: path → method. `/v1/models/{id}` is matched apart. */
const ROUTES: Record<string, 'GET' | 'POST'> = {
  '/v1/completions': 'POST',
  '/v1/chat/completions': 'POST',
  '/v1/models': 'GET',
  '/v1/generate': 'POST',
  '/v1/stats': 'GET',
  '/health': 'GET',
  '/healthz': 'GET',
  '/metrics': 'GET',
};
const MODEL_PREFIX = '/v1/models/';

async function handle(ctx: Context, req: http.IncomingMessage, res: http.ServerResponse, arrived: number): Promise<void> {
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    req.resume();
    observe(ctx, res, 'other');
    sendError(res, new ApiError(400, 'invalid_request', `cannot parse the request target ${JSON.stringify(req.url)}`));
    return;
  }
  const method = req.method ?? 'GET';
  const modelRoute = path.startsWith(MODEL_PREFIX);
  const route = modelRoute ? 'GET' : ROUTES[path];
  observe(ctx, res, modelRoute ? `${MODEL_PREFIX}{id}` : route !== undefined ? path : 'other');
  if (route === undefined) {
    req.resume();
    const routes = Object.entries(ROUTES).map(([p, m]) => `${m} ${p}`);
    sendError(res, new ApiError(404, 'not_found', `no route ${path} (routes: ${routes.join(', ')}, GET ${MODEL_PREFIX}{id})`));
    return;
  }
  if (method !== route) {
    req.resume();
    res.setHeader('Allow', route);
    sendError(res, new ApiError(405, 'method_not_allowed', `${path} takes ${route}, not ${method}`));
    return;
  }
  if (route === 'GET') {
    req.resume();
    await get(ctx, path, res);
    return;
  }

  // Watch for the client going away from the start: 'close' on the response before it
  // finished means the connection closed (req's own 'close' fires once its body is read).
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
  });
  const body = await readJson(ctx, req, res);
  if (body === undefined) return;
  if (path === '/v1/generate') await generate(ctx, body, abort.signal, res);
  else await textRoute(ctx, path === '/v1/chat/completions' ? 'chat' : 'completion', body, abort.signal, res, arrived);
}

/** Counts the answer in the metrics when it is done; one the client never got counts as 499. */
function observe(ctx: Context, res: http.ServerResponse, route: string): void {
  res.on('close', () => ctx.metrics.observeResponse(route, res.headersSent ? res.statusCode : 499));
}

async function get(ctx: Context, path: string, res: http.ServerResponse): Promise<void> {
  const { server, model } = ctx;
  if (path === '/healthz' || path === '/health') {
    const s = server.stats();
    if (s.healthy && !s.closed) sendJson(res, 200, { status: 'ok' });
    else sendJson(res, 503, s.healthy ? { status: 'closed' } : { status: 'unhealthy', reason: s.lostReason ?? 'unknown' });
  } else if (path === '/v1/stats') {
    sendJson(res, 200, server.stats());
  } else if (path === '/metrics') {
    send(res, 200, ctx.metrics.contentType, await ctx.metrics.text());
  } else if (path === '/v1/models') {
    sendJson(res, 200, { object: 'list', data: [modelObject(model)] });
  } else {
    let id = path.slice(MODEL_PREFIX.length);
    try {
      id = decodeURIComponent(id); // an id with a slash may come as %2F
    } catch {
      // A malformed escape: compared as sent, so it is simply not found.
    }
    if (id === model.id) sendJson(res, 200, modelObject(model));
    else
      sendError(
        res,
        new ApiError(
          404,
          'model_not_found',
          `the model ${JSON.stringify(id)} does not exist; this server serves ${JSON.stringify(model.id)}`,
          'model',
        ),
      );
  }
}

/** The request body parsed as JSON, or undefined once an error has been answered. */
async function readJson(ctx: Context, req: http.IncomingMessage, res: http.ServerResponse): Promise<unknown> {
  const { limits, reading } = ctx;
  const maxBody = limits.maxBodyBytes;
  if (!req.complete) reading.add(req);
  const body = await readBody(req, maxBody, limits.bodyTimeoutMs);
  reading.delete(req);
  if (body.kind === 'too_large') {
    sendError(res, new ApiError(413, 'body_too_large', `the request body exceeds ${maxBody} bytes`));
    return undefined;
  }
  if (body.kind === 'too_slow') {
    // The rest of the body may never come: answer, then close the connection.
    res.setHeader('Connection', 'close');
    res.on('finish', () => req.socket.destroy());
    sendError(res, new ApiError(408, 'request_timeout', `the request body did not arrive within ${limits.bodyTimeoutMs} ms`));
    return undefined;
  }
  if (body.kind === 'aborted') return undefined;
  try {
    return JSON.parse(body.text) as unknown;
  } catch (err) {
    sendError(res, new ApiError(400, 'invalid_json', `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`));
    return undefined;
  }
}

async function generate(ctx: Context, parsed: unknown, signal: AbortSignal, res: http.ServerResponse): Promise<void> {
  const request = parseGenerate(parsed);
  if (typeof request === 'string') {
    sendError(res, new ApiError(400, 'invalid_request', request));
    return;
  }
  try {
    const result = await ctx.server.generate(request.prompt, { ...request.options, signal });
    ctx.metrics.observeCompleted(result.timing);
    sendJson(res, 200, { tokens: result.tokens, finish: result.finish });
  } catch (err) {
    const e = apiErrorOf(err);
    // /v1/generate's 504 carries the partial tokens.
    sendJson(res, e.status, err instanceof DeadlineError ? { error: { ...e.body().error, tokens: err.tokens } } : e.body());
  }
}

/** /v1/completions and /v1/chat/completions: JSON, or server-sent events with `stream: true`. */
async function textRoute(
  ctx: Context,
  endpoint: Endpoint,
  body: unknown,
  signal: AbortSignal,
  res: http.ServerResponse,
  arrived: number,
): Promise<void> {
  const { codec, server, model } = ctx;
  if (codec === undefined) {
    sendError(
      res,
      new ApiError(
        501,
        'no_tokenizer',
        'this server has no tokenizer, so it cannot take or give text: serve a checkpoint directory that holds tokenizer.json, or use POST /v1/generate with token ids',
      ),
    );
    return;
  }
  let treq: TextRequest;
  try {
    treq = endpoint === 'chat' ? parseChatRequest(body, model, codec) : parseCompletionRequest(body, model, codec);
  } catch (err) {
    sendError(res, apiErrorOf(err));
    return;
  }
  const id = newId(endpoint);
  const created = Math.floor(Date.now() / 1000);
  if (!treq.stream) {
    try {
      const r = await generateRequest(server, codec, treq, signal);
      ctx.metrics.observeCompleted(r.timing);
      sendJson(res, 200, completionBody(id, created, treq, r));
    } catch (err) {
      sendError(res, apiErrorOf(err));
    }
    return;
  }
  // The stream's headers go out with the first token: a request refused before it (full
  // queue, deadline in the queue, closed server) still gets its own status and JSON error.
  let started = false;
  const event = (value: unknown) => {
    if (!res.destroyed) res.write(`data: ${typeof value === 'string' ? value : JSON.stringify(value)}\n\n`);
  };
  const record = ctx.timeline && { key: promptKey(treq.prompt), arrived, parsed: performance.now(), firstWrite: NaN, end: NaN };
  if (record) {
    ctx.timeline!.http.push(record);
    res.on('close', () => (record.end = performance.now()));
  }
  const start = () => {
    if (started || res.destroyed) return;
    started = true;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // Proxies (nginx) would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    if (endpoint === 'chat') event(chunkBody(id, created, treq, { text: '', role: true }));
  };
  try {
    const r = await generateRequest(server, codec, treq, signal, {
      onToken: start,
      onText: (delta) => {
        event(chunkBody(id, created, treq, { text: delta }));
        if (record && Number.isNaN(record.firstWrite)) record.firstWrite = performance.now();
      },
    });
    start();
    ctx.metrics.observeCompleted(r.timing);
    event(chunkBody(id, created, treq, { finish: r.finish }));
    if (treq.includeUsage) event(chunkBody(id, created, treq, { usage: r }));
    event('[DONE]');
    res.end();
  } catch (err) {
    const e = apiErrorOf(err);
    if (!started) {
      sendError(res, e);
      return;
    }
    // Mid-stream the status is sent: the error is an event (OpenAI's clients raise it).
    event(e.body());
    event('[DONE]');
    res.end();
  }
}

/** The generate body as server arguments, or what is wrong with it. */
function parseGenerate(body: unknown): { prompt: number[]; options: GenerateOptions } | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'the body must be a JSON object: { "prompt": [token ids], "max_new_tokens": n }';
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(GENERATE_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) return `unknown field ${JSON.stringify(unknown[0])} (fields: ${GENERATE_FIELDS.join(', ')})`;
  if (!Array.isArray(o.prompt)) return '"prompt" must be an array of token ids';
  if (o.max_new_tokens === undefined) return '"max_new_tokens" is required';
  if (typeof o.max_new_tokens !== 'number') return '"max_new_tokens" must be a number';
  if (o.stop !== undefined && !Array.isArray(o.stop)) return '"stop" must be an array of token ids';
  if (o.deadline_ms !== undefined && typeof o.deadline_ms !== 'number') return '"deadline_ms" must be a number of milliseconds';
  const options: GenerateOptions = { maxNewTokens: o.max_new_tokens };
  if (o.stop !== undefined) options.stop = o.stop as number[];
  if (o.deadline_ms !== undefined) options.deadlineMs = o.deadline_ms;
  return { prompt: o.prompt as number[], options };
}

type Body = { kind: 'ok'; text: string } | { kind: 'too_large' } | { kind: 'too_slow' } | { kind: 'aborted' };

/**
 * Reads the body up to `max` bytes within `timeoutMs`. A larger body is drained (up to
 * 16 × max, then the connection is cut) so that the client reads the 413 instead of a
 * reset; one still arriving after `timeoutMs` is too slow (the caller answers 408).
 */
function readBody(req: http.IncomingMessage, max: number, timeoutMs: number): Promise<Body> {
  return new Promise<Body>((resolveBody) => {
    const timer = setTimeout(() => resolveBody({ kind: 'too_slow' }), timeoutMs);
    const resolve = (b: Body) => {
      clearTimeout(timer);
      resolveBody(b);
    };
    const declared = Number(req.headers['content-length']);
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > max;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (size > 16 * max) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? { kind: 'too_large' } : { kind: 'ok', text: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', () => resolve({ kind: 'aborted' }));
    req.on('close', () => {
      if (!req.complete) resolve({ kind: 'aborted' });
    });
  });
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function sendError(res: http.ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.body());
}
