/**
 * `parplan suggest`'s output: the table of the best candidates, the one-line account of
 * the search, and the same as JSON. Pure functions of the search result.
 */
import { percentText, rateText, secondsText } from '../cost/format.js';
import { gib } from '../render/common.js';
import { groupDigits } from '../format.js';
import { worstDevice } from '../fit.js';
import type { Target, Workload } from './candidate.js';
import type { Fitting, SearchResult, Sized, Summary } from './types.js';
import type { Knobs } from './space.js';

/** What the search was for, in one line. */
export function headline(target: Target, work: Workload): string {
  const { model, cluster } = target;
  const where = `${model.name} on ${cluster.name} (${groupDigits(cluster.gpus)} × ${cluster.gpu.id})`;
  if (work.mode === 'train') return `${where}, training: global batch ${groupDigits(work.global)} × seq ${groupDigits(work.seq)}`;
  return `${where}, serving: seq ${groupDigits(work.seq)}, time per output token ≤ ${secondsText(work.maxTpotSeconds)}`;
}

/** `considered 7,968 candidates in 812 ms: 1,001 fit, …`, the issue's wording. */
export function summaryLine(s: Summary, ms: number): string {
  const parts = [`${groupDigits(s.fit)} fit`];
  const noFit = s.misfit + s.pruned;
  parts.push(`${groupDigits(noFit)} do not fit${s.pruned > 0 ? ` (${groupDigits(s.pruned)} of them pruned without sizing)` : ''}`);
  if (s.slow > 0) parts.push(`${groupDigits(s.slow)} over the latency bound`);
  const invalid = s.invalid.reduce((a, r) => a + r.count, 0);
  const why = s.invalid.map((r) => `${r.title} ${groupDigits(r.count)}`).join(', ');
  parts.push(`${groupDigits(invalid)} invalid${invalid > 0 ? ` (${why})` : ''}`);
  return `considered ${groupDigits(s.considered)} candidates in ${groupDigits(Math.round(ms))} ms: ${parts.join(', ')}`;
}

function scheduleText(k: Knobs): string {
  if (k.mode !== 'train' || !k.schedule) return '-';
  return k.schedule === 'interleaved' ? `interleaved v=${k.virtual}` : k.schedule;
}

const time = (s: number | null | undefined) => (s === null || s === undefined ? 'unknown' : secondsText(s));
const rate = (r: number | null | undefined) => (r === null || r === undefined ? 'unknown' : rateText(r));

function row(f: Fitting, rank: number): string[] {
  const w = worstDevice(f.memory);
  const k = f.knobs;
  const head = [
    String(rank),
    String(k.tensor),
    String(k.pipeline),
    String(k.data),
    k.expert === undefined ? '' : `${k.expert} × ${k.expertTensor}`,
  ];
  const memory = [`${gib(w.totalBytes)} GiB`, `${gib(f.size.headroomBytes)} GiB`];
  const notes = f.warnings.join(' ');
  if (k.mode === 'serve') {
    const c = f.cost.serve;
    const chunk = f.plan.mode === 'serve' ? String(f.plan.batch.maxPrefillTokens) : '';
    return [
      ...head,
      String(k.maxBatch),
      chunk,
      ...memory,
      time(c?.tpotSeconds),
      rate(c?.decodeTokensPerSecond),
      time(c?.prefillSeconds),
      notes,
    ];
  }
  const c = f.cost.train;
  const m = f.plan.mode === 'train' ? f.plan.microbatches : 0;
  return [
    ...head,
    String(k.zero),
    k.recompute,
    k.sequenceParallel ? 'yes' : 'no',
    scheduleText(k),
    `${k.micro} × ${m}`,
    ...memory,
    time(c?.stepSeconds),
    c?.mfu == null ? 'unknown' : percentText(c.mfu),
    notes,
  ];
}

const TRAIN_HEADERS = [
  '#',
  'tensor',
  'pipeline',
  'data',
  'expert × etp',
  'zero',
  'recompute',
  'SP',
  'schedule',
  'micro × m',
  'memory/GPU',
  'headroom',
  'step',
  'MFU',
  'warnings',
];
const SERVE_HEADERS = [
  '#',
  'tensor',
  'pipeline',
  'replicas',
  'expert × etp',
  'max_batch',
  'prefill chunk',
  'memory/GPU',
  'headroom',
  'TPOT',
  'tokens/s',
  'TTFT',
  'warnings',
];
/** Columns written left-aligned (words); the rest are numbers, right-aligned. */
const LEFT = new Set(['recompute', 'SP', 'schedule', 'warnings']);

