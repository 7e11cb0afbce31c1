/**
 * Inline action tables (`actions = [...]`): parsing, the per-rank checks with their
 * exact spans, and the checker integration (schedule = table).
 */
import { describe, expect, it } from 'vitest';
import { analyzeText } from '../fuzz/mutate.js';
import type { StringValue } from '../../src/ast.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import {
  formatTable,
  gpipe,
  interleaved,
  oneFOneB,
  parseAction,
  parseActionTable,
  simulateTable,
  type ScheduleTable,
} from '../../src/schedules/index.js';
import type { TrainPlan } from '../../src/plan.js';
import { SourceFile, type Span } from '../../src/source.js';

/**
 * A source line `actions = [<literals>]` and its string values with real spans. Literals
 * are written as in a .plan file (with their quotes and escapes).
 */
function source(...literals: string[]): { file: SourceFile; strings: StringValue[]; list: Span } {
  let text = '  actions = [';
  const open = text.length - 1;
  const at: [number, number][] = [];
  literals.forEach((lit, i) => {
    if (i > 0) text += ', ';
    at.push([text.length, text.length + lit.length]);
    text += lit;
  });
  text += ']\n';
  const file = new SourceFile('t.plan', text);
  const strings = at.map(([s, e], i): StringValue => ({
    kind: 'string',
    value: JSON.parse(literals[i]!) as string,
    span: file.span(s, e),
  }));
  return { file, strings, list: file.span(open, text.length - 1) };
}

const q = (s: string) => JSON.stringify(s);

/** Parses `values` (one string per rank) and shows each diagnostic as code, underlined text, column, message. */
function check(values: string[], p: number, v: number, m: number) {
  const src = source(...values.map(q));
  const r = parseActionTable(src.strings, p, v, m, { span: src.list });
  const show = (d: Diagnostic) => ({
    code: d.code,
    text: src.file.text.slice(d.span!.start, d.span!.end),
    column: d.span!.column,
    message: d.message,
  });
  return { ...r, shown: r.diagnostics.map(show), src };
}

const plain = (t: ScheduleTable | undefined) => (t ? formatTable(t) : undefined);

describe('parseAction', () => {
  it('reads <stage><F|B|I|W><microbatch>', () => {
    expect(parseAction('0F3')).toEqual({ stage: 0, kind: 'F', microbatch: 3 });
    expect(parseAction('12B105')).toEqual({ stage: 12, kind: 'B', microbatch: 105 });
    expect(parseAction('3I0')).toEqual({ stage: 3, kind: 'I', microbatch: 0 });
    expect(parseAction('3W0')).toEqual({ stage: 3, kind: 'W', microbatch: 0 });
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'F3', '0F', '0f3', '0X3', '0F3,', '0 F3', '-1F0', '0F-1', '0SEND_F1', '1UNSHARD', '0F3F'])
      expect(parseAction(bad), bad).toBeUndefined();
  });
});

describe('parseActionTable: well-formed tables', () => {
  it('every generated schedule round-trips through its text', () => {
    const cases: [ScheduleTable, number, number, number][] = [
      [gpipe(4, 8), 4, 1, 8],
      [oneFOneB(4, 8), 4, 1, 8],
      [oneFOneB(3, 2), 3, 1, 2],
      [interleaved(4, 8, 2), 4, 2, 8],
      [interleaved(2, 6, 3), 2, 3, 6],
    ];
    for (const [table, p, v, m] of cases) {
      const r = check(formatTable(table), p, v, m);
      expect(r.diagnostics).toEqual([]);
      expect(plain(r.table)).toEqual(formatTable(table));
    }
  });

  it('keeps where each action was written', () => {
    const r = check(['0F0  0B0', '1F0 1B0'], 2, 1, 1);
    const cell = r.table![0]![1]!;
    expect(cell).toMatchObject({ stage: 0, kind: 'B', microbatch: 0 });
    expect(r.src.file.text.slice(cell.span!.start, cell.span!.end)).toBe('0B0');
    expect(cell.span!.column).toBe(20);
  });

  it('accepts split backwards (I then W) in place of B', () => {
    const r = check(['0F0 0F1 0I0 0I1 0W0 0W1', '1F0 1I0 1F1 1B1 1W0'], 2, 1, 2);
    expect(r.diagnostics).toEqual([]);
  });

  it('a table that deadlocks across ranks passes the per-rank checks (the table simulation reports it, PP5001)', () => {
    const r = check(['0F0 0B0 0F1 0B1', '1F1 1B1 1F0 1B0'], 2, 1, 2);
    expect(r.diagnostics).toEqual([]);
    const t = simulateTable(r.table!);
    expect(t.ok).toBe(false);
    if (!t.ok) {
      expect(t.cycle).toEqual([0, 1]);
      expect(t.stuck.map((s) => [s.rank, s.index])).toEqual([
        [0, 1],
        [1, 0],
      ]);
    }
  });
});

