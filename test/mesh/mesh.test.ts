import { describe, expect, it } from 'vitest';
import {
  axesOf,
  coordsOf,
  deviceCount,
  groupIndex,
  groupsAlong,
  meshFunctions,
  meshOf,
  MESH_AXIS_NAMES,
  rankOf,
  ranks,
  strides,
  type Mesh,
} from '../../src/mesh.js';

describe('mesh', () => {
  it('orders the axes tensor, context, pipeline, data: rank = ((data × pipeline + stage) × context + context rank) × tensor + tensor rank', () => {
    expect(MESH_AXIS_NAMES).toEqual(['tensor', 'context', 'pipeline', 'data']);
    const mesh: Mesh = { tensor: 4, context: 2, pipeline: 3, data: 2 };
    for (let data = 0; data < 2; data++)
      for (let pipeline = 0; pipeline < 3; pipeline++)
        for (let context = 0; context < 2; context++)
          for (let tensor = 0; tensor < 4; tensor++)
            expect(rankOf(mesh, { tensor, context, pipeline, data })).toBe(((data * 3 + pipeline) * 2 + context) * 4 + tensor);
  });

  it('puts a context group next to its tensor group: the ranks of one context group are tensor apart (Megatron tp-cp-…, torchtitan […, cp, tp])', () => {
    const mesh: Mesh = { tensor: 2, context: 4, pipeline: 1, data: 2 };
    expect(groupsAlong(mesh, 'context')).toEqual([
      [0, 2, 4, 6],
      [1, 3, 5, 7],
      [8, 10, 12, 14],
      [9, 11, 13, 15],
    ]);
    expect(groupsAlong(mesh, 'data')[0]).toEqual([0, 8]);
  });

  it('round-trips rank → coordinates → rank, and ranks() lists every device in rank order', () => {
    for (const mesh of [
      { tensor: 1, context: 1, pipeline: 1, data: 1 },
      { tensor: 8, context: 1, pipeline: 1, data: 1 },
      { tensor: 2, context: 1, pipeline: 4, data: 3 },
      { tensor: 1, context: 1, pipeline: 5, data: 2 },
      { tensor: 2, context: 3, pipeline: 2, data: 2 },
    ]) {
      const all = ranks(mesh);
      expect(all.length).toBe(deviceCount(mesh));
      all.forEach((c, rank) => {
        expect(coordsOf(mesh, rank)).toEqual(c);
        expect(rankOf(mesh, c)).toBe(rank);
      });
      expect(new Set(all.map((c) => `${c.tensor}/${c.context}/${c.pipeline}/${c.data}`)).size).toBe(all.length);
    }
  });

  it('strides: rank = Σ coordinate × stride, and each coordinate is ⌊rank / stride⌋ mod size', () => {
    expect(strides({ tensor: 4, context: 2, pipeline: 3, data: 2 })).toEqual({ tensor: 1, context: 4, pipeline: 8, data: 24 });
    for (const mesh of [
      { tensor: 8, context: 1, pipeline: 64, data: 6 },
      { tensor: 1, context: 1, pipeline: 5, data: 2 },
      { tensor: 3, context: 1, pipeline: 1, data: 4 },
      { tensor: 2, context: 4, pipeline: 3, data: 2 },
    ]) {
      const s = strides(mesh);
      ranks(mesh).forEach((c, rank) => {
        expect(c.tensor * s.tensor + c.context * s.context + c.pipeline * s.pipeline + c.data * s.data).toBe(rank);
        for (const a of MESH_AXIS_NAMES) expect(Math.floor(rank / s[a]) % mesh[a]).toBe(c[a]);
      });
    }
  });

  it('groups the ranks that differ only along one axis, numbered by the rank of the rest', () => {
    const mesh: Mesh = { tensor: 2, context: 1, pipeline: 3, data: 2 };
    expect(groupsAlong(mesh, 'tensor')).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
      [10, 11],
    ]);
    expect(groupsAlong(mesh, 'pipeline')).toEqual([
      [0, 2, 4],
      [1, 3, 5],
      [6, 8, 10],
      [7, 9, 11],
    ]);
    expect(groupsAlong(mesh, 'data')).toEqual([
      [0, 6],
      [1, 7],
      [2, 8],
      [3, 9],
      [4, 10],
      [5, 11],
    ]);
    for (const axis of MESH_AXIS_NAMES) {
      const groups = groupsAlong(mesh, axis);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(ranks(mesh).map((_, r) => r));
      ranks(mesh).forEach((c, rank) => expect(groups[groupIndex(mesh, axis, c)]).toContain(rank));
    }
  });

  it('lists the axes in order and reads them back', () => {
    const mesh: Mesh = { tensor: 2, context: 1, pipeline: 3, data: 4 };
    expect(axesOf(mesh)).toEqual([
      { name: 'tensor', size: 2 },
      { name: 'context', size: 1 },
      { name: 'pipeline', size: 3 },
      { name: 'data', size: 4 },
    ]);
    expect(meshOf(axesOf(mesh))).toEqual(mesh);
    expect(() =>
      meshOf([
        { name: 'tensor', size: 2 },
        { name: 'context', size: 1 },
        { name: 'pipeline', size: 1 },
      ]),
    ).toThrow(/'data' is missing/);
    expect(() => meshOf([...axesOf(mesh), { name: 'expert', size: 2 }])).toThrow(/unknown mesh axis 'expert'/);
  });

  it('takes a new axis as one more entry in the order (expert between tensor and pipeline)', () => {
    const m = meshFunctions(['tensor', 'expert', 'pipeline', 'data'] as const);
    const mesh = { tensor: 2, expert: 2, pipeline: 2, data: 2 };
    expect(m.deviceCount(mesh)).toBe(16);
    expect(m.rankOf(mesh, { tensor: 1, expert: 1, pipeline: 0, data: 1 })).toBe(1 + 2 * 1 + 4 * 0 + 8 * 1);
    m.ranks(mesh).forEach((c, rank) => expect(m.rankOf(mesh, c)).toBe(rank));
    expect(m.groupsAlong(mesh, 'expert')).toEqual([
      [0, 2],
      [1, 3],
      [4, 6],
      [5, 7],
      [8, 10],
      [9, 11],
      [12, 14],
      [13, 15],
    ]);
    expect(m.groupsAlong(mesh, 'data')[3]).toEqual([3, 11]);
    expect(m.groupIndex(mesh, 'data', m.coordsOf(mesh, 11))).toBe(3);
  });
});
