import { describe, expect, it } from 'vitest';
import { CpuEngine, EngineContractError, cpuReference } from '../../runtime/testing/cpu-engine.js';
import { EngineLostError } from '../../runtime/engine.js';
import { rejection } from './helpers.js';

const engine = (o: Partial<ConstructorParameters<typeof CpuEngine>[0]> = {}) =>
  new CpuEngine({ slots: 2, maxSeq: 32, vocabSize: 100, ...o });

/** Generates `n` tokens for `prompt` in `slot`, one engine call at a time. */
async function run(e: CpuEngine, slot: number, prompt: number[], n: number): Promise<number[]> {
  const out = [await e.prefill(slot, prompt)];
  while (out.length < n) {
    const [t] = await e.decode([{ slot, token: out.at(-1)!, position: prompt.length + out.length - 1 }]);
    out.push(t!);
  }
  e.release(slot);
  return out;
}

describe('CpuEngine', () => {
  it('generates what cpuReference says, whatever the slot', async () => {
    const e = engine();
    const ref = cpuReference([1, 2, 3], 10, { vocabSize: 100 });
    expect(await run(e, 0, [1, 2, 3], 10)).toEqual(ref.tokens);
    expect(await run(e, 1, [1, 2, 3], 10)).toEqual(ref.tokens);
    expect(ref.tokens.every((t) => t >= 0 && t < 100)).toBe(true);
    expect(cpuReference([1, 2, 4], 10, { vocabSize: 100 }).tokens).not.toEqual(ref.tokens);
  });

  it('decodes two slots in one batch as if alone', async () => {
    const e = engine();
    const a = [await e.prefill(0, [5, 6])];
    const b = [await e.prefill(1, [7])];
    for (let i = 0; i < 5; i++) {
      const [x, y] = await e.decode([
        { slot: 1, token: b.at(-1)!, position: 1 + b.length - 1 },
        { slot: 0, token: a.at(-1)!, position: 2 + a.length - 1 },
      ]);
      b.push(x!);
      a.push(y!);
    }
    expect(a).toEqual(cpuReference([5, 6], 6, { vocabSize: 100 }).tokens);
    expect(b).toEqual(cpuReference([7], 6, { vocabSize: 100 }).tokens);
  });

  it('cpuReference stops at a stop token, which it includes', () => {
    const full = cpuReference([9], 20, { vocabSize: 100 }).tokens;
    const stopped = cpuReference([9], 20, { vocabSize: 100, stop: [full[4]!] });
    expect(stopped.finish).toBe('stop');
    expect(stopped.tokens).toEqual(full.slice(0, full.indexOf(full[4]!) + 1));
  });

  it('enforces the engine contract', async () => {
    const e = engine();
    await e.prefill(0, [1]);
    expect(await rejection(e.prefill(0, [1]))).toBeInstanceOf(EngineContractError); // occupied
    expect(await rejection(e.decode([{ slot: 1, token: 0, position: 0 }]))).toBeInstanceOf(EngineContractError); // empty slot
    expect(await rejection(e.decode([{ slot: 0, token: 0, position: 5 }]))).toBeInstanceOf(EngineContractError); // wrong position
    expect(
      await rejection(
        e.decode([
          { slot: 0, token: 0, position: 1 },
          { slot: 0, token: 0, position: 1 },
        ]),
      ),
    ).toBeInstanceOf(EngineContractError);
    const first = e.decode([{ slot: 0, token: 0, position: 1 }]);
    expect(await rejection(e.decode([{ slot: 0, token: 0, position: 1 }]))).toMatchObject({ message: expect.stringMatching(/in flight/) });
    await first;
  });

  it('applies latency, counts busy time, injects failures', async () => {
    const e = engine({ decodeMs: 20, fail: (c) => c.index === 3 });
    await e.prefill(0, [1]);
    const t0 = performance.now();
    await e.decode([{ slot: 0, token: 1, position: 1 }]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    expect(e.busyMs()).toBeGreaterThanOrEqual(15);
    e.failNext('decode', new Error('boom'));
    expect(await rejection(e.decode([{ slot: 0, token: 1, position: 2 }]))).toMatchObject({ message: 'boom' });
    expect(await rejection(e.prefill(1, [1]))).toMatchObject({ message: /injected prefill failure/ });
    expect(e.calls.map((c) => c.kind)).toEqual(['prefill', 'decode', 'decode', 'prefill']);
  });

  it('loses the device: the call in flight and later calls reject, listeners run once', async () => {
    const e = engine({ decodeMs: 1000 });
    const reasons: string[] = [];
    e.onLost((r) => reasons.push(r));
    await e.prefill(0, [1]);
    const inflight = rejection(e.decode([{ slot: 0, token: 1, position: 1 }]));
    e.loseDevice('test');
    e.loseDevice('again');
    expect(await inflight).toBeInstanceOf(EngineLostError);
    expect(await rejection(e.prefill(1, [1]))).toBeInstanceOf(EngineLostError);
    expect(e.healthy).toBe(false);
    expect(reasons).toEqual(['test']);
  });
});