describe('parseActionTable: errors, with exact spans', () => {
  it('PP5003: a word that is not an action, underlined alone', () => {
    const r = check(['0F0 0X1 0B0 0f1', '1F0 1B0'], 2, 1, 2);
    expect(r.table).toBeUndefined();
    expect(r.shown).toEqual([
      { code: 'PP5003', text: '0X1', column: 19, message: "'0X1' is not a pipeline action" },
      { code: 'PP5003', text: '0f1', column: 27, message: "'0f1' is not a pipeline action" },
    ]);
    expect(r.diagnostics[1]!.help).toBe("write '0F1': the kinds are upper case");
    // A malformed word hides "missing" reports (it may be the missing action).
    expect(r.shown.filter((d) => d.code === 'PP5004')).toEqual([]);
  });

  it('PP5003: commas between actions', () => {
    const r = check(['0F0, 0B0', '1F0 1B0'], 2, 1, 1);
    expect(r.shown).toEqual([{ code: 'PP5003', text: '0F0,', column: 15, message: "'0F0,' is not a pipeline action" }]);
    expect(r.diagnostics[0]!.help).toBe("separate actions with spaces only: '0F0'");
  });

  it('PP5003: a string with an escape points at the whole string', () => {
    const src = source('"0F0 0B0\\t0Q0"', '"1F0 1B0"');
    const r = parseActionTable(src.strings, 2, 1, 1, { span: src.list });
    expect(r.diagnostics.map((d) => [d.code, src.file.text.slice(d.span!.start, d.span!.end)])).toEqual([['PP5003', '"0F0 0B0\\t0Q0"']]);
  });

  it('PP5004: fewer strings than ranks points at the list', () => {
    const r = check(['0F0 0B0'], 2, 1, 1);
    expect(r.shown).toEqual([{ code: 'PP5004', text: '["0F0 0B0"]', column: 13, message: '1 action string for pipeline = 2' }]);
  });

  it('PP5004: more strings than ranks points at the first extra one', () => {
    const r = check(['0F0 0B0', '1F0 1B0', '2F0 2B0'], 2, 1, 1);
    expect(r.shown).toEqual([{ code: 'PP5004', text: '"2F0 2B0"', column: 36, message: '3 action strings for pipeline = 2' }]);
    expect(r.diagnostics[0]!.help).toBe('give one string per pipeline rank: this is string 3, for ranks 0..1');
  });

  it('PP5004: a stage that does not exist', () => {
    expect(check(['0F0 0B0 2F0', '1F0 1B0'], 2, 1, 1).shown).toEqual([
      { code: 'PP5004', text: '2F0', column: 23, message: 'stage 2 does not exist: pipeline = 2 has stages 0..1' },
    ]);
    expect(check(['0F0 0B0 2F0 2B0 6F0', '1F0 1B0 3F0 3B0'], 2, 2, 1).shown).toEqual([
      { code: 'PP5004', text: '6F0', column: 31, message: 'stage 6 does not exist: pipeline × virtual = 2 × 2 has stages 0..3' },
    ]);
  });

  it('PP5004: a stage on the wrong rank', () => {
    const r = check(['0F0 1F0 0B0', '1B0'], 2, 1, 1);
    expect(r.shown).toEqual([{ code: 'PP5004', text: '1F0', column: 19, message: 'stage 1 runs on pipeline rank 1, not rank 0' }]);
    expect(r.diagnostics[0]!.help).toBe("move '1F0' to rank 1's string (string 2); stage c runs on rank c % 2");
  });

  it('PP5004: a microbatch that does not exist', () => {
    expect(check(['0F0 0B0 0F2', '1F0 1B0'], 2, 1, 1).shown).toEqual([
      { code: 'PP5004', text: '0F2', column: 23, message: 'microbatch 2 does not exist: there are 1 microbatches (0..0)' },
    ]);
  });

  it('PP5004: an action twice, at the second with the first related', () => {
    const r = check(['0F0 0F0 0B0', '1F0 1B0'], 2, 1, 1);
    expect(r.shown).toEqual([{ code: 'PP5004', text: '0F0', column: 19, message: "'0F0' appears twice on rank 0" }]);
    expect(r.diagnostics[0]!.related?.[0]?.span.column).toBe(15);
  });

  it('PP5004: missing actions, named, at the rank string', () => {
    expect(check(['0F0 0B0 0F1 0B1', '1F0 1B0 1F1'], 2, 1, 2).shown).toEqual([
      { code: 'PP5004', text: '"1F0 1B0 1F1"', column: 33, message: "rank 1 is missing '1B1'" },
    ]);
    expect(check(['0F0 0B0', ''], 2, 1, 4).shown.map((d) => d.message)).toEqual([
      "rank 0 is missing 6 actions: '0F1', '0B1', '0F2', '0B2', '0F3', '0B3'",
      "rank 1 is missing 8 actions: '1F0', '1B0', '1F1', '1B1', '1F2', '1B2', … (8 in all)",
    ]);
  });

  it('PP5004: a backward before its forward on the same rank', () => {
    const r = check(['0B0 0F0', '1F0 1B0'], 2, 1, 1);
    expect(r.shown).toEqual([{ code: 'PP5004', text: '0B0', column: 15, message: "'0B0' comes before its forward '0F0' on rank 0" }]);
    expect(r.diagnostics[0]!.related?.[0]?.span.column).toBe(19);
  });

  it('PP5004: I without W, W without I, W before I', () => {
    expect(check(['0F0 0I0', '1F0 1B0'], 2, 1, 1).shown).toEqual([
      { code: 'PP5004', text: '0I0', column: 19, message: "'0I0' has no '0W0': the weight gradient is never computed" },
    ]);
    expect(check(['0F0 0W0', '1F0 1B0'], 2, 1, 1).shown).toEqual([
      { code: 'PP5004', text: '0W0', column: 19, message: "'0W0' has no '0I0' before it" },
    ]);
    expect(check(['0F0 0W0 0I0', '1F0 1B0'], 2, 1, 1).shown).toEqual([
      { code: 'PP5004', text: '0W0', column: 19, message: "'0W0' comes before '0I0' on rank 0" },
    ]);
  });

  it('PP5004: a full backward mixed with a split one', () => {
    expect(check(['0F0 0B0 0I0 0W0', '1F0 1B0'], 2, 1, 1).shown).toEqual([
      {
        code: 'PP5004',
        text: '0I0',
        column: 23,
        message: "stage 0 microbatch 0 has both a full backward and a split one ('0B0' and '0I0')",
      },
    ]);
    expect(check(['0F0 0I0 0B0 0W0', '1F0 1B0'], 2, 1, 1).shown.map((d) => [d.text, d.message])).toEqual([
      ['0B0', "stage 0 microbatch 0 has both a full backward and a split one ('0I0' and '0B0')"],
    ]);
  });

  it('reports independent errors together', () => {
    const r = check(['0F0 0B0 0F1 0B1 0F1', '1B0 1F0 1F1 1B1'], 2, 1, 2);
    expect(r.shown.map((d) => [d.text, d.message])).toEqual([
      ['0F1', "'0F1' appears twice on rank 0"],
      ['1B0', "'1B0' comes before its forward '1F0' on rank 1"],
    ]);
  });
});

