/**
 * Validating a serving graph before the runtime allocates anything for it: a graph file is
 * input (hand-edited, truncated, from elsewhere), so every field the runtime reads is
 * checked for its type, and every number for the bounds that keep the runtime's memory and
 * time in proportion (src/facts/limits.ts, docs/security.md "A graph file").
 *
 * One function, `checkServingGraph`, used by `parplan serve` (before Dawn is loaded), by
 * `createRuntime` (for graphs given through the API) and by the executor (runtime/executor.ts,
 * for a device prepared on its own): what a graph is (format, version), what it is for (mode
 * serve, engine webgpu), then everything the runtime reads. The names each compute step reads
 * and writes must be the program's buffers, its stage's weights or the KV cache: the runtime
 * binds exactly those. It is hand-written rather than
 * `graph.schema.json` run through a schema validator: the runtime has no validator among its
 * dependencies, and most of what matters (seq ≤ max_seq, a device's program exists, the KV
 * cache's bytes agree with the batch) is beyond a schema. Pure, linear in the graph's size.
 */
import { bytesPerElement, DTYPE_NAMES, tensorFormatOf } from '../facts/dtypes.js';
import { ARCHS } from '../facts/keys.js';
import { LIMITS } from '../facts/limits.js';
import { WEBGPU_ELEMENT_BYTES, webgpuExchangeBytes, webgpuMlpBuffers } from '../memory/webgpu.js';
import { coordsOf, groupIndex, groupsAlong, MESH_AXIS_NAMES } from '../mesh.js';
import { gatedMlp, type GqaLayer } from '../model.js';
import {
  COLLECTIVE_OPS,
  EXPERT_AXES,
  GRAPH_FORMAT,
  GRAPH_VERSION,
  type ComputeKind,
  type Graph,
  type Pass,
  type TensorRole,
} from './types.js';

/** One thing wrong with a graph: where (`graph.batch.maxBatch`) and what. */
export interface GraphProblem {
  path: string;
  /** The whole sentence: `graph.batch.maxBatch = 0 must be an integer from 1 to 65536`. */
  message: string;
  /**
   * Where the graph as a whole is of the wrong kind (not a graph, another version, a training
   * plan, another engine): that as a sentence about the graph ("plan 'p' is a training plan;
   * serve runs serving plans"), and what to do.
   */
  headline?: string;
  help?: string;
}

/** At most this many problems are collected: the first is what a user fixes first. */
const MAX_PROBLEMS = 20;

/** What the WebGPU runtime runs (runtime/ops.ts): the kinds of a layer inside blocks, the others in the programs. */
const LAYER_KINDS: readonly ComputeKind[] = [
  'norm',
  'qkv',
  'rope',
  'attention',
  'out-proj',
  'residual',
  'mlp-up',
  'mlp-act',
  'mlp-down',
  'router',
  'expert-up',
  'expert-act',
  'expert-down',
];
const STAGE_KINDS: readonly ComputeKind[] = ['embedding', 'final-norm', 'head', 'sample'];
/** Every kind a compute step may have, in the order messages list them. */
const COMPUTE_KINDS = [
  'embedding',
  ...LAYER_KINDS,
  'final-norm',
  'head',
  'loss',
  'sample',
  'optimizer',
] as const satisfies readonly ComputeKind[];
const PASSES = ['forward', 'backward', 'backward-input', 'backward-weight', 'recompute'] as const satisfies readonly Pass[];
const ROLES = [
  'weight',
  'gradient',
  'optimizer',
  'activation',
  'kvCache',
  'logits',
  'input',
  'cast',
] as const satisfies readonly TensorRole[];
/** The phases a serving program runs. */
const SERVING_PHASES = ['prefill', 'decode'] as const;

/** A value as a message shows it: short, one line, no control characters. */
function show(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') {
    const s = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    return s;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v))
    return v.length <= 8 && v.every((x) => typeof x === 'number' || typeof x === 'string')
      ? `[${v.map((x) => show(x)).join(', ')}]`
      : `an array of ${v.length}`;
  return 'an object';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Obj, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

/** Collects problems; each check returns the value when it is good, else undefined. */
class Checker {
  readonly problems: GraphProblem[] = [];
  get full(): boolean {
    return this.problems.length >= MAX_PROBLEMS;
  }
  fail(path: string, v: unknown, what: string): undefined {
    if (!this.full) this.problems.push({ path, message: `${path} = ${show(v)} ${what}` });
    return undefined;
  }
  obj(v: unknown, path: string): Obj | undefined {
    return isObj(v) ? v : this.fail(path, v, 'must be an object');
  }
  /** An array of at most `max.limit` entries (`max.name`: the LIMITS constant, when one sets it). */
  arr(v: unknown, path: string, max?: { limit: number; name?: string }): unknown[] | undefined {
    if (!Array.isArray(v)) return this.fail(path, v, 'must be an array');
    if (max && v.length > max.limit)
      return this.fail(
        path,
        v,
        max.name ? `is over the limit ${max.limit} (LIMITS.${max.name})` : `must have at most ${max.limit} entries`,
      );
    return v;
  }
  str(v: unknown, path: string): string | undefined {
    return typeof v === 'string' ? v : this.fail(path, v, 'must be a string');
  }
  bool(v: unknown, path: string): boolean | undefined {
    return typeof v === 'boolean' ? v : this.fail(path, v, 'must be true or false');
  }
  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    return typeof v === 'string' && (values as readonly string[]).includes(v)
      ? (v as T)
      : this.fail(path, v, `must be one of ${values.join(', ')}`);
  }
  /** A finite number ≥ min. */
  num(v: unknown, path: string, min = 0): number | undefined {
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(path, v, 'must be a finite number');
    return v >= min ? v : this.fail(path, v, `must be at least ${min}`);
  }
  /**
   * An integer in [min, max]. `limit` says where max comes from: a LIMITS constant's name,
   * or another field of the graph (`graph.model.maxSeq`).
   */
  int(v: unknown, path: string, min: number, max: number = Number.MAX_SAFE_INTEGER, limit?: string): number | undefined {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return this.fail(path, v, `must be an integer from ${min} to ${max}`);
    if (v < min) return this.fail(path, v, `must be at least ${min}`);
    if (v > max)
      return this.fail(
        path,
        v,
        limit === undefined
          ? `must be at most ${max}`
          : limit.startsWith('graph.')
            ? `is over ${limit} = ${max}`
            : `is over the limit ${max} (LIMITS.${limit})`,
      );
    return v;
  }
}

/**
 * Everything wrong with `value` as a graph the runtime can serve (empty: it can be
 * served). Checks stop early once a part the rest depends on is wrong.
 */
export function checkServingGraph(value: unknown): GraphProblem[] {
  const c = new Checker();
  if (header(c, value)) check(c, value);
  return c.problems;
}

