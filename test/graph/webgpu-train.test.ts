/**
 * engine = webgpu training graphs (issue 16): every step names the tensors it binds
 * (checkTrainingGraph finds nothing wrong), and the simulation's memory timeline peaks at the
 * memory plan's total on every rank, to the byte, over the executor's test matrix: tensor 1/2 ×
 * pipeline 1/2 × data 1/2, each schedule (gpipe, 1f1b, interleaved with virtual 2, a table with
 * W actions), ZeRO 0–3, recompute none/full, tiny GPT-2 and Llama.
 */
import { describe, expect, it } from 'vitest';
import { ratesFor } from '../../src/compile.js';
import { simulate } from '../../src/graph/simulate.js';
import { checkTrainingGraph } from '../../src/graph/validate-train.js';
import { checkServingGraph } from '../../src/graph/validate.js';
import type { Graph, Step } from '../../src/graph/types.js';
import { compileSource, validateGraph } from './helpers.js';

const PRELUDE = `
model gpt2_tiny { arch = gpt2  layers = 4  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32 }
model llama_tiny { arch = llama  layers = 4  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = 97  max_seq = 64  dtype = fp32 }
cluster soft8 {
  gpu { name = "lavapipe"  memory = 2 GiB }
  gpus = 8
}
`;

export function compileWebgpu(body: string) {
  const text = `${PRELUDE}\nplan p {\n  cluster = soft8  mode = train  engine = webgpu\n${body}\n}\n`;
  return compileSource(text);
}

/** ZB-H1-like table for 2 stages and 4 microbatches: 1F1B with B split into I and W, rank r deferring up to r W's. */
const TABLE = 'actions = ["0F0 0F1 0I0 0W0 0F2 0I1 0W1 0F3 0I2 0W2 0I3 0W3", "1F0 1I0 1F1 1I1 1W0 1F2 1I2 1W1 1F3 1I3 1W2 1W3"]';

interface Case {
  model: string;
  t: number;
  p: number;
  d: number;
  schedule: 'gpipe' | '1f1b' | 'interleaved' | 'table';
  zero: number;
  recompute: 'none' | 'full';
}

function body(c: Case, extra = ''): string {
  const sched =
    c.p === 1
      ? ''
      : c.schedule === 'table'
        ? TABLE
        : c.schedule === 'interleaved'
          ? 'schedule = interleaved  virtual = 2'
          : `schedule = ${c.schedule}`;
  const micro = c.p === 1 ? 2 : 1;
  const global = 4 * micro * c.d;
  return `  model = ${c.model}  tensor = ${c.t}  pipeline = ${c.p}  data = ${c.d}  ${sched}
  zero = ${c.zero}  recompute = ${c.recompute}  ${extra}
  batch { global = ${global}  micro = ${micro}  seq = 16 }`;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const model of ['gpt2_tiny', 'llama_tiny'])
    for (const t of [1, 2])
      for (const p of [1, 2])
        for (const d of [1, 2])
          for (const schedule of p === 1 ? (['1f1b'] as const) : (['gpipe', '1f1b', 'interleaved', 'table'] as const))
            for (const zero of d === 1 ? [0] : [0, 1, 2, 3])
              for (const recompute of ['none', 'full'] as const) out.push({ model, t, p, d, schedule, zero, recompute });
  return out;
}

