/**
 * `checkTrainingGraph`: whether a training graph for engine = webgpu is one an executor can
 * trust (issue 16's contract, docs/graph.md "Training on engine = webgpu"), as checkServingGraph
 * (validate.ts) is for serving. Per program, the steps are walked in order with every block
 * instanced per layer and microbatch:
 *  - every name a step binds is a tensor of the graph (owned by the program's stage) or one of
 *    the program's buffers (`graph.buffers`);
 *  - every tracked tensor (saved activations, logits, token ids, labels) a step reads or writes
 *    is allocated then and not yet freed; each is allocated once and freed by the end;
 *  - a reused buffer is written before it is read (the RoPE table and the token positions are filled at load);
 *  - every gradient the stage owns is written by some step before the optimizer reads it, and
 *    every weight it owns is updated by an optimizer step;
 *  - each backward step reads the saved parts its kind needs (attention: q, k, v, the output and
 *    its log-sum-exp; a matmul: its input), and each saved part's shape and bytes agree: T rows,
 *    its bytes the f32 elements of its shape over its shards.
 * Pure; problems in walk order, at most MAX_PROBLEMS.
 */
import { GRAPH_FORMAT, GRAPH_VERSION, type Graph, type GraphTensor, type Step } from './types.js';
import type { GraphProblem } from './validate.js';

const MAX_PROBLEMS = 20;

/** Roles whose tensors steps allocate and free. */
const TRACKED = new Set<GraphTensor['role']>(['activation', 'logits', 'input']);

/** Buffers filled when the program is loaded, never by a step. */
const LOADED = new Set(['rope', 'positions']);

/** What a backward step of each kind must read of the layer's saved parts (any one of the alternatives). */
const NEEDS: Record<string, string[][]> = {
  'mlp-down': [['mlp.act']],
  'mlp-up': [['ln2.out']],
  'out-proj': [['attn.out']],
  attention: [['q', 'k', 'v', 'attn.out', 'attn.lse']],
  qkv: [['ln1.out']],
  'mlp-act': [['up']],
  norm: [
    ['h1', 'ln2.rstd'],
    ['x', 'ln1.rstd'],
  ],
};

const SAVED = 'act.{l}.mb{m}.';
const MATMULS = new Set(['mlp-down', 'mlp-up', 'out-proj', 'qkv']);

/** The saved parts a step must read: a matmul's input in its backward (or its W), the rest in backward (or I). */
function needsOf(kind: string, pass: string): string[][] | undefined {
  if (pass === 'backward') return NEEDS[kind];
  if (pass === 'backward-input') return MATMULS.has(kind) ? undefined : NEEDS[kind];
  if (pass === 'backward-weight') return MATMULS.has(kind) ? NEEDS[kind] : undefined;
  return undefined;
}