/** What the graph is and is for; false (with one problem, its `help` set) when it is no webgpu serving graph of this version. */
function header(c: Checker, value: unknown): boolean {
  const refuse = (path: string, v: unknown, what: string, headline: string, help: string) => {
    c.fail(path, v, what);
    Object.assign(c.problems[c.problems.length - 1]!, { headline, help });
    return false;
  };
  const compile = "serve a graph written by 'parplan compile FILE.plan'";
  const g = isObj(value) ? value : {};
  if (!isObj(value) || own(g, 'format') !== GRAPH_FORMAT)
    return refuse(
      isObj(value) ? 'graph.format' : 'graph',
      isObj(value) ? own(g, 'format') : value,
      isObj(value) ? `must be "${GRAPH_FORMAT}"` : 'must be an object',
      `this is not a parplan graph (no "format": "${GRAPH_FORMAT}")`,
      compile,
    );
  const version = own(g, 'version');
  if (version !== GRAPH_VERSION)
    return refuse(
      'graph.version',
      version,
      `must be ${GRAPH_VERSION} (recompile the plan with this parplan)`,
      `this is a parplan graph of version ${show(version)}; this parplan reads version ${GRAPH_VERSION}`,
      'recompile the plan with this parplan: parplan compile FILE.plan',
    );
  const plan = own(g, 'plan');
  if (!isObj(plan) || typeof own(plan, 'name') !== 'string')
    return refuse('graph.plan', plan, "must be an object with the plan's name", 'the graph has no "plan" entry', compile);
  const name = plan['name'] as string;
  const file = own(plan, 'file');
  const recompile = `parplan compile ${typeof file === 'string' && file !== '' ? file : 'FILE.plan'} --plan ${name}`;
  const mode = own(plan, 'mode');
  const word = (v: unknown) => (typeof v === 'string' ? v : show(v));
  if (mode !== 'serve')
    return refuse(
      'graph.plan.mode',
      mode,
      'must be "serve": the runtime serves serving plans',
      mode === 'train' && own(plan, 'engine') === 'webgpu'
        ? `plan '${name}' is a training plan for engine = webgpu; training graphs are not executed yet (serve runs serving plans)`
        : `plan '${name}' is a ${mode === 'train' ? 'training' : word(mode)} plan; serve runs serving plans`,
      `set mode = serve and engine = webgpu in plan '${name}' (and a batch { … } policy), then: ${recompile}`,
    );
  const engine = own(plan, 'engine');
  if (engine !== 'webgpu')
    return refuse(
      'graph.plan.engine',
      engine,
      'must be "webgpu": compile the plan with engine = webgpu',
      `plan '${name}' was compiled for engine = ${engine === undefined ? 'generic' : word(engine)}; serve runs engine = webgpu graphs`,
      `set engine = webgpu in plan '${name}', then recompile: ${recompile}`,
    );
  return true;
}

/** The message of an error for these problems: the first, and how many more. */
export function graphProblemsText(problems: readonly GraphProblem[]): string {
  const more = problems.length - 1;
  return `${problems[0]!.message}${more > 0 ? ` (and ${more === MAX_PROBLEMS - 1 ? 'more' : more} more problem${more === 1 ? '' : 's'})` : ''}`;
}

function check(c: Checker, value: unknown): void {
  const g = c.obj(value, 'graph');
  if (!g) return;
  const plan = c.obj(own(g, 'plan'), 'graph.plan');
  if (plan) c.str(own(plan, 'file'), 'graph.plan.file');
  if (c.problems.length > 0) return;

  const model = checkModel(c, own(g, 'model'));
  const mesh = checkMesh(c, own(g, 'mesh'), model);
  const batch = checkBatch(c, own(g, 'batch'), model);
  if (!model || !mesh || !batch || c.problems.length > 0) return;

  const blocks = c.obj(own(g, 'blocks'), 'graph.blocks');
  const programs = c.obj(own(g, 'programs'), 'graph.programs');
  const buffers = c.obj(own(g, 'buffers'), 'graph.buffers');
  if (!blocks || !programs || !buffers) return;
  if (Object.keys(programs).length === 0) c.fail('graph.programs', programs, 'has no programs: every device runs one');
  for (const [name, steps] of Object.entries(blocks)) {
    const list = c.arr(steps, `graph.blocks[${show(name)}]`);
    list?.forEach((s, i) => checkStep(c, s, `graph.blocks[${show(name)}][${i}]`, model, undefined));
  }
  for (const [name, p] of Object.entries(programs)) {
    const path = `graph.programs[${show(name)}]`;
    const prog = c.obj(p, path);
    if (!prog) continue;
    c.int(own(prog, 'stage'), `${path}.stage`, 0, mesh.pipeline - 1);
    const phases = c.obj(own(prog, 'phases'), `${path}.phases`);
    if (!phases) continue;
    for (const phase of SERVING_PHASES) {
      const list = c.arr(own(phases, phase), `${path}.phases.${phase}`);
      list?.forEach((s, i) => checkStep(c, s, `${path}.phases.${phase}[${i}]`, model, blocks));
      if (list && c.problems.length === 0) {
        // The runtime instances every block per layer once, up front: bound what that makes.
        let steps = 0;
        for (const s of list as Graph['blocks'][string])
          steps += s.op === 'block' ? (s.layers[1] - s.layers[0] + 1) * Math.max(1, (blocks[s.block] as unknown[]).length) : 1;
        if (steps > LIMITS.graphSteps)
          c.fail(
            `${path}.phases.${phase}`,
            list,
            `runs ${steps} steps with its blocks instanced per layer, over the limit ${LIMITS.graphSteps} (LIMITS.graphSteps)`,
          );
      }
    }
    const regions = c.arr(own(buffers, name), `graph.buffers[${show(name)}]`);
    const bufferNames = new Set<string>();
    regions?.forEach((r, i) => {
      const rp = `graph.buffers[${show(name)}][${i}]`;
      const region = c.obj(r, rp);
      if (!region) return;
      const bn = c.str(own(region, 'name'), `${rp}.name`);
      if (bn !== undefined && bufferNames.has(bn)) c.fail(`${rp}.name`, bn, 'names a buffer twice');
      if (bn !== undefined) bufferNames.add(bn);
      c.oneOf(own(region, 'category'), `${rp}.category`, ['activations', 'workspace']);
      c.int(own(region, 'bytes'), `${rp}.bytes`, 0, LIMITS.runtimeDeviceBytes, 'runtimeDeviceBytes');
    });
  }
  const tensorsOk = checkTensors(c, own(g, 'tensors'), mesh, own(own(g, 'mesh') as Obj, 'experts'));
  checkDevices(c, g, mesh, programs, buffers);
  if (!tensorsOk || c.problems.length > 0) return;
  const graph = value as Graph;
  checkKvCache(c, graph.tensors, model, batch);
  if (c.problems.length === 0) checkPlacement(c, graph, mesh);
  if (c.problems.length === 0) checkNames(c, graph);
  if (c.problems.length === 0) checkWeights(c, graph, mesh);
  if (c.problems.length === 0) checkBufferSizes(c, graph, mesh);
  if (c.problems.length === 0) checkPlannedBytes(c, graph);
}

/**
 * Each buffer holds at least what the runtime puts in it (src/memory/webgpu.ts sizes them):
 * T tokens at once, T = max(max_prefill_tokens, max_batch); a smaller one would be
 * overrun, or fail every request, once the runtime runs.
 */
