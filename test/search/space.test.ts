/** The enumeration: each dimension's values, bounded for any cluster, and every mesh using all GPUs. */
import { describe, expect, it } from 'vitest';
import {
  divisors,
  groupCandidates,
  meshes,
  microBatches,
  schedules,
  sequenceParallelChoices,
  serveCandidates,
  tensorDegrees,
  trainGroups,
  zeroStages,
} from '../../src/search/space.js';
import { heavier, weight } from '../../src/search/prune.js';

describe('search space', () => {
  it('divisors, in order, for squares, primes and the largest cluster', () => {
    expect(divisors(1)).toEqual([1]);
    expect(divisors(36)).toEqual([1, 2, 3, 4, 6, 9, 12, 18, 36]);
    expect(divisors(7)).toEqual([1, 7]);
    expect(divisors(1_000_000)).toHaveLength(49);
  });

  it('tensor stays within a node; pipeline within the layers; every mesh uses every GPU', () => {
    expect(tensorDegrees(64, 8)).toEqual([1, 2, 4, 8]);
    expect(tensorDegrees(6, 6)).toEqual([1, 2, 3, 6]);
    const ms = meshes(64, 8, 80);
    expect(ms).toHaveLength(22);
    for (const m of ms) {
      expect(m.tensor * m.pipeline * m.data).toBe(64);
      expect(m.pipeline).toBeLessThanOrEqual(80);
    }
    expect(meshes(64, 8, 12).some((m) => m.pipeline > 12)).toBe(false);
  });

  it('schedules: none for one stage; gpipe, 1f1b and interleaved with room for every chunk', () => {
    expect(schedules(1, 80)).toEqual([{}]);
    expect(schedules(4, 80)).toEqual([
      { schedule: 'gpipe' },
      { schedule: '1f1b' },
      ...[2, 3, 4, 6, 8].map((virtual) => ({ schedule: 'interleaved', virtual })),
    ]);
    expect(schedules(16, 40)).toEqual([{ schedule: 'gpipe' }, { schedule: '1f1b' }, { schedule: 'interleaved', virtual: 2 }]);
  });

  it('knobs that would have no effect are not enumerated (ZeRO with one replica, SP with tensor 1)', () => {
    expect(zeroStages(1)).toEqual([0]);
    expect(zeroStages(2)).toEqual([0, 1, 2, 3]);
    expect(sequenceParallelChoices(1)).toEqual([false]);
    expect(microBatches(1024, 64)).toEqual([1, 2, 4, 8]);
    // A global batch below the data degree: micro 1 stays, for the checker to explain (PP3011).
    expect(microBatches(16, 64)).toEqual([1]);
  });

  it('the 70B × 64 H100 space has 7,968 training candidates and 726 serving ones', () => {
    expect(trainGroups(64, 8, 80, 1024).flatMap(groupCandidates)).toHaveLength(7968);
    // 242 meshes × max_batch, each with the default prefill chunk and 2,048 and 16,384.
    expect(serveCandidates(64, 8, 80)).toHaveLength(726);
    // A chunk that holds the whole batch (max_batch × seq) is the default's case: not tried again.
    expect(
      serveCandidates(64, 8, 80, undefined, 1024)
        .filter((k) => k.maxPrefillTokens !== undefined)
        .every((k) => k.maxPrefillTokens! < k.maxBatch * 1024),
    ).toBe(true);
  });

  it('stays bounded on the largest cluster the checker allows', () => {
    expect(trainGroups(1_000_000, 8, 126, 4096).flatMap(groupCandidates).length).toBeLessThan(50_000);
  });

  it('prune order: a heavier candidate never sorts before a lighter one; ZeRO-3 is compared only with ZeRO-3', () => {
    const group = groupCandidates({ mesh: { tensor: 2, pipeline: 2, data: 2 }, schedule: { schedule: '1f1b' }, micro: 1 });
    for (const x of group) {
      for (const y of group) {
        if (x !== y && heavier(x, y) && !heavier(y, x)) expect(weight(x)).toBeGreaterThan(weight(y));
        if ((x.zero === 3) !== (y.zero === 3)) expect(heavier(x, y)).toBe(false);
      }
    }
    const light = group.find((k) => k.zero === 2 && k.recompute === 'full' && k.sequenceParallel)!;
    expect(group.filter((k) => k.zero !== 3 && heavier(k, light))).toHaveLength(18);
  });
});
