/**
 * The server's sampling and onToken (GenerateOptions.sampling / onToken) on the CPU engine:
 * a seeded request gives the tokens `cpuReference` draws alone, whatever else is in its
 * batch; onToken sees every token in order and can end the sequence.
 */
import { describe, expect, it } from 'vitest';
import { cpuLogits, cpuReference, hashSequence } from '../../runtime/testing/cpu-engine.js';
import { CallbackError, InvalidRequestError } from '../../runtime/serving/errors.js';
import { prompt, rejection, rng, setup, VOCAB } from './helpers.js';

const SAMPLING = { temperature: 0.8, topP: 0.95, topK: 200, seed: 1234 };

describe('sampling', () => {
  it('a seeded request gives the same tokens as cpuReference, alone or in a full batch', async () => {
    const r = rng(5);
    const p = prompt(r, 9);
    const want = cpuReference(p, 24, { vocabSize: VOCAB, sampling: SAMPLING }).tokens;
    const greedy = cpuReference(p, 24, { vocabSize: VOCAB }).tokens;
    expect(want).not.toEqual(greedy); // sampling does differ from the argmax here

    const alone = setup();
    expect((await alone.server.generate(p, { maxNewTokens: 24, sampling: SAMPLING })).tokens).toEqual(want);

    // The same request among others (greedy and sampled with other seeds), joining mid-way.
    const busy = setup({ maxBatch: 4 }, { decodeMs: 1 });
    const others = Array.from({ length: 6 }, (_, i) =>
      busy.server.generate(prompt(r, 3 + i), { maxNewTokens: 10 + i, ...(i % 2 ? { sampling: { temperature: 1, seed: i } } : {}) }),
    );
    const mine = busy.server.generate(p, { maxNewTokens: 24, sampling: SAMPLING });
    expect((await mine).tokens).toEqual(want);
    await Promise.all(others);
    expect(busy.engine.calls.some((c) => c.kind === 'decode' && c.size > 1)).toBe(true);
  });

  it('the same with data-parallel replicas (prefillMany)', async () => {
    const { server } = setup({ maxBatch: 4 }, { replicas: 2 });
    const r = rng(8);
    const prompts = Array.from({ length: 8 }, (_, i) => prompt(r, 2 + i));
    const got = await Promise.all(prompts.map((p, i) => server.generate(p, { maxNewTokens: 12, sampling: { temperature: 1.2, seed: i } })));
    got.forEach((g, i) =>
      expect(g.tokens).toEqual(cpuReference(prompts[i]!, 12, { vocabSize: VOCAB, sampling: { temperature: 1.2, seed: i } }).tokens),
    );
  });

  it('seeds: same seed same tokens, other seed other tokens; temperature 0 is greedy; no seed is random', async () => {
    const { server } = setup();
    const p = [1, 2, 3, 4];
    const gen = (sampling: object | undefined) =>
      server.generate(p, { maxNewTokens: 20, ...(sampling ? { sampling } : {}) }).then((g) => g.tokens);
    const a = await gen({ temperature: 1, seed: 7 });
    expect(await gen({ temperature: 1, seed: 7 })).toEqual(a);
    expect(await gen({ temperature: 1, seed: 8 })).not.toEqual(a);
    const greedy = cpuReference(p, 20, { vocabSize: VOCAB }).tokens;
    expect(await gen({ temperature: 0, seed: 7, topK: 3 })).toEqual(greedy);
    expect(await gen(undefined)).toEqual(greedy);
    expect(await gen({ temperature: 1 })).not.toEqual(await gen({ temperature: 1 }));
  });

  it('top-k 1 at any temperature is the argmax', async () => {
    const { server } = setup();
    const p = [9, 9, 9];
    expect((await server.generate(p, { maxNewTokens: 15, sampling: { temperature: 3, topK: 1 } })).tokens).toEqual(
      cpuReference(p, 15, { vocabSize: VOCAB }).tokens,
    );
  });

  it('invalid sampling options are an InvalidRequestError naming the field', async () => {
    const { server } = setup();
    for (const [sampling, msg] of [
      [{ temperature: -0.5 }, /sampling\.temperature = -0\.5/],
      [{ temperature: 1, topP: 0 }, /sampling\.topP = 0/],
      [{ temperature: 1, topK: -1 }, /sampling\.topK = -1/],
      [{ temperature: 1, seed: 'x' }, /sampling\.seed = x/],
    ] as const) {
      const e = await rejection(server.generate([1], { maxNewTokens: 2, sampling: sampling as never }));
      expect(e).toBeInstanceOf(InvalidRequestError);
      expect((e as Error).message).toMatch(msg);
    }
  });

  it('cpuLogits: its argmax is the greedy token', () => {
    for (const p of [[1], [5, 6, 7], [999, 0]]) {
      const h = hashSequence(p);
      const row = cpuLogits(h, VOCAB);
      expect(row.indexOf(Math.max(...row))).toBe(h % VOCAB);
    }
  });
});

describe('onToken', () => {
  it('sees every token in order, before the promise resolves', async () => {
    const { server } = setup();
    const seen: number[] = [];
    let resolved = false;
    const p = server.generate([4, 5], {
      maxNewTokens: 12,
      onToken: (t) => {
        expect(resolved).toBe(false);
        seen.push(t);
      },
    });
    const res = await p.then((r) => ((resolved = true), r));
    expect(seen).toEqual(res.tokens);
    expect(res.tokens).toEqual(cpuReference([4, 5], 12, { vocabSize: VOCAB }).tokens);
    expect(res.finish).toBe('length');
  });

  it("returning true ends the sequence with 'stop' and frees its slot", async () => {
    const { server, engine } = setup({ maxBatch: 2 });
    const ref = cpuReference([4, 5], 12, { vocabSize: VOCAB }).tokens;
    for (const k of [1, 5]) {
      let n = 0;
      const res = await server.generate([4, 5], { maxNewTokens: 12, onToken: () => ++n === k });
      expect(res.tokens).toEqual(ref.slice(0, k));
      expect(res.finish).toBe('stop');
    }
    // The freed slots take other work: both are free again.
    expect(engine.occupiedSlots()).toEqual([]);
    const other = await server.generate([1], { maxNewTokens: 3 });
    expect(other.tokens).toHaveLength(3);
  });

  it('a callback that throws fails only its own request, with CallbackError and the tokens so far', async () => {
    const { server } = setup();
    const bad = server.generate([1, 2], {
      maxNewTokens: 10,
      onToken: (t) => {
        if (t >= 0) throw new Error('boom');
      },
    });
    const good = server.generate([3], { maxNewTokens: 10 });
    const e = await rejection(bad);
    expect(e).toBeInstanceOf(CallbackError);
    expect((e as CallbackError).message).toMatch(/onToken callback threw: boom/);
    expect((e as CallbackError).tokens).toHaveLength(1);
    expect((await good).tokens).toHaveLength(10);
    expect(server.stats().requests.failed).toBe(1);
  });

  it('onToken that is no function is refused', async () => {
    const { server } = setup();
    expect(await rejection(server.generate([1], { maxNewTokens: 2, onToken: 3 as never }))).toBeInstanceOf(InvalidRequestError);
  });
});
