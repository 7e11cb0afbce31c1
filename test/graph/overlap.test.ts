/**
 * The graph's `overlap` collectives (ZeRO-3's per-layer gathers and reduce-scatters, the gradient
 * buckets of the last backward) and the training recipes' blocks (op-SAC recompute, the block
 * method's kept layers): the simulation runs overlapped collectives on a communication stream
 * beside the compute, hiding them where the compute is longer and waiting for them where it is not;
 * the recipes' blocks do the FLOPs and hold the bytes the cost model and the memory plan count.
 */
import { describe, expect, it } from 'vitest';
import { ratesFor } from '../../src/compile.js';
import { simulate } from '../../src/graph/simulate.js';
import { isCollective, type Step } from '../../src/graph/types.js';
import { trainMicrobatchFlops } from '../../src/cost/flops.js';
import type { TrainPlan } from '../../src/plan.js';
import { compileBody } from './helpers.js';

const FSDP = 'model = llama_tiny  cluster = node8  mode = train  data = 8  zero = 3  precision = amp_bf16  batch { global = 8  seq = 512 }';

/** Seconds of the overlapped collectives of one simulated rank's step at `bw` bytes/s (ring factors as the simulation's). */
function overlappedSeconds(c: ReturnType<typeof compileBody>, bw: number): number {
  const n = 8;
  let total = 0;
  const add = (s: Step, times: number) => {
    if (!isCollective(s) || !s.overlap) return;
    total += (times * (s.bytes * (s.op === 'all-reduce' ? (2 * (n - 1)) / n : (n - 1) / n))) / bw;
  };
  for (const s of c.graph.programs['stage0']!.phases['step']!) {
    if (s.op === 'block') for (const b of c.graph.blocks[s.block]!) add(b, s.layers[1] - s.layers[0] + 1);
    else add(s, 1);
  }
  return total;
}

describe('overlapped collectives in the simulation', () => {
  const c = compileBody(FSDP);
  const rates = { ...ratesFor(c.plan), intraNodeLatency: 0, interNodeLatency: 0 };
  const computeOnly = simulate(c.graph, { rates: { ...rates, intraNode: 1e30 } }).makespan;

  it('the ZeRO-3 collectives are overlap collectives at the gathered and the reduce dtype (bf16 params, fp32 gradients)', () => {
    const fwd = c.graph.blocks['layer.forward']!.filter(isCollective);
    const bwd = c.graph.blocks['layer.backward']!.filter(isCollective);
    expect(fwd.map((s) => `${s.op}:${s.overlap}`)).toEqual(['all-gather:true']);
    expect(bwd.map((s) => `${s.op}:${s.overlap}`)).toEqual(['all-gather:true', 'reduce-scatter:true']);
    // The fp32 reduce-scatter moves twice the bytes of the bf16 gather of the same parameters.
    expect(bwd[1]!.bytes).toBe(2 * bwd[0]!.bytes);
  });

  it('hidden behind compute on a fast link: the step is the compute plus at most the last collective', () => {
    const bw = 1e15;
    const t = simulate(c.graph, { rates: { ...rates, intraNode: bw } }).makespan;
    const comm = overlappedSeconds(c, bw);
    expect(comm).toBeGreaterThan(0);
    expect(t).toBeGreaterThanOrEqual(computeOnly);
    expect(t).toBeLessThan(computeOnly + comm);
  });

  it('on a slow link the rank waits for its communication stream: the step is at least the collectives, not their sum with the compute', () => {
    const bw = 1e6;
    const t = simulate(c.graph, { rates: { ...rates, intraNode: bw } }).makespan;
    const comm = overlappedSeconds(c, bw);
    expect(comm).toBeGreaterThan(10 * computeOnly);
    expect(t).toBeGreaterThanOrEqual(comm);
    expect(t).toBeLessThan(comm + computeOnly);
  });

  it('the optimizer waits for the gradient buckets (it reads grad.*): a DDP step ends after them', () => {
    const d = compileBody('model = llama_tiny  cluster = node8  mode = train  data = 8  batch { global = 8  seq = 512 }');
    const r = { ...ratesFor(d.plan), intraNodeLatency: 0, interNodeLatency: 0, intraNode: 1e6 };
    const sim = simulate(d.graph, { rates: r });
    const comm = overlappedSeconds(d, 1e6);
    const waits = sim.ranks[0]!.events.filter((e) => e.kind === 'wait' && e.label === 'overlapped collectives');
    expect(waits.length).toBe(1);
    expect(sim.makespan).toBeGreaterThanOrEqual(comm);
  });
});

