import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import { COLLECTIVE_OPS, EXPERT_AXES, HSDP_AXES, isCollective, type Graph, type Step } from '../../src/graph/types.js';
import { MESH_AXIS_NAMES } from '../../src/mesh.js';
import { compileBody, GRAPH_SCHEMA as schema, validateGraph } from './helpers.js';

function planFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'misfit' ? [] : planFiles(join(dir, e.name))) : e.name.endsWith('.plan') ? [join(dir, e.name)] : [],
  );
}

const collectives = (steps: Step[]) => steps.filter(isCollective).map((s) => `${s.op}:${s.axis}`);

describe('graph.schema.json', () => {
  it('names the mesh axes, their coordinates and the collectives as src/mesh.ts and the graph types do', () => {
    expect(schema.$defs.meshAxis.enum).toEqual(MESH_AXIS_NAMES);
    const device = schema.properties.devices.items.properties;
    expect(device.coords.required).toEqual(MESH_AXIS_NAMES);
    expect(Object.keys(device.coords.properties)).toEqual(MESH_AXIS_NAMES);
    expect(schema.properties.groups.required).toEqual([...MESH_AXIS_NAMES, 'embedding']);
    expect(Object.keys(schema.properties.groups.properties)).toEqual([...MESH_AXIS_NAMES, 'embedding', ...EXPERT_AXES, ...HSDP_AXES]);
    expect(schema.$defs.expertAxis.enum).toEqual(EXPERT_AXES);
    expect(schema.$defs.hsdpAxis.enum).toEqual(HSDP_AXES);
    const ops = schema.$defs.steps.items.oneOf.flatMap((s: { properties: { op: { enum?: string[] } } }) => s.properties.op.enum ?? []);
    for (const op of COLLECTIVE_OPS) expect(ops).toContain(op);
  });
});

describe('graphs of the examples', () => {
  const results = analyze(planFiles('examples')).results;
  it('every passing example has a plan', () => expect(results.length).toBeGreaterThanOrEqual(11));
  for (const r of results) {
    it(`${r.plan.name}: validates against graph.schema.json and simulates without deadlock`, () => {
      const c = compilePlan(r.plan, r.memory);
      const ok = validateGraph(JSON.parse(JSON.stringify(c.graph)));
      expect(validateGraph.errors ?? [], JSON.stringify(validateGraph.errors?.slice(0, 3))).toEqual([]);
      expect(ok).toBe(true);
      expect(c.simulation.problems).toEqual([]);
      expect(c.simulation.deadlock).toBeUndefined();
      expect(c.diagnostics).toEqual([]);
      // One program per pipeline stage, shared by its tensor ranks and replicas.
      expect(Object.keys(c.graph.programs)).toHaveLength(r.plan.mesh.pipeline);
      expect(c.graph.devices).toHaveLength(r.plan.mesh.tensor * r.plan.mesh.context * r.plan.mesh.pipeline * r.plan.mesh.data);
    });
  }
});

describe('tensor-parallel collectives in a layer', () => {
  it('tensor = 1: none', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = train  data = 8  batch { global = 8  seq = 128 }');
    expect(collectives(c.graph.blocks['layer.forward']!)).toEqual([]);
    expect(collectives(c.graph.blocks['layer.backward']!)).toEqual([]);
  });
  it('tensor = 2: an all-reduce after each row-parallel layer forward, after each column-parallel layer backward', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = train  tensor = 2  data = 4  batch { global = 8  seq = 128 }');
    expect(collectives(c.graph.blocks['layer.forward']!)).toEqual(['all-reduce:tensor', 'all-reduce:tensor']);
    expect(collectives(c.graph.blocks['layer.backward']!)).toEqual(['all-reduce:tensor', 'all-reduce:tensor']);
    const fwd = c.graph.blocks['layer.forward']!.map((s) => (s.op === 'compute' ? s.kind : s.op));
    expect(fwd.indexOf('all-reduce')).toBe(fwd.indexOf('out-proj') + 1);
    expect(fwd.lastIndexOf('all-reduce')).toBe(fwd.indexOf('mlp-down') + 1);
  });
  it('tensor = 2 with sequence parallel: all-gather before each column-parallel layer, reduce-scatter after each row-parallel one', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  tensor = 2  sequence_parallel = true  data = 4  batch { global = 8  seq = 128 }',
    );
    expect(collectives(c.graph.blocks['layer.forward']!)).toEqual([
      'all-gather:tensor',
      'reduce-scatter:tensor',
      'all-gather:tensor',
      'reduce-scatter:tensor',
    ]);
    expect(collectives(c.graph.blocks['layer.backward']!)).toEqual([
      'all-gather:tensor',
      'reduce-scatter:tensor',
      'all-gather:tensor',
      'reduce-scatter:tensor',
    ]);
  });
  it('full recomputation repeats the forward (and its collectives) before the backward', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  tensor = 2  data = 4  recompute = full  batch { global = 8  seq = 128 }',
    );
    expect(collectives(c.graph.blocks['layer.backward']!)).toEqual([
      'all-reduce:tensor',
      'all-reduce:tensor',
      'all-reduce:tensor',
      'all-reduce:tensor',
    ]);
  });
});