function checkBufferSizes(c: Checker, g: Graph, mesh: MeshFacts): void {
  const { model: m, batch } = g;
  const b = batch!;
  const e = WEBGPU_ELEMENT_BYTES;
  const T = Math.max(b.maxPrefillTokens, b.maxBatch);
  const t = mesh.tensor;
  const { attention: a, mlp } = m.layer as GqaLayer; // checkLayer admitted gqa attention, dense MLPs and MoE without shared experts
  const heads = a.heads / t;
  const kvHeads = a.kvHeads / Math.min(t, a.kvHeads);
  const mlpBuffers = Object.fromEntries(
    Object.entries(webgpuMlpBuffers(T, m.hidden, mlp, mlp.kind === 'dense' ? mlp.ffn / t : 0, g.mesh.experts?.tensor ?? t)).map(
      ([k, v]) => [k, v.elements * e],
    ),
  );
  const vRows = m.vocabPadded / t;
  const communicates = t > 1 || mesh.pipeline > 1;
  const last = Math.max(...g.mesh.stages.map((st) => st.rank));
  for (const [name, prog] of Object.entries(g.programs)) {
    const atLast = prog.stage === last;
    const need: Record<string, number> = {
      tokens: T * e,
      positions: T * e,
      slots: T * e,
      hidden: T * m.hidden * e,
      x: T * m.hidden * e,
      q: T * heads * a.headDim * e,
      k: T * kvHeads * a.headDim * e,
      v: T * kvHeads * a.headDim * e,
      attn: T * heads * a.headDim * e,
      ...mlpBuffers,
      ...(atLast ? { logits: b.maxBatch * vRows * e, next: b.maxBatch * e } : {}),
      ...(m.positions === 'rope' ? { rope: m.maxSeq * a.headDim * e } : {}),
      'staging-read': Math.max(communicates ? webgpuExchangeBytes(T, m.hidden, mlp, t) : 0, atLast ? b.maxBatch * vRows * e : 0),
      ...(communicates ? { 'staging-write': webgpuExchangeBytes(T, m.hidden, mlp, t) } : {}),
    };
    const regions = g.buffers![name]!;
    for (const [r, bytes] of Object.entries(need)) {
      const i = regions.findIndex((x) => x.name === r);
      if (i < 0) c.fail(`graph.buffers[${show(name)}]`, regions, `has no "${r}" buffer, which the runtime uses`);
      else if (regions[i]!.bytes < bytes)
        c.fail(`graph.buffers[${show(name)}][${i}].bytes`, regions[i]!.bytes, `is less than the ${bytes} B the "${r}" buffer holds`);
    }
  }
}

/**
 * Each device's coordinates and groups are the mesh's own (src/mesh.ts), and each program's
 * blocks run only layers its stage holds (the weights are loaded for those alone).
 */
function checkPlacement(c: Checker, g: Graph, mesh: MeshFacts): void {
  g.devices.forEach((d, i) => {
    const want = coordsOf(mesh, i);
    for (const a of MESH_AXIS_NAMES)
      if (d.coords[a] !== want[a]) c.fail(`graph.devices[${i}].coords.${a}`, d.coords[a], `must be ${want[a]} for rank ${i} of this mesh`);
    for (const a of MESH_AXIS_NAMES) {
      const gi = d.groups[a];
      if (gi !== undefined && gi !== groupIndex(mesh, a, want))
        c.fail(`graph.devices[${i}].groups.${a}`, gi, `must be ${groupIndex(mesh, a, want)} for rank ${i} of this mesh`);
    }
  });
  for (const a of MESH_AXIS_NAMES) {
    const given = (g.groups as Partial<Record<string, number[][]>>)[a];
    if (given !== undefined && JSON.stringify(given) !== JSON.stringify(groupsAlong(mesh, a)))
      c.fail(`graph.groups.${a}`, given, `must be the mesh's groups along ${a}: ${JSON.stringify(groupsAlong(mesh, a))}`);
  }
  for (const [name, prog] of Object.entries(g.programs)) {
    const held = new Set<number>();
    for (const st of g.mesh.stages) if (st.rank === prog.stage) for (let l = st.firstLayer; l <= st.lastLayer; l++) held.add(l);
    for (const phase of SERVING_PHASES) {
      prog.phases[phase]!.forEach((s, i) => {
        if (s.op !== 'block') return;
        const [first, last] = s.layers;
        for (let l = first; l <= last; l++) {
          if (!held.has(l))
            return void c.fail(
              `graph.programs[${show(name)}].phases.${phase}[${i}].layers`,
              s.layers,
              `runs layer ${l}, which stage ${prog.stage} does not hold`,
            );
        }
      });
    }
  }
}

/**
 * The weights the runtime's kernels use, for the model's flags (norm, bias, positions,
 * activation, tied embeddings), each with the shape its dimensions give (PyTorch Linear
 * layout, as src/lower/tensors.ts writes them), and dimensions that the tensor degree splits.
 */