describe('engine = webgpu training graphs', () => {
  it('the matrix: the graph checks, and every simulated rank peaks at its memory plan total', () => {
    const all = cases();
    expect(all.length).toBeGreaterThan(150);
    for (const c of all) {
      const name = JSON.stringify(c);
      const r = compileWebgpu(body(c, 'grad_clip = 1.0'));
      expect(r.simulation.problems, name).toEqual([]);
      expect(r.simulation.ok, name).toBe(true);
      expect(checkTrainingGraph(r.graph), name).toEqual([]);
      expect(validateGraph(JSON.parse(JSON.stringify(r.graph))), `${name}: ${JSON.stringify(validateGraph.errors?.slice(0, 3))}`).toBe(
        true,
      );
      for (const trace of r.simulation.ranks) expect(trace.peakBytes, `${name} rank ${trace.rank}`).toBe(trace.planBytes);
    }
  });

  it('uneven stages, layouts, odd token counts, ZeRO-3 without resharding: the graph checks and peaks at the plan', () => {
    for (const b of [
      'model = gpt2_tiny  pipeline = 2  batch { global = 3  micro = 3  seq = 7 }',
      'model = llama_tiny  pipeline = 2  schedule = gpipe  batch { global = 1  micro = 1  seq = 5 }',
      'model = gpt2_tiny  tensor = 2  data = 4  zero = 3  reshard_after_forward = false  batch { global = 8  micro = 1  seq = 9 }',
      'model = gpt2_tiny  pipeline = 2  layout = "Ett|ttL"  batch { global = 4  micro = 1  seq = 8 }',
      'model = gpt2_tiny  pipeline = 2  virtual = 2  schedule = interleaved  layout = "Et|t|t|tL"  batch { global = 4  micro = 1  seq = 8 }',
    ]) {
      const r = compileWebgpu(b);
      expect(r.simulation.problems, b).toEqual([]);
      expect(checkTrainingGraph(r.graph), b).toEqual([]);
      for (const t of r.simulation.ranks) expect(t.peakBytes, b).toBe(t.planBytes);
    }
  });

  it('bf16 weights with an fp32 master, SGD: optim.X holds [master] or [master, m, v]; peak = plan total', () => {
    for (const [precision, optimizer, copies] of [
      ['bf16', 'adamw', 3],
      ['bf16', 'sgd', 1],
      ['fp32', 'sgd', 0],
    ] as const) {
      const c: Case = { model: 'llama_tiny', t: 2, p: 2, d: 2, schedule: '1f1b', zero: 1, recompute: 'full' };
      const r = compileWebgpu(body(c, `precision = ${precision}  optimizer = ${optimizer}`));
      expect(r.simulation.problems).toEqual([]);
      expect(checkTrainingGraph(r.graph)).toEqual([]);
      for (const trace of r.simulation.ranks) expect(trace.peakBytes).toBe(trace.planBytes);
      const q = r.graph.tensors.find((t) => t.name === 'layers.{l}.attn.q.weight')!;
      expect(q.dtype).toBe(precision);
      const optim = r.graph.tensors.find((t) => t.name === 'optim.layers.{l}.attn.q.weight');
      expect(optim?.shape[0]).toBe(copies === 0 ? undefined : copies);
      // Optimizer bytes: copies × 4 B per parameter, over 2 data ranks (ZeRO-1).
      const params = r.memory.devices[0]!.params;
      expect(r.memory.devices[0]!.breakdown.optimizer).toBe(Math.ceil(params / 2) * copies * 4);
    }
  });

  it("a stage boundary's send and recv carry the f32 activations (the `hidden` buffer's bytes) whatever the weights' precision", () => {
    for (const precision of ['fp32', 'bf16'] as const) {
      const r = compileWebgpu(
        body({ model: 'llama_tiny', t: 2, p: 2, d: 1, schedule: 'table', zero: 0, recompute: 'none' }, `precision = ${precision}`),
      );
      for (const program of Object.values(r.graph.programs)) {
        const hidden = r.graph.buffers![program.id]!.find((b) => b.name === 'hidden')!.bytes;
        const p2p = program.phases['step']!.filter((s) => s.op === 'send' || s.op === 'recv');
        expect(p2p.length).toBeGreaterThan(0);
        for (const s of p2p) expect((s as { bytes: number }).bytes, `${precision} ${program.id} ${s.op}`).toBe(hidden);
      }
    }
  });

  it('names no wildcard and lists the saved parts of the contract', () => {
    const r = compileWebgpu(body({ model: 'llama_tiny', t: 2, p: 2, d: 2, schedule: '1f1b', zero: 3, recompute: 'none' }));
    const json = JSON.stringify(r.graph.programs) + JSON.stringify(r.graph.blocks);
    expect(json).not.toContain('*');
    const names = new Set(r.graph.tensors.map((t) => t.name));
    for (const part of [
      'x',
      'ln1.rstd',
      'ln1.out',
      'q',
      'k',
      'v',
      'attn.out',
      'attn.lse',
      'h1',
      'ln2.rstd',
      'ln2.out',
      'gate',
      'up',
      'mlp.act',
    ])
      expect(names.has(`act.{l}.mb{m}.${part}`), part).toBe(true);
    expect(names.has('act.{l}.mb{m}.ln1.mean')).toBe(false); // RMSNorm keeps no mean
    // The qkv backward writes the gradients of q, k and v (ZeRO-3: into the full buffers it reduce-scatters).
    const qkv = r.graph.blocks['layer.backward']!.find((s) => s.op === 'compute' && s.kind === 'qkv') as Extract<Step, { op: 'compute' }>;
    for (const w of ['q', 'k', 'v']) expect(qkv.writes).toContain(`gradbuf.layers.{l}.attn.${w}.weight`);
    expect(r.graph.version).toBe(4);
    expect(r.graph.plan.engine).toBe('webgpu');
  });

  it('mutations: a dropped free, a misnamed saved part and a dropped gradient are found', () => {
    const r = compileWebgpu(body({ model: 'gpt2_tiny', t: 2, p: 2, d: 2, schedule: '1f1b', zero: 1, recompute: 'full' }));
    const mutate = (f: (g: Graph) => void): Graph => {
      const g = structuredClone(r.graph);
      f(g);
      return g;
    };
    const computeIn = (g: Graph, block: string, kind: string) =>
      g.blocks[block]!.find((s) => s.op === 'compute' && s.kind === kind && s.pass !== 'recompute') as Extract<Step, { op: 'compute' }>;
    // Drop the free of the attention's saved parts.
    const noFree = mutate((g) => delete computeIn(g, 'layer.backward', 'attention').free);
    expect(checkTrainingGraph(noFree).some((p) => /act\.\d+\.mb\d+\.q' allocated by .* is never freed/.test(p.message))).toBe(true);
    // The attention backward reads a part nobody saved.
    const misnamed = mutate((g) => {
      const s = computeIn(g, 'layer.backward', 'attention');
      s.reads = s.reads.map((x) => (x === 'act.{l}.mb{m}.attn.lse' ? 'act.{l}.mb{m}.lse' : x));
    });
    expect(checkTrainingGraph(misnamed).some((p) => p.message.includes("binds 'act.") && p.message.includes(".lse'"))).toBe(true);
    // The qkv backward writes only the q weight's gradient (the generic lowering's shortcut).
    const onlyQ = mutate((g) => {
      const s = computeIn(g, 'layer.backward', 'qkv');
      s.writes = s.writes.filter((w) => !/attn\.[kv]\./.test(w));
    });
    expect(
      checkTrainingGraph(onlyQ).some((p) =>
        /gradient 'grad\.layers\.\d+\.attn\.k\.weight' is never written|reads 'grad\.layers\.\d+\.attn\.k\.weight', which no step/.test(
          p.message,
        ),
      ),
    ).toBe(true);
  });

  it('mutation: a dropped free moves the simulated peak off the memory plan', () => {
    const r = compileWebgpu(body({ model: 'llama_tiny', t: 1, p: 2, d: 1, schedule: '1f1b', zero: 0, recompute: 'none' }));
    expect(r.simulation.ranks.every((t) => t.peakBytes === t.planBytes)).toBe(true);
    const g = structuredClone(r.graph);
    const attention = g.blocks['layer.backward']!.find((s) => s.op === 'compute' && s.kind === 'attention') as Extract<
      Step,
      { op: 'compute' }
    >;
    attention.free = attention.free!.filter((f) => f !== 'act.{l}.mb{m}.q');
    const sim = simulate(g, { rates: ratesFor(r.plan) });
    expect(sim.ranks.some((t) => t.peakBytes > t.planBytes)).toBe(true);
    expect(checkTrainingGraph(g).some((p) => p.message.includes('is never freed'))).toBe(true);
  });

  it('the serving runtime refuses it: training graphs are not executed yet', () => {
    const r = compileWebgpu(body({ model: 'gpt2_tiny', t: 1, p: 1, d: 1, schedule: '1f1b', zero: 0, recompute: 'none' }));
    const problems = checkServingGraph(JSON.parse(JSON.stringify(r.graph)));
    expect(problems[0]?.headline).toBe(
      "plan 'p' is a training plan for engine = webgpu; training graphs are not executed yet (serve runs serving plans)",
    );
  });

  it('--emit ts writes a module for it (the generated types name the training plan)', async () => {
    const { generateTs } = await import('../../src/codegen/ts.js');
    const r = compileWebgpu(body({ model: 'llama_tiny', t: 2, p: 2, d: 1, schedule: 'table', zero: 0, recompute: 'full' }));
    const ts = await generateTs(r.graph, { version: '0.0.0' });
    expect(ts).toContain("export type Mode = 'train';");
    expect(ts).toContain('version: 4,');
    expect(ts).toContain("'act.{l}.mb{m}.attn.lse'");
  });
});
