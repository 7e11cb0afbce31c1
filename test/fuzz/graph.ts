/**
 * The `graph` fuzz target (issue 13, item 10): mutated serving graphs, from the compiled
 * webgpu examples, through the one validator that `parplan serve` and `createRuntime` run
 * (src/graph/validate.ts). A case fails when the validator throws, takes over 5 s, or
 * reports a problem without a JSON path and a message. `runtimeOnce` takes a graph the
 * validator accepted on to `createRuntime` (WebGPU) and one generation: it must serve it or
 * fail with one of the runtime's typed errors (bench/fuzz.ts --target graph --runtime N).
 */
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { checkServingGraph } from '../../src/graph/validate.js';
import { mulberry32 as rng } from '../../src/util/random.js';
import type { Outcome } from './targets.js';

/** The serving plans compiled for engine = webgpu in the examples. */
const SOURCES = [
  ['examples/runtime/tiny.plan', 'gpt2_tiny_1'],
  ['examples/runtime/tiny.plan', 'llama_tiny_t2p2d2'],
  ['examples/service/plan.plan', undefined],
] as const;

/** A case slower than this is a hang. */
export const GRAPH_HANG_MS = 5000;

export function graphCorpus(): Graph[] {
  return SOURCES.map(([file, plan]) => {
    const a = analyze([file]);
    const r = plan === undefined ? a.results[0] : a.results.find((x) => x.plan.name === plan);
    if (!r) throw new Error(`graph corpus: no plan ${plan ?? ''} in ${file}`);
    return compilePlan(r.plan, r.memory).graph;
  });
}

/** Values that have broken runtimes: zero, negatives, huge, fractional, non-finite, wrong types. */
/** Cloned when used: a mutation may later edit inside the value it put in. */
const HOSTILE: readonly unknown[] = [
  0,
  -1,
  -5,
  1,
  2,
  3,
  7,
  64,
  65537,
  1e9,
  1e300,
  -1e300,
  1.5,
  0.1,
  NaN,
  Infinity,
  -Infinity,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  'x',
  'stage0',
  'kv.{l}',
  'layer.decode',
  '__proto__',
  'constructor',
  null,
  true,
  false,
  [],
  [0],
  [0, 1],
  [1e9, 1e9],
  {},
  { op: 'block', block: 'layer.decode', layers: [0, 1] },
];

type Container = Record<string, unknown> | unknown[];

/** Every [container, key] in the tree (the places a mutation can act on). */
function slots(root: unknown): [Container, string | number][] {
  const out: [Container, string | number][] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), stack.push(x)));
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) (out.push([v as Record<string, unknown>, k]), stack.push(x));
  }
  return out;
}

/** One to three structural edits of a copy of `graph` (or one edit of its JSON text, which may not parse). */
export function mutateGraph(graph: Graph, random: () => number): { value: unknown; text?: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  if (random() < 0.1) {
    // Text: cut, duplicate or replace a span of the JSON.
    const t = JSON.stringify(graph);
    const at = Math.floor(random() * t.length);
    const len = 1 + Math.floor(random() * 20);
    const text = pick([
      () => t.slice(0, at) + t.slice(at + len),
      () => t.slice(0, at) + t.slice(at, at + len) + t.slice(at),
      () => t.slice(0, at) + pick(['9', '-', '0', '"', ']', '}', 'e99', 'null']) + t.slice(at + 1),
    ])();
    try {
      return { value: JSON.parse(text), text };
    } catch {
      return { value: undefined, text };
    }
  }
  const g = structuredClone(graph) as unknown;
  const edits = 1 + Math.floor(random() * 3);
  // At most one edit makes many copies: copies of copies would be a graph far beyond any file serve reads.
  let copied = false;
  for (let e = 0; e < edits; e++) {
    const all = slots(g);
    // Favour the numbers the runtime sizes things by.
    const numeric = all.filter(([c, k]) => typeof (c as Record<string | number, unknown>)[k] === 'number');
    const [c, k] = random() < 0.6 && numeric.length > 0 ? pick(numeric) : pick(all);
    const obj = c as Record<string | number, unknown>;
    const op = random();
    if (op < 0.55) obj[k] = structuredClone(pick(HOSTILE));
    else if (op < 0.65) {
      if (Array.isArray(c)) c.splice(k as number, 1);
      else delete obj[k];
    } else if (op < 0.75 && Array.isArray(c)) c.push(structuredClone(c[k as number]));
    else if (op < 0.85 && typeof obj[k] === 'number') obj[k] = (obj[k] as number) * pick([2, 10, 1000, -1, 0.5]);
    else if (op < 0.92)
      obj[k] = Array.isArray(obj[k]) ? [] : typeof obj[k] === 'object' && obj[k] !== null ? {} : structuredClone(pick(HOSTILE));
    else if (!copied) {
      // Many copies of an array's entries (1,000 devices, tensors, steps).
      copied = true;
      const arrays = all.filter(([cc, kk]) => Array.isArray((cc as Record<string | number, unknown>)[kk]));
      if (arrays.length > 0) {
        const [ac, ak] = pick(arrays);
        const arr = (ac as Record<string | number, unknown>)[ak] as unknown[];
        if (arr.length > 0)
          (ac as Record<string | number, unknown>)[ak] = Array.from({ length: pick([100, 1000, 5000]) }, (_, i) => arr[i % arr.length]);
      }
    }
  }
  return { value: g };
}