function checkWeights(c: Checker, g: Graph, mesh: MeshFacts): void {
  const m = g.model;
  // checkModel admitted overrides that change only a layer's sliding window: every layer has these shapes.
  const { attention: a, mlp } = m.layer as GqaLayer; // checkLayer admitted gqa attention, dense MLPs and MoE without shared experts
  const t = mesh.tensor;
  const split: [string, number][] = [
    ['graph.model.layer.attention.heads', a.heads],
    ['graph.model.vocabPadded', m.vocabPadded],
  ];
  if (mlp.kind === 'dense') split.push(['graph.model.layer.mlp.ffn', mlp.ffn]);
  else {
    // The runtime exchanges tokens among a replica's tensor ranks: its expert grid must be that group.
    const grid = g.mesh.experts ?? { tensor: t, expert: 1, data: 1 };
    if (grid.expert * grid.tensor !== t)
      c.fail(
        'graph.mesh.experts',
        grid,
        `has expert × expert_tensor = ${grid.expert * grid.tensor}, but the WebGPU runtime runs expert groups within a replica's tensor ranks: expert × expert_tensor must be tensor = ${t}`,
      );
  }
  for (const [path, n] of split) if (n % t !== 0) c.fail(path, n, `must split into the tensor degree ${t}`);
  if (a.kvHeads % t !== 0 && t % a.kvHeads !== 0)
    c.fail('graph.model.layer.attention.kvHeads', a.kvHeads, `must divide or be a multiple of the tensor degree ${t}`);
  const h = m.hidden;
  const qd = a.heads * a.headDim;
  const kvd = a.kvHeads * a.headDim;
  const f = mlp.kind === 'dense' ? mlp.ffn : 0;
  const ln = m.norm === 'layernorm';
  const bias = m.bias;
  // What each kind of step binds, in order (runtime/ops.ts): its weights' global shapes, and whether each has a bias.
  const needs = (kind: ComputeKind, acts: string[]): { shapes: number[][]; biased: boolean } | undefined => {
    switch (kind) {
      case 'embedding':
        return {
          shapes:
            m.positions === 'learned'
              ? [
                  [m.vocabPadded, h],
                  [m.maxSeq, h],
                ]
              : [[m.vocabPadded, h]],
          biased: false,
        };
      case 'norm':
        // Qwen3's q/k norms: a gain over head_dim, one row per head.
        return acts[0] === 'q' || acts[0] === 'k' ? { shapes: [[a.headDim]], biased: false } : { shapes: [[h]], biased: ln };
      case 'final-norm':
        return { shapes: [[h]], biased: ln };
      case 'qkv':
        return {
          shapes: [
            [qd, h],
            [kvd, h],
            [kvd, h],
          ],
          biased: bias || m.qkvBias === true,
        };
      case 'out-proj':
        return { shapes: [[h, qd]], biased: bias };
      case 'mlp-up':
        return {
          shapes: gatedMlp(mlp.activation)
            ? [
                [f, h],
                [f, h],
              ]
            : [[f, h]],
          biased: bias,
        };
      case 'mlp-down':
        return { shapes: [[h, f]], biased: bias };
      case 'head':
        return { shapes: [[m.vocabPadded, h]], biased: false };
      case 'router':
        return mlp.kind === 'moe' ? { shapes: [[mlp.experts, h]], biased: false } : undefined;
      case 'expert-up':
        return mlp.kind === 'moe'
          ? {
              shapes: [
                [mlp.experts, mlp.expertFfn, h],
                [mlp.experts, mlp.expertFfn, h],
              ],
              biased: false,
            }
          : undefined;
      case 'expert-down':
        return mlp.kind === 'moe' ? { shapes: [[mlp.experts, h, mlp.expertFfn]], biased: false } : undefined;
      default:
        return { shapes: [], biased: false };
    }
  };
  const tensors = new Map(g.tensors.map((x) => [x.name, x]));
  const text = (shapes: readonly (readonly (number | string)[])[]) => shapes.map((x) => `[${x.join(', ')}]`).join(', ');
  const seenBlocks = new Set<string>();
  const visit = (st: Graph['blocks'][string][number], where: string) => {
    if (c.full) return;
    if (st.op === 'block') {
      if (seenBlocks.has(st.block)) return;
      seenBlocks.add(st.block);
      return g.blocks[st.block]!.forEach((inner, i) => visit(inner, `graph.blocks[${show(st.block)}][${i}]`));
    }
    if (st.op !== 'compute') return;
    const acts = st.reads.filter((r) => tensors.get(r)?.role !== 'weight');
    const weights = st.reads.map((r) => tensors.get(r)).filter((x) => x?.role === 'weight') as Graph['tensors'];
    const mats = weights.filter((x) => !x.name.endsWith('.bias'));
    const biases = weights.filter((x) => x.name.endsWith('.bias'));
    // The runtime adds a bias to the product of the weight of the same prefix (`attn.q.bias` to `attn.q.weight`'s).
    for (const b of biases)
      if (!st.reads.includes(`${b.name.slice(0, -'.bias'.length)}.weight`))
        c.fail(`${where}.reads`, st.reads, `names the bias ${b.name} without its weight ${b.name.slice(0, -'.bias'.length)}.weight`);
    const want = needs(st.kind, acts);
    if (!want) return;
    const got = mats.map((x) => x.shape);
    const wantBiases = want.biased ? want.shapes.map((x) => [x[0]!]) : [];
    const same = (x: readonly (readonly (number | string)[])[], y: readonly (readonly (number | string)[])[]) =>
      x.length === y.length && x.every((d, i) => d.length === y[i]!.length && d.every((n, j) => n === y[i]![j]));
    if (
      !same(got, want.shapes) ||
      !same(
        biases.map((x) => x.shape),
        wantBiases,
      )
    )
      c.fail(
        `${where}.reads`,
        st.reads,
        `binds weights of shapes ${text(weights.map((x) => x.shape)) || 'none'}; a '${st.kind}' step of this model binds ${text([...want.shapes, ...wantBiases]) || 'none'} (weights, then ${want.biased ? 'their biases' : 'no biases'}), from the model's dimensions`,
      );
  };
  for (const [name, prog] of Object.entries(g.programs))
    for (const phase of SERVING_PHASES)
      prog.phases[phase]!.forEach((st, i) => visit(st, `graph.programs[${show(name)}].phases.${phase}[${i}]`));
}

/**
 * Every name a program's compute steps read or write is one of its buffers, or a graph
 * tensor; a weight must be owned by the program's stage (it is loaded only there).
 */
function checkNames(c: Checker, g: Graph): void {
  const tensors = new Map(g.tensors.map((t) => [t.name, t]));
  for (const [name, prog] of Object.entries(g.programs)) {
    const regions = new Set(g.buffers![name]!.map((r) => r.name));
    const seen = new Set<string>();
    const blocksSeen = new Set<string>();
    const visit = (s: Graph['blocks'][string][number], where: string) => {
      if (s.op === 'block') {
        // Each block once per program: the work stays linear in the graph's size.
        if (blocksSeen.has(s.block)) return;
        blocksSeen.add(s.block);
        return g.blocks[s.block]!.forEach((inner, i) => visit(inner, `graph.blocks[${show(s.block)}][${i}]`));
      }
      if (s.op !== 'compute') return;
      for (const [k, list] of [
        ['reads', s.reads],
        ['writes', s.writes],
      ] as const) {
        list.forEach((n, i) => {
          // Whether a name is good depends on the program only.
          if (seen.has(n)) return;
          seen.add(n);
          const t = tensors.get(n);
          if (t?.role === 'weight') {
            if (!t.owners.includes(prog.stage))
              c.fail(`${where}.${k}[${i}]`, n, `is a weight that stage ${prog.stage} (program ${show(name)}) does not own`);
          } else if (t?.role !== 'kvCache' && !regions.has(n))
            c.fail(`${where}.${k}[${i}]`, n, `is neither a buffer of program ${show(name)} nor a weight or the KV cache`);
        });
      }
    };
    for (const phase of SERVING_PHASES)
      prog.phases[phase]!.forEach((s, i) => visit(s, `graph.programs[${show(name)}].phases.${phase}[${i}]`));
  }
}

/**
 * What the runtime allocates on each device (its weights, KV cache and buffers), against
 * the device's memory plan: a tensor whose shape or bytes were edited is caught here,
 * before any buffer exists, and not as an internal error at allocation.
 */
function checkPlannedBytes(c: Checker, g: Graph): void {
  const word = (b: number) => Math.max(4, Math.ceil(b / 4) * 4);
  for (const [i, t] of g.tensors.entries()) {
    if (t.role !== 'weight') continue;
    const elements = (t.shape as number[]).reduce((a, b) => a * b, 1);
    const parts = t.shards.reduce((a, s) => a * s.parts, 1);
    const want = Math.ceil(elements / parts) * bytesPerElement(tensorFormatOf(t.dtype)!);
    if (t.bytes !== want)
      c.fail(
        `graph.tensors[${i}].bytes`,
        t.bytes,
        `must be the bytes of one shard of shape [${t.shape.join(', ')}] in ${t.dtype}: ${want}`,
      );
  }
  if (c.problems.length > 0) return;
  const kv = g.tensors.find((t) => t.name === 'kv.{l}')!;
  const byProgram = new Map<string, number>();
  for (const [name, prog] of Object.entries(g.programs)) {
    const layers = g.mesh.stages.filter((s) => s.rank === prog.stage).reduce((n, s) => n + s.lastLayer - s.firstLayer + 1, 0);
    let total = kv.bytes * layers;
    for (const t of g.tensors)
      if (t.role === 'weight' && t.owners.includes(prog.stage)) total += word(t.bytes) * (t.scope === 'layer' ? layers : 1);
    for (const r of g.buffers![name]!) total += r.bytes;
    byProgram.set(name, total);
  }
  g.devices.forEach((d, i) => {
    const stage = g.programs[d.program]!.stage;
    if (stage !== d.coords.pipeline)
      return void c.fail(`graph.devices[${i}].program`, d.program, `runs stage ${stage}, but the device is on stage ${d.coords.pipeline}`);
    const total = byProgram.get(d.program)!;
    // The runtime's own check (runtime/allocate.ts) allows the same 1 % for rounding.
    if (total > d.memory.total * 1.01 + 1)
      c.fail(`graph.devices[${i}].memory.total`, d.memory.total, `is less than the ${total} B its weights, KV cache and buffers take`);
  });
}

