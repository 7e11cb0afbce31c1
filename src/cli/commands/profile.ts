/**
 * `parplan profile --weights SPEC [-o FILE] [--batches …] [--contexts …] [--prompts …]
 * [--repeats N] [--warmup N] <file.graph.json>`: time the engine calls the batching server
 * makes — one prompt's prefill per prompt length, one decode step per batch × context — on
 * the first data replica of a serving graph loaded on the WebGPU runtime, and write the
 * medians and spreads as a profile (src/latency/profile.ts) that `gpu { profile = "…" }` names.
 *
 * As serve does, everything that can be checked without a GPU is checked first (arguments,
 * the graph, the grid against the plan's max_batch and seq, the number of calls against
 * LIMITS.profileCalls), then the runtime is loaded with `import()`.
 *
 * Decode steps are timed with every slot at the same position: the step's work depends on the
 * positions, not on the cache's contents, so no prompt needs to be prefilled first.
 *
 * The server's own time between engine calls (`host`) is measured by serving requests through
 * the runtime's batching server (the one `parplan serve` runs) on the same engine, with its
 * timeline on (runtime/serving/timeline.ts): per repeat, the loop's time outside engine calls
 * divided by its turns that made calls.
 */
import { resolve } from 'node:path';
import { LIMITS } from '../../facts/limits.js';
import type { Graph } from '../../graph/types.js';
import { decodeGrid, modelShape, PROFILE_FORMAT, PROFILE_VERSION, type Measured, type StepProfile } from '../../latency/profile.js';
import { meshOf } from '../../mesh.js';
import { graphAndWeights, parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { PROFILE, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';
import { writeOutput } from '../write.js';
import { readServingGraph, weightsSpec } from './serve.js';

export interface ProfileArgs {
  file: string;
  weights: string;
  output?: string;
  batches: number[];
  contexts: number[];
  prompts: number[];
  repeats: number;
  warmup: number;
}

/** `1,2,4` → ascending distinct whole numbers in [1, max]. */
function list(flag: string, text: string, max: number, what: string): number[] {
  const parts = text.split(',').map((x) => x.trim());
  const out: number[] = [];
  for (const p of parts) {
    const n = /^\d{1,9}$/.test(p) ? Number(p) : NaN;
    if (!(n >= 1 && n <= max))
      throw new UsageError(
        `option '${flag}' needs whole numbers from 1 to ${max} (${what}), found '${p}'`,
        `e.g. ${flag} 1,2,4`,
        PROFILE.name,
      );
    out.push(n);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

function count(flag: string, text: string | true | undefined, dflt: number, min: number): number {
  if (typeof text !== 'string') return dflt;
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min)) throw new UsageError(`option '${flag}' needs a whole number ≥ ${min}, found '${text}'`, undefined, PROFILE.name);
  return n;
}

/** Distinct positive whole numbers, ascending. */
const grid = (xs: number[]) => [...new Set(xs.map((x) => Math.max(1, Math.round(x))))].sort((a, b) => a - b);

/** The default grid: small enough for lavapipe (a few hundred calls for a test model). */
export function defaultGrid(maxBatch: number, seq: number): { batches: number[]; contexts: number[]; prompts: number[] } {
  const batches: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) batches.push(b);
  batches.push(maxBatch);
  return { batches: grid(batches), contexts: grid([seq / 8, seq / 2, seq]), prompts: grid([seq / 8, seq / 4, seq / 2, seq]) };
}

export function parseProfileArgs(argv: readonly string[], graph?: Graph): ProfileArgs | 'help' {
  const args = parseArgs(argv, PROFILE.options, PROFILE.name);
  if (args.options.has('--help')) return 'help';
  const { file, weights } = graphAndWeights(args, PROFILE.name, {
    verb: 'profile',
    graph: 'compile a serving plan with engine = webgpu first: parplan compile FILE.plan --plan NAME -o NAME.graph.json',
    weights: 'use --weights random:1 (step times do not depend on the values)',
  });
  const output = args.options.get('--output');
  const base = { file, weights, ...(typeof output === 'string' ? { output } : {}) };
  const repeats = count('--repeats', args.options.get('--repeats'), 5, 1);
  const warmup = count('--warmup', args.options.get('--warmup'), 2, 0);
  if (!graph) return { ...base, batches: [], contexts: [], prompts: [], repeats, warmup };
  const { maxBatch, seq } = graph.batch!;
  const d = defaultGrid(maxBatch, seq);
  const opt = (flag: string, max: number, what: string, dflt: number[]) => {
    const v = args.options.get(flag);
    return typeof v === 'string' ? list(flag, v, max, what) : dflt;
  };
  const out: ProfileArgs = {
    ...base,
    batches: opt('--batches', maxBatch, "the plan's max_batch", d.batches),
    contexts: opt('--contexts', seq, "the plan's seq", d.contexts),
    prompts: opt('--prompts', seq, "the plan's seq", d.prompts),
    repeats,
    warmup,
  };
  const calls = (out.batches.length * out.contexts.length + out.prompts.length) * (repeats + warmup);
  if (calls > LIMITS.profileCalls)
    throw new UsageError(
      `the grid makes ${calls} engine calls, over the limit of ${LIMITS.profileCalls} (LIMITS.profileCalls)`,
      'give fewer --batches, --contexts or --prompts, or fewer --repeats',
      PROFILE.name,
    );
  return out;
}

export async function runProfile(argv: readonly string[], io: Io): Promise<ExitCode> {
  const first = parseProfileArgs(argv);
  if (first === 'help') {
    io.stdout.write(commandHelp(PROFILE));
    return EXIT.OK;
  }
  const graph = readServingGraph(first.file, io.cwd, PROFILE.name);
  const args = parseProfileArgs(argv, graph) as ProfileArgs;
  const weights = await weightsSpec(args.weights, io.cwd, PROFILE.name, 'use random:1, or safetensors files or a directory');

  const { createRuntime, createServer, createTimeline, policyFromPlan } = await import('../../../runtime/index.js');
  const { openDevices } = await import('../../../runtime/device.js');
  let rt: Awaited<ReturnType<typeof createRuntime>>;
  let description: string;
  let vendor = '';
  let architecture = '';
  try {
    const devices = await openDevices(graph.devices.length);
    description = devices[0]!.description;
    vendor = devices[0]!.adapter.info.vendor;
    architecture = devices[0]!.adapter.info.architecture;
    rt = await createRuntime(graph, { weights, devices, onWarning: (w) => io.stderr.write(`warning: ${w}\n`) });
  } catch (e) {
    io.stderr.write(`error: cannot start the runtime: ${messageOf(e)}\n`);
    return EXIT.FAILED;
  }
  const vocab = graph.model.vocab;
  /**
   * The batching server's host time per loop turn (s), one value per repeat: every slot kept busy
   * (each finished request is followed by another) for HOST_ROUNDS requests per slot of `prompt`
   * tokens and HOST_TOKENS new tokens, so that turns both admit and decode as under load.
   */
  const hostTimes = async (prompt: number, repeats: number): Promise<number[]> => {
    const b = graph.batch!;
    const slots = b.maxBatch * meshOf(graph.mesh.axes).data;
    const out: number[] = [];
    const maxNewTokens = Math.max(1, Math.min(HOST_TOKENS, b.seq - prompt));
    const ids = Array.from({ length: prompt }, (_, i) => (i * 7 + 1) % graph.model.vocab);
    for (let r = 0; r < repeats; r++) {
      const timeline = createTimeline();
      const server = createServer(rt.engine, policyFromPlan({ ...b, maxBatch: slots }), { vocabSize: graph.model.vocab, timeline });
      const client = async (i: number) => {
        // Staggered lengths, so that slots free up at different turns and turns admit as well as decode.
        for (let k = 0; k < HOST_ROUNDS; k++) await server.generate(ids, { maxNewTokens: Math.max(1, maxNewTokens - ((i + k) % 3)) });
      };
      await Promise.all(Array.from({ length: slots }, (_, i) => client(i)));
      await server.close();
      let loop = 0;
      let turns = 0;
      for (const l of timeline.loops) {
        loop += l.end - l.start;
        turns += l.turns;
      }
      const calls = timeline.calls.reduce((t, c) => t + c.end - c.start, 0);
      out.push(Math.max(1e-6, (loop - calls) / 1000 / Math.max(1, turns)));
    }
    return out;
  };
  /** Median and spread of timed calls (seconds). */
  const stats = (t: number[]): Measured => {
    t.sort((a, b) => a - b);
    const mid = t.length >> 1;
    const median = t.length % 2 ? t[mid]! : (t[mid - 1]! + t[mid]!) / 2;
    return { median, min: t[0]!, max: t[t.length - 1]! };
  };
  const profile: StepProfile = {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    created: new Date().toISOString(),
    device: { description, vendor, architecture },
    graph: {
      plan: graph.plan.name,
      model: modelShape(graph.model),
      tensor: meshOf(graph.mesh.axes).tensor,
      pipeline: meshOf(graph.mesh.axes).pipeline,
      data: meshOf(graph.mesh.axes).data,
      maxBatch: graph.batch!.maxBatch,
      seq: graph.batch!.seq,
      maxPrefillTokens: graph.batch!.maxPrefillTokens,
    },
    method: { warmup: args.warmup, repeats: args.repeats, statistic: 'median' },
    host: { median: 0, min: 0, max: 0 },
    prefill: [],
    decode: [],
  };
  try {
    io.stderr.write(`profiling plan '${graph.plan.name}' on ${description} …\n`);
    // Every point's calls: prefills, then decodes, in grid order.
    const points: { call: () => Promise<unknown>; times: number[] }[] = [];
    for (const tokens of args.prompts) {
      const prompt = Array.from({ length: tokens }, (_, i) => (i * 7 + 1) % vocab);
      points.push({ call: () => rt.engine.prefill(0, prompt), times: [] });
    }
    for (const batch of args.batches) {
      for (const context of args.contexts) {
        const entries = Array.from({ length: batch }, (_, slot) => ({ slot, token: (slot + 1) % vocab, position: context - 1 }));
        points.push({ call: () => rt.engine.decode(entries), times: [] });
      }
    }
    // Warm-up first (pipelines compile on first use); then the repeats round-robin over the grid,
    // so that a stretch of contention on a shared machine spreads over every point instead of skewing one.
    for (const p of points) for (let i = 0; i < args.warmup; i++) await p.call();
    for (let r = 0; r < args.repeats; r++) {
      for (const p of points) {
        const t0 = performance.now();
        await p.call();
        p.times.push((performance.now() - t0) / 1000);
      }
    }
    let k = 0;
    for (const tokens of args.prompts) profile.prefill.push({ tokens, ...stats(points[k++]!.times) });
    profile.host = stats(await hostTimes(args.prompts[0]!, args.repeats));
    for (const batch of args.batches)
      for (const context of args.contexts) profile.decode.push({ batch, context, ...stats(points[k++]!.times) });
  } catch (e) {
    await rt.close();
    io.stderr.write(`error: a timed call failed: ${messageOf(e)}\n`);
    return EXIT.FAILED;
  }
  await rt.close();
  const text = JSON.stringify(profile, null, 2) + '\n';
  if (args.output !== undefined) writeOutput(resolve(io.cwd, args.output), text);
  else io.stdout.write(text);
  const ms = (s: number) => `${(s * 1000).toPrecision(3)} ms`;
  const { contexts } = decodeGrid(profile);
  const lines = [`prefill: ${profile.prefill.map((p) => `${p.tokens} tokens ${ms(p.median)}`).join(', ')}`];
  for (const b of args.batches)
    lines.push(
      `decode batch ${b}: ${profile.decode
        .filter((d) => d.batch === b)
        .map((d) => `context ${d.context} ${ms(d.median)}`)
        .join(', ')}`,
    );
  lines.push(`server host time per loop turn: ${ms(profile.host.median)}`);
  io.stderr.write(lines.join('\n') + `\n(${args.repeats} repeats per point, median; ${contexts.length} contexts)\n`);
  if (args.output !== undefined) io.stderr.write(`wrote ${args.output}\n`);
  return EXIT.OK;
}

/** Requests per slot, and new tokens per request, of the host-time measurement. */
const HOST_ROUNDS = 3;
const HOST_TOKENS = 8;

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
