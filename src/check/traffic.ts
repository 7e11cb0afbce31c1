/**
 * The serving plan's `traffic { … }` and `slo { … }` blocks → ServeTraffic, ServeSlo: which
 * length distribution each key set means, that it has a shape, and that requests fit `seq`.
 */
import type { BlockValue, Value } from '../ast.js';
import { diag } from '../diagnostics/diagnostic.js';
import type { Lengths, ServeBatch, ServeSlo, ServeTraffic, SloMetric } from '../plan.js';
import type { Span } from '../source.js';
import type { PlanContext } from './context.js';
import { readBlock, type Fields } from './values.js';

/** Request traces by the `trace` value node that names them (src/load.ts reads them; `ok: false`: it could not, its diagnostic is out). */
export type Traces = ReadonlyMap<Value, { ok: true; rows: readonly { at: number; prompt: number; output: number }[] } | { ok: false }>;

/** The largest p99/mean a lognormal has: e^(z²/2), z = 2.326 (src/latency/traffic.ts `lognormalFit`). */
const LOGNORMAL_MAX_P99_RATIO = Math.exp((2.3263478740408408 * 2.3263478740408408) / 2);

/** Default requests simulated when neither requests nor duration is given. */
const DEFAULT_REQUESTS = 2000;

/** The blocks read as Fields (their key errors reported), before the plan's other checks. */
export function readTrafficBlocks(
  fields: Fields,
  planName: string,
  out: PlanContext['out'],
): { traffic?: { fields: Fields; keySpan: Span }; slo?: { fields: Fields; keySpan: Span } } {
  const read = (key: 'traffic' | 'slo') => {
    const f = fields.get<BlockValue>(key);
    if (!f) return undefined;
    const block = readBlock(f.value, key, { where: `the ${key} block of plan '${planName}'`, mode: 'serve', anchor: f.entry.keySpan, out });
    return { fields: block, keySpan: f.entry.keySpan };
  };
  const traffic = read('traffic');
  const slo = read('slo');
  return { ...(traffic ? { traffic } : {}), ...(slo ? { slo } : {}) };
}

