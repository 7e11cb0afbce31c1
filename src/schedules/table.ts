/**
 * Inline action tables: `actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]`, one
 * string per pipeline rank, each a whitespace-separated list of actions in
 * PyTorch's notation `<virtual stage><F|B|I|W><microbatch>`.
 *
 * The checks here are per rank: well-formed actions (PP5003), then the table's shape
 * (PP5004): one string per rank, stages and microbatches in range, each stage on its
 * rank (stage % pipeline), and every (stage, microbatch) run exactly once forward and
 * once backward (B, or I then W), the forward first. Whether the ranks' orders fit
 * together (a table may deadlock across ranks) is not checked here: the checker
 * simulates the whole table afterwards (PP5001, deadlock.ts).
 */
import type { StringValue } from '../ast.js';
import { diag, type Diagnostic, type Related } from '../diagnostics/diagnostic.js';
import type { Span } from '../source.js';
import type { Action, ActionKind, ScheduleTable } from './types.js';
import { formatAction } from './types.js';

const ACTION = /^(\d+)([FBIW])(\d+)$/;

/** `0F3` → { stage: 0, kind: 'F', microbatch: 3 }; undefined when it is not an action. */
export function parseAction(text: string): Action | undefined {
  const m = ACTION.exec(text);
  if (!m) return undefined;
  const stage = Number(m[1]);
  const microbatch = Number(m[3]);
  if (!Number.isSafeInteger(stage) || !Number.isSafeInteger(microbatch)) return undefined;
  return { stage, kind: m[2] as ActionKind, microbatch };
}

/** The table in the notation of `actions`: one string per rank. */
export function formatTable(table: ScheduleTable): string[] {
  return table.map((list) => list.map(formatAction).join(' '));
}

/** One whitespace-separated word of an action string, with where it was written. */
interface Cell {
  text: string;
  span: Span;
}

/**
 * The words of a string literal, each with its own span. Offsets inside the literal
 * are the value's offsets + 1 (the opening quote) when the literal has no escapes
 * (its source is exactly `"value"`); otherwise every word points at the whole string.
 */
function cellsOf(s: StringValue): Cell[] {
  const exact = s.span.end - s.span.start === s.value.length + 2 && s.span.line === s.span.endLine && !s.value.includes('\\');
  const cells: Cell[] = [];
  for (const m of s.value.matchAll(/\S+/g)) {
    const text = m[0];
    const at = m.index;
    const span: Span = exact
      ? {
          file: s.span.file,
          start: s.span.start + 1 + at,
          end: s.span.start + 1 + at + text.length,
          line: s.span.line,
          column: s.span.column + 1 + at,
          endLine: s.span.line,
          endColumn: s.span.column + 1 + at + text.length,
        }
      : s.span;
    cells.push({ text, span });
  }
  return cells;
}

export interface ParseTableOptions {
  /** The whole list (`[ … ]`): where a wrong number of strings is reported. Defaults to the first string. */
  span?: Span;
}

export interface ParsedTable {
  /** Present when there are no diagnostics. */
  table?: ScheduleTable;
  diagnostics: Diagnostic[];
}

/** Shows at most `max` items, then how many in all. */
function listSome(items: string[], max = 6): string {
  const shown = items.slice(0, max).map((x) => `'${x}'`);
  return items.length > max ? `${shown.join(', ')}, … (${items.length} in all)` : shown.join(', ');
}

/**
 * Parses and checks an inline action table for `pipeline` ranks, `virtual` model
 * chunks per rank (stages 0 … pipeline × virtual − 1) and `microbatches` microbatches.
 */