describe('the training recipes blocks do what the cost model and the memory plan count', () => {
  const flops = (c: ReturnType<typeof compileBody>, block: string, pass: string) =>
    c.graph.blocks[block]!.reduce((n, s) => n + (s.op === 'compute' && s.pass === pass ? s.flops : 0), 0);

  it("recompute = selective_op recomputes torchtitan's unsaved linears: the cost model's recompute FLOPs", () => {
    const c = compileBody(`${FSDP.replace('batch', 'recompute = selective_op  batch')}`);
    const kinds = c.graph.blocks['layer.backward']!.filter((s) => s.op === 'compute' && s.pass === 'recompute');
    // Llama: q, k, v, o, gate, up, down; every second bias-free mm recomputed: k, o, up.
    expect(kinds.map((s) => (s.op === 'compute' ? s.kind : ''))).toEqual(['qkv', 'out-proj', 'mlp-up']);
    const plan = c.plan as TrainPlan;
    expect(8 * flops(c, 'layer.backward', 'recompute')).toBe(trainMicrobatchFlops(plan, plan.stages[0]!).recompute);
  });

  it('recompute_method = block: the first recompute_layers recompute, the rest keep all activations; the peak is the plan', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  data = 8  precision = amp_bf16  recompute = full  recompute_method = block  recompute_layers = 3  batch { global = 8  seq = 512 }',
    );
    const blocks = c.graph.programs['stage0']!.phases['step']!.filter((s) => s.op === 'block' && s.block.startsWith('layer.forward'));
    expect(blocks.map((s) => (s.op === 'block' ? `${s.block}:${s.layers.join('-')}` : ''))).toEqual([
      'layer.forward:0-2',
      'layer.forward.kept:3-7',
    ]);
    expect(flops(c, 'layer.backward.kept', 'recompute')).toBe(0);
    expect(flops(c, 'layer.backward', 'recompute')).toBe(flops(c, 'layer.forward', 'forward'));
    const act = c.graph.tensors.find((t) => t.name === 'act.{l}.mb{m}')!;
    const kept = c.graph.tensors.find((t) => t.name === 'act-kept.{l}.mb{m}')!;
    expect(kept.bytes).toBeGreaterThan(act.bytes);
    for (const rank of c.simulation.ranks) expect(rank.peakBytes).toBe(rank.planBytes);
  });

  it("recompute_method = uniform: one checkpoint per group of recompute_layers, the group's later layers keep nothing; the peak is the plan", () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  data = 8  recompute = full  recompute_method = uniform  recompute_layers = 3  batch { global = 8  seq = 512 }',
    );
    const blocks = c.graph.programs['stage0']!.phases['step']!.filter((s) => s.op === 'block' && s.block.startsWith('layer.forward'));
    expect(blocks.map((s) => (s.op === 'block' ? `${s.block}:${s.layers.join('-')}` : ''))).toEqual([
      'layer.forward:0-0',
      'layer.forward.grouped:1-2',
      'layer.forward:3-3',
      'layer.forward.grouped:4-5',
      'layer.forward:6-6',
      'layer.forward.grouped:7-7',
    ]);
    // A grouped layer allocates no checkpoint and recomputes as much as any other layer.
    const allocs = c.graph.blocks['layer.forward.grouped']!.flatMap((s) => (s.op === 'compute' ? (s.alloc ?? []) : []));
    expect(allocs).not.toContain('act.{l}.mb{m}');
    expect(flops(c, 'layer.backward.grouped', 'recompute')).toBe(flops(c, 'layer.backward', 'recompute'));
    for (const body of [
      'data = 8  recompute_layers = 3  batch { global = 8  seq = 512 }',
      'data = 8  recompute_layers = 2  batch { global = 8  seq = 512 }',
      'pipeline = 2  data = 4  recompute_layers = 2  batch { global = 32  seq = 512 }',
      'pipeline = 2  data = 4  recompute_layers = 3  batch { global = 32  seq = 512 }',
      'pipeline = 2  schedule = interleaved  virtual = 2  data = 4  recompute_layers = 2  batch { global = 32  seq = 512 }',
      'tensor = 2  pipeline = 2  data = 2  sequence_parallel = true  recompute_layers = 4  batch { global = 32  seq = 512 }',
    ]) {
      const g = compileBody(`model = llama_tiny  cluster = node8  mode = train  recompute = full  recompute_method = uniform  ${body}`);
      for (const rank of g.simulation.ranks) expect(rank.peakBytes, `${body}, rank ${rank.rank}`).toBe(rank.planBytes);
    }
  });

  it('recompute_method = block with tensor parallelism: the cost model charges the tensor collectives the graph runs (only recomputed layers repeat the forward two)', () => {
    const c = compileBody(
      'model = llama_tiny  cluster = node8  mode = train  tensor = 2  pipeline = 2  data = 2  recompute = full  recompute_method = block  recompute_layers = 2  batch { global = 32  seq = 512 }',
    );
    for (const st of c.plan.stages) {
      const cost = c.cost!.train!.stages[st.index]!.traffic.filter((x) => x.group === 'tensor').reduce((n, x) => n + x.bytes, 0);
      // Ring all-reduce over t = 2: 2(t − 1)/t = 1 × the buffer; the layers' collectives only (the embedding's and the loss's are not costed).
      let graph = 0;
      for (const s of c.graph.programs[`stage${st.index}`]!.phases['step']!)
        if (s.op === 'block')
          for (const b of c.graph.blocks[s.block]!)
            if (isCollective(b) && b.axis === 'tensor') graph += (s.layers[1] - s.layers[0] + 1) * b.bytes;
      expect(cost, `stage ${st.index}`).toBe(graph);
    }
  });

  it("precision = amp_*: autocast's cast cache is allocated by the forwards (one copy, whatever the microbatches in flight) and released by the optimizer step; the peak is the plan's", () => {
    for (const body of [
      'model = llama_tiny  cluster = node8  mode = train  data = 8  precision = amp_bf16  batch { global = 32  seq = 512 }',
      'model = llama_tiny  cluster = node8  mode = train  pipeline = 2  data = 4  precision = amp_bf16  batch { global = 32  seq = 512 }',
    ]) {
      const c = compileBody(body);
      const cast = c.graph.tensors.find((t) => t.name === 'cast.{l}')!;
      const head = c.graph.tensors.find((t) => t.name === 'cast.output')!;
      expect(cast.dtype).toBe('bf16');
      for (const st of c.plan.stages) {
        const dev = c.graph.devices.find((d) => d.coords.pipeline === st.index)!;
        // What the steps allocate is the memory plan's cast cache (ampWeights): weights = 4 B + 2 B per cast parameter.
        expect(dev.memory.allocated, body).toBe(st.layers * cast.bytes + (st.hasOutput ? head.bytes : 0));
        const step = c.graph.programs[`stage${st.index}`]!.phases['step']!;
        const opt = step.find((s) => s.op === 'compute' && s.kind === 'optimizer');
        expect(opt && opt.op === 'compute' ? opt.free : []).toContain(`cast.${st.firstLayer}`);
      }
      for (const rank of c.simulation.ranks) expect(rank.peakBytes, body).toBe(rank.planBytes);
    }
  });
});
