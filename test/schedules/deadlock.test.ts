/**
 * PP5001 from the table alone (the checker) must say what the graph simulation says
 * (compile): same message, help (grid) and span, for any hand-written table that passed
 * the per-rank checks, across tensor, data, virtual stages and tied embeddings.
 */
import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../src/compile.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { formatTable, type Action, type ScheduleTable } from '../../src/schedules/index.js';
import { deadlockGrid, tableDeadlock } from '../../src/schedules/deadlock.js';
import { mulberry32 as rng } from '../../src/util/random.js';
import { analyzeText } from '../fuzz/mutate.js';

/** A random table that passes the per-rank checks: each (stage, microbatch) runs F then B, or F, I, W, in a random interleaving. */
function randomTable(p: number, v: number, m: number, next: () => number): ScheduleTable {
  return Array.from({ length: p }, (_, rank) => {
    const chains: Action[][] = [];
    for (let c = rank; c < p * v; c += p) {
      for (let i = 0; i < m; i++) {
        const split = next() < 0.3;
        chains.push((split ? (['F', 'I', 'W'] as const) : (['F', 'B'] as const)).map((kind) => ({ stage: c, kind, microbatch: i })));
      }
    }
    const list: Action[] = [];
    while (chains.some((ch) => ch.length > 0)) {
      const open = chains.filter((ch) => ch.length > 0);
      list.push(open[Math.floor(next() * open.length)]!.shift()!);
    }
    return list;
  });
}

const shown = (d: Diagnostic) => ({ message: d.message, help: d.help, start: d.span?.start, end: d.span?.end });

describe('PP5001 from the table equals the graph simulation', () => {
  it('on random tables (tensor, data, virtual, tied embeddings)', () => {
    const next = rng(10);
    let deadlocks = 0;
    for (let n = 0; n < 60; n++) {
      const p = 1 + Math.floor(next() * 4);
      const v = p === 1 || next() < 0.4 ? 2 : 1;
      const m = 1 + Math.floor(next() * 3);
      const t = next() < 0.4 ? 2 : 1;
      const d = next() < 0.3 ? 2 : 1;
      const tied = next() < 0.5;
      const table = randomTable(p, v, m, next);
      const text =
        `model tiny {\n  arch = llama  layers = 24  hidden = 256  heads = 8  ffn = 512  vocab = 1000  max_seq = 256  tied_embeddings = ${tied}\n}\n` +
        `cluster c {\n  gpu = H100_SXM_80GB  gpus = ${t * p * d}\n}\n` +
        `plan q {\n  model = tiny  cluster = c  mode = train  tensor = ${t}  pipeline = ${p}  data = ${d}${v > 1 ? `  virtual = ${v}` : ''}\n` +
        `  batch { global = ${m * d}  micro = 1  seq = 256 }\n  actions = ${JSON.stringify(formatTable(table))}\n}\n`;
      const a = analyzeText(text);
      const r = a.results[0];
      expect(r, `${text}\n${a.diagnostics.map((x) => x.message).join('\n')}`).toBeDefined();
      const checked = a.diagnostics.filter((x) => x.code === 'PP5001');
      const compiled = compilePlan(r!.plan, r!.memory).diagnostics;
      expect(compiled.filter((x) => x.code === 'PP9001')).toEqual([]);
      expect(checked.map(shown), text).toEqual(compiled.filter((x) => x.code === 'PP5001').map(shown));
      if (checked.length > 0) deadlocks++;
    }
    // Both outcomes are exercised.
    expect(deadlocks).toBeGreaterThan(10);
    expect(deadlocks).toBeLessThan(55);
  });
});

describe('tableDeadlock', () => {
  it('names graph ranks, what each waits for, and the first stuck cell', () => {
    const table: ScheduleTable = [
      [
        { stage: 0, kind: 'F', microbatch: 0 },
        { stage: 0, kind: 'B', microbatch: 0 },
      ],
      [
        { stage: 1, kind: 'F', microbatch: 1 },
        { stage: 1, kind: 'B', microbatch: 1 },
      ],
    ];
    // A table the per-rank checks would refuse (microbatches differ), but the simulation needs no more.
    const found = tableDeadlock(table, 2, [0, 4]);
    expect(found?.stuck).toEqual([
      { rank: 0, actionIndex: 1, action: '0B0', waitingFor: "'grad.hidden.s1' of microbatch 0 from rank 4" },
      { rank: 4, actionIndex: 0, action: '1F1', waitingFor: "'hidden.s1' of microbatch 1 from rank 0" },
    ]);
    expect(found?.grid).toBe('rank   0 |  0F0 [0B0]\nrank   4 | [1F1] 1B1');
    expect(
      tableDeadlock(
        [
          [
            { stage: 0, kind: 'F', microbatch: 0 },
            { stage: 0, kind: 'B', microbatch: 0 },
          ],
        ],
        1,
        [0],
      ),
    ).toBeUndefined();
  });

  it('deadlockGrid pads cells to the widest action', () => {
    expect(deadlockGrid([{ rank: 12, actions: ['0F10', '0B10'] }], [{ rank: 12, actionIndex: 0, waitingFor: 'x' }])).toBe(
      'rank  12 | [0F10] 0B10',
    );
  });
});
