/**
 * examples/service: the plan checks cleanly, and the service — started in-process with
 * `start()`, on a free port — compiles it, loads random weights and answers HTTP in the
 * shape its README shows; it also serves a graph compiled beforehand.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze.js';
import { compileService, DEFAULT_PLAN, start } from '../examples/service/server.js';

describe('examples/service', () => {
  it('plan.plan checks without errors or warnings, and fits', () => {
    const a = analyze([DEFAULT_PLAN]);
    expect(a.diagnostics.filter((d) => d.severity !== 'note')).toEqual([]);
    expect(a.results.map((r) => [r.plan.name, r.fits])).toEqual([['tiny_service', true]]);
  });

  it('start() serves the plan: POST /v1/generate → { tokens, finish }', async () => {
    const service = await start({ port: 0 });
    try {
      expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(service.graph.plan).toMatchObject({ name: 'tiny_service', mode: 'serve', engine: 'webgpu' });
      const res = await fetch(`${service.url}/v1/generate`, {
        method: 'POST',
        body: JSON.stringify({ prompt: [1, 2, 3], max_new_tokens: 8 }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { tokens: number[]; finish: string };
      expect(Object.keys(body).sort()).toEqual(['finish', 'tokens']);
      expect(body.finish).toBe('length');
      expect(body.tokens).toHaveLength(8);
      for (const t of body.tokens) expect(Number.isInteger(t) && t >= 0 && t < 97).toBe(true);
      expect(service.runtime.memoryReport().map((r) => r.ratio)).toEqual([1]);
    } finally {
      await service.close();
    }
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
  });

  it('start() also loads a compiled *.graph.json, and gives the same tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-service-'));
    const path = join(dir, 'tiny_service.graph.json');
    writeFileSync(path, JSON.stringify(compileService(DEFAULT_PLAN)));
    const service = await start({ plan: path, port: 0 });
    try {
      const a = await service.runtime.generate([1, 2, 3], { maxNewTokens: 8 });
      const res = await fetch(`${service.url}/v1/generate`, {
        method: 'POST',
        body: JSON.stringify({ prompt: [1, 2, 3], max_new_tokens: 8 }),
      });
      expect(((await res.json()) as { tokens: number[] }).tokens).toEqual(a.tokens);
    } finally {
      await service.close();
    }
  });
});
