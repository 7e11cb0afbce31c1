/**
 * `parplan suggest`'s output: the table of the best candidates, the one-line account of
 * the search, and the same as JSON. Pure functions of the search result.
 */
import { percentText, rateText, secondsText } from '../cost/format.js';
import { gib } from '../render/common.js';
import { groupDigits } from '../format.js';
import { worstDevice } from '../fit.js';
import type { Target, TrafficWork, Workload } from './candidate.js';
import type { Fitting, SearchResult, Sized, Summary } from './types.js';
import type { Knobs } from './space.js';

/** What the search was for, in one line. */
export function headline(target: Target, work: Workload): string {
  const { model, cluster } = target;
  const where = `${model.name} on ${cluster.name} (${groupDigits(cluster.gpus)} × ${cluster.gpu.id})`;
  if (work.mode === 'train') return `${where}, training: global batch ${groupDigits(work.global)} × seq ${groupDigits(work.seq)}`;
  if (work.traffic) {
    const bound = Number.isFinite(work.maxTpotSeconds) ? `, time per output token at max_batch ≤ ${secondsText(work.maxTpotSeconds)}` : '';
    return `${where}, serving: seq ${groupDigits(work.seq)}${bound}, meeting plan '${work.traffic.plan}': ${sloText(work.traffic)}`;
  }
  return `${where}, serving: seq ${groupDigits(work.seq)}, time per output token ≤ ${secondsText(work.maxTpotSeconds)}`;
}

/** `considered 7,968 candidates in 812 ms: 1,001 fit, …`, the issue's wording. */
export function summaryLine(s: Summary, ms: number): string {
  const parts = [`${groupDigits(s.fit)} fit`];
  const noFit = s.misfit + s.pruned;
  parts.push(`${groupDigits(noFit)} do not fit${s.pruned > 0 ? ` (${groupDigits(s.pruned)} of them pruned without sizing)` : ''}`);
  if (s.slow > 0) parts.push(`${groupDigits(s.slow)} over the latency bound`);
  if (s.sloMissed > 0) parts.push(`${groupDigits(s.sloMissed)} miss the SLO`);
  const invalid = s.invalid.reduce((a, r) => a + r.count, 0);
  const why = s.invalid.map((r) => `${r.title} ${groupDigits(r.count)}`).join(', ');
  parts.push(`${groupDigits(invalid)} invalid${invalid > 0 ? ` (${why})` : ''}`);
  const counts = s.gpuCounts ? ` (${s.gpuCounts.join(', ')} GPU${s.gpuCounts.length === 1 && s.gpuCounts[0] === 1 ? '' : 's'})` : '';
  return `considered ${groupDigits(s.considered)} candidates${counts} in ${groupDigits(Math.round(ms))} ms: ${parts.join(', ')}`;
}

/** `ttft_p99 ≤ 500 ms, tpot_p99 ≤ 50 ms, max_rejected ≤ 1% at 40 requests/s`. */
export function sloText(t: TrafficWork): string {
  const objectives = t.slo.latency.map((o) => `${o.key} ≤ ${secondsText(o.seconds)}`);
  if (t.slo.maxRejected !== undefined) objectives.push(`max_rejected ≤ ${percentText(t.slo.maxRejected)}`);
  return `${objectives.join(', ')} at ${num(t.traffic.rate)} requests/s`;
}

const num = (x: number) => String(Number(x.toPrecision(3)));
const gpusOf = (f: Fitting) => f.plan.mesh.tensor * f.plan.mesh.pipeline * f.plan.mesh.data * f.plan.mesh.context;

/** What a plan that fits misses: `ttft_p99 32.9 s > 500 ms`. */
export function missText(f: Fitting): string {
  const show = (metric: string, v: number) =>
    metric === 'max_rejected' ? percentText(v) : Number.isFinite(v) ? secondsText(v) : 'no completed request';
  return (f.latency?.slo ?? [])
    .filter((r) => !r.ok)
    .map((r) => `${r.metric} ${show(r.metric, r.predicted)} > ${show(r.metric, r.target)}`)
    .join(', ');
}

/** The plans that fit but miss the SLO with fewer GPUs than the winner (or all, when nothing meets it), nearest first. */
export function sloMissLines(result: SearchResult, top: number): string[] {
  const best = result.ranked[0];
  const fewer = result.sloMisses.filter((f) => !best || gpusOf(f) < gpusOf(best));
  if (fewer.length === 0) return [];
  const rate = result.sloMisses[0]!.latency!.rate;
  const lines = [
    `rejected: ${groupDigits(fewer.length)} plan${fewer.length === 1 ? '' : 's'}${best ? ' with fewer GPUs' : ''} fit but miss the SLO at ${num(rate)} requests/s${fewer.length > top ? `, the ${top} nearest` : ''}:`,
  ];
  for (const f of fewer.slice(0, top)) lines.push(`  ${gpusOf(f)} GPU${gpusOf(f) === 1 ? '' : 's'}: ${knobsText(f.knobs)}: ${missText(f)}`);
  return lines;
}

function scheduleText(k: Knobs): string {
  if (k.mode !== 'train' || !k.schedule) return '-';
  return k.schedule === 'interleaved' ? `interleaved v=${k.virtual}` : k.schedule;
}

