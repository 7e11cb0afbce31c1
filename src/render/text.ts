/**
 * The human format: rustc-style diagnostics with the source line and a caret underline,
 * then per plan a header, a table of per-device memory (identical devices grouped), a
 * verdict, the cost estimate and the formulas behind the tightest device, then one summary line.
 *
 * Output is stable (tests compare it exactly) and, apart from source lines and messages
 * quoted from the user's input, at most 100 columns wide. Colour is an option: the
 * CLI decides it with `shouldColor` (TTY, NO_COLOR, FORCE_COLOR).
 */
import { deviceCount, meshText } from '../mesh.js';
import type { LatencyResult } from '../latency/check.js';
import type { Analysis, PlanResult } from '../analyze.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../source.js';
import { CATEGORIES, HOST_CATEGORIES, type Category, type DeviceMemory, type HostMemory } from '../memory/types.js';
import { makeStyle, stripAnsi, type Style } from './style.js';
import type { PlanCost, Traffic } from '../cost/types.js';
import { decimalBytesText, groupedText, percentText, rateText, secondsText } from '../cost/format.js';
import { LIMITS } from '../facts/limits.js';
import { clip, printable, printableLines } from '../format.js';
import { adapterText, compactRanks, formatParams, gib, groupDevices, headroom, percent, summaryLine, tightest, verdict } from './common.js';

export const MAX_WIDTH = 100;
const TAB = '    ';

export interface TextOptions {
  /** ANSI colour; default false. */
  color?: boolean;
  /** Each plan's block; default true. Without them (`compile`, `report`, `export` show only the diagnostics), the summary still counts the plans. */
  plans?: boolean;
}

export function renderText(a: Analysis, opts: TextOptions = {}): string {
  const style = makeStyle(opts.color ?? false);
  const blocks: string[] = [];
  for (const d of a.diagnostics) blocks.push(renderDiagnostic(d, a.sources, style));
  if (opts.plans ?? true) for (const r of a.results) blocks.push(renderPlan(r, style));
  blocks.push(style.bold(summaryLine(a)) + '\n');
  return blocks.join('\n');
}

// ---------------------------------------------------------------------------------------
// Diagnostics

function severityColor(style: Style, severity: Diagnostic['severity']): (s: string) => string {
  return severity === 'error' ? style.red : severity === 'warning' ? style.yellow : style.cyan;
}

function location(span: Span): string {
  return `${printable(span.file)}:${span.line}:${span.column}`;
}

/** One character of a source line as shown: a tab as 4 spaces, a control character as `\u{1b}` (never raw). */
function shownChar(ch: string): string {
  return ch === '\t' ? TAB : printable(ch);
}

/** What is shown of a source line: the text, and where the caret underline starts and how wide it is. */
export interface SourceWindow {
  text: string;
  caretAt: number;
  caretWidth: number;
}

/**
 * The part of a line shown under a diagnostic: the whole line when it fits in `max`
 * columns, else a window of at most `max` columns around the span's start, with '…'
 * where text is left out. Tabs count 4 columns and escaped characters their escape's
 * width, so the carets stay under the text. Only the window is looked at: a line of a
 * megabyte costs no more than a short one.
 * `start` and `end` are offsets into the line (`end` may lie beyond it: the span goes on).
 */