/** One mutant through the validator: no throw, no hang, every problem placed and worded. */
export function fuzzGraphOnce(corpus: readonly Graph[], seed: number): Outcome & { accepted: boolean } {
  const random = rng(seed);
  const graph = corpus[Math.floor(random() * corpus.length)]!;
  const { value, text } = mutateGraph(graph, random);
  const path = `${graph.plan.name}.graph.json`;
  const shown = () => text ?? JSON.stringify(value)?.slice(0, 2000) ?? String(value);
  if (text !== undefined && value === undefined) return { path, text: text.slice(0, 200), problems: [], reached: false, accepted: false };
  const problems: string[] = [];
  const t0 = performance.now();
  let accepted = false;
  try {
    const found = checkServingGraph(value);
    accepted = found.length === 0;
    for (const p of found) {
      if (!/^graph(\.|\[|$)/.test(p.path)) problems.push(`a problem without a JSON path: ${JSON.stringify(p)}`);
      if (!p.message.startsWith(`${p.path} = `) || p.message.length <= p.path.length + 4)
        problems.push(`a problem whose message does not name its path and value: ${JSON.stringify(p)}`);
    }
  } catch (e) {
    problems.push(`threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  const ms = performance.now() - t0;
  if (ms > GRAPH_HANG_MS) problems.push(`took ${Math.round(ms)} ms (a hang: over ${GRAPH_HANG_MS} ms)`);
  return { path, text: problems.length > 0 ? shown() : '', problems, reached: true, accepted };
}

/**
 * The mutant of `seed`, which the validator accepted, through createRuntime (random weights)
 * and one generation of 2 tokens: `served`, or the name of the typed error it failed with;
 * anything else (a raw TypeError, no answer within GRAPH_HANG_MS) is a problem.
 */
export async function runtimeOnce(corpus: readonly Graph[], seed: number): Promise<{ outcome: string; problems: string[] }> {
  const { createRuntime, RuntimeInputError, AllocationError, ServingError } = await import('../../runtime/index.js');
  const { WeightsError, CheckpointError } = await import('../../runtime/weights/index.js');
  const typed = [RuntimeInputError, AllocationError, ServingError, WeightsError, CheckpointError];
  const random = rng(seed);
  const graph = corpus[Math.floor(random() * corpus.length)]!;
  const { value } = mutateGraph(graph, random);
  if (checkServingGraph(value).length > 0) return { outcome: 'refused', problems: [] };
  let rt: Awaited<ReturnType<typeof createRuntime>> | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    rt = await createRuntime(value as never, { weights: 'random:1' });
    const hang = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${GRAPH_HANG_MS} ms`)), GRAPH_HANG_MS)),
    );
    const vocab = (value as Graph).model.vocab;
    await Promise.race([
      rt.generate(
        [1, 2, 3].map((id) => id % vocab),
        { maxNewTokens: 2 },
      ),
      hang,
    ]);
    return { outcome: 'served', problems: [] };
  } catch (e) {
    const err = e as Error;
    if (typed.some((T) => e instanceof T) && err.message.length > 0)
      return { outcome: `${err.name}: ${err.message.split('\n')[0]}`, problems: [] };
    return { outcome: 'crash', problems: [`createRuntime or generate failed with ${err?.name ?? typeof e}: ${err?.message ?? String(e)}`] };
  } finally {
    clearTimeout(timer);
    await rt?.close().catch(() => undefined);
  }
}
