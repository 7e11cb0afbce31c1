/**
 * `layout = "Et*3|(tt|)*4|t*3L"`: Megatron-LM's --pipeline-model-parallel-layout, taken
 * verbatim. Read from megatron/core/transformer/pipeline_parallel_layer_layout.py
 * (NVIDIA/Megatron-LM @00caa53a, `parse_str_to_list`, `validate_layer_layout`):
 * - commas are cosmetic; `(…)*n` repeats a group, `x*n` one character (groups do not nest);
 * - `|` ends a virtual stage; E is the embedding, t a transformer layer, L the loss (with
 *   the final norm and output layer), m an MTP layer (not modelled here: PP2044);
 * - the entries are pipeline × virtual virtual stages in layer order: entry i runs on
 *   rank i % pipeline as its chunk i / pipeline; empty entries are allowed;
 * - E comes first and L last, each exactly once, and the t count is the model's layers.
 * Beyond Megatron, every rank must hold at least one layer (PP3069): parplan's stages are
 * layer ranges.
 */
import type { StringValue } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { layerRuns } from '../model.js';
import type { Stage, VirtualStage } from '../plan.js';
import type { Span } from '../source.js';
import type { PlanContext } from './context.js';

/** One `|`-separated entry after expansion, with the source offset of each of its characters. */
export interface LayoutEntry {
  /** Expanded text of the entry (E, t, L, m only). */
  text: string;
  /** Offsets into the string value of each character of `text` (where it was written). */
  at: number[];
  /** Offset of the entry's separator or end (for an empty entry). */
  end: number;
}

export interface ParsedLayout {
  entries: LayoutEntry[];
  diagnostics: Diagnostic[];
}

/** Offsets of a string literal → spans, as table.ts does: exact when the literal has no escapes and one line. */
export function charSpan(s: StringValue, at: number, length = 1): Span {
  const exact = s.span.end - s.span.start === s.value.length + 2 && s.span.line === s.span.endLine && !s.value.includes('\\');
  if (!exact) return s.span;
  return {
    file: s.span.file,
    start: s.span.start + 1 + at,
    end: s.span.start + 1 + at + length,
    line: s.span.line,
    column: s.span.column + 1 + at,
    endLine: s.span.line,
    endColumn: s.span.column + 1 + at + length,
  };
}

/** Expanded characters beyond this are refused (a layout is a few hundred stages at most). */
const MAX_EXPANDED = 1_000_000;

/** Parses the layout string: PP2043 points at the offending character. */
export function parseLayout(s: StringValue): ParsedLayout {
  const text = s.value;
  const diagnostics: Diagnostic[] = [];
  const fail = (at: number, detail: string, help: string, length = 1): ParsedLayout => {
    diagnostics.push(diag('PP2043', charSpan(s, at, Math.max(1, length)), { detail }, { help }));
    return { entries: [], diagnostics };
  };
  // Expanded characters with their source offsets ('|' included).
  const chars: { c: string; at: number }[] = [];
  let i = 0;
  /** `*n` at i: the count and the offset after it, or an error. */
  const count = (): { n: number; next: number } | ParsedLayout => {
    let j = i + 1;
    while (j < text.length && text[j]! >= '0' && text[j]! <= '9') j++;
    if (j === i + 1) return fail(i, "'*' needs a count after it", 'write e.g. t*4');
    const n = Number(text.slice(i + 1, j));
    return { n, next: j };
  };
  let groupStart = -1;
  let group: { c: string; at: number }[] = [];
  while (i < text.length) {
    const c = text[i]!;
    const into = groupStart >= 0 ? group : chars;
    if (c === ',') {
      i++;
      continue;
    }
    if (c === '(') {
      if (groupStart >= 0)
        return fail(i, 'parentheses do not nest', "Megatron's parser expands one level of (…)*n; write the inner repeat out");
      groupStart = i;
      group = [];
      i++;
      continue;
    }
    if (c === ')') {
      if (groupStart < 0) return fail(i, "')' without '('", 'remove it');
      if (group.length === 0) return fail(groupStart, 'empty group ()', 'put stages inside, e.g. (tt|)*4', i - groupStart + 1);
      i++;
      if (text[i] !== '*') return fail(i - 1, 'a group needs a count: (…)*n', 'write e.g. (tt|)*4');
      const got = count();
      if ('entries' in got) return got;
      if (chars.length + group.length * got.n > MAX_EXPANDED)
        return fail(i, 'the layout expands to too many characters', 'use fewer stages');
      for (let k = 0; k < got.n; k++) chars.push(...group);
      groupStart = -1;
      i = got.next;
      continue;
    }
    if (c === '*') {
      const prev = into[into.length - 1];
      // Megatron repeats the one character before `*` (after groups are expanded).
      if (!prev || text[i - 1] === ')' || text[i - 1] === ',') return fail(i, "'*' needs a layer before it", 'write e.g. t*4');
      const got = count();
      if ('entries' in got) return got;
      if (chars.length + group.length + got.n > MAX_EXPANDED)
        return fail(i, 'the layout expands to too many characters', 'use fewer stages');
      into.pop();
      for (let k = 0; k < got.n; k++) into.push(prev);
      i = got.next;
      continue;
    }
    if (c === 'E' || c === 'L' || c === 't' || c === 'm' || c === '|') {
      into.push({ c, at: i });
      i++;
      continue;
    }
    const hint =
      c === 'T' || c === 'e' || c === 'l'
        ? `layer characters are case-sensitive: E, t, L`
        : /\s/.test(c)
          ? 'remove the space: Megatron refuses it'
          : 'the characters are E (embedding), t (layer), L (loss), m (MTP), | between stages, (…)*n and x*n repeats';
    return fail(i, `'${c}' is not a layout character`, hint);
  }
  if (groupStart >= 0) return fail(groupStart, "'(' is never closed", 'close the group: (…)*n');
  const entries: LayoutEntry[] = [{ text: '', at: [], end: text.length }];
  for (const { c, at } of chars) {
    const cur = entries[entries.length - 1]!;
    if (c === '|') {
      cur.end = at;
      entries.push({ text: '', at: [], end: text.length });
    } else {
      cur.text += c;
      cur.at.push(at);
    }
  }
  return { entries, diagnostics };
}

