/**
 * Zero-bubble pipelines (Qi et al. 2024, "Zero Bubble Pipeline Parallelism", Table 1 and 2):
 * W actions take the weight-gradient time T_W, I the rest of the backward; activations are
 * M_B per held microbatch and M_W per pending W; ZB-H1 fills part of 1F1B's bubble.
 */
import { describe, expect, it } from 'vitest';
import { trainMicrobatchFlops } from '../../src/cost/flops.js';
import type { Step } from '../../src/graph/types.js';
import { trainLayerActivationBytes, weightGradActivationBytes } from '../../src/memory/activations.js';
import type { TrainPlan } from '../../src/plan.js';
import { compileBody } from './helpers.js';

/** ZB-H1 for p stages and m microbatches: 1F1B with B split into I and W, rank r deferring up to r W's (the paper's Figure 3). */
function zbH1(p: number, m: number): string[] {
  const rows: string[] = [];
  for (let r = 0; r < p; r++) {
    const acts: string[] = [];
    const pending: number[] = [];
    let f = 0;
    for (; f < Math.min(m, p - r); f++) acts.push(`${r}F${f}`);
    for (let j = 0; j < m; j++) {
      acts.push(`${r}I${j}`);
      pending.push(j);
      if (pending.length > r) acts.push(`${r}W${pending.shift()}`);
      if (f < m) acts.push(`${r}F${f++}`);
    }
    while (pending.length > 0) acts.push(`${r}W${pending.shift()}`);
    rows.push(acts.join(' '));
  }
  return rows;
}

const BASE =
  'model = llama_tiny  cluster = node8  mode = train  pipeline = 4  recompute = none  batch { global = 8  micro = 1  seq = 256 }';
const zb = () =>
  compileBody(
    `${BASE}  actions = [${zbH1(4, 8)
      .map((r) => `"${r}"`)
      .join(', ')}]`,
  );
/** The same 1F1B order as a table (B whole), so that both are timed action by action. */
function oneF1B(p: number, m: number): string[] {
  return zbH1(p, m).map((row) =>
    row
      .split(' ')
      .filter((a) => !a.includes('W'))
      .map((a) => a.replace('I', 'B'))
      .join(' '),
  );
}
const f1b = () =>
  compileBody(
    `${BASE}  actions = [${oneF1B(4, 8)
      .map((r) => `"${r}"`)
      .join(', ')}]`,
  );

function flopsOf(steps: readonly Step[], pass: string): number {
  return steps.reduce((n, s) => n + (s.op === 'compute' && s.pass === pass ? s.flops : 0), 0);
}

describe('zero-bubble: W actions are timed, I + W = B', () => {
  it('M_W of a GPT layer is 32sbh and M_B 34sbh + 5as²b (the paper’s Table 1, 16-bit activations)', () => {
    const plan = compileBody(
      'model = gpt_tiny  cluster = node8  mode = train  attention = standard  batch { global = 8  micro = 2  seq = 128 }',
    ).plan as TrainPlan;
    const [s, b, h, a] = [128, 2, 256, 8];
    expect(weightGradActivationBytes(plan)).toBe(32 * s * b * h);
    expect(trainLayerActivationBytes(plan)).toBe(34 * s * b * h + 5 * a * s * s * b);
  });

  it('a layer’s I and W blocks split its backward: T_W = the forward’s matmul FLOPs, T_I + T_W = T_B', () => {
    const c = zb();
    const plan = c.plan as TrainPlan;
    const backward = flopsOf(c.graph.blocks['layer.backward']!, 'backward');
    const input = flopsOf(c.graph.blocks['layer.backward-input']!, 'backward-input');
    const weight = flopsOf(c.graph.blocks['layer.backward-weight']!, 'backward-weight');
    expect(input + weight).toBe(backward);
    // The cost model's T_W for the stage's two layers (8 layers / 4 stages): the same FLOPs.
    expect(2 * weight).toBe(trainMicrobatchFlops(plan, plan.stages[1]!).weightGrad);
    // T_W < T_F < T_B (the paper's ordering): W is the matmuls only, F adds attention and norms.
    const forward = flopsOf(c.graph.blocks['layer.forward']!, 'forward');
    expect(weight).toBeLessThan(forward);
    expect(forward).toBeLessThan(input + weight);
  });

  // (Agreement of the two step times is asserted on the example, examples/llama3-8b-h100-zb-h1-train.plan,
  // by test/report/timing.test.ts: this tiny model's step is mostly send latency, which the
  // simulation overlaps with compute and the cost model does not.)
  it('ZB-H1 has a smaller bubble than 1F1B, in the simulation and in the cost model', () => {
    const z = zb();
    const o = f1b();
    expect(z.simulation.ok).toBe(true);
    expect(z.simulation.makespan).toBeLessThan(o.simulation.makespan);
    const zt = z.cost!.train!;
    const ot = o.cost!.train!;
    expect(zt.bubbleFraction).toBeLessThan(ot.bubbleFraction);
    // The bubble the W actions fill: at most (p − 1) · T_W of the slowest stage (the paper's Table 2: (p − 1)(T_F + T_B) → (p − 1)(T_F + T_B − T_W)).
    const f = trainMicrobatchFlops(z.plan as TrainPlan, (z.plan as TrainPlan).stages[zt.slowestStage!]!);
    const T = zt.stages[zt.slowestStage!]!.microbatchSeconds!;
    const tW = (T * f.weightGrad) / (f.forward + f.backward + f.recompute);
    expect(ot.bubbleSeconds! - zt.bubbleSeconds!).toBeGreaterThan(0);
    expect(ot.bubbleSeconds! - zt.bubbleSeconds!).toBeLessThanOrEqual(3 * tW + 1e-12);
  });

  it('activations: rank r holds (p − r) microbatches × M_B and r pending W × M_W (ZB-H1), the simulation’s peak = the plan’s', () => {
    const c = zb();
    const plan = c.plan as TrainPlan;
    const mB = trainLayerActivationBytes(plan);
    const mW = weightGradActivationBytes(plan);
    const layers = 2;
    const o = f1b();
    for (let r = 1; r < 3; r++) {
      // Middle stages: no embedding or output terms.
      const dev = c.memory.devices.find((d) => d.stage === r)!;
      expect(dev.breakdown.activations).toBe(Math.ceil((4 - r) * layers * mB + r * layers * mW));
      // 1F1B releases at B: (p − r) × M_B only.
      expect(o.memory.devices.find((d) => d.stage === r)!.breakdown.activations).toBe((4 - r) * layers * mB);
    }
    for (const t of c.simulation.ranks) expect(t.peakBytes).toBe(t.planBytes);
  });
});
