/** Bounded fuzzing of the whole front end (parse, check, memory, fit); `bench/fuzz.ts` runs 100k. */
import { describe, expect, it } from 'vitest';
import { corpus, fuzzOnce, mutate, rng } from './fuzz/mutate.js';

describe('fuzz: mutated plans', () => {
  const files = corpus();
  it('has a corpus', () => expect(files.size).toBeGreaterThanOrEqual(15));
  it('the mutator changes text', () => {
    const r = rng(1);
    const t = files.values().next().value!;
    expect([0, 1, 2, 3, 4, 5].some(() => mutate(t, r) !== t)).toBe(true);
  });
  it('never throws, and every diagnostic has a position (1,500 mutants)', () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 1500 && failures.length < 5; seed++) {
      const r = fuzzOnce(files, seed);
      if (r.problems.length > 0) failures.push(`seed ${seed} (${r.path}): ${r.problems.join('; ')}\n--- text ---\n${r.text}`);
    }
    expect(failures).toEqual([]);
  });
});