/** The top candidates as an aligned table; a column nobody has anything in (warnings; the expert grid of a dense model) is left out. */
export function table(ranked: readonly Fitting[], mode: 'train' | 'serve'): string[] {
  const headers = mode === 'train' ? TRAIN_HEADERS : SERVE_HEADERS;
  const rows = ranked.map((f, i) => row(f, i + 1));
  const keep = headers.map((h, c) => (h !== 'warnings' && h !== 'expert × etp') || rows.some((r) => r[c] !== ''));
  const cols = headers.map((_, c) => c).filter((c) => keep[c]);
  const width = (c: number) => Math.max(headers[c]!.length, ...rows.map((r) => r[c]!.length));
  const cell = (text: string, c: number) => (LEFT.has(headers[c]!) ? text.padEnd(width(c)) : text.padStart(width(c)));
  const line = (cells: string[]) =>
    cols
      .map((c) => cell(cells[c]!, c))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** `tensor = 8, pipeline = 1, …`: a candidate's knobs as plan settings. */
export function knobsText(k: Knobs): string {
  const experts = k.expert === undefined ? '' : `, expert = ${k.expert}, expert_tensor = ${k.expertTensor}`;
  const mesh = `tensor = ${k.tensor}, pipeline = ${k.pipeline}, data = ${k.data}${experts}`;
  if (k.mode === 'serve')
    return `${mesh}, max_batch = ${k.maxBatch}${k.maxPrefillTokens !== undefined ? `, max_prefill_tokens = ${k.maxPrefillTokens}` : ''}`;
  const schedule = k.schedule ? `, schedule = ${k.schedule}${k.virtual ? `, virtual = ${k.virtual}` : ''}` : '';
  return `${mesh}${schedule}, micro = ${k.micro}, zero = ${k.zero}, recompute = ${k.recompute}, sequence_parallel = ${k.sequenceParallel}`;
}

/** Why the closest candidate still fails, in one line. */
export function closestText(c: Sized | Fitting): string {
  const w = c.size;
  if (w.headroomBytes < 0) {
    const where = c.plan.mesh.pipeline > 1 ? `rank ${w.worstRank} (stage ${w.worstStage})` : `rank ${w.worstRank}`;
    return `${knobsText(c.knobs)}: ${where} needs ${gib(w.totalBytes)} GiB of ${gib(w.usableBytes)} GiB usable (${gib(-w.headroomBytes)} GiB over)`;
  }
  const tpot = 'cost' in c ? c.cost.serve?.tpotSeconds : undefined;
  return `${knobsText(c.knobs)}: fits, but its time per output token is ${time(tpot)}`;
}

/** The JSON document of `--format json`. */
export function jsonReport(
  target: Target,
  work: Workload,
  result: SearchResult,
  top: number,
  ms: number,
  best?: { file?: string; name: string; text: string },
): unknown {
  const entry = (f: Fitting, i: number) => {
    const w = worstDevice(f.memory);
    return {
      rank: i + 1,
      knobs: f.knobs,
      memory: { rank: w.rank, totalBytes: w.totalBytes, usableBytes: w.usableBytes, headroomBytes: f.size.headroomBytes },
      cost: f.cost.train
        ? { stepSeconds: f.cost.train.stepSeconds, tokensPerSecond: f.cost.train.tokensPerSecond, mfu: f.cost.train.mfu }
        : {
            tpotSeconds: f.cost.serve?.tpotSeconds ?? null,
            tokensPerSecond: f.cost.serve?.decodeTokensPerSecond ?? null,
            prefillSeconds: f.cost.serve?.prefillSeconds ?? null,
          },
      warnings: f.warnings,
    };
  };
  return {
    model: target.model.name,
    cluster: target.cluster.name,
    workload: work,
    summary: { ...result.summary, ms: Math.round(ms) },
    top: result.ranked.slice(0, top).map(entry),
    ...(result.closest ? { closest: { knobs: result.closest.knobs, text: closestText(result.closest) } } : {}),
    ...(best ? { best } : {}),
  };
}
