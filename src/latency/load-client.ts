/**
 * The client side of `parplan load` (issue 17, item 7): open-loop arrivals against an
 * OpenAI-compatible `POST /v1/completions` endpoint, streamed, each request timed from its
 * scheduled arrival (so a slow server cannot slow the arrivals down and hide its queue: no
 * coordinated omission) to its first token event (TTFT) and its last (E2E); TPOT as the
 * simulation counts it, (last − first) / (tokens − 1), with the token count from the stream's
 * usage chunk. Figures have the shape of `plans[].latency` where they overlap (./summary.ts).
 *
 * Plain `fetch` and a small server-sent-events reader, not the `openai` package: that is a
 * development dependency only, and a load generator needs the raw event times, not objects.
 */
import { quantile, type Percentiles } from './summary.js';
import type { TrafficRequest } from './traffic.js';

export interface LoadOptions {
  /** The server's base URL (`http://127.0.0.1:8080`; a trailing `/v1` is accepted). */
  url: string;
  /** Requests in arrival order, seconds from the start. */
  requests: readonly TrafficRequest[];
  /** Requests open at once; an arrival past it is counted as rejected without being sent. */
  maxInFlight: number;
  /** The request's `model` (default: the first of /v1/models). */
  model?: string;
  /** Token ids of prompts are drawn below this (default 100: ids every served vocabulary has). */
  tokenIdsBelow?: number;
  /** A request still open this long after the last arrival is cancelled and counted as failed (ms). */
  drainMs?: number;
  /** Called with each finished request (progress). */
  onDone?: (done: number, total: number) => void;
}

/** One request as the client saw it (seconds from the start of the run; NaN when it never happened). */
export interface ClientRequest {
  at: number;
  prompt: number;
  output: number;
  /** 'ok', 'rejected' (HTTP 429/503, or past max in flight), or 'failed' (anything else: the reason). */
  outcome: 'ok' | 'rejected' | 'failed';
  reason?: string;
  firstToken: number;
  done: number;
  /** Tokens generated, from the usage chunk. */
  tokens: number;
  /** When the request was actually sent (s): past `at` when this process was late (its own lag, not the server's). */
  sent: number;
}

export interface LoadResult {
  /** Offered rate: requests / the arrivals' span (requests/s). */
  rate: number;
  /** Completed requests per second, from the first arrival to the last completion (as the simulation counts it). */
  throughput: number;
  /** Fraction of requests rejected (429, 503, or past max in flight). */
  rejected: number;
  /** Fraction that failed otherwise (connection errors, 4xx/5xx other than 429/503, cut streams). */
  failed: number;
  ttft: Percentiles;
  tpot: Percentiles;
  e2e: Percentiles;
  requests: number;
  completed: number;
  /** The server's model id used. */
  model: string;
  /** How late this process sent the requests after their scheduled arrival (s): large values mean the client, not the server, was slow. */
  sendLag: Percentiles;
  samples: { ttft: number[]; tpot: number[]; e2e: number[] };
  log: ClientRequest[];
  /** The run's time 0 in ms since the epoch (performance.timeOrigin-based), to join `log` with a server's timeline. */
  startedAt?: number;
}

export class LoadError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The base URL without a trailing slash or `/v1`. */
export function baseUrl(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v1$/, '');
}

