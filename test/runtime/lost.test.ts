/** A lost device rejects the requests in flight and marks the runtime unhealthy; nothing hangs. */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import { createRuntime } from '../../runtime/index.js';

describe('device lost', () => {
  it('in-flight and later requests reject with the device-lost error; stats say unhealthy', async () => {
    const a = analyze(['examples/runtime/tiny.plan'], { plan: 'gpt2_tiny_1' });
    const r = a.results[0]!;
    const rt = await createRuntime(compilePlan(r.plan, r.memory).graph, { weights: 'random:1' });
    const server = rt.serve();
    const first = await rt.generate([1, 2, 3], { maxNewTokens: 2 });
    expect(first.tokens).toHaveLength(2);
    const pending = Promise.allSettled([1, 2, 3, 4].map((i) => rt.generate([i, i + 1], { maxNewTokens: 40 })));
    // Lose the device while those run (as a driver reset would).
    (rt as unknown as { states: { rd: { device: GPUDevice } }[] }).states[0]!.rd.device.destroy();
    const settled = await pending;
    expect(settled.every((x) => x.status === 'rejected' || (x.status === 'fulfilled' && x.value.tokens.length === 40))).toBe(true);
    const rejected = settled.filter((x) => x.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const x of rejected) expect(String((x as PromiseRejectedResult).reason)).toMatch(/lost/);
    await expect(rt.generate([5], { maxNewTokens: 1 })).rejects.toThrow(/lost/);
    expect(server.stats().healthy).toBe(false);
    await rt.close();
  });
});