describe('data parallelism and ZeRO', () => {
  const sync = (zero: number) => {
    const c = compileBody(`model = llama_tiny  cluster = node8  mode = train  data = 8  zero = ${zero}  batch { global = 8  seq = 128 }`);
    const step = c.graph.programs['stage0']!.phases['step']!;
    return {
      end: collectives(step),
      forward: collectives(c.graph.blocks['layer.forward']!),
      backward: collectives(c.graph.blocks['layer.backward']!),
      c,
    };
  };
  /** The gradient reductions of the last backward: one per layer, last layer first, on the communication stream; then the rest. */
  const buckets = (s: ReturnType<typeof sync>, op: string) => {
    const step = s.c.graph.programs['stage0']!.phases['step']!.filter(isCollective);
    const layers = step.filter((x) => x.tensor.startsWith('grad.layers.'));
    expect(layers.map((x) => `${x.op}:${x.axis}:${x.tensor}:${x.overlap}`)).toEqual(
      [7, 6, 5, 4, 3, 2, 1, 0].map((l) => `${op}:data:grad.layers.${l}.*:true`),
    );
    // Every gradient once: the layers' buckets and the rest add up to all of the stage's fp32 gradients.
    const rest = step.find((x) => x.tensor === 'grad.*')!;
    expect(rest.overlap).toBeUndefined();
    const grads = s.c.graph.tensors.filter((t) => t.role === 'gradient');
    const all = grads.reduce(
      (n, t) => n + (t.scope === 'layer' ? 8 : 1) * (t.bytes * (t.shards.some((x) => x.over === 'data') ? 8 : 1)),
      0,
    );
    expect(layers.reduce((n, x) => n + x.bytes, 0) + rest.bytes).toBe(all);
    return step;
  };
  it('zero = 0: the gradients all-reduced layer by layer in the last backward (DDP buckets), the rest after it', () => {
    const s = sync(0);
    expect(s.end).toEqual([...Array(8).fill('all-reduce:data'), 'all-reduce:data']);
    expect(s.forward).toEqual([]);
    buckets(s, 'all-reduce');
  });
  it('zero = 1 and 2: reduce-scatter of gradients (per layer in the last backward), optimizer on the shard, all-gather of the weights', () => {
    for (const z of [1, 2]) {
      const s = sync(z);
      expect(s.end).toEqual([...Array(8).fill('reduce-scatter:data'), 'reduce-scatter:data', 'all-gather:data']);
      buckets(s, 'reduce-scatter');
      const step = s.c.graph.programs['stage0']!.phases['step']!;
      const kinds = step.map((x) => (x.op === 'compute' ? x.kind : x.op));
      expect(kinds.slice(-3)).toEqual(['reduce-scatter', 'optimizer', 'all-gather']);
    }
  });
  it('zero = 3: weights gathered before each layer forward and backward, gradients reduce-scattered per layer', () => {
    const s = sync(3);
    expect(s.forward).toEqual(['all-gather:data']);
    expect(s.backward).toEqual(['all-gather:data', 'reduce-scatter:data']);
    expect(s.end).toEqual([]);
  });
  it('data groups hold one rank of each replica, tensor groups the ranks of one stage', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  tensor = 2  pipeline = 2  data = 2  batch { global = 8  seq = 128 }',
    );
    expect(c.graph.groups.tensor).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    expect(c.graph.groups.pipeline).toEqual([
      [0, 2],
      [1, 3],
      [4, 6],
      [5, 7],
    ]);
    expect(c.graph.groups.data).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(c.graph.devices[5]).toMatchObject({
      rank: 5,
      coords: { tensor: 1, context: 0, pipeline: 0, data: 1 },
      groups: { tensor: 2, pipeline: 3, data: 1 },
    });
    expect(c.graph.mesh.axes).toEqual([
      { name: 'tensor', size: 2 },
      { name: 'context', size: 1 },
      { name: 'pipeline', size: 2 },
      { name: 'data', size: 2 },
    ]);
  });
});