interface ModelFacts {
  layers: number;
  vocab: number;
  maxSeq: number;
  kvHeads: number;
  headDim: number;
}

function checkModel(c: Checker, v: unknown): ModelFacts | undefined {
  const m = c.obj(v, 'graph.model');
  if (!m) return undefined;
  const p = 'graph.model';
  c.str(own(m, 'name'), `${p}.name`);
  c.oneOf(own(m, 'arch'), `${p}.arch`, ARCHS);
  const layers = c.int(own(m, 'layers'), `${p}.layers`, 1, LIMITS.graphLayers, 'graphLayers');
  const hidden = c.int(own(m, 'hidden'), `${p}.hidden`, 1, LIMITS.graphDim, 'graphDim');
  const vocab = c.int(own(m, 'vocab'), `${p}.vocab`, 1, LIMITS.graphVocab, 'graphVocab');
  const padded = c.int(own(m, 'vocabPadded'), `${p}.vocabPadded`, 1, LIMITS.graphVocab, 'graphVocab');
  if (vocab !== undefined && padded !== undefined && padded < vocab)
    c.fail(`${p}.vocabPadded`, padded, `must be at least graph.model.vocab (${vocab})`);
  const maxSeq = c.int(own(m, 'maxSeq'), `${p}.maxSeq`, 1, LIMITS.graphSeq, 'graphSeq');
  c.oneOf(own(m, 'dtype'), `${p}.dtype`, DTYPE_NAMES);
  c.oneOf(own(m, 'norm'), `${p}.norm`, ['rmsnorm', 'layernorm']);
  c.bool(own(m, 'bias'), `${p}.bias`);
  c.oneOf(own(m, 'positions'), `${p}.positions`, ['rope', 'learned']);
  c.bool(own(m, 'tiedEmbeddings'), `${p}.tiedEmbeddings`);
  c.num(own(m, 'normEps'), `${p}.normEps`);
  c.num(own(m, 'ropeTheta'), `${p}.ropeTheta`);
  for (const k of ['qkvBias', 'qkNorm']) if (own(m, k) !== undefined) c.bool(own(m, k), `${p}.${k}`);
  const norms = own(m, 'normsPerLayer');
  if (norms !== undefined && norms !== 2 && norms !== 4) c.fail(`${p}.normsPerLayer`, norms, 'must be 2 or 4');
  if (own(m, 'quant') !== undefined) c.fail(`${p}.quant`, own(m, 'quant'), UNSUPPORTED('quantized weights'));
  // Gemma's facts, each read by a kernel (runtime/ops.ts): the caps and the scalar positive, the offset any finite number.
  for (const k of ['attnSoftcap', 'logitSoftcap', 'queryPreAttnScalar'])
    if (own(m, k) !== undefined) c.num(own(m, k), `${p}.${k}`, Number.MIN_VALUE);
  if (own(m, 'scaleEmbeddings') !== undefined) c.bool(own(m, 'scaleEmbeddings'), `${p}.scaleEmbeddings`);
  if (own(m, 'normOffset') !== undefined) c.num(own(m, 'normOffset'), `${p}.normOffset`);
  if (norms === 4 && own(m, 'qkNorm') === true)
    c.fail(`${p}.qkNorm`, true, UNSUPPORTED("four norms with q/k norms: Gemma-3, whose local layers' RoPE base is not in the model"));
  const scaling = own(m, 'ropeScaling');
  if (scaling !== undefined) {
    const sc = c.obj(scaling, `${p}.ropeScaling`);
    const type = sc && own(sc, 'type');
    if (sc && (type === 'dynamic' || type === 'yarn')) c.fail(`${p}.ropeScaling.type`, type, UNSUPPORTED(`rope_scaling = ${type}`));
    else if (sc) {
      c.oneOf(type, `${p}.ropeScaling.type`, ['linear', 'llama3']);
      c.num(own(sc, 'factor'), `${p}.ropeScaling.factor`, Number.MIN_VALUE);
      if (type === 'llama3')
        for (const k of ['originalMaxSeq', 'lowFreqFactor', 'highFreqFactor']) c.num(own(sc, k), `${p}.ropeScaling.${k}`, Number.MIN_VALUE);
    }
  }
  const layer = checkLayer(c, own(m, 'layer'), `${p}.layer`, true, hidden);
  const overrides = own(m, 'overrides');
  // The runtime's buffers serve one layer structure (src/memory/webgpu.ts): layers may differ in their sliding window alone (Gemma-2).
  // A part's fields but its window, in a fixed order (an MLP has no window: all its fields).
  const shapeOf = (x: unknown) => {
    if (x === null || typeof x !== 'object') return x;
    const { window: _, ...rest } = x as Record<string, unknown>;
    return JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
  };
  const base = own(m, 'layer') as Record<string, unknown> | undefined;
  const differs = (o: unknown) => {
    const ov = o as Record<string, unknown>;
    return (
      (own(ov, 'attention') !== undefined && shapeOf(own(ov, 'attention')) !== shapeOf(base && own(base, 'attention'))) ||
      (own(ov, 'mlp') !== undefined && shapeOf(own(ov, 'mlp')) !== shapeOf(base && own(base, 'mlp')))
    );
  };
  if (Array.isArray(overrides) && overrides.some((o) => o === null || typeof o !== 'object' || differs(o)))
    c.fail(`${p}.overrides`, overrides, UNSUPPORTED('layers that differ other than in their sliding window'));
  else if (overrides !== undefined) {
    c.arr(overrides, `${p}.overrides`, { limit: LIMITS.graphLayers, name: 'graphLayers' })?.forEach((o, i) => {
      const op = `${p}.overrides[${i}]`;
      const ov = c.obj(o, op);
      if (!ov || layers === undefined) return;
      const first = c.int(own(ov, 'first'), `${op}.first`, 0, layers - 1);
      if (first !== undefined) c.int(own(ov, 'last'), `${op}.last`, first, layers - 1);
      checkLayer(c, ov, op, false, hidden);
    });
  }
  if (layers === undefined || vocab === undefined || maxSeq === undefined || !layer) return undefined;
  return { layers, vocab, maxSeq, kvHeads: layer.kvHeads, headDim: layer.headDim };
}

/** Why the runtime refuses a kind of layer that the compiler lowers for the generic engine. */
const UNSUPPORTED = (what: string) =>
  `is not run by the WebGPU runtime (${what}): compile the plan for engine = generic, where check, compile, report and the exports handle it`;

