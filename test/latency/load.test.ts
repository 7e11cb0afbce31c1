/**
 * `parplan load` against a real HTTP server (runtime/serving/http.ts) over the CPU test engine
 * with fixed call times: every request completes, and the client's TTFT and E2E percentiles
 * match the server's own measurement of the same requests (GenerateResult.timing, recorded by
 * wrapping the server) to within the HTTP path's few milliseconds. Also the command line's
 * refusals: no loopback, no rate, a bad trace.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpHandle } from '../../runtime/serving/http.js';
import type { GenerateResult, Server } from '../../runtime/serving/server.js';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { quantile } from '../../src/latency/summary.js';
import { setup } from '../serving/helpers.js';
import { testCodec } from '../serving/text-codec.js';

const handles: HttpHandle[] = [];
afterAll(async () => {
  await Promise.all(handles.map((h) => h.close({ drainMs: 500 })));
});

/** A server whose engine takes 8 ms per prefill and 4 ms per decode step; `timings` gets each completed request's server-side timing. */
async function serve() {
  const { codec, vocabSize } = testCodec();
  const { server } = setup({ maxBatch: 4, maxSeq: 128, queue: 256 }, { vocabSize, prefillMs: 8, decodeMs: 4 }, { vocabSize });
  const timings: GenerateResult['timing'][] = [];
  const recording: Server = Object.create(server) as Server;
  recording.generate = async (prompt, options) => {
    const r = await server.generate(prompt, options);
    timings.push(r.timing);
    return r;
  };
  const http = await startHttpServer(recording, { port: 0, codec, modelName: 'tiny' });
  handles.push(http);
  return { url: http.url, timings };
}

describe('parplan load', () => {
  it("measures what the server measures: every request done, TTFT and E2E percentiles within the HTTP path's overhead", async () => {
    const { url, timings } = await serve();
    const io = memoryIo();
    const code = await runCli(
      ['load', '--rate', '20', '--duration', '3', '--prompt', '8', '--output', '12', '--seed', '3', '--json', url],
      io,
    );
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(io.out()) as {
      rate: number;
      requests: number;
      completed: number;
      rejected: number;
      failed: number;
      throughput: number;
      ttft: Record<'p50' | 'p90' | 'p99', number>;
      tpot: Record<'p50' | 'p90' | 'p99', number>;
      e2e: Record<'p50' | 'p90' | 'p99', number>;
    };
    expect(r.rate).toBe(20);
    // Poisson at 20/s over 3 s: about 60 (the seed fixes it).
    expect(r.requests).toBeGreaterThan(40);
    expect(r.requests).toBeLessThan(80);
    expect(r.completed).toBe(r.requests);
    expect(r.rejected).toBe(0);
    expect(timings.length).toBe(r.requests);
    const server = (f: (t: GenerateResult['timing']) => number) => timings.map(f).sort((a, b) => a - b);
    const ttft = server((t) => t.firstTokenMs / 1000);
    const e2e = server((t) => t.totalMs / 1000);
    for (const q of ['p50', 'p99'] as const) {
      const level = q === 'p50' ? 0.5 : 0.99;
      // The client's clock starts before the server's (its own lateness, the request's trip, parsing): more, never less;
      // by a few ms on a quiet machine, by tens on a loaded one (client and server share this process's event loop).
      expect(r.ttft[q]).toBeGreaterThanOrEqual(quantile(ttft, level) - 0.001);
      expect(r.ttft[q] - quantile(ttft, level)).toBeLessThan(0.05 + 0.25 * quantile(ttft, level));
      expect(r.e2e[q]).toBeGreaterThanOrEqual(quantile(e2e, level) - 0.001);
      expect(r.e2e[q] - quantile(e2e, level)).toBeLessThan(0.05 + 0.25 * quantile(e2e, level));
    }
    // 11 decode steps of ≥ 4 ms after the first token.
    expect(r.tpot.p50).toBeGreaterThanOrEqual(0.004);
    expect(r.throughput / r.rate).toBeGreaterThan(0.8);
  }, 30_000);

  it('refuses a remote URL without --allow-remote, a missing rate, and a bad trace, before sending anything', async () => {
    const remote = memoryIo();
    expect(await runCli(['load', '--rate', '1', '--duration', '1', 'http://example.com:8080'], remote)).toBe(2);
    expect(remote.err()).toMatch(/'example.com' is not a loopback address\n {2}= help: .*--allow-remote/);
    const norate = memoryIo();
    expect(await runCli(['load', '--duration', '1', 'http://127.0.0.1:1'], norate)).toBe(2);
    expect(norate.err()).toMatch(/missing --rate/);
    const dir = mkdtempSync(join(tmpdir(), 'parplan-load-'));
    writeFileSync(join(dir, 't.csv'), 'TIMESTAMP,ContextTokens,GeneratedTokens\n0,12,4\n1,x,4\n');
    const bad = memoryIo({}, dir);
    expect(await runCli(['load', '--duration', '5', '--trace', 't.csv', 'http://127.0.0.1:1'], bad)).toBe(2);
    expect(bad.err()).toMatch(/'t.csv':3:3 is not a request trace: 'x' is not a token count/);
    // Nothing listens there (a port just freed): a clear error, exit 1.
    const port = await new Promise<number>((done) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => done(p));
      });
    });
    const down = memoryIo();
    expect(await runCli(['load', '--rate', '1', '--duration', '1', `http://127.0.0.1:${port}`], down)).toBe(1);
    expect(down.err()).toMatch(/cannot reach http:\/\/127.0.0.1:\d+\/v1\/models: ECONNREFUSED/);
  });
});