export function checkTrainingGraph(graph: Graph): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const fail = (path: string, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ path, message: `${path}: ${message}` });
  };
  if (graph.format !== GRAPH_FORMAT || graph.version !== GRAPH_VERSION) {
    fail('graph.version', `must be a ${GRAPH_FORMAT} graph of version ${GRAPH_VERSION}: recompile the plan with this parplan`);
    return problems;
  }
  if (graph.plan.mode !== 'train' || graph.plan.engine !== 'webgpu') {
    fail(
      'graph.plan',
      `plan '${graph.plan.name}' is not a training plan for engine = webgpu (mode = ${graph.plan.mode}, engine = ${graph.plan.engine ?? 'generic'})`,
    );
    return problems;
  }
  const tensors = new Map(graph.tensors.map((t) => [t.name, t]));
  checkTrackedShapes(graph, fail);
  for (const program of Object.values(graph.programs)) {
    const path = `graph.programs.${program.id}`;
    const buffers = new Set((graph.buffers?.[program.id] ?? []).map((b) => b.name));
    const stage = program.stage;
    const layerOf = (name: string) => name.replace(/(^|\.)layers\.\d+\./, '$1layers.{l}.').replace(/^(act|wgrad)\.\d+\./, '$1.{l}.');
    const template = (name: string) => layerOf(name).replace(/\.mb\d+(?=\.|$)/, '.mb{m}');
    /** The tensor a name instances, or undefined for a buffer (or a problem when it is neither). */
    const resolve = (name: string, where: string): GraphTensor | undefined | null => {
      const t = tensors.get(template(name));
      if (t) {
        if (!t.owners.includes(stage)) fail(where, `binds '${name}', which stage ${stage} does not hold (owners ${t.owners.join(', ')})`);
        return t;
      }
      if (buffers.has(name.replace(/\.s\d+$/, ''))) return undefined;
      fail(where, `binds '${name}', which is neither a tensor of the graph nor a buffer of ${program.id}`);
      return null;
    };
    const live = new Map<string, string>(); // instance → where allocated
    const written = new Set<string>();
    const gradsWritten = new Set<string>();
    const updated = new Set<string>();
    const subst = (name: string, l: number | undefined, m: number | undefined) =>
      name.replaceAll('{l}', l === undefined ? '{l}' : `${l}`).replaceAll('{m}', m === undefined ? '{m}' : `${m}`);
    const visit = (s: Step, where: string, l: number | undefined, m: number | undefined) => {
      if (s.op === 'action') return;
      if (s.op === 'block') {
        const steps = graph.blocks[s.block];
        if (!steps) return fail(where, `names block '${s.block}', which the graph does not have`);
        const [a, b] = s.layers;
        for (let i = 0; i <= b - a; i++) {
          const layer = s.reverse ? b - i : a + i;
          steps.forEach((x, j) =>
            visit(
              x,
              `graph.blocks.${s.block}[${j}] (layer ${layer}${s.microbatch === undefined ? '' : `, microbatch ${s.microbatch}`})`,
              layer,
              s.microbatch,
            ),
          );
        }
        return;
      }
      const mb = s.microbatch ?? m;
      if (s.op === 'send' || s.op === 'recv') {
        if (s.op === 'recv') written.add(s.tensor.replace(/\.s\d+$/, ''));
        resolve(s.tensor, where);
        return;
      }
      if (s.op !== 'compute') {
        if (!('axis' in s)) return;
        if (s.tensor.includes('*')) fail(where, `names '${s.tensor}': a collective names one tensor or bucket, never a wildcard`);
        const t = resolve(subst(s.tensor, l, mb), where);
        if (s.into) {
          const into = subst(s.into, l, mb);
          resolve(into, where);
          written.add(into);
          if (into.startsWith('grad.')) gradsWritten.add(into);
        } else if (t === undefined) written.add(s.tensor);
        return;
      }
      const label = `${where} (${s.kind} ${s.pass})`;
      const inst = (n: string) => subst(n, l, mb);
      for (const n of s.alloc ?? []) {
        const name = inst(n);
        const t = resolve(name, label);
        if (t && !TRACKED.has(t.role)) fail(label, `allocates '${name}', a ${t.role} that lives for the whole run`);
        if (live.has(name)) fail(label, `allocates '${name}' again (allocated by ${live.get(name)})`);
        live.set(name, label);
      }
      for (const n of s.reads) {
        if (n.includes('*')) {
          fail(label, `reads '${n}': a step names the tensors it binds, never a wildcard`);
          continue;
        }
        const name = inst(n);
        const t = resolve(name, label);
        if (t && TRACKED.has(t.role) && !live.has(name))
          fail(label, `reads '${name}', which is not allocated then (never written, or already freed)`);
        if (t === undefined && !written.has(name) && !LOADED.has(name)) fail(label, `reads the buffer '${name}' before any step writes it`);
        if (t?.role === 'gradient' && s.kind === 'optimizer' && !gradsWritten.has(name))
          fail(label, `reads '${name}', which no step before it writes`);
      }
      const needs = needsOf(s.kind, s.pass);
      if (needs && l !== undefined) {
        const parts = s.reads.filter((r) => r.startsWith(SAVED)).map((r) => r.slice(SAVED.length));
        if (!needs.some((alt) => alt.every((p) => parts.includes(p))))
          fail(
            label,
            `reads ${parts.length ? parts.map((p) => `'${p}'`).join(', ') : 'no saved part'}; its ${s.pass} needs ${needs.map((a) => a.map((p) => `'${p}'`).join(', ')).join(' or ')}`,
          );
      }
      for (const n of s.writes) {
        const name = inst(n);
        const t = resolve(name, label);
        if (t && TRACKED.has(t.role) && !live.has(name)) fail(label, `writes '${name}', which is not allocated then`);
        if (t === undefined) written.add(name);
        if (t?.role === 'gradient') gradsWritten.add(name);
        if (t?.role === 'weight' && s.kind === 'optimizer') updated.add(name);
      }
      for (const n of s.free ?? []) {
        const name = inst(n);
        if (!live.has(name)) fail(label, `frees '${name}', which is not allocated then`);
        live.delete(name);
      }
    };
    for (const [phase, steps] of Object.entries(program.phases))
      steps.forEach((s, i) => visit(s, `${path}.phases.${phase}[${i}]`, undefined, undefined));
    for (const [name, where] of live) fail(path, `'${name}' allocated by ${where} is never freed`);
    // Every weight of the stage is updated, every gradient of it written.
    for (const t of graph.tensors) {
      if (!t.owners.includes(stage) || t.members) continue;
      for (const name of instances(graph, t, stage)) {
        if (t.role === 'weight' && !name.startsWith('gathered.') && !updated.has(name))
          fail(path, `weight '${name}' is never updated by an optimizer step`);
        if (t.role === 'gradient' && !name.startsWith('gradbuf.') && !gradsWritten.has(name))
          fail(path, `gradient '${name}' is never written`);
      }
    }
  }
  return problems;
}

