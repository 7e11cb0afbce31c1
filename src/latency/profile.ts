/**
 * A measured step-time profile (issue 17, item 6): what `parplan profile GRAPH` writes after
 * timing the WebGPU runtime's engine calls on the device it runs on, and what a
 * `gpu { profile = "file.json" }` block names so that latency predictions for that GPU use the
 * measured times (`profileStepTimes`, a `StepTimes`) instead of the cost model's peak rates.
 *
 * The format is versioned JSON: the device, the graph it was measured for (the model's shape and
 * the tensor × pipeline layout a replica has: step times depend on nothing else of the plan), the
 * method (warm-up calls, repeats, the median kept with the spread), and two grids of medians:
 * prefill of one prompt per prompt length (the engine's whole prefill call, its chunks of
 * max_prefill_tokens included) and one decode step per (batch, context); and `host`, the batching
 * server's own time per turn of its loop outside engine calls (the simulation adds it per turn).
 *
 * Between grid points the times are interpolated linearly (in prompt tokens; bilinearly in batch
 * and context): a transformer step is close to affine in both (weights read once per step, KV
 * read per sequence and position). Past the last point they are extrapolated linearly from the
 * last two points, at most EXTRAPOLATE × the grid's largest value; below the first point the
 * first value is kept (small steps are dominated by fixed per-call costs). A plan that can reach
 * further is refused the profile with a warning (`profileCoverage`) and predicted from the cost model.
 */
import type { Model } from '../model.js';
import type { ServePlan } from '../plan.js';
import type { SourceFile, Span } from '../source.js';
import { describeJson, member, parseJson, type JsonValue } from '../hf/json.js';
import type { StepTimes } from './simulate.js';
import { EXTRAPOLATE, PROFILE_FORMAT, PROFILE_VERSION, type Measured, type ModelShape, type StepProfile } from '../facts/profile.js';

export { EXTRAPOLATE, PROFILE_FORMAT, PROFILE_VERSION, type Measured, type ModelShape, type StepProfile } from '../facts/profile.js';

export function modelShape(m: Model): ModelShape {
  return {
    arch: m.arch,
    layers: m.layers,
    hidden: m.hidden,
    vocab: m.vocab,
    dtype: m.dtype,
    layer: m.layer,
    ...(m.overrides ? { overrides: m.overrides } : {}),
    ...(m.quant ? { quant: m.quant } : {}),
  };
}

export type ParsedProfile = { ok: true; profile: StepProfile } | { ok: false; span: Span; detail: string };

class Bad extends Error {
  constructor(
    readonly span: Span,
    detail: string,
  ) {
    super(detail);
  }
}

/** Parse and check a profile file: the format and version, every field, a complete grid of positive times. Errors point into the file. */
export function parseProfile(source: SourceFile): ParsedProfile {
  const parsed = parseJson(source);
  if (!parsed.ok) return { ok: false, span: parsed.span, detail: parsed.message };
  try {
    return { ok: true, profile: readProfile(parsed.value) };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, span: e.span, detail: e.message };
    throw e;
  }
}

function field(obj: JsonValue, name: string, where: string): JsonValue {
  if (obj.kind !== 'object') throw new Bad(obj.span, `${where} must be an object, found ${describeJson(obj)}`);
  const m = member(obj, name);
  if (!m) throw new Bad(obj.span, `${where} lacks '${name}'`);
  return m.value;
}

function str(v: JsonValue, what: string): string {
  if (v.kind !== 'string') throw new Bad(v.span, `${what} must be a string, found ${describeJson(v)}`);
  return v.value;
}

function int(v: JsonValue, what: string): number {
  if (v.kind !== 'number' || !Number.isInteger(v.value) || v.value < 1 || v.value > 2 ** 30)
    throw new Bad(v.span, `${what} must be a whole number ≥ 1, found ${describeJson(v)}`);
  return v.value;
}

function seconds(v: JsonValue, what: string): number {
  if (v.kind !== 'number' || !(v.value > 0) || v.value > 3600)
    throw new Bad(v.span, `${what} must be a time in seconds (> 0, ≤ 3600), found ${describeJson(v)}`);
  return v.value;
}

/** A JSON value as a plain one (for the model's layer structure, compared as a whole). */
function plain(v: JsonValue): unknown {
  switch (v.kind) {
    case 'object':
      return Object.fromEntries(v.members.map((m) => [m.name, plain(m.value)]));
    case 'array':
      return v.items.map(plain);
    case 'null':
      return null;
    default:
      return v.value;
  }
}

function measured(v: JsonValue, where: string): Measured {
  const median = seconds(field(v, 'median', where), `${where}.median`);
  const min = seconds(field(v, 'min', where), `${where}.min`);
  const max = seconds(field(v, 'max', where), `${where}.max`);
  if (!(min <= median && median <= max)) throw new Bad(v.span, `${where}: min ≤ median ≤ max does not hold`);
  return { median, min, max };
}