export function checkTraffic(
  ctx: PlanContext,
  blocks: ReturnType<typeof readTrafficBlocks>,
  batch: ServeBatch,
  traces: Traces = new Map(),
): { traffic?: ServeTraffic; slo?: ServeSlo; ok: boolean } {
  const { traffic: t, slo: s } = blocks;
  if (s && !t) {
    ctx.out.push(
      diag('PP2050', s.keySpan, {}, { help: 'add `traffic { rate = … prompt = … output = … }`: the objectives are predicted under it' }),
    );
    return { ok: false };
  }
  if (!t) return { ok: true };
  const f = t.fields;
  let ok = true;
  const lengths = (what: 'prompt' | 'output'): Lengths | undefined => {
    const has = (k: string) => f.sets(`${what}${k}`);
    const span = (k: string) => f.get(`${what}${k}`)?.span ?? t.keySpan;
    if (has('_min') || has('_max')) {
      const other = has('') ? '' : has('_p99') ? '_p99' : undefined;
      if (other !== undefined) {
        ctx.out.push(
          diag(
            'PP2014',
            span(other),
            { key: `${what}${other}`, other: `${what}_${has('_min') ? 'min' : 'max'}` },
            { help: `give either ${what} (and ${what}_p99) or ${what}_min and ${what}_max` },
          ),
        );
        return undefined;
      }
      if (!has('_min') || !has('_max')) {
        const missing = has('_min') ? '_max' : '_min';
        ctx.out.push(
          diag(
            'PP2051',
            span(has('_min') ? '_min' : '_max'),
            { key: `${what}${missing}`, what: `${what} lengths` },
            { help: `add ${what}${missing}` },
          ),
        );
        return undefined;
      }
      const min = f.value<number>(`${what}_min`);
      const max = f.value<number>(`${what}_max`);
      if (min === undefined || max === undefined) return undefined;
      if (min > max) {
        ctx.out.push(diag('PP3080', span('_min'), { what, min, max }, { help: `${what}_min = ${max} or less` }));
        return undefined;
      }
      return { kind: 'uniform', min, max };
    }
    if (!has('')) {
      ctx.out.push(
        diag(
          'PP2051',
          has('_p99') ? span('_p99') : t.keySpan,
          { key: what, what: `${what} lengths` },
          { help: `add ${what} = … (tokens per request)` },
        ),
      );
      return undefined;
    }
    const mean = f.value<number>(what);
    if (mean === undefined) return undefined;
    if (!has('_p99')) return { kind: 'fixed', value: mean };
    const p99 = f.value<number>(`${what}_p99`);
    if (p99 === undefined) return undefined;
    if (p99 < mean || p99 > mean * LOGNORMAL_MAX_P99_RATIO) {
      const hi = Math.floor(mean * LOGNORMAL_MAX_P99_RATIO);
      ctx.out.push(
        diag(
          'PP3081',
          span('_p99'),
          { what, mean, p99 },
          { help: `${what}_p99 between ${mean} and ${hi}; or ${what}_min and ${what}_max for uniform lengths` },
        ),
      );
      return undefined;
    }
    return { kind: 'lognormal', mean, p99 };
  };
  const traceField = f.get<string>('trace');
  let trace: readonly { at: number; prompt: number; output: number }[] | undefined;
  if (traceField) {
    const loaded = traces.get(traceField.entry.value);
    if (loaded === undefined) {
      // Embedded (TypeScript) plans are read without their traces.
      ctx.out.push(diag('PP2052', traceField.span, { path: traceField.value, reason: 'traces are read for .plan files only' }));
      return { ok: false };
    }
    if (!loaded.ok) return { ok: false };
    trace = loaded.rows;
    for (const key of [
      'prompt',
      'prompt_p99',
      'prompt_min',
      'prompt_max',
      'output',
      'output_p99',
      'output_min',
      'output_max',
      'process',
      'burst',
      'seed',
    ]) {
      if (f.sets(key)) {
        ctx.out.push(
          diag(
            'PP2014',
            f.get(key)?.span ?? t.keySpan,
            { key, other: 'trace' },
            { help: `the trace gives the arrivals and lengths: remove ${key}` },
          ),
        );
        ok = false;
      }
    }
  } else if (!f.sets('rate')) {
    ctx.out.push(
      diag('PP2051', t.keySpan, { key: 'rate', what: 'the arrival rate' }, { help: 'add rate = … (requests per second), or a trace' }),
    );
    ok = false;
  }
  const fixed1: Lengths = { kind: 'fixed', value: 1 };
  const prompt = trace ? fixed1 : lengths('prompt');
  const output = trace ? fixed1 : lengths('output');
  if (!prompt || !output) ok = false;
  if (prompt && output) {
    // The typical request (fixed lengths, the means, the shortest uniform) must fit a sequence;
    // longer draws are clipped to seq in the simulation (the server refuses them).
    const typical = (l: Lengths) => (l.kind === 'fixed' ? l.value : l.kind === 'uniform' ? l.min : l.mean);
    const total = typical(prompt) + typical(output);
    if (total > batch.seq) {
      const key = prompt.kind === 'uniform' ? 'prompt_min' : 'prompt';
      ctx.out.push(
        diag(
          'PP3082',
          f.get(key)?.span ?? t.keySpan,
          { prompt: typical(prompt), output: typical(output), total, seq: batch.seq },
          { help: `batch.seq = ${total} or more, or shorter requests` },
        ),
      );
      ok = false;
    }
  }
  if (f.sets('requests') && f.sets('duration')) {
    ctx.out.push(
      diag('PP2014', f.get('duration')?.span ?? t.keySpan, { key: 'duration', other: 'requests' }, { help: 'give one of them' }),
    );
    ok = false;
  }
  const process = f.valueOrDefault<'poisson' | 'burst'>('process');
  if (f.sets('burst') && process !== 'burst') {
    ctx.out.push(
      diag(
        'PP3083',
        f.get('burst')?.span ?? t.keySpan,
        { burst: f.valueOrDefault<number>('burst') },
        { help: 'add process = burst, or remove burst' },
      ),
    );
  }
  const rate = f.value<number>('rate') ?? (trace ? traceRate(trace) : undefined);
  if (!ok || !prompt || !output || rate === undefined) return { ok: false };
  const duration = f.value<number>('duration');
  const requests =
    f.value<number>('requests') ??
    (duration !== undefined ? Math.max(1, Math.round((rate * duration) / 1000)) : trace ? trace.length : DEFAULT_REQUESTS);
  const traffic: ServeTraffic = {
    rate,
    ...(traceField ? { traceFile: traceField.value } : {}),
    ...(trace ? { trace: trace.map((r) => ({ ...r, output: Math.min(r.output, batch.seq - Math.min(r.prompt, batch.seq - 1)) })) } : {}),
    process,
    burst: process === 'burst' ? f.valueOrDefault<number>('burst') : 1,
    prompt,
    output,
    requests,
    seed: f.valueOrDefault<number>('seed'),
  };
  if (!s) return { traffic, ok: true };
  const latency: ServeSlo['latency'] = [];
  for (const [key, field] of s.fields.map) {
    const m = /^(ttft|tpot|e2e)_p(\d+)(?:_(\d+))?$/.exec(key);
    if (!m) continue;
    const quantile = Number(`${m[2]}${m[3] ? `.${m[3]}` : ''}`) / 100;
    latency.push({ key, metric: m[1] as SloMetric, quantile, seconds: (field.value as number) / 1000 });
  }
  const maxRejected = s.fields.value<number>('max_rejected');
  return { traffic, slo: { latency, ...(maxRejected !== undefined ? { maxRejected } : {}) }, ok: true };
}

/** A trace's own arrival rate: requests over the time from the first to the last (one request, or all at once: 1 per second). */
export function traceRate(rows: readonly { at: number }[]): number {
  const span = rows.length > 1 ? rows[rows.length - 1]!.at - rows[0]!.at : 0;
  return span > 0 ? (rows.length - 1) / span : 1;
}