/** A layer's attention and MLP (both required in `model.layer`, optional in an override). */
function checkLayer(
  c: Checker,
  v: unknown,
  p: string,
  required: boolean,
  hidden: number | undefined,
): { kvHeads: number; headDim: number } | undefined {
  const l = c.obj(v, p);
  if (!l) return undefined;
  let out: { kvHeads: number; headDim: number } | undefined;
  const att = own(l, 'attention');
  if (required || att !== undefined) {
    const a = c.obj(att, `${p}.attention`);
    if (a) {
      // The compiler lowers MLA (engine = generic); the runtime does not run it yet.
      if (own(a, 'kind') === 'mla') c.fail(`${p}.attention.kind`, 'mla', UNSUPPORTED('MLA attention'));
      else c.oneOf(own(a, 'kind'), `${p}.attention.kind`, ['gqa']);
      if (own(a, 'window') !== undefined) c.int(own(a, 'window'), `${p}.attention.window`, 1);
      if (own(a, 'sinks') !== undefined) c.fail(`${p}.attention.sinks`, own(a, 'sinks'), UNSUPPORTED('attention sinks'));
      const heads = c.int(own(a, 'heads'), `${p}.attention.heads`, 1, hidden ?? Number.MAX_SAFE_INTEGER);
      const kvHeads = c.int(own(a, 'kvHeads'), `${p}.attention.kvHeads`, 1, heads ?? Number.MAX_SAFE_INTEGER);
      if (heads !== undefined && kvHeads !== undefined && heads % kvHeads !== 0)
        c.fail(`${p}.attention.kvHeads`, kvHeads, `must divide the heads (${heads})`);
      const headDim = c.int(own(a, 'headDim'), `${p}.attention.headDim`, 1, hidden ?? Number.MAX_SAFE_INTEGER);
      if (headDim !== undefined && headDim % 2 !== 0)
        c.fail(`${p}.attention.headDim`, headDim, 'must be even (the KV cache and RoPE work on pairs)');
      if (kvHeads !== undefined && headDim !== undefined) out = { kvHeads, headDim };
    }
  }
  const mlp = own(l, 'mlp');
  if (required || mlp !== undefined) {
    const m = c.obj(mlp, `${p}.mlp`);
    if (m) {
      if (own(m, 'kind') === 'moe') {
        // Mixtral's and Qwen3-MoE's kind: a softmax top-k router and SwiGLU experts, nothing shared.
        c.oneOf(own(m, 'activation'), `${p}.mlp.activation`, ['swiglu']);
        const experts = c.int(own(m, 'experts'), `${p}.mlp.experts`, 1, LIMITS.graphDim, 'graphDim');
        c.int(own(m, 'topK'), `${p}.mlp.topK`, 1, experts ?? LIMITS.graphDim);
        c.int(own(m, 'expertFfn'), `${p}.mlp.expertFfn`, 1, LIMITS.graphDim, 'graphDim');
        c.bool(own(m, 'normTopK'), `${p}.mlp.normTopK`);
        if (own(m, 'sharedExperts') !== 0) c.fail(`${p}.mlp.sharedExperts`, own(m, 'sharedExperts'), UNSUPPORTED('shared experts'));
        if (own(m, 'routerBias') !== false) c.fail(`${p}.mlp.routerBias`, own(m, 'routerBias'), UNSUPPORTED('a router bias'));
      } else {
        c.oneOf(own(m, 'kind'), `${p}.mlp.kind`, ['dense']);
        c.oneOf(own(m, 'activation'), `${p}.mlp.activation`, ['swiglu', 'geglu', 'gelu']);
        c.int(own(m, 'ffn'), `${p}.mlp.ffn`, 1, LIMITS.graphDim, 'graphDim');
      }
    }
  }
  return out;
}

type MeshFacts = Record<(typeof MESH_AXIS_NAMES)[number], number> & { devices: number };

function checkMesh(c: Checker, v: unknown, model: ModelFacts | undefined): MeshFacts | undefined {
  const m = c.obj(v, 'graph.mesh');
  if (!m) return undefined;
  const axes = c.arr(own(m, 'axes'), 'graph.mesh.axes', { limit: MESH_AXIS_NAMES.length });
  if (!axes) return undefined;
  const sizes: Partial<Record<string, number>> = {};
  axes.forEach((a, i) => {
    const ap = `graph.mesh.axes[${i}]`;
    const axis = c.obj(a, ap);
    if (!axis) return;
    const name = c.oneOf(own(axis, 'name'), `${ap}.name`, MESH_AXIS_NAMES);
    const size = c.int(own(axis, 'size'), `${ap}.size`, 1, LIMITS.runtimeDevices, 'runtimeDevices');
    if (name === undefined || size === undefined) return;
    if (sizes[name] !== undefined) c.fail(`${ap}.name`, name, 'names an axis twice');
    sizes[name] = size;
  });
  for (const a of MESH_AXIS_NAMES)
    if (sizes[a] === undefined && c.problems.length === 0) c.fail('graph.mesh.axes', axes, `has no axis "${a}"`);
  if (c.problems.length > 0) return undefined;
  const mesh = { ...(sizes as Record<(typeof MESH_AXIS_NAMES)[number], number>), devices: 1 };
  for (const a of MESH_AXIS_NAMES) mesh.devices *= mesh[a];
  if (mesh.devices > LIMITS.runtimeDevices)
    return c.fail('graph.mesh.axes', axes, `make ${mesh.devices} devices, over the limit ${LIMITS.runtimeDevices} (LIMITS.runtimeDevices)`);
  const virtual = c.int(own(m, 'virtual'), 'graph.mesh.virtual', 1, model?.layers ?? 1);
  c.str(own(m, 'gpu'), 'graph.mesh.gpu');
  c.int(own(m, 'gpusPerNode'), 'graph.mesh.gpusPerNode', 1);
  const stages = c.arr(own(m, 'stages'), 'graph.mesh.stages', { limit: LIMITS.graphLayers, name: 'graphLayers' });
  if (!stages || !model || virtual === undefined) return undefined;
  if (stages.length !== mesh.pipeline * virtual)
    c.fail('graph.mesh.stages', stages, `must list pipeline × virtual = ${mesh.pipeline * virtual} stages`);
  let held = 0;
  stages.forEach((s, i) => {
    const sp = `graph.mesh.stages[${i}]`;
    const st = c.obj(s, sp);
    if (!st) return;
    c.int(own(st, 'index'), `${sp}.index`, 0);
    c.int(own(st, 'rank'), `${sp}.rank`, 0, mesh.pipeline - 1);
    const first = c.int(own(st, 'firstLayer'), `${sp}.firstLayer`, 0, model.layers - 1);
    const last = c.int(own(st, 'lastLayer'), `${sp}.lastLayer`, first ?? 0, model.layers - 1);
    if (first !== undefined && last !== undefined) held += last - first + 1;
  });
  // Each layer in one stage: the stages' ranges add up to the model's layers.
  if (c.problems.length === 0 && held !== model.layers)
    return c.fail('graph.mesh.stages', stages, `hold ${held} layers in all; the model has ${model.layers}`);
  return mesh;
}

function checkBatch(c: Checker, v: unknown, model: ModelFacts | undefined): NonNullable<Graph['batch']> | undefined {
  const b = c.obj(v, 'graph.batch');
  if (!b) return undefined;
  const maxBatch = c.int(own(b, 'maxBatch'), 'graph.batch.maxBatch', 1, LIMITS.runtimeMaxBatch, 'runtimeMaxBatch');
  const maxWaitMs = c.num(own(b, 'maxWaitMs'), 'graph.batch.maxWaitMs');
  if (maxWaitMs !== undefined && maxWaitMs > LIMITS.runtimeMaxWaitMs)
    c.fail('graph.batch.maxWaitMs', maxWaitMs, `is over the limit ${LIMITS.runtimeMaxWaitMs} (LIMITS.runtimeMaxWaitMs)`);
  const queue = c.int(own(b, 'queue'), 'graph.batch.queue', 0, LIMITS.runtimeQueue, 'runtimeQueue');
  const seq = c.int(own(b, 'seq'), 'graph.batch.seq', 1, model?.maxSeq ?? LIMITS.graphSeq, model ? 'graph.model.maxSeq' : 'graphSeq');
  const maxPrefillTokens = c.int(
    own(b, 'maxPrefillTokens'),
    'graph.batch.maxPrefillTokens',
    1,
    seq ?? LIMITS.graphSeq,
    seq === undefined ? 'graphSeq' : 'graph.batch.seq',
  );
  if (maxBatch === undefined || maxWaitMs === undefined || queue === undefined || seq === undefined || maxPrefillTokens === undefined)
    return undefined;
  return { maxBatch, maxWaitMs, queue, seq, maxPrefillTokens };
}