describe('pipeline programs follow the schedule', () => {
  const actions = (g: Graph, stage: number) =>
    g.programs[`stage${stage}`]!.phases['step']!.flatMap((s) => (s.op === 'action' ? [s.action] : []));
  it('1F1B, pipeline 4 × 8 microbatches: the programs run the schedule table in order', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = train  pipeline = 4  data = 2  batch { global = 16  seq = 128 }');
    for (let s = 0; s < 4; s++) expect(actions(c.graph, s)).toEqual(c.graph.schedule!.actions[s]);
    expect(actions(c.graph, 3).slice(0, 4)).toEqual(['3F0', '3B0', '3F1', '3B1']);
    expect(actions(c.graph, 0).slice(0, 5)).toEqual(['0F0', '0F1', '0F2', '0F3', '0B0']);
  });
  it('every forward on a later stage receives from the stage before, and every send is received', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = train  pipeline = 4  data = 2  batch { global = 16  seq = 128 }');
    const p1 = c.graph.programs['stage1']!.phases['step']!;
    expect(p1.filter((s) => s.op === 'recv').length).toBe(16);
    expect(p1.filter((s) => s.op === 'send').length).toBe(16);
    expect(c.simulation.ok).toBe(true);
  });
  it('interleaved: virtual stages alternate over the ranks, the last rank sends to the first', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  pipeline = 2  schedule = interleaved  virtual = 2  data = 4  batch { global = 16  seq = 128 }',
    );
    expect(c.graph.mesh.stages.map((s) => `${s.index}@${s.rank}:${s.firstLayer}..${s.lastLayer}`)).toEqual([
      '0@0:0..1',
      '1@1:2..3',
      '2@0:4..5',
      '3@1:6..7',
    ]);
    expect(c.simulation.ok).toBe(true);
  });
  it('serving: prefill then decode, the last stage sends sampled tokens back to the first', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = serve  pipeline = 2  tensor = 2  data = 2  batch { max_batch = 4  seq = 256 }',
    );
    const last = c.graph.programs['stage1']!.phases;
    expect(Object.keys(last)).toEqual(['prefill', 'decode']);
    expect(last['decode']!.map((s) => s.op).slice(-1)).toEqual(['send']);
    expect(c.graph.programs['stage0']!.phases['decode']![0]).toMatchObject({ op: 'recv', tensor: 'tokens' });
    expect(c.graph.symbols).toMatchObject({ batch: { max: 4 }, seq: { max: 256 } });
    expect(c.simulation.ok).toBe(true);
  });
});

describe('memory timeline from the simulation vs the memory model', () => {
  it('1F1B: the simulated peak of every stage equals the formula exactly', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = train  pipeline = 4  tensor = 2  batch { global = 16  seq = 128 }');
    for (const t of c.simulation.ranks) expect(t.peakBytes, `rank ${t.rank}`).toBe(t.planBytes);
  });
  it("GPipe: equal except the last stage, which keeps every microbatch's logits until its backward (the formula counts one)", () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  pipeline = 4  schedule = gpipe  batch { global = 8  seq = 128 }',
    );
    const [r0, , , r3] = c.simulation.ranks;
    expect(r0!.peakBytes).toBe(r0!.planBytes);
    const outputBytes = c.graph.tensors.find((t) => t.name === 'output.mb{m}')!.bytes;
    expect(r3!.peakBytes - r3!.planBytes).toBe(7 * outputBytes);
  });
  it("interleaved: every stage equals the formula (Megatron's factor for layers, 2p microbatches of embedding input on the first)", () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  pipeline = 2  schedule = interleaved  virtual = 2  data = 4  batch { global = 16  seq = 128 }',
    );
    for (const t of c.simulation.ranks) expect(t.peakBytes, `rank ${t.rank}`).toBe(t.planBytes);
  });
  it('serving: the first stage equals the formula; the last is lower by the logits, which the formula adds to the prefill peak (they coexist under continuous batching) while this prefill frees its scratch before the head', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = serve  pipeline = 2  batch { max_batch = 4  seq = 256 }');
    const [r0, r1] = c.simulation.ranks;
    expect(r0!.peakBytes).toBe(r0!.planBytes);
    const logits = c.graph.tensors.find((t) => t.name === 'logits')!.bytes;
    expect(r1!.planBytes - r1!.peakBytes).toBe(logits);
  });
});