function readProfile(root: JsonValue): StepProfile {
  const format = field(root, 'format', 'the profile');
  if (format.kind !== 'string' || format.value !== PROFILE_FORMAT)
    throw new Bad(format.span, `'format' must be "${PROFILE_FORMAT}" (a file written by 'parplan profile'), found ${describeJson(format)}`);
  const version = field(root, 'version', 'the profile');
  if (version.kind !== 'number' || version.value !== PROFILE_VERSION)
    throw new Bad(version.span, `version ${describeJson(version)} is not one this parplan reads (${PROFILE_VERSION}): measure it again`);
  const device = field(root, 'device', 'the profile');
  const g = field(root, 'graph', 'the profile');
  const m = field(g, 'model', 'graph');
  const model: ModelShape = {
    arch: str(field(m, 'arch', 'graph.model'), 'graph.model.arch'),
    layers: int(field(m, 'layers', 'graph.model'), 'graph.model.layers'),
    hidden: int(field(m, 'hidden', 'graph.model'), 'graph.model.hidden'),
    vocab: int(field(m, 'vocab', 'graph.model'), 'graph.model.vocab'),
    dtype: str(field(m, 'dtype', 'graph.model'), 'graph.model.dtype'),
    layer: plain(field(m, 'layer', 'graph.model')),
  };
  const overrides = member(m, 'overrides');
  if (overrides) model.overrides = plain(overrides.value);
  const quant = member(m, 'quant');
  if (quant) model.quant = plain(quant.value);
  const method = field(root, 'method', 'the profile');
  const profile: StepProfile = {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    created: str(field(root, 'created', 'the profile'), 'created'),
    device: {
      description: str(field(device, 'description', 'device'), 'device.description'),
      vendor: str(field(device, 'vendor', 'device'), 'device.vendor'),
      architecture: str(field(device, 'architecture', 'device'), 'device.architecture'),
    },
    graph: {
      plan: str(field(g, 'plan', 'graph'), 'graph.plan'),
      model,
      tensor: int(field(g, 'tensor', 'graph'), 'graph.tensor'),
      pipeline: int(field(g, 'pipeline', 'graph'), 'graph.pipeline'),
      data: int(field(g, 'data', 'graph'), 'graph.data'),
      maxBatch: int(field(g, 'maxBatch', 'graph'), 'graph.maxBatch'),
      seq: int(field(g, 'seq', 'graph'), 'graph.seq'),
      maxPrefillTokens: int(field(g, 'maxPrefillTokens', 'graph'), 'graph.maxPrefillTokens'),
    },
    method: {
      warmup: (() => {
        const w = field(method, 'warmup', 'method');
        if (w.kind !== 'number' || !Number.isInteger(w.value) || w.value < 0)
          throw new Bad(w.span, `method.warmup must be a whole number ≥ 0, found ${describeJson(w)}`);
        return w.value;
      })(),
      repeats: int(field(method, 'repeats', 'method'), 'method.repeats'),
      statistic: 'median',
    },
    host: measured(field(root, 'host', 'the profile'), 'host'),
    prefill: [],
    decode: [],
  };
  const prefill = field(root, 'prefill', 'the profile');
  if (prefill.kind !== 'array' || prefill.items.length === 0)
    throw new Bad(prefill.span, `'prefill' must be a non-empty array of { tokens, median, min, max }`);
  for (const [i, p] of prefill.items.entries()) {
    const tokens = int(field(p, 'tokens', `prefill[${i}]`), `prefill[${i}].tokens`);
    const last = profile.prefill[profile.prefill.length - 1];
    if (last && tokens <= last.tokens) throw new Bad(p.span, `prefill[${i}]: prompt lengths must ascend`);
    profile.prefill.push({ tokens, ...measured(p, `prefill[${i}]`) });
  }
  const decode = field(root, 'decode', 'the profile');
  if (decode.kind !== 'array' || decode.items.length === 0)
    throw new Bad(decode.span, `'decode' must be a non-empty array of { batch, context, median, min, max }`);
  for (const [i, p] of decode.items.entries()) {
    const batch = int(field(p, 'batch', `decode[${i}]`), `decode[${i}].batch`);
    const context = int(field(p, 'context', `decode[${i}]`), `decode[${i}].context`);
    profile.decode.push({ batch, context, ...measured(p, `decode[${i}]`) });
  }
  // A complete grid, batch-major and ascending: interpolation reads it as a table.
  const { batches, contexts } = decodeGrid(profile);
  for (const [i, p] of profile.decode.entries()) {
    const b = batches[Math.floor(i / contexts.length)];
    const c = contexts[i % contexts.length];
    if (p.batch !== b || p.context !== c)
      throw new Bad(
        decode.items[i]!.span,
        `decode[${i}]: the grid must hold every batch × context once, batch-major, both ascending (batches ${batches.join(', ')}; contexts ${contexts.join(', ')})`,
      );
  }
  if (profile.decode.length !== batches.length * contexts.length)
    throw new Bad(
      decode.span,
      `the decode grid misses points: batches ${batches.join(', ')} × contexts ${contexts.join(', ')} need ${batches.length * contexts.length}`,
    );
  return profile;
}

