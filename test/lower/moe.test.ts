/**
 * A MoE model lowered: per-layer blocks (a leading dense layer, then MoE layers), the all-to-all
 * dispatch and combine on the expert group with the bytes computed by hand, the expert-data
 * gradient all-reduce, and the simulation charging the all-to-alls.

 */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { checkProgram } from '../../src/check/index.js';
import { layerFlops, trainDims } from '../../src/cost/flops.js';
import { checkGroups, simulate } from '../../src/graph/simulate.js';
import { checkServingGraph } from '../../src/graph/validate.js';
import type { Graph, Step } from '../../src/graph/types.js';
import { lower } from '../../src/lower/index.js';
import type { MemoryPlan } from '../../src/memory/types.js';
import type { CheckedPlan, TrainPlan } from '../../src/plan.js';
import { validateGraph } from '../graph/helpers.js';

const MODELS = `
model moe {
  arch = llama  layers = 4  hidden = 256  heads = 8  kv_heads = 4  ffn = 512  vocab = 1000  max_seq = 512  dtype = bf16
  experts = 8  experts_per_token = 2  expert_ffn = 128  dense_layers = 1
}
model dense {
  arch = llama  layers = 4  hidden = 256  heads = 8  kv_heads = 4  ffn = 512  vocab = 1000  max_seq = 512  dtype = bf16
}
model mla {
  arch = llama  layers = 4  hidden = 256  heads = 8  ffn = 512  vocab = 1000  max_seq = 512  dtype = bf16
  q_lora_rank = 64  kv_lora_rank = 32  qk_nope_head_dim = 32  qk_rope_head_dim = 16  v_head_dim = 32
  experts = 8  experts_per_token = 2  expert_ffn = 128  shared_experts = 1  shared_expert_ffn = 128  dense_layers = 1
}
model windowed {
  arch = llama  layers = 4  hidden = 256  heads = 8  kv_heads = 4  ffn = 512  vocab = 1000  max_seq = 512  dtype = bf16
  sliding_window = 128  sliding_window_pattern = 2
}
cluster node8 { gpu = H100_SXM_80GB  gpus = 8 }
`;

function checked(body: string): CheckedPlan {
  const { ast, diagnostics } = parse(`${MODELS}\nplan p {\n${body}\n}\n`, 'moe.plan');
  const r = checkProgram([ast], ast);
  const errors = [...diagnostics, ...r.diagnostics].filter((d) => d.severity === 'error');
  if (errors.length > 0 || r.plans.length !== 1) throw new Error(errors.map((d) => `${d.code} ${d.message}`).join('; '));
  return r.plans[0]!;
}

/** A memory plan with every device's bytes zero: lowering copies them into the graph, nothing here reads them. */
function noMemory(plan: CheckedPlan): MemoryPlan {
  const n = plan.mesh.tensor * plan.mesh.pipeline * plan.mesh.data;
  const breakdown = { weights: 0, gradients: 0, optimizer: 0, activations: 0, kvCache: 0, workspace: 0 };
  return {
    plan: plan.name,
    params: 0,
    devices: Array.from({ length: n }, (_, rank) => ({ rank, breakdown, totalBytes: 0 })),
  } as unknown as MemoryPlan;
}

const TRAIN = `model = moe  cluster = node8  mode = train
  tensor = 2  data = 4  expert = 4  expert_tensor = 1  sequence_parallel = true
  batch { global = 16  micro = 1  seq = 256 }`;

const allToAll = (steps: Step[]) => steps.filter((s) => s.op === 'all-to-all');