const time = (s: number | null | undefined) => (s === null || s === undefined ? 'unknown' : secondsText(s));
const rate = (r: number | null | undefined) => (r === null || r === undefined ? 'unknown' : rateText(r));

function row(f: Fitting, rank: number, traffic: boolean): string[] {
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
    // SERVE_PLAN_HEADERS: the plan's knobs and memory, shown by both serving tables.
    const chunk = f.plan.mode === 'serve' ? String(f.plan.batch.maxPrefillTokens) : '';
    const plan = [...head.slice(1), String(k.maxBatch), chunk, ...memory];
    if (traffic) {
      const l = f.latency;
      const max = l?.maxRateMeetingSlo;
      return [
        head[0]!,
        String(gpusOf(f)),
        ...plan,
        time(l?.ttft.p99),
        time(l?.tpot.p99),
        time(l?.e2e.p99),
        max == null ? 'unknown' : num(max),
        max == null || !l ? 'unknown' : `${(max / l.rate).toFixed(2)}×`,
        notes,
      ];
    }
    const c = f.cost.serve;
    return [head[0]!, ...plan, time(c?.tpotSeconds), rate(c?.decodeTokensPerSecond), time(c?.prefillSeconds), notes];
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
/** The serving plan's knobs and memory, in row()'s order: the columns both serving tables share. */
const SERVE_PLAN_HEADERS = ['tensor', 'pipeline', 'replicas', 'expert × etp', 'max_batch', 'prefill chunk', 'memory/GPU', 'headroom'];
const SERVE_HEADERS = ['#', ...SERVE_PLAN_HEADERS, 'TPOT', 'tokens/s', 'TTFT', 'warnings'];
const TRAFFIC_HEADERS = ['#', 'GPUs', ...SERVE_PLAN_HEADERS, 'TTFT p99', 'TPOT p99', 'E2E p99', 'max rate/s', 'load headroom', 'warnings'];
/** Columns written left-aligned (words); the rest are numbers, right-aligned. */
const LEFT = new Set(['recompute', 'SP', 'schedule', 'warnings']);

/** The top candidates as an aligned table; a column nobody has anything in (warnings; the expert grid of a dense model) is left out. */
export function table(ranked: readonly Fitting[], mode: 'train' | 'serve', traffic = false): string[] {
  const headers = mode === 'train' ? TRAIN_HEADERS : traffic ? TRAFFIC_HEADERS : SERVE_HEADERS;
  const rows = ranked.map((f, i) => row(f, i + 1, traffic));
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
  if ('latency' in c && c.latency && c.latency.slo.some((r) => !r.ok)) {
    const holds = c.latency.maxRateMeetingSlo;
    return `${knobsText(c.knobs)}: fits, but misses ${missText(c)}${holds != null ? `; it holds ${num(holds)} requests/s` : ''}`;
  }
  const tpot = 'cost' in c ? c.cost.serve?.tpotSeconds : undefined;
  return `${knobsText(c.knobs)}: fits, but its time per output token is ${time(tpot)}`;
}

/** At most this many SLO misses in the JSON (the nearest first); `summary.sloMissed` counts them all. */
const SLO_REJECTED_MAX = 100;

/** A candidate's predicted latency, seconds and requests/s (JSON). */
function latencyJson(f: Fitting) {
  const l = f.latency!;
  return {
    rate: l.rate,
    ttftP99: l.ttft.p99,
    tpotP99: l.tpot.p99,
    e2eP99: l.e2e.p99,
    rejected: l.rejected,
    maxRateMeetingSlo: l.maxRateMeetingSlo,
    slo: l.slo,
  };
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
      ...(f.latency ? { gpus: gpusOf(f), latency: latencyJson(f) } : {}),
      warnings: f.warnings,
    };
  };
  // The traffic as its plan's name, rate and objectives (a trace's rows would swamp the document).
  const workload =
    work.mode === 'serve' && work.traffic
      ? {
          ...work,
          maxTpotSeconds: Number.isFinite(work.maxTpotSeconds) ? work.maxTpotSeconds : null,
          traffic: {
            plan: work.traffic.plan,
            rate: work.traffic.traffic.rate,
            requests: work.traffic.traffic.requests,
            slo: work.traffic.slo,
          },
        }
      : work;
  const best0 = result.ranked[0];
  const misses = result.sloMisses.filter((f) => !best0 || gpusOf(f) < gpusOf(best0));
  return {
    model: target.model.name,
    cluster: target.cluster.name,
    workload,
    summary: { ...result.summary, ms: Math.round(ms) },
    top: result.ranked.slice(0, top).map(entry),
    ...(work.mode === 'serve' && work.traffic
      ? {
          sloRejected: misses.slice(0, SLO_REJECTED_MAX).map((f) => ({
            knobs: f.knobs,
            gpus: gpusOf(f),
            latency: latencyJson(f),
            missed: f.latency!.slo.filter((r) => !r.ok),
          })),
        }
      : {}),
    ...(result.closest ? { closest: { knobs: result.closest.knobs, text: closestText(result.closest) } } : {}),
    ...(best ? { best } : {}),
  };
}
