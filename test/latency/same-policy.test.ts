/**
 * The simulated policy is the server's code: changing a policy parameter moves the batching
 * server (real time, the CPU test engine) and the simulation (virtual time) the same way.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/latency/simulate.js';
import type { TrafficRequest } from '../../src/latency/traffic.js';
import { prompt, rng, setup } from '../serving/helpers.js';

describe('one policy, two clocks', () => {
  for (const maxWaitMs of [0, 150]) {
    it(`max_wait = ${maxWaitMs} ms: a lone request waits that long on the server and in the simulation`, async () => {
      const { server } = setup({ maxBatch: 4, maxWaitMs });
      const result = await server.generate(prompt(rng(1), 8), { maxNewTokens: 2 });
      await server.close();
      const sim = simulate([{ at: 0, prompt: 8, output: 2 }], {
        policy: { maxBatch: 4, maxWaitMs, queue: 64, maxPrefillTokens: 256 },
        replicas: 1,
        times: { prefill: () => 0.001, decode: () => 0.001 },
      });
      expect(sim.requests[0]!.admitted * 1000).toBeCloseTo(maxWaitMs, 6);
      // Timers are coarse and CI machines loaded: the server admits at max_wait or later, and
      // without max_wait well before 150 ms.
      expect(result.timing.queuedMs).toBeGreaterThanOrEqual(maxWaitMs - 1);
      if (maxWaitMs === 0) expect(result.timing.queuedMs).toBeLessThan(100);
    });
  }

  for (const maxPrefillTokens of [8, 16]) {
    it(`max_prefill_tokens = ${maxPrefillTokens}: two 8-token prompts are prefilled in ${maxPrefillTokens === 8 ? 'two steps' : 'one step'} on both`, async () => {
      const { server, engine } = setup({ maxBatch: 2, maxPrefillTokens }, { decodeMs: 5, prefillMs: 1 });
      const r = rng(2);
      await Promise.all([0, 1].map(() => server.generate(prompt(r, 8), { maxNewTokens: 3 })));
      await server.close();
      // The server: is there a decode step between the two prefills?
      const kinds = engine.calls.map((c) => c.kind);
      const between = kinds.slice(kinds.indexOf('prefill') + 1, kinds.lastIndexOf('prefill')).includes('decode');
      const reqs: TrafficRequest[] = [0, 0].map((at) => ({ at, prompt: 8, output: 3 }));
      const sim = simulate(reqs, {
        policy: { maxBatch: 2, maxWaitMs: 0, queue: 64, maxPrefillTokens },
        replicas: 1,
        times: { prefill: () => 0.001, decode: () => 0.005 },
      });
      const apart = sim.requests[1]!.admitted > sim.requests[0]!.admitted;
      expect(between).toBe(maxPrefillTokens === 8);
      expect(apart).toBe(maxPrefillTokens === 8);
    });
  }
});