/** Host names that stay on this machine. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The first model id of GET /v1/models, or a LoadError saying why there is none. */
async function firstModel(base: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${base}/v1/models`, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new LoadError(`cannot reach ${base}/v1/models: ${causeOf(e)}`);
  }
  if (!res.ok) throw new LoadError(`${base}/v1/models answered ${res.status}`);
  const body = (await res.json().catch(() => undefined)) as { data?: { id?: unknown }[] } | undefined;
  const id = body?.data?.[0]?.id;
  if (typeof id !== 'string') throw new LoadError(`${base}/v1/models lists no model`);
  return id;
}

function causeOf(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}

/** One streamed completion; resolves to what the client saw. */
async function one(
  base: string,
  model: string,
  r: TrafficRequest,
  prompt: number[],
  t0: number,
  signal: AbortSignal,
): Promise<ClientRequest> {
  const since = () => (performance.now() - t0) / 1000;
  const out: ClientRequest = { ...r, outcome: 'failed', firstToken: NaN, done: NaN, tokens: 0, sent: since() };
  let res: Response;
  try {
    res = await fetch(`${base}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model,
        prompt,
        max_tokens: r.output,
        temperature: 0,
        // The output length is the traffic's, whatever the weights generate (vLLM's extension).
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      }),
      signal,
    });
  } catch (e) {
    out.reason = causeOf(e);
    return out;
  }
  if (res.status === 429 || res.status === 503) {
    await res.body?.cancel();
    out.outcome = 'rejected';
    out.reason = `HTTP ${res.status}`;
    return out;
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    out.reason = `HTTP ${res.status}: ${text.slice(0, 200)}`;
    return out;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data === '') continue;
        const t = since();
        if (data === '[DONE]') {
          finished = true;
          continue;
        }
        const chunk = JSON.parse(data) as {
          choices?: { text?: string; finish_reason?: string | null }[];
          usage?: { completion_tokens?: number };
          error?: { message?: string };
        };
        if (chunk.error) throw new Error(`error event: ${chunk.error.message ?? 'unknown'}`);
        if (chunk.choices && chunk.choices.length > 0) {
          // The first event is the first token's (its text, possibly empty while a character is incomplete, arrives with it).
          if (Number.isNaN(out.firstToken)) out.firstToken = t;
          out.done = t;
        }
        if (chunk.usage?.completion_tokens !== undefined) out.tokens = chunk.usage.completion_tokens;
      }
    }
  } catch (e) {
    out.reason = causeOf(e);
    return out;
  }
  if (!finished || Number.isNaN(out.firstToken)) {
    out.reason = 'the stream ended without [DONE]';
    return out;
  }
  out.outcome = 'ok';
  return out;
}

/** Request i's prompt: deterministic ids below `below` (no two neighbours alike, so no cache could serve one from another). */
export function loadPrompt(i: number, length: number, below = 100): number[] {
  return Array.from({ length }, (_, k) => 1 + ((i * 31 + k * 7) % (below - 1)));
}

/** Sends the requests at their times (open loop) and measures them. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const base = baseUrl(o.url);
  const model = o.model ?? (await firstModel(base));
  const below = o.tokenIdsBelow ?? 100;
  const controller = new AbortController();
  const log: ClientRequest[] = [];
  let inFlight = 0;
  let done = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (const [i, r] of o.requests.entries()) {
    await sleep(r.at * 1000 - (performance.now() - t0));
    if (inFlight >= o.maxInFlight) {
      log[i] = { ...r, outcome: 'rejected', reason: 'max in flight', firstToken: NaN, done: NaN, tokens: 0, sent: NaN };
      continue;
    }
    inFlight++;
    const prompt = loadPrompt(i, r.prompt, below);
    pending.push(
      one(base, model, r, prompt, t0, controller.signal).then((c) => {
        log[i] = c;
        inFlight--;
        o.onDone?.(++done, o.requests.length);
      }),
    );
  }
  const drain = setTimeout(() => controller.abort(), o.drainMs ?? 120_000);
  await Promise.all(pending);
  clearTimeout(drain);
  return { ...summarizeLoad(log, model), startedAt: performance.timeOrigin + t0 };
}

export function summarizeLoad(log: readonly ClientRequest[], model: string): LoadResult {
  const ttft: number[] = [];
  const tpot: number[] = [];
  const e2e: number[] = [];
  let rejected = 0;
  let failed = 0;
  let last = 0;
  const lag = log.filter((r) => Number.isFinite(r.sent)).map((r) => r.sent - r.at);
  lag.sort((a, b) => a - b);
  for (const r of log) {
    if (r.outcome === 'rejected') rejected++;
    if (r.outcome === 'failed') failed++;
    if (r.outcome !== 'ok') continue;
    ttft.push(r.firstToken - r.at);
    e2e.push(r.done - r.at);
    if (r.tokens > 1) tpot.push((r.done - r.firstToken) / (r.tokens - 1));
    last = Math.max(last, r.done);
  }
  const by = (a: number, b: number) => a - b;
  ttft.sort(by);
  tpot.sort(by);
  e2e.sort(by);
  const p = (xs: number[]): Percentiles => ({ p50: quantile(xs, 0.5), p90: quantile(xs, 0.9), p99: quantile(xs, 0.99) });
  const n = log.length;
  const first = n > 0 ? log[0]!.at : 0;
  const arrivals = n > 0 ? log[n - 1]!.at - first : 0;
  return {
    rate: arrivals > 0 ? (n - 1) / arrivals : 0,
    throughput: last > first ? e2e.length / (last - first) : 0,
    rejected: n > 0 ? rejected / n : 0,
    failed: n > 0 ? failed / n : 0,
    ttft: p(ttft),
    tpot: p(tpot),
    e2e: p(e2e),
    requests: n,
    completed: e2e.length,
    model,
    sendLag: p(lag),
    samples: { ttft, tpot, e2e },
    log: [...log],
  };
}