/** A persistent tensor's names on one stage: one per layer the stage runs for `layer` scope. */
function instances(graph: Graph, t: GraphTensor, stage: number): string[] {
  if (t.scope !== 'layer') return [t.name];
  const layers = graph.mesh.stages
    .filter((s) => s.rank === stage)
    .flatMap((s) => Array.from({ length: s.lastLayer - s.firstLayer + 1 }, (_, i) => s.firstLayer + i));
  return layers.map((l) => t.name.replaceAll('{l}', `${l}`));
}

/** Each tracked tensor: T rows (the same for all; token ids [micro, seq]), and bytes = f32 elements of its shape over its shards. */
function checkTrackedShapes(graph: Graph, fail: (path: string, message: string) => void): void {
  let rows: number | undefined;
  graph.tensors.forEach((t, i) => {
    if (!TRACKED.has(t.role)) return;
    const path = `graph.tensors[${i}] (${t.name})`;
    const shape = t.shape.map((x) => (typeof x === 'number' ? x : NaN));
    if (shape.some((x) => !Number.isInteger(x) || x < 1)) return fail(path, `shape [${t.shape.join(', ')}] must be whole numbers`);
    // Token ids and labels are [micro, seq] (the executor needs seq): micro × seq rows.
    const own = t.role === 'input' ? shape.reduce((a, b) => a * b, 1) : shape[0];
    if (rows === undefined) rows = own;
    else if (own !== rows) fail(path, `has ${own} rows where the other saved tensors have ${rows} (micro × seq tokens)`);
    const parts = t.shards.reduce((a, s) => a * s.parts, 1);
    const bytes = (shape.reduce((a, b) => a * b, 1) / parts) * 4;
    if (t.bytes !== bytes)
      fail(
        path,
        `bytes = ${t.bytes}, but its shape [${t.shape.join(', ')}] over ${parts} shard${parts === 1 ? '' : 's'} is ${bytes} B of f32`,
      );
  });
}