export function sourceWindow(line: string, start: number, end: number, max = LIMITS.sourceLineColumns): SourceWindow {
  // Each character is at least one column wide: `max` characters either side cover the window.
  let lo = Math.max(0, start - max);
  let hi = Math.min(line.length, start + 2 * max);
  if (lo > 0 && isLowSurrogate(line.charCodeAt(lo))) lo--;
  if (hi < line.length && isLowSurrogate(line.charCodeAt(hi))) hi++;
  const pieces: string[] = [];
  /** cols[i]: the column (from `lo`) where pieces[i] starts; one more entry for the end. */
  const cols: number[] = [];
  /** The column of each line offset from `lo` to `hi` (inside a surrogate pair: the pair's). */
  const colAt = new Map<number, number>();
  let col = 0;
  for (let i = lo; i < hi;) {
    const n = i + 1 < hi && isHighSurrogate(line.charCodeAt(i)) && isLowSurrogate(line.charCodeAt(i + 1)) ? 2 : 1;
    const p = shownChar(line.slice(i, i + n));
    colAt.set(i, col);
    pieces.push(p);
    cols.push(col);
    col += p.length === n ? 1 : p.length;
    i += n;
  }
  colAt.set(hi, col);
  cols.push(col);
  const width = col;
  const caretStart = colAt.get(Math.min(Math.max(start, lo), hi)) ?? 0;
  const caretEnd = end >= hi ? width : (colAt.get(end) ?? caretStart);
  if (lo === 0 && hi === line.length && width <= max) {
    return { text: pieces.join('').trimEnd(), caretAt: caretStart, caretWidth: Math.max(1, caretEnd - caretStart) };
  }
  // A third of the window before the span, unless the line ends sooner: then the window ends with the line.
  let from = Math.max(0, caretStart - Math.floor(max / 3));
  if (hi === line.length) from = Math.max(0, Math.min(from, width - (max - 1)));
  const before = lo > 0 || from > 0;
  const room = max - (before ? 1 : 0);
  const after = hi < line.length || width - from > room;
  const to = from + room - (after ? 1 : 0);
  let first = -1;
  let last = -1;
  for (let k = 0; k < pieces.length; k++) {
    if (cols[k]! < from) continue;
    if (cols[k + 1]! > to) break;
    if (first < 0) first = k;
    last = k;
  }
  if (first < 0) return { text: '…', caretAt: 1, caretWidth: 1 };
  const text = (before ? '…' : '') + pieces.slice(first, last + 1).join('') + (after ? '…' : '');
  const caretAt = caretStart - cols[first]! + (before ? 1 : 0);
  const shownEnd = Math.min(caretEnd, cols[last + 1]!);
  return { text: text.trimEnd(), caretAt, caretWidth: Math.max(1, shownEnd - caretStart) };
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * ```
 * error[PP3001]: heads = 32 is not divisible by tensor = 3
 *   --> examples/x.plan:12:12
 *    |
 * 12 |   tensor = 3
 *    |            ^
 *    = note: examples/x.plan:3:3: heads is set here
 *    = help: tensor = 2 or 4 divides heads = 32
 * ```
 * A span over several lines is underlined to the end of its first line. Without a span,
 * only the file (if any) is shown; without the source text, only the location.
 */
export function renderDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, SourceFile>, style: Style): string {
  const color = severityColor(style, d.severity);
  // Messages quote the input: shown escaped (a plan must not drive the terminal), keeping the help's line breaks.
  const out: string[] = [`${style.bold(color(`${d.severity}[${d.code}]`))}${style.bold(`: ${printable(d.message)}`)}`];
  const span = d.span;
  const width = span ? String(span.line).length : 1;
  const pad = ' '.repeat(width);
  const gutter = (s: string) => style.bold(style.blue(s));

  if (span) {
    out.push(`${pad}${gutter('-->')} ${location(span)}`);
    const source = sources.get(span.file);
    if (source && span.line >= 1 && span.line <= source.lineStarts.length) {
      const text = source.lineText(span.line);
      const start = Math.max(1, span.column) - 1;
      const end = span.endLine === span.line ? Math.max(start, span.endColumn - 1) : text.length;
      const shown = sourceWindow(text, start, end);
      out.push(`${pad} ${gutter('|')}`);
      out.push(`${gutter(String(span.line))} ${gutter('|')}${shown.text === '' ? '' : ` ${shown.text}`}`);
      out.push(`${pad} ${gutter('|')} ${' '.repeat(shown.caretAt)}${color('^'.repeat(shown.caretWidth))}`);
    }
  } else if (d.file !== undefined) {
    out.push(`${pad}${gutter('-->')} ${printable(d.file)}`);
  }
  const label = (name: string, text: string) => {
    const head = `${pad} ${gutter('=')} ${style.bold(`${name}:`)} `;
    const indent = ' '.repeat(stripAnsi(head).length);
    return text
      .split('\n')
      .map((line, i) => (i === 0 ? head : indent) + line)
      .join('\n');
  };
  for (const r of d.related ?? []) out.push(label('note', `${location(r.span)}: ${printableLines(r.message)}`));
  if (d.help !== undefined) out.push(label('help', printableLines(d.help)));
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Plans

const CATEGORY_LABELS: Record<Category, string> = {
  weights: 'weights',
  gradients: 'grads',
  optimizer: 'optim',
  activations: 'activ',
  kvCache: 'kv cache',
  workspace: 'workspace',
};

const WHY_LABELS: Record<Category, string> = {
  weights: 'weights',
  gradients: 'gradients',
  optimizer: 'optimizer',
  activations: 'activations',
  kvCache: 'kv cache',
  workspace: 'workspace',
};

const RANKS_MAX_WIDTH = 17;

/**
 * ```
 * plan serve_8b: serve, model llama3_8b with 8.03B params
 *   --> examples/serve.plan:7:6
 *   mesh tensor 2 × pipeline 1 × data 4 = 8 GPUs, H100_SXM_80GB (79.65 GiB each)
 *
 *   memory per GPU, GiB:
 *   ranks  stage  weights  grads  optim  activ  kv cache  workspace  total  usable      headroom
 *   0-7        0    14.96   0.00   0.00   0.00     32.00       1.00  47.96   75.66  27.70  36.6%
 *
 *   fits: tightest is rank 0, 47.96 GiB of 75.66 GiB usable (27.70 GiB headroom, 36.6%)
 *   tightest device, rank 0 (stage 0):
 *     weights      <formula>
 *     ...
 * ```
 */
export function renderPlan(r: PlanResult, style: Style): string {
  const { plan, memory } = r;
  const out: string[] = [];
  out.push(`${style.bold(`plan ${plan.name}`)}: ${plan.mode}, model ${plan.model.name} with ${formatParams(memory.params)} params`);
  out.push(`  ${style.bold(style.blue('-->'))} ${plan.span.file === plan.file ? location(plan.span) : printable(plan.file)}`);
  const m = plan.mesh;
  const gpus = deviceCount(m);
  out.push(
    `  mesh ${meshText(m)} = ${gpus} ${gpus === 1 ? 'GPU' : 'GPUs'}, ` +
      `${plan.cluster.gpu.id} (${gib(plan.cluster.gpu.memoryBytes)} GiB each)`,
  );
  if (plan.mode === 'train' && plan.adapter) out.push(`  ${adapterText(plan)}`);
  out.push('');
  out.push('  memory per GPU, GiB:');
  for (const line of deviceTable(memory.devices)) out.push(`  ${line}`);
  if (memory.hosts.length > 0) {
    out.push('');
    out.push('  CPU memory per node (offload), GiB:');
    for (const line of hostTable(memory.hosts)) out.push(`  ${line}`);
  }
  out.push('');
  const v = verdict(r);
  out.push(`  ${r.fits ? style.green(v) : style.bold(style.red(v))}`);
  for (const line of costLines(r.cost, plan.mesh.data)) out.push(line);
  if (r.latency) for (const line of latencyLines(r.latency)) out.push(line);
  const w = tightest(memory.devices);
  if (w !== undefined) {
    out.push(`  ${r.fits ? 'tightest' : 'worst'} device, rank ${w.rank} (stage ${w.stage}):`);
    const nameWidth = Math.max(...CATEGORIES.map((c) => WHY_LABELS[c].length));
    for (const c of CATEGORIES) {
      const head = `    ${WHY_LABELS[c].padEnd(nameWidth)}  `;
      // The memory model may start its lines with the category's name: do not say it twice.
      const why = w.why[c].replace(new RegExp(`^(${c}|${WHY_LABELS[c]}):\\s*`), '');
      for (const line of wrap(why, MAX_WIDTH - head.length)) {
        out.push(line.first ? head + line.text : ' '.repeat(head.length + 2) + line.text);
      }
    }
  }
  const host = memory.hosts.reduce<HostMemory | undefined>((a, h) => (a === undefined || h.totalBytes > a.totalBytes ? h : a), undefined);
  if (host !== undefined) {
    out.push(`  CPU memory of node ${host.node}:`);
    for (const c of HOST_CATEGORIES) {
      const head = `    ${c.padEnd(11)}  `;
      const why = host.why[c].replace(new RegExp(`^${c}:\\s*`), '');
      for (const line of wrap(why, MAX_WIDTH - head.length)) {
        out.push(line.first ? head + line.text : ' '.repeat(head.length + 2) + line.text);
      }
    }
  }
  return out.join('\n') + '\n';
}

/** The CPU memory of offload plans, one row per run of nodes that hold the same (no indent). */
export function hostTable(hosts: readonly HostMemory[]): string[] {
  const header = ['nodes', 'weights', 'grads', 'optim', 'buffers', 'total', 'host_memory', 'headroom'];
  const groups: { first: number; last: number; h: HostMemory }[] = [];
  for (const h of hosts) {
    const g = groups[groups.length - 1];
    if (g && g.last === h.node - 1 && g.h.totalBytes === h.totalBytes) g.last = h.node;
    else groups.push({ first: h.node, last: h.node, h });
  }
  const rows = groups.map(({ first, last, h }) => [
    first === last ? String(first) : `${first}-${last}`,
    ...HOST_CATEGORIES.map((c) => gib(h.breakdown[c])),
    gib(h.totalBytes),
    h.capacityBytes === undefined ? 'not given' : gib(h.capacityBytes),
    h.capacityBytes === undefined
      ? '-'
      : `${gib(h.capacityBytes - h.totalBytes)} ${percent(h.capacityBytes - h.totalBytes, h.capacityBytes).padStart(6)}`,
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * The cost model's estimate in 1–3 lines, wrapped at MAX_WIDTH, continuation lines aligned
 * after `cost: `:
 * ```
 *   cost: step ≈ 33.1 s (compute 29.6 s, comm 2.63 s, bubble 2.8%), 94.9k tokens/s, MFU 43%
 *         stage 11 sends per step: tensor 541 GB on nvlink; pipeline 3.62 GB, data 9.92 GB on network
 *   cost: prefill 4,096 tokens ≈ 69.0 ms; decode 32 seqs ≈ 5.10 ms/token (memory-bound)
 *         12.5k tokens/s over 2 replicas; batch 1: 3.50 ms/token, 286 tokens/s
 * ```
 */
export function costLines(cost: PlanCost, replicas = 1): string[] {
  const head = '  cost: ';
  const indent = ' '.repeat(head.length);
  const out: string[] = [];
  const push = (text: string, first: boolean) => {
    for (const line of wrap(text, MAX_WIDTH - head.length)) out.push((first && line.first ? head : indent) + line.text);
  };
  const sentences = costSentences(cost, replicas);
  sentences.forEach((text, i) => push(text, i === 0));
  return out;
}

function costSentences(cost: PlanCost, replicas: number): string[] {
  const t = cost.train;
  const v = cost.serve;
  const unknown = `unknown: ${cost.reason ?? 'a rate is missing'}`;
  if (t) {
    if (t.stepSeconds === null || t.computeSeconds === null || t.commSeconds === null) return [unknown];
    const rate = t.tokensPerSecond === null ? '' : `, ${rateText(t.tokensPerSecond)} tokens/s`;
    const mfu = t.mfu === null ? '' : `, MFU ${percentText(t.mfu, t.mfu < 0.1 ? 1 : 0)}`;
    const first =
      `step ≈ ${secondsText(t.stepSeconds)} (compute ${secondsText(t.computeSeconds)}, comm ${secondsText(t.commSeconds)}, ` +
      `bubble ${percentText(t.bubbleFraction)})${rate}${mfu}`;
    const stage = t.stages.find((s) => s.stage === t.slowestStage);
    const sends = stage ? trafficText(stage.traffic) : '';
    return sends === '' ? [first] : [first, `stage ${stage!.stage} sends per step: ${sends}`];
  }
  if (v) {
    if (v.prefillSeconds === null || v.tpotSeconds === null || v.decodeTokensPerSecond === null) return [unknown];
    const bound = v.decodeBound === null ? '' : ` (${v.decodeBound}-bound)`;
    const first =
      `prefill ${groupedText(v.prefillTokens)} tokens ≈ ${secondsText(v.prefillSeconds)}; ` +
      `decode ${v.decodeBatch} ${v.decodeBatch === 1 ? 'seq' : 'seqs'} ≈ ${secondsText(v.tpotSeconds)}/token${bound}`;
    let second = `${rateText(v.decodeTokensPerSecond)} tokens/s${replicas > 1 ? ` over ${replicas} replicas` : ''}`;
    if (v.batch1TpotSeconds !== null && v.batch1TokensPerSecond !== null && v.decodeBatch > 1) {
      second += `; batch 1: ${secondsText(v.batch1TpotSeconds)}/token, ${rateText(v.batch1TokensPerSecond)} tokens/s`;
    }
    return [first, second];
  }
  return [unknown];
}

/** "tensor 541 GB on nvlink; pipeline 3.62 GB, data 9.92 GB on network" (by link, in order of first use). */
function trafficText(traffic: readonly Traffic[]): string {
  const byLink = new Map<string, string[]>();
  for (const t of traffic) {
    if (t.bytes === 0) continue;
    const list = byLink.get(t.link) ?? [];
    list.push(`${t.group} ${decimalBytesText(t.bytes)}`);
    byLink.set(t.link, list);
  }
  return [...byLink].map(([link, parts]) => `${parts.join(', ')} on ${link}`).join('; ');
}

/** Table rows (no indent); the widest is at most MAX_WIDTH − 2 for realistic sizes. */
export function deviceTable(devices: readonly DeviceMemory[]): string[] {
  const header = ['ranks', 'stage', ...CATEGORIES.map((c) => CATEGORY_LABELS[c]), 'total', 'usable', 'headroom'];
  const rows = groupDevices(devices).map(({ device: d, ranks }) => [
    compactRanks(ranks, RANKS_MAX_WIDTH),
    String(d.stage),
    ...CATEGORIES.map((c) => gib(d.breakdown[c])),
    gib(d.totalBytes),
    gib(d.usableBytes),
    `${gib(headroom(d))} ${percent(headroom(d), d.usableBytes).padStart(6)}`,
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const fmt = (sep: string) =>
    all.map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join(sep)
        .trimEnd(),
    );
  const wide = fmt('  ');
  return Math.max(...wide.map((l) => l.length)) <= MAX_WIDTH - 2 ? wide : fmt(' ');
}

/** Greedy word wrap; a word longer than the width stays whole. */
function wrap(text: string, width: number): { text: string; first: boolean }[] {
  const out: { text: string; first: boolean }[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      const limit = out.length === 0 ? width : width - 2;
      if (line !== '' && line.length + 1 + word.length > limit) {
        out.push({ text: line, first: out.length === 0 });
        line = word;
      } else {
        line = line === '' ? word : `${line} ${word}`;
      }
    }
    out.push({ text: line, first: out.length === 0 });
  }
  return out;
}

/**
 * The latency block of a plan with traffic (docs/latency.md):
 *   latency at 20 requests/s (2,000 simulated): 19.9 requests/s served, busy 45%, mean batch 7.1, queue 0.1 (p99 2), rejected 0%
 *     TTFT p50 61 ms  p90 98 ms  p99 210 ms;  TPOT …;  E2E …
 *     slo: ttft_p99 500 ms ok (210 ms); tpot_p99 50 ms MISSED (61 ms); highest rate meeting it ≈ 41 requests/s
 */
/** `, step times measured on llvmpipe (lavapipe.json)` when a profile gave them; nothing for the cost model's. */
function measuredOn(l: LatencyResult): string {
  return l.stepTimes.source === 'profile'
    ? `, step times measured on ${printable(clip(l.stepTimes.device, 60))} (${printable(clip(l.stepTimes.file, 80))})`
    : '';
}

export function latencyLines(l: LatencyResult): string[] {
  const n = (x: number) => Number(x.toPrecision(3)).toLocaleString('en-US');
  const t = (x: number) => (Number.isFinite(x) ? (x < 1 ? `${n(x * 1000)} ms` : `${n(x)} s`) : '–');
  const pct = (x: number) => `${n(x * 100)}%`;
  const p = (name: string, q: { p50: number; p90: number; p99: number }) => `${name} p50 ${t(q.p50)}  p90 ${t(q.p90)}  p99 ${t(q.p99)}`;
  const out = [
    `  latency at ${n(l.rate)} requests/s (${l.requests.toLocaleString('en-US')} simulated${measuredOn(l)}): ${n(l.throughput)} requests/s served, ` +
      `busy ${pct(l.utilization)}, mean batch ${n(l.meanBatch)}, queue ${n(l.queue.mean)} (p99 ${l.queue.p99}), rejected ${pct(l.rejected)}`,
    `    ${p('TTFT', l.ttft)};  ${p('TPOT', l.tpot)};  ${p('E2E', l.e2e)}`,
  ];
  if (l.slo.length > 0) {
    const objectives = l.slo.map((o) => {
      const show = (x: number) => (o.metric === 'max_rejected' ? pct(x) : t(x));
      return `${o.metric} ${show(o.target)} ${o.ok ? 'ok' : 'MISSED'} (${show(o.predicted)})`;
    });
    const best = l.maxRateMeetingSlo === null ? 'no rate meets it' : `highest rate meeting it ≈ ${n(l.maxRateMeetingSlo)} requests/s`;
    out.push(`    slo: ${objectives.join('; ')}; ${best}`);
  }
  return out;
}