export function parseActionTable(
  strings: StringValue[],
  pipeline: number,
  virtual: number,
  microbatches: number,
  opts: ParseTableOptions = {},
): ParsedTable {
  const out: Diagnostic[] = [];
  const p = pipeline;
  const S = pipeline * virtual;
  const m = microbatches;
  const countOk = strings.length === p;
  if (!countOk) {
    const extra = strings[p];
    const span = extra?.span ?? opts.span ?? strings[0]?.span;
    const detail = `${strings.length} action ${strings.length === 1 ? 'string' : 'strings'} for pipeline = ${p}`;
    const help =
      strings.length > p
        ? `give one string per pipeline rank: this is string ${p + 1}, for ranks 0..${p - 1}`
        : `give one string per pipeline rank (${p}), in rank order`;
    out.push(diag('PP5004', span, { detail }, { help }));
  }

  // Per-cell checks. `cellFailed`: some cell could not be placed, so "missing" reports would cascade.
  let cellFailed = false;
  const table: ScheduleTable = [];
  strings.forEach((s, rank) => {
    const list: Action[] = [];
    for (const cell of cellsOf(s)) {
      const a = parseAction(cell.text);
      if (!a) {
        out.push(diag('PP5003', cell.span, { text: cell.text }, { help: helpForBadAction(cell.text) }));
        cellFailed = true;
        continue;
      }
      // With the wrong number of strings, which rank a string is for is a guess: only the words are checked.
      if (!countOk) continue;
      if (a.stage >= S) {
        const detail =
          virtual === 1
            ? `stage ${a.stage} does not exist: pipeline = ${p} has stages 0..${S - 1}`
            : `stage ${a.stage} does not exist: pipeline × virtual = ${p} × ${virtual} has stages 0..${S - 1}`;
        out.push(
          diag(
            'PP5004',
            cell.span,
            { detail },
            { help: `virtual stage c runs on pipeline rank c % ${p}; give \`virtual\` for more than one stage per rank` },
          ),
        );
        cellFailed = true;
        continue;
      }
      if (a.microbatch >= m) {
        out.push(
          diag(
            'PP5004',
            cell.span,
            { detail: `microbatch ${a.microbatch} does not exist: there are ${m} microbatches (0..${m - 1})` },
            { help: `microbatches = global / (micro × data) = ${m} per step` },
          ),
        );
        cellFailed = true;
        continue;
      }
      if (a.stage % p !== rank) {
        const home = a.stage % p;
        out.push(
          diag(
            'PP5004',
            cell.span,
            { detail: `stage ${a.stage} runs on pipeline rank ${home}, not rank ${rank}` },
            { help: `move '${cell.text}' to rank ${home}'s string (string ${home + 1}); stage c runs on rank c % ${p}` },
          ),
        );
        cellFailed = true;
        continue;
      }
      a.span = cell.span;
      list.push(a);
    }
    table.push(list);
  });
  if (!countOk) return { diagnostics: out };

  // Per (stage, microbatch): each kind at most once, the forward first, B xor (I and W), I before W.
  table.forEach((list, rank) => {
    const seen = new Map<string, Action>();
    const missing: string[] = [];
    // One "full and split backward" report per (stage, microbatch).
    const mixedDone = new Set<string>();
    const mixedOnce = (a: Action, other: Action, message: string) => {
      const k = `${a.stage}/${a.microbatch}`;
      if (mixedDone.has(k)) return;
      mixedDone.add(k);
      out.push(diag('PP5004', a.span, { detail: mixed(a, other) }, { help: helpMixed(a), related: related(other, message) }));
    };
    const related = (x: Action, message: string): Related[] => [{ span: x.span!, message }];
    for (const a of list) {
      const k = formatAction(a);
      const first = seen.get(k);
      if (first) {
        out.push(
          diag(
            'PP5004',
            a.span!,
            { detail: `'${k}' appears twice on rank ${rank}` },
            { help: 'each action runs once per step: remove one', related: [{ span: first.span!, message: 'first here' }] },
          ),
        );
        continue;
      }
      seen.set(k, a);
      const before = (kind: ActionKind) => seen.get(formatAction({ ...a, kind }));
      if (a.kind === 'F') {
        for (const later of ['B', 'I', 'W'] as const) {
          const x = before(later);
          if (x)
            out.push(
              diag(
                'PP5004',
                x.span!,
                { detail: `'${formatAction(x)}' comes before its forward '${k}' on rank ${rank}` },
                { help: `a backward needs its forward's activations: move it after '${k}'`, related: related(a, 'the forward is here') },
              ),
            );
        }
      } else if (a.kind === 'W') {
        const b = before('B');
        if (b) mixedOnce(a, b, 'full backward here');
      } else if (a.kind === 'I') {
        const b = before('B');
        const w = before('W');
        if (b) mixedOnce(a, b, 'full backward here');
        if (w)
          out.push(
            diag(
              'PP5004',
              w.span!,
              { detail: `'${formatAction(w)}' comes before '${k}' on rank ${rank}` },
              {
                help: `the weight gradient needs the input gradient's pass: move it after '${k}'`,
                related: related(a, 'the input-gradient pass is here'),
              },
            ),
          );
      } else {
        const split = before('I') ?? before('W');
        if (split) mixedOnce(a, split, 'split backward here');
      }
    }
    // I without W, W without I (when not already a mixed B/I/W error).
    for (const a of seen.values()) {
      if (a.kind !== 'I' && a.kind !== 'W') continue;
      const other: ActionKind = a.kind === 'I' ? 'W' : 'I';
      const k = formatAction({ ...a, kind: other });
      if (seen.has(k) || seen.has(formatAction({ ...a, kind: 'B' }))) continue;
      const detail =
        a.kind === 'I'
          ? `'${formatAction(a)}' has no '${k}': the weight gradient is never computed`
          : `'${formatAction(a)}' has no '${k}' before it`;
      out.push(
        diag(
          'PP5004',
          a.span!,
          { detail },
          {
            help:
              a.kind === 'I'
                ? `add '${k}' after it, or write '${formatAction({ ...a, kind: 'B' })}' for the whole backward`
                : `add '${k}' before it, or write '${formatAction({ ...a, kind: 'B' })}' for the whole backward`,
          },
        ),
      );
    }
    if (cellFailed) return;
    // Every (stage, microbatch) of this rank needs its forward and a backward.
    for (let stage = rank; stage < S; stage += p) {
      for (let i = 0; i < m; i++) {
        const has = (kind: ActionKind) => seen.has(`${stage}${kind}${i}`);
        if (!has('F')) missing.push(`${stage}F${i}`);
        if (!has('B') && !has('I') && !has('W')) missing.push(`${stage}B${i}`);
      }
    }
    if (missing.length > 0) {
      const detail = `rank ${rank} is missing ${missing.length === 1 ? '' : `${missing.length} actions: `}${listSome(missing)}`;
      out.push(
        diag(
          'PP5004',
          strings[rank]!.span,
          { detail },
          { help: `each stage runs a forward and a backward for each of the ${m} microbatches` },
        ),
      );
    }
  });

  if (out.length > 0) return { diagnostics: out };
  return { table, diagnostics: out };
}

function mixed(a: Action, other: Action): string {
  return `stage ${a.stage} microbatch ${a.microbatch} has both a full backward and a split one ('${formatAction(other)}' and '${formatAction(a)}')`;
}

function helpMixed(a: Action): string {
  const b = formatAction({ ...a, kind: 'B' });
  const i = formatAction({ ...a, kind: 'I' });
  const w = formatAction({ ...a, kind: 'W' });
  return `write either '${b}', or '${i}' then '${w}'`;
}

/** A hint for a word that is not an action. */
function helpForBadAction(text: string): string {
  const up = text.toUpperCase();
  if (up !== text && parseAction(up)) return `write '${up}': the kinds are upper case`;
  if (/^\d+$/.test(text)) return "an action is <stage><F|B|I|W><microbatch>, e.g. '0F3'; separate actions with spaces";
  const stripped = text.replace(/[,;]+$/, '');
  if (stripped !== text && parseAction(stripped)) return `separate actions with spaces only: '${stripped}'`;
  return "an action is <stage><F|B|I|W><microbatch>: 'F' forward, 'B' backward, 'I' and 'W' its input- and weight-gradient halves, e.g. '0F3'";
}