export interface LayoutFacts {
  /** Model chunks per rank: entries / pipeline. */
  virtual: number;
  /** One per rank. */
  stages: Stage[];
  /** Every virtual stage, in layer order. */
  chunks: VirtualStage[];
}

/** `layout`: parsed and checked against the pipeline and the model; undefined when absent or wrong. */
export function checkLayout(ctx: PlanContext): LayoutFacts | undefined {
  const field = ctx.fields.get<string>('layout');
  if (!field) return undefined;
  const { out, model } = ctx;
  const s = field.entry.value as StringValue;
  const p = ctx.mesh.pipeline;
  if (ctx.fields.has('stages')) {
    out.push(
      diag(
        'PP2014',
        ctx.fields.get('stages')!.entry.keySpan,
        { key: 'stages', other: 'layout' },
        { help: 'the layout places every layer: remove `stages`', related: [{ span: field.entry.keySpan, message: 'the layout' }] },
      ),
    );
    return undefined;
  }
  const parsed = parseLayout(s);
  if (parsed.diagnostics.length > 0) {
    out.push(...parsed.diagnostics);
    return undefined;
  }
  const { entries } = parsed;
  const mtp = entries.flatMap((e) => e.at.filter((_, k) => e.text[k] === 'm'));
  if (mtp.length > 0) {
    out.push(
      diag(
        'PP2044',
        charSpan(s, mtp[0]!),
        { what: 'an MTP layer (m)' },
        { help: 'parplan models no multi-token-prediction layers: remove m' },
      ),
    );
    return undefined;
  }
  if (entries.length % p !== 0) {
    const sizes = entries.length > p ? `${Math.floor(entries.length / p) * p} or ${Math.ceil(entries.length / p) * p}` : `${p}`;
    out.push(
      diag(
        'PP3065',
        s.span,
        { count: entries.length, pipeline: p },
        { help: `give pipeline × virtual entries separated by |, e.g. ${sizes}` },
      ),
    );
    return undefined;
  }
  // Where E and L sit, in layer order (Megatron: flatten_layout[0] == E, [-1] == L, each once).
  const flat: { c: string; at: number; entry: number }[] = [];
  entries.forEach((e, n) => [...e.text].forEach((c, k) => flat.push({ c, at: e.at[k]!, entry: n })));
  const es = flat.filter((x) => x.c === 'E');
  const ls = flat.filter((x) => x.c === 'L');
  const ends = (detail: string, at: number | undefined, help: string): undefined => {
    out.push(diag('PP3067', at === undefined ? s.span : charSpan(s, at), { detail }, { help }));
    return undefined;
  };
  if (es.length === 0) return ends('no E (the embedding)', undefined, 'start the first stage with E, e.g. "Et*4|…"');
  if (ls.length === 0) return ends('no L (the loss)', undefined, 'end the last stage with L, e.g. "…|t*4L"');
  if (es.length > 1) return ends('E (the embedding) appears more than once', es[1]!.at, 'keep the first E only');
  if (ls.length > 1) return ends('L (the loss) appears more than once', ls[0]!.at, 'keep the last L only');
  if (flat[0]!.c !== 'E') return ends('E (the embedding) must come before every layer', es[0]!.at, 'move E to the start of the layout');
  if (flat[flat.length - 1]!.c !== 'L')
    return ends('L (the loss) must come after every layer', ls[0]!.at, 'move L to the end of the layout');
  // Megatron lets empty stages come before E or after L; parplan's graph embeds in virtual stage 0 and computes the loss in the last.
  if (es[0]!.entry !== 0) return ends('E (the embedding) must be in the first stage', es[0]!.at, 'remove the empty stages before E');
  if (ls[0]!.entry !== entries.length - 1)
    return ends('L (the loss) must be in the last stage', ls[0]!.at, 'remove the empty stages after L');
  const layers = flat.filter((x) => x.c === 't').length;
  if (layers !== model.layers) {
    out.push(
      diag(
        'PP3066',
        s.span,
        { count: layers, model: model.name, layers: model.layers },
        { help: `${layers < model.layers ? 'add' : 'remove'} ${Math.abs(model.layers - layers)} t` },
      ),
    );
    return undefined;
  }
  const v = entries.length / p;
  // Memory, cost and gradient sync read a rank's layers as one range of alike layers; with
  // several chunks per rank that holds only when every layer is alike.
  if (v > 1 && layerRuns(model).length > 1) {
    out.push(
      diag(
        'PP2044',
        s.span,
        { what: 'an interleaved layout of a model whose layers differ' },
        { help: `model '${model.name}' has ${layerRuns(model).length} runs of different layers: give one stage per rank (${p} stages)` },
      ),
    );
    return undefined;
  }
  const chunks: VirtualStage[] = [];
  let next = 0;
  entries.forEach((e, index) => {
    const n = [...e.text].filter((c) => c === 't').length;
    chunks.push({
      index,
      rank: index % p,
      firstLayer: next,
      layers: n,
      hasEmbedding: e.text.includes('E'),
      hasOutput: e.text.includes('L'),
    });
    next += n;
  });
  const stages: Stage[] = [];
  for (let r = 0; r < p; r++) {
    const mine = chunks.filter((c) => c.rank === r);
    const total = mine.reduce((a, c) => a + c.layers, 0);
    if (total === 0) {
      const entry = entries[r]!;
      out.push(
        diag(
          'PP3069',
          entry.at.length > 0
            ? charSpan(s, entry.at[0]!, entry.at[entry.at.length - 1]! - entry.at[0]! + 1)
            : charSpan(s, Math.min(entry.end, Math.max(0, s.value.length - 1))),
          { rank: r },
          { help: 'give every rank at least one t (an empty virtual stage is fine when the rank has another)' },
        ),
      );
      return undefined;
    }
    const first = mine.find((c) => c.layers > 0)!;
    stages.push({
      index: r,
      firstLayer: first.firstLayer,
      lastLayer: first.firstLayer + total - 1,
      layers: total,
      hasEmbedding: mine.some((c) => c.hasEmbedding),
      hasOutput: mine.some((c) => c.hasOutput),
      chunks: mine,
    });
  }
  if (stages.length < p) return undefined;
  // `virtual`, when written, must agree with the layout.
  const vField = ctx.fields.get<number>('virtual');
  if (vField && vField.value !== v) {
    out.push(
      diag(
        'PP3068',
        vField.span,
        { detail: `virtual = ${vField.value}, but the layout has ${entries.length} stages = pipeline ${p} × ${v}` },
        { help: v > 1 ? `write virtual = ${v}, or remove it: the layout sets it` : 'remove `virtual`: the layout has one stage per rank' },
      ),
    );
    return undefined;
  }
  return { virtual: v, stages, chunks };
}

/**
 * The layout string of virtual stages in Megatron's notation: `E`, `t*n`, `L`, `|` between
 * stages, and a run of alike stages as `(…|)*k` followed by a cosmetic comma, as Megatron's own
 * example writes it ("Et*3|(tt|)*29,m|L").
 */
export function formatLayout(chunks: readonly Pick<VirtualStage, 'layers' | 'hasEmbedding' | 'hasOutput'>[]): string {
  const texts = chunks.map(
    (c) => `${c.hasEmbedding ? 'E' : ''}${c.layers === 0 ? '' : c.layers === 1 ? 't' : `t*${c.layers}`}${c.hasOutput ? 'L' : ''}`,
  );
  let out = '';
  let i = 0;
  while (i < texts.length) {
    let j = i;
    while (j + 1 < texts.length && texts[j + 1] === texts[i]) j++;
    // A group carries its separators, so the run's last stage stays out of it when nothing follows.
    const k = j === texts.length - 1 ? j - i : j - i + 1;
    if (k >= 2) {
      out += `(${texts[i]}|)*${k},`;
      i += k;
      continue;
    }
    out += texts[i] + (i < texts.length - 1 ? '|' : '');
    i++;
  }
  return out;
}
