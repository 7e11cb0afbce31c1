import { CpuEngine, type CpuEngineOptions } from '../../runtime/testing/cpu-engine.js';
import { createServer, type Server, type ServerOptions } from '../../runtime/serving/server.js';
import type { BatchPolicy } from '../../runtime/serving/policy.js';

export const VOCAB = 1000;

export function setup(
  policy: Partial<BatchPolicy> = {},
  engine: Partial<CpuEngineOptions> = {},
  options: ServerOptions = {},
): { engine: CpuEngine; server: Server; policy: BatchPolicy } {
  const p: BatchPolicy = { maxBatch: 4, maxWaitMs: 0, queue: 64, maxSeq: 256, maxPrefillTokens: 256, ...policy };
  const e = new CpuEngine({ slots: p.maxBatch, maxSeq: p.maxSeq, vocabSize: VOCAB, ...engine });
  return { engine: e, server: createServer(e, p, { vocabSize: VOCAB, ...options }), policy: p };
}

/** A seeded PRNG: the same tests every run. */
export { mulberry32 as rng } from '../../src/util/random.js';

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function prompt(r: () => number, length: number): number[] {
  return Array.from({ length }, () => randInt(r, 0, VOCAB - 1));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when `pred` holds (polled), rejects after `timeoutMs`. */
export async function waitFor(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** allSettled, but fails (instead of hanging) when some promise is still pending after `timeoutMs`. */
export async function settleWithin<T>(promises: readonly Promise<T>[], timeoutMs: number): Promise<PromiseSettledResult<T>[]> {
  let timer: NodeJS.Timeout | undefined;
  let settled = 0;
  const tracked = promises.map((p) => p.finally(() => settled++));
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${promises.length - settled} of ${promises.length} promises still pending after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([Promise.allSettled(tracked), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function errorOf(r: PromiseSettledResult<unknown>): unknown {
  if (r.status !== 'rejected') throw new Error('expected a rejection, got a result');
  return r.reason;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Attaches handlers at once (no unhandled rejection while a test waits), for inspection later. */
export function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  const o = await outcome(p);
  if (o.ok) throw new Error(`expected a rejection, got ${JSON.stringify(o.value)}`);
  return o.error;
}
