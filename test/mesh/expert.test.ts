/**
 * Expert groups against rank lists built by hand from Megatron-Core's expert RankGenerator
 * (megatron/core/parallel_state.py: tp = expert_tensor, ep = expert, dp = expert data, order
 * tp-ep-dp-pp, over the same ranks as the dense grid) and vLLM's `--enable-expert-parallel`
 * (EP = TP × DP, experts not tensor-split).
 */
import { describe, expect, it } from 'vitest';
import { expertCoordsOf, expertGroupIndex, expertGroupsAlong, rankOfExpert, type Mesh } from '../../src/mesh.js';

describe('expert groups', () => {
  it('TP2 × DP4 with EP4, ETP1 (8 GPUs, one stage): two all-to-all groups, four expert-data pairs', () => {
    const mesh: Mesh = { tensor: 2, context: 1, pipeline: 1, data: 4 };
    const grid = { tensor: 1, expert: 4, data: 2 };
    // Ranks 0..7 = data × 2 + tensor; the expert grid numbers the same eight ranks ep fastest (etp = 1).
    expect(expertGroupsAlong(mesh, grid, 'expert')).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(expertGroupsAlong(mesh, grid, 'data')).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(expertGroupsAlong(mesh, grid, 'tensor')).toEqual([[0], [1], [2], [3], [4], [5], [6], [7]]);
    expect(expertCoordsOf(mesh, grid, 5)).toEqual({ tensor: 0, expert: 1, data: 1 });
  });

  it('TP2 × PP2 × DP2 with EP2, ETP2: groups stay inside each stage', () => {
    const mesh: Mesh = { tensor: 2, context: 1, pipeline: 2, data: 2 };
    const grid = { tensor: 2, expert: 2, data: 1 };
    // rank = (data × 2 + stage) × 2 + tensor: stage 0 holds 0, 1 (replica 0) and 4, 5 (replica 1).
    expect(expertGroupsAlong(mesh, grid, 'tensor')).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    expect(expertGroupsAlong(mesh, grid, 'expert')).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(expertGroupsAlong(mesh, grid, 'data')).toEqual([[0], [1], [2], [3], [4], [5], [6], [7]]);
  });

  it("Megatron's MoE parallel folding example: attention TP4 × DP16 × PP4 (CP2 folded into data), MoE ETP1 × EP64 × EDP1", () => {
    // The MoE README's example has attention TP4·CP2·DP8·PP4 = 256 GPUs and experts ETP1·EP64·EDP1: each
    // expert group is all 64 ranks of one pipeline stage. parplan has no context axis: CP2·DP8 = data 16.
    const mesh: Mesh = { tensor: 4, context: 1, pipeline: 4, data: 16 };
    const grid = { tensor: 1, expert: 64, data: 1 };
    const groups = expertGroupsAlong(mesh, grid, 'expert');
    expect(groups).toHaveLength(4);
    for (let stage = 0; stage < 4; stage++) {
      const byHand: number[] = [];
      for (let d = 0; d < 16; d++) for (let t = 0; t < 4; t++) byHand.push((d * 4 + stage) * 4 + t);
      expect(groups[stage]).toEqual(byHand);
    }
  });

  it("vLLM's --enable-expert-parallel with TP2 × DP4: one expert group of all eight ranks", () => {
    const mesh: Mesh = { tensor: 2, context: 1, pipeline: 1, data: 4 };
    expect(expertGroupsAlong(mesh, { tensor: 1, expert: 8, data: 1 }, 'expert')).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    // Without it vLLM splits each expert over all eight ranks (expert_tensor = tensor × data).
    expect(expertGroupsAlong(mesh, { tensor: 8, expert: 1, data: 1 }, 'tensor')).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
  });

  it('coordinates and ranks are inverses; every rank is in exactly one group per axis', () => {
    const mesh: Mesh = { tensor: 4, context: 1, pipeline: 3, data: 6 };
    const grid = { tensor: 2, expert: 3, data: 4 };
    for (let r = 0; r < 72; r++) {
      const stage = Math.floor(r / 4) % 3;
      expect(rankOfExpert(mesh, grid, stage, expertCoordsOf(mesh, grid, r))).toBe(r);
    }
    for (const axis of ['tensor', 'expert', 'data'] as const) {
      const groups = expertGroupsAlong(mesh, grid, axis);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 72 }, (_, i) => i));
      expect(groups.every((g) => g.length === grid[axis])).toBe(true);
      expect(expertGroupIndex(groups, 13)).toBeGreaterThanOrEqual(0);
    }
  });

  it('refuses a grid that does not regroup the ranks', () => {
    expect(() => expertGroupsAlong({ tensor: 2, context: 1, pipeline: 1, data: 2 }, { tensor: 1, expert: 3, data: 1 }, 'expert')).toThrow();
  });
});