describe('a MoE model lowered for training (tensor 2 × data 4, expert 4, expert_tensor 1)', () => {
  const plan = checked(TRAIN) as TrainPlan;
  const graph = lower(plan, noMemory(plan));

  it('has the expert groups of the mesh: all-to-all over [0 1 2 3] and [4 5 6 7], expert data pairs [r, r + 4]', () => {
    expect(graph.groups.expert).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(graph.groups.expert_data).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(graph.devices[5]!.groups.expert).toBe(1);
    expect(graph.devices[5]!.groups.expert_data).toBe(1);
    expect(graph.mesh.experts).toEqual({ tensor: 1, expert: 4, data: 2 });
  });

  it('runs the leading dense layer and the MoE layers as separate blocks', () => {
    const blocks = graph.programs.stage0!.phases.step!.filter((s) => s.op === 'block');
    expect(blocks.slice(0, 2).map((s) => s.op === 'block' && [s.block, s.layers])).toEqual([
      ['layer.forward.full-dense', [0, 0]],
      ['layer.forward', [1, 3]],
    ]);
    const backward = blocks.find((s) => s.op === 'block' && s.reverse);
    expect(backward?.op === 'block' && [backward.block, backward.layers]).toEqual(['layer.backward', [1, 3]]);
    expect(allToAll(graph.blocks['layer.forward.full-dense']!)).toEqual([]);
  });

  it('dispatch and combine are all-to-alls on the expert group carrying T/t · k · h · 2 bytes, twice more in backward', () => {
    // Each tensor rank routes its sequence-parallel share: 256 tokens / 2 = 128; top-2; hidden 256; bf16.
    const bytes = 128 * 2 * 256 * 2;
    expect(allToAll(graph.blocks['layer.forward']!)).toEqual([
      { op: 'all-to-all', axis: 'expert', tensor: 'dispatch', bytes },
      { op: 'all-to-all', axis: 'expert', tensor: 'y', bytes },
    ]);
    expect(allToAll(graph.blocks['layer.backward']!)).toHaveLength(2);
    expect(allToAll(graph.blocks['layer.backward']!).every((s) => s.op === 'all-to-all' && s.bytes === bytes)).toBe(true);
  });

  it("expert FLOPs: 2 · T/t · k · one expert's parameters, by hand", () => {
    const up = graph.blocks['layer.forward']!.find((s) => s.op === 'compute' && s.kind === 'expert-up');
    // gate + up of one expert: 2 × 256 × 128.
    expect(up?.op === 'compute' && up.flops).toBe(2 * 128 * 2 * (2 * 256 * 128));
  });

  it('expert gradients are all-reduced over the expert-data group, the rest over data', () => {
    const sync = graph.programs.stage0!.phases.step!.filter((s) => s.op === 'all-reduce');
    const experts = sync.find((s) => s.op === 'all-reduce' && s.axis === 'expert_data');
    // 3 MoE layers × 8 experts × 3 × 256 × 128 parameters / (expert 4 × expert_tensor 1), fp32 gradients.
    expect(experts?.op === 'all-reduce' && experts.bytes).toBe(((3 * 8 * 3 * 256 * 128) / 4) * 4);
    expect(sync.some((s) => s.op === 'all-reduce' && s.axis === 'data')).toBe(true);
  });

  it('the simulation charges every all-to-all: (E − 1)/E of its bytes at the intra-node rate', () => {
    const rates = { flops: 1e15, intraNode: 1e11, interNode: 1e10 };
    const withA2a = simulate(graph, { rates });
    expect(withA2a.problems).toEqual([]);
    expect(withA2a.deadlock).toBeUndefined();
    const stripped: Graph = {
      ...graph,
      blocks: Object.fromEntries(Object.entries(graph.blocks).map(([k, steps]) => [k, steps.filter((s) => s.op !== 'all-to-all')])),
    };
    // Every rank simulated: the members of each expert group enter the same all-to-alls in the same order.
    const all = simulate(graph, { rates, ranks: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(all.problems).toEqual([]);
    expect(all.deadlock).toBeUndefined();
    expect(checkGroups(graph)).toEqual([]);
    const without = simulate(stripped, { rates });
    // 4 microbatches × 3 MoE layers × 4 all-to-alls, each 131,072 B × 3/4 at 100 GB/s.
    const expected = 4 * 3 * 4 * ((131072 * 3) / 4 / 1e11);
    expect(withA2a.makespan - without.makespan).toBeCloseTo(expected, 12);
  });
});

describe('per-layer FLOPs', () => {
  it("a MoE block's compute steps add up to the cost model's layerFlops for that layer", () => {
    const plan = checked(TRAIN) as TrainPlan;
    const graph = lower(plan, noMemory(plan));
    const facts = plan.derived.layers.find((f) => f.layer.mlp.kind === 'moe')!;
    const f = layerFlops(plan, trainDims(plan), facts);
    const forward = graph.blocks['layer.forward']!.filter((s) => s.op === 'compute' && s.pass === 'forward');
    const sum = (...kinds: string[]) => forward.reduce((n, s) => n + (s.op === 'compute' && kinds.includes(s.kind) ? s.flops : 0), 0);
    expect(sum('expert-up', 'expert-down', 'mlp-up', 'mlp-down', 'router')).toBe(
      Math.round(f.mlpUp) + Math.round(f.mlpDown) + Math.round(f.router),
    );
    expect(sum('qkv', 'attention', 'out-proj')).toBe(Math.round(f.qkv) + Math.round(f.attention) + Math.round(f.outProj));
  });
});

describe('a MoE model lowered for serving with vLLM-style expert parallelism (tensor 2 × data 4, expert 8)', () => {
  const plan = checked(`model = moe  cluster = node8  mode = serve  tensor = 2  data = 4  expert = 8
  batch { max_batch = 16  seq = 512 }`);
  const graph = lower(plan, noMemory(plan));

  it('one expert group of all eight ranks; experts not tensor-split', () => {
    expect(graph.groups.expert).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(graph.mesh.experts).toEqual({ tensor: 1, expert: 8, data: 1 });
    const up = graph.tensors.find((t) => t.name === 'layers.{l}.mlp.experts.up.weight')!;
    expect(up.shards).toEqual([{ dim: 0, parts: 8, over: 'expert' }]);
    expect(up.layers).toEqual([[1, 3]]);
    // One expert per rank: 128 × 256 bf16.
    expect(up.bytes).toBe(128 * 256 * 2);
  });

  it('decode: each tensor rank routes half the batch, then the tensor group gathers the hidden states back', () => {
    const decode = graph.blocks['layer.decode']!;
    expect(allToAll(decode)).toEqual([
      { op: 'all-to-all', axis: 'expert', tensor: 'dispatch', bytes: 8 * 2 * 256 * 2 },
      { op: 'all-to-all', axis: 'expert', tensor: 'y', bytes: 8 * 2 * 256 * 2 },
    ]);
    expect(decode.at(-1)).toEqual({ op: 'all-gather', axis: 'tensor', tensor: 'hidden', bytes: 16 * 256 * 2 });
    const sim = simulate(graph);
    expect(sim.problems).toEqual([]);
    expect(sim.deadlock).toBeUndefined();
  });
});

describe('graphs of the new layer kinds', () => {
  const cases: [string, string][] = [
    ['MoE, training', TRAIN],
    [
      'MoE, serving with expert parallelism',
      'model = moe  cluster = node8  mode = serve  tensor = 2  data = 4  expert = 8  batch { max_batch = 16  seq = 512 }',
    ],
    [
      'MLA + MoE with a shared expert, training with expert_tensor 2',
      'model = mla  cluster = node8  mode = train  tensor = 2  data = 4  expert = 2  expert_tensor = 2  sequence_parallel = true  batch { global = 16  seq = 256 }',
    ],
    ['MLA + MoE, serving', 'model = mla  cluster = node8  mode = serve  tensor = 2  batch { max_batch = 8  seq = 512 }'],
    [
      'sliding window every other layer, serving',
      'model = windowed  cluster = node8  mode = serve  tensor = 2  batch { max_batch = 8  seq = 512 }',
    ],
    [
      'sliding window, training with pipeline 2',
      'model = windowed  cluster = node8  mode = train  pipeline = 2  batch { global = 8  seq = 256 }',
    ],
  ];
  for (const [name, body] of cases) {
    it(`${name}: validates against graph.schema.json and simulates without deadlock`, () => {
      const plan = checked(body);
      const graph = lower(plan, noMemory(plan));
      const ok = validateGraph(JSON.parse(JSON.stringify(graph)));
      expect(validateGraph.errors ?? [], name).toEqual([]);
      expect(ok).toBe(true);
      const sim = simulate(graph);
      expect(sim.problems).toEqual([]);
      expect(sim.deadlock).toBeUndefined();
    });
  }

  it('a window layer caps its KV cache at the window; an MLA layer stores the latent and the rotary key', () => {
    const w = lower(checked(cases[4]![1]), noMemory(checked(cases[4]![1])));
    const kv = w.tensors.filter((t) => t.name === 'kv.{l}');
    // Pattern 2: layers 1 and 3 attend to everything, 0 and 2 keep at most 128 positions; 2 of 4 KV heads per rank.
    expect(kv.map((t) => [t.shape, t.layers, t.bytes])).toEqual([
      [
        [2, 'batch', 128, 4, 32],
        [
          [0, 0],
          [2, 2],
        ],
        2 * 8 * 128 * 2 * 32 * 2,
      ],
      [
        [2, 'batch', 'seq', 4, 32],
        [
          [1, 1],
          [3, 3],
        ],
        2 * 8 * 512 * 2 * 32 * 2,
      ],
    ]);
    const m = lower(checked(cases[3]![1]), noMemory(checked(cases[3]![1])));
    const latent = m.tensors.filter((t) => t.name === 'kv.{l}');
    expect(latent.every((t) => t.shape.join() === 'batch,seq,48' && t.bytes === 8 * 512 * 48 * 2)).toBe(true);
  });

  it("the runtime's validator refuses MoE and MLA, naming the engine that compiles them", () => {
    // (Layers that differ only in their sliding window run on the runtime: test/runtime/archs.test.ts, gemma2.)
    for (const i of [1, 3]) {
      const plan = checked(cases[i]![1]);
      // As if compiled for the runtime (the checker refuses engine = webgpu for these models: PP3036).
      const graph = JSON.parse(JSON.stringify(lower(plan, noMemory(plan))));
      graph.plan.engine = 'webgpu';
      const problems = checkServingGraph(graph);
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.some((p) => p.message.includes('is not run by the WebGPU runtime') && p.message.includes('engine = generic'))).toBe(
        true,
      );
    }
  });
});