/** The decode grid's batches and contexts, ascending. */
export function decodeGrid(p: StepProfile): { batches: number[]; contexts: number[] } {
  const batches = [...new Set(p.decode.map((d) => d.batch))].sort((a, b) => a - b);
  const contexts = [...new Set(p.decode.map((d) => d.context))].sort((a, b) => a - b);
  return { batches, contexts };
}

/** Why this profile is not one of this plan's replicas (another model or layout), or undefined when it is. */
export function profileMismatch(p: StepProfile, plan: ServePlan): string | undefined {
  const want = modelShape(plan.model);
  const got = p.graph.model;
  for (const k of ['arch', 'layers', 'hidden', 'vocab', 'dtype'] as const) {
    if (got[k] !== want[k]) return `it was measured for ${k} = ${got[k]}, model '${plan.model.name}' has ${k} = ${want[k]}`;
  }
  for (const k of ['layer', 'overrides', 'quant'] as const) {
    if (canonical(got[k]) !== canonical(want[k])) return `it was measured for a model whose ${k} differs from model '${plan.model.name}'s`;
  }
  if (p.graph.tensor !== plan.mesh.tensor)
    return `it was measured with tensor = ${p.graph.tensor}, plan '${plan.name}' has tensor = ${plan.mesh.tensor}`;
  if (p.graph.pipeline !== plan.mesh.pipeline)
    return `it was measured with pipeline = ${p.graph.pipeline}, plan '${plan.name}' has pipeline = ${plan.mesh.pipeline}`;
  return undefined;
}

/** JSON with sorted keys (the layer structure as the profile stored it and as the checker built it). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/**
 * What the plan can ask of the profile past EXTRAPOLATE × its grid (a replica's max_batch
 * sequences, contexts and prompts up to seq), or undefined when the grid covers it.
 */
export function profileCoverage(p: StepProfile, plan: ServePlan): string | undefined {
  const { batches, contexts } = decodeGrid(p);
  const maxB = batches[batches.length - 1]!;
  const maxC = contexts[contexts.length - 1]!;
  const maxT = p.prefill[p.prefill.length - 1]!.tokens;
  const seq = plan.batch.seq;
  if (plan.batch.maxBatch > EXTRAPOLATE * maxB)
    return `max_batch = ${plan.batch.maxBatch} per replica, the profile's batches reach ${maxB}`;
  if (seq > EXTRAPOLATE * maxC) return `seq = ${seq}, the profile's decode contexts reach ${maxC}`;
  if (seq > EXTRAPOLATE * maxT) return `seq = ${seq}, the profile's prompts reach ${maxT} tokens`;
  return undefined;
}

/** Linear through (x0, y0), (x1, y1) at x; a single point is a constant. */
function lerp(x: number, x0: number, y0: number, x1: number, y1: number): number {
  return x1 === x0 ? y0 : y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
}

/** The segment of ascending `xs` to interpolate x in: below the first point the first (clamped), past the last the last two. */
function segment(xs: readonly number[], x: number): { i: number; j: number; x: number } {
  if (xs.length === 1 || x <= xs[0]!) return { i: 0, j: 0, x: xs[0]! };
  for (let k = 1; k < xs.length; k++) if (x <= xs[k]!) return { i: k - 1, j: k, x };
  return { i: xs.length - 2, j: xs.length - 1, x };
}

/**
 * Step times from the profile (seconds; see the header for interpolation), and the server's host
 * time per loop turn. Prefill is per prompt: its chunks are in the measurement.
 */
export function profileStepTimes(p: StepProfile): StepTimes {
  const { batches, contexts } = decodeGrid(p);
  const at = (bi: number, ci: number) => p.decode[bi * contexts.length + ci]!.median;
  const tokens = p.prefill.map((x) => x.tokens);
  const floor = Math.min(...p.decode.map((d) => d.median), ...p.prefill.map((d) => d.median));
  return {
    host: () => p.host.median,
    prefill(n) {
      const s = segment(tokens, n);
      return Math.max(floor, lerp(s.x, tokens[s.i]!, p.prefill[s.i]!.median, tokens[s.j]!, p.prefill[s.j]!.median));
    },
    decode(batch, context) {
      const b = segment(batches, batch);
      const c = segment(contexts, context);
      const row = (bi: number) => lerp(c.x, contexts[c.i]!, at(bi, c.i), contexts[c.j]!, at(bi, c.j));
      return Math.max(floor, lerp(b.x, batches[b.i]!, row(b.i), batches[b.j]!, row(b.j)));
    },
  };
}