function checkStep(c: Checker, v: unknown, p: string, model: ModelFacts, blocks: Obj | undefined): void {
  if (c.full) return;
  const s = c.obj(v, p);
  if (!s) return;
  const op = c.oneOf(own(s, 'op'), `${p}.op`, ['compute', 'block', 'send', 'recv', 'action', ...COLLECTIVE_OPS]);
  if (op === undefined) return;
  const strings = (k: string) => {
    const list = c.arr(own(s, k), `${p}.${k}`);
    // The path is made only for a bad entry: these lists are most of a graph's bytes.
    if (list) for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') c.str(list[i], `${p}.${k}[${i}]`);
  };
  switch (op) {
    case 'compute': {
      const kind = c.oneOf(own(s, 'kind'), `${p}.kind`, COMPUTE_KINDS);
      if (kind !== undefined && ![...LAYER_KINDS, ...STAGE_KINDS].includes(kind))
        c.fail(`${p}.kind`, kind, 'is not a step the runtime serves (a training step)');
      // A layer's steps need the layer a block gives them; the others run once per pass.
      else if (kind !== undefined && LAYER_KINDS.includes(kind) !== (blocks === undefined))
        c.fail(`${p}.kind`, kind, blocks === undefined ? 'cannot appear inside a block' : 'must be inside a block (it needs a layer)');
      if (c.oneOf(own(s, 'pass'), `${p}.pass`, PASSES) !== undefined && own(s, 'pass') !== 'forward')
        c.fail(`${p}.pass`, own(s, 'pass'), 'must be "forward" in a serving graph');
      strings('reads');
      strings('writes');
      // The runtime binds a norm's gain by its second read (a weight: checkNames).
      if (kind === 'norm' || kind === 'final-norm') {
        const w = (own(s, 'reads') as unknown[] | undefined)?.[1];
        if (typeof w !== 'string' || !w.endsWith('.weight')) c.fail(`${p}.reads[1]`, w, "must name the norm's gain (a .weight)");
      }
      c.num(own(s, 'flops'), `${p}.flops`);
      // The bytes it reads (the simulation's memory term), when the lowering gives them.
      if (own(s, 'bytes') !== undefined) c.num(own(s, 'bytes'), `${p}.bytes`);
      return;
    }
    case 'block': {
      // Blocks are instanced from programs only: a block inside a block could recurse forever.
      if (!blocks) return void c.fail(`${p}.op`, op, 'cannot appear inside a block');
      const name = c.str(own(s, 'block'), `${p}.block`);
      if (name !== undefined && !Object.hasOwn(blocks, name)) c.fail(`${p}.block`, name, 'is not in graph.blocks');
      const layers = c.arr(own(s, 'layers'), `${p}.layers`);
      if (layers && layers.length !== 2) return void c.fail(`${p}.layers`, layers, 'must be [first, last]');
      if (layers) {
        const first = c.int(layers[0], `${p}.layers[0]`, 0, model.layers - 1);
        c.int(layers[1], `${p}.layers[1]`, first ?? 0, model.layers - 1);
      }
      return;
    }
    case 'send':
    case 'recv': {
      c.oneOf(own(s, 'peer'), `${p}.peer`, [op === 'send' ? 'next' : 'prev']);
      const tensor = c.str(own(s, 'tensor'), `${p}.tensor`);
      // Stages hand on the residual stream; the sampled tokens go through the host.
      if (tensor !== undefined && tensor !== 'hidden' && tensor !== 'tokens')
        c.fail(`${p}.tensor`, tensor, `is not what the WebGPU runtime passes between stages (hidden, or the sampled tokens)`);
      c.int(own(s, 'bytes'), `${p}.bytes`, 0);
      return;
    }
    case 'action':
      c.str(own(s, 'action'), `${p}.action`);
      return;
    default: {
      const axis = c.oneOf(own(s, 'axis'), `${p}.axis`, [...MESH_AXIS_NAMES, 'embedding', ...EXPERT_AXES]);
      const tensor = c.str(own(s, 'tensor'), `${p}.tensor`);
      c.int(own(s, 'bytes'), `${p}.bytes`, 0);
      // The runtime sums partial results over the tensor ranks, and gathers the logits' vocabulary shards as it reads them;
      // MoE: the dispatch and combine over the expert grid, and the residual stream's all-gather after the combine.
      const runs =
        (axis === 'tensor' && (op === 'all-reduce' || (op === 'all-gather' && (tensor === 'logits' || tensor === 'hidden')))) ||
        (axis === 'expert' && op === 'all-to-all' && (tensor === 'dispatch' || tensor === 'y')) ||
        (axis === 'expert_tensor' && ((op === 'all-gather' && tensor === 'dispatch') || (op === 'reduce-scatter' && tensor === 'y')));
      if (axis !== undefined && tensor !== undefined && !runs)
        c.fail(
          `${p}.op`,
          op,
          `(of ${show(tensor)} over ${axis}) is not a collective the WebGPU runtime runs: it runs all-reduce over tensor, the logits' all-gather, and MoE's dispatch and combine`,
        );
    }
  }
}