describe('checker: actions in a plan', () => {
  const prelude = `model tiny {
  arch = llama  layers = 8  hidden = 512  heads = 8  kv_heads = 8  ffn = 1024  vocab = 1000  max_seq = 512
}
cluster c {
  gpu = H100_SXM_80GB  gpus = 2
}
`;
  function run(planBody: string) {
    const text = `${prelude}plan p {\n  model = tiny  cluster = c  mode = train  pipeline = 2\n  batch { global = 2  micro = 1  seq = 512 }\n${planBody}\n}\n`;
    const a = analyzeText(text);
    return {
      a,
      codes: a.diagnostics.map((d) => `${d.code} ${text.slice(d.span!.start, d.span!.end)}`),
      plan: a.results[0]?.plan as TrainPlan | undefined,
    };
  }

  it('a valid table becomes schedule = table with the parsed actions', () => {
    const { a, codes, plan } = run('  actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]');
    expect(codes).toEqual([]);
    // Sized like any plan: the memory model reads the in-flight counts off the table.
    expect(a.results[0]!.fits).toBe(true);
    expect(a.results[0]!.memory.devices.every((d) => Number.isFinite(d.totalBytes) && d.totalBytes > 0)).toBe(true);
    expect(plan?.schedule).toBe('table');
    expect(plan?.virtual).toBe(1);
    expect(formatTable(plan!.actions!)).toEqual(['0F0 0F1 0B0 0B1', '1F0 1B0 1F1 1B1']);
  });

  it('with virtual: stages = pipeline × virtual, no PP3022', () => {
    const { codes, plan } = run(`  virtual = 2\n  actions = ${JSON.stringify(formatTable(interleaved(2, 2, 2)))}`);
    expect(codes).toEqual([]);
    expect(plan?.schedule).toBe('table');
    expect(plan?.virtual).toBe(2);
  });

  it('schedule and actions together: PP2014 at schedule', () => {
    const { codes, plan } = run('  schedule = gpipe\n  actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]');
    expect(codes).toEqual(['PP2014 schedule']);
    expect(plan).toBeUndefined();
  });

  it('virtual that does not split the layers: PP3014', () => {
    const { codes } = run(`  virtual = 3\n  actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]`);
    expect(codes).toEqual(['PP3014 3', 'PP5004 "0F0 0F1 0B0 0B1"', 'PP5004 "1F0 1B0 1F1 1B1"']);
  });

  it('table errors stop the plan', () => {
    const { codes, plan } = run('  actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1X1"]');
    expect(codes).toEqual(['PP5003 1X1']);
    expect(plan).toBeUndefined();
  });

  it('a deadlocking table is well-formed per rank; the checker then reports PP5001 (and only that)', () => {
    const { codes, plan } = run('  actions = ["0F0 0B0 0F1 0B1", "1F1 1B1 1F0 1B0"]');
    expect(codes).toEqual(['PP5001 0B0']);
    expect(simulateTable(plan!.actions!).ok).toBe(false);
  });
});