function checkTensors(c: Checker, v: unknown, mesh: MeshFacts, experts: unknown): boolean {
  // MoE: routed experts split over the expert grid's axes (graph.mesh.experts).
  const grid = (typeof experts === 'object' && experts !== null ? experts : {}) as Partial<Record<'tensor' | 'expert', unknown>>;
  const sizes: Record<string, number> = { ...mesh };
  if (typeof grid.expert === 'number') sizes['expert'] = grid.expert;
  if (typeof grid.tensor === 'number') sizes['expert_tensor'] = grid.tensor;
  const axes = Object.keys(sizes).filter((a) => a === 'tensor' || a.startsWith('expert'));
  const tensors = c.arr(v, 'graph.tensors', { limit: LIMITS.graphTensors, name: 'graphTensors' });
  if (!tensors) return false;
  const before = c.problems.length;
  const names = new Set<string>();
  tensors.forEach((t, i) => {
    if (c.full) return;
    const p = `graph.tensors[${i}]`;
    const x = c.obj(t, p);
    if (!x) return;
    const name = c.str(own(x, 'name'), `${p}.name`);
    if (name !== undefined && names.has(name)) c.fail(`${p}.name`, name, 'names a tensor twice');
    if (name !== undefined) names.add(name);
    const role = c.oneOf(own(x, 'role'), `${p}.role`, ROLES);
    c.oneOf(own(x, 'scope'), `${p}.scope`, ['layer', 'stage']);
    const dtype = c.oneOf(own(x, 'dtype'), `${p}.dtype`, DTYPE_NAMES);
    const shape = c.arr(own(x, 'shape'), `${p}.shape`, { limit: 8 });
    let elements = 1;
    shape?.forEach((d, j) => {
      // Weights are concrete; other tensors may name symbolic dimensions (`batch`, `seq`).
      if (typeof d === 'string' && role !== 'weight') return;
      const n = c.int(d, `${p}.shape[${j}]`, 0);
      if (n !== undefined) elements *= n;
    });
    if (role === 'weight' && dtype !== undefined && tensorFormatOf(dtype) === undefined)
      c.fail(`${p}.dtype`, dtype, 'is not a dtype the runtime stores (fp32, fp16, bf16)');
    if (role === 'weight' && !Number.isSafeInteger(elements))
      c.fail(`${p}.shape`, shape, `holds ${elements} elements, beyond an exact integer`);
    c.arr(own(x, 'shards'), `${p}.shards`, { limit: MESH_AXIS_NAMES.length })?.forEach((s, j) => {
      const sp = `${p}.shards[${j}]`;
      const sh = c.obj(s, sp);
      if (!sh) return;
      const rank = shape?.length ?? 0;
      // Serving shards weights and the KV cache over tensor ranks (and MoE's experts over the expert grid), along a dimension (ZeRO's flat shards are training's).
      c.int(own(sh, 'dim'), `${sp}.dim`, 0, rank - 1);
      const over = c.oneOf(own(sh, 'over'), `${sp}.over`, axes);
      const parts = c.int(own(sh, 'parts'), `${sp}.parts`, 1, over ? sizes[over]! : LIMITS.runtimeDevices);
      if (own(sh, 'replicas') !== undefined) c.int(own(sh, 'replicas'), `${sp}.replicas`, 1, over ? sizes[over]! : LIMITS.runtimeDevices);
      if (over && parts !== undefined) {
        const replicas = (own(sh, 'replicas') as number | undefined) ?? 1;
        if (parts * replicas !== sizes[over] && Number.isSafeInteger(replicas))
          c.fail(`${sp}.parts`, parts, `× replicas (${replicas}) must be the ${over} degree ${sizes[over]}`);
      }
    });
    c.int(own(x, 'bytes'), `${p}.bytes`, 0, LIMITS.runtimeDeviceBytes, 'runtimeDeviceBytes');
    c.arr(own(x, 'owners'), `${p}.owners`, { limit: mesh.pipeline })?.forEach((o, j) =>
      c.int(o, `${p}.owners[${j}]`, 0, mesh.pipeline - 1),
    );
  });
  return c.problems.length === before;
}

/** The KV cache (`kv.{l}`) holds [2, slots, seq, kvHeads, headDim] per layer: its bytes must agree with the batch (a hand-edited max_batch or seq would not). */
function checkKvCache(c: Checker, tensors: readonly unknown[], model: ModelFacts, batch: NonNullable<Graph['batch']>): void {
  const i = tensors.findIndex((t) => (t as Obj).name === 'kv.{l}');
  if (i < 0) return void c.fail('graph.tensors', tensors, 'has no KV cache tensor "kv.{l}"');
  const kv = tensors[i] as { bytes: number; dtype: string; role: string; scope: string; shards: { parts: number }[] };
  if (kv.role !== 'kvCache' || kv.scope !== 'layer')
    return void c.fail(`graph.tensors[${i}].role`, kv.role, 'must be "kvCache", with scope "layer"');
  const format = tensorFormatOf(kv.dtype);
  if (format === undefined)
    return void c.fail(`graph.tensors[${i}].dtype`, kv.dtype, 'is not a dtype the runtime stores (fp32, fp16, bf16)');
  const parts = kv.shards[0]?.parts ?? 1;
  const kvHeads = model.kvHeads / parts;
  if (!Number.isInteger(kvHeads))
    return void c.fail(`graph.tensors[${i}].shards[0].parts`, parts, `must divide the KV heads (${model.kvHeads})`);
  const shape = (tensors[i] as { shape: unknown[] }).shape;
  const wantShape = [2, 'batch', 'seq', model.kvHeads, model.headDim];
  if (shape.length !== wantShape.length || shape.some((d, j) => d !== wantShape[j]))
    return void c.fail(
      `graph.tensors[${i}].shape`,
      shape,
      `must be [${wantShape.map((d) => show(d)).join(', ')}] (K and V, slots, positions, KV heads, head dimension)`,
    );
  const want = 2 * batch.maxBatch * batch.seq * kvHeads * model.headDim * bytesPerElement(format);
  if (kv.bytes !== want) {
    c.fail(
      `graph.tensors[${i}].bytes`,
      kv.bytes,
      `must be 2 × maxBatch ${batch.maxBatch} × seq ${batch.seq} × ${kvHeads} KV heads × headDim ${model.headDim} × ${bytesPerElement(format)} B = ${want} (the graph was edited after compiling: recompile the plan)`,
    );
  }
}

function checkDevices(c: Checker, g: Obj, mesh: MeshFacts, programs: Obj, buffers: Obj): void {
  const devices = c.arr(own(g, 'devices'), 'graph.devices', { limit: LIMITS.runtimeDevices, name: 'runtimeDevices' });
  const groups = c.obj(own(g, 'groups'), 'graph.groups');
  if (!devices || !groups) return;
  if (devices.length !== mesh.devices) return void c.fail('graph.devices', devices, `must list the mesh's ${mesh.devices} devices`);
  const groupCounts: Partial<Record<string, number>> = {};
  for (const [axis, list] of Object.entries(groups)) {
    const gl = c.arr(list, `graph.groups.${axis}`, { limit: LIMITS.runtimeDevices, name: 'runtimeDevices' });
    gl?.forEach((ranks, i) =>
      c
        .arr(ranks, `graph.groups.${axis}[${i}]`, { limit: LIMITS.runtimeDevices, name: 'runtimeDevices' })
        ?.forEach((r, j) => c.int(r, `graph.groups.${axis}[${i}][${j}]`, 0, mesh.devices - 1)),
    );
    if (gl) groupCounts[axis] = gl.length;
  }
  devices.forEach((d, i) => {
    if (c.full) return;
    const p = `graph.devices[${i}]`;
    const dev = c.obj(d, p);
    if (!dev) return;
    c.int(own(dev, 'rank'), `${p}.rank`, i, i);
    const coords = c.obj(own(dev, 'coords'), `${p}.coords`);
    if (coords) for (const a of MESH_AXIS_NAMES) c.int(own(coords, a), `${p}.coords.${a}`, 0, mesh[a] - 1);
    c.int(own(dev, 'node'), `${p}.node`, 0);
    const program = c.str(own(dev, 'program'), `${p}.program`);
    if (program !== undefined && !(Object.hasOwn(programs, program) && isObj(programs[program])))
      c.fail(`${p}.program`, program, 'is not in graph.programs');
    else if (program !== undefined && !Array.isArray(own(buffers, program)))
      c.fail(`${p}.program`, program, 'has no entry in graph.buffers');
    const dg = c.obj(own(dev, 'groups'), `${p}.groups`);
    if (dg) {
      for (const [axis, idx] of Object.entries(dg)) {
        const count = groupCounts[axis];
        if (count === undefined) c.fail(`${p}.groups.${axis}`, idx, `names no axis in graph.groups`);
        else c.int(idx, `${p}.groups.${axis}`, 0, count - 1);
      }
    }
    const memory = c.obj(own(dev, 'memory'), `${p}.memory`);
    if (memory) {
      for (const [k, x] of Object.entries(memory)) c.int(x, `${p}.memory.${k}`, 0, LIMITS.runtimeDeviceBytes, 'runtimeDeviceBytes');
      if (own(memory, 'total') === undefined) c.fail(`${p}.memory.total`, undefined, 'must be the bytes the device allocates');
    }
  });
}
