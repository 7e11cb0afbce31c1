/** The graph's compute steps and the cost model count a layer's FLOPs with one formula (src/cost/flops.ts). */
import { describe, expect, it } from 'vitest';
import { prefillFlops, trainMicrobatchFlops } from '../../src/cost/flops.js';
import type { Step } from '../../src/graph/types.js';
import type { ServePlan, TrainPlan } from '../../src/plan.js';
import { compileBody } from './helpers.js';

/** The ops the cost model counts (matmuls, attention, norms); rope, activation and residual are elementwise. */
const COUNTED = new Set(['qkv', 'attention', 'out-proj', 'mlp-up', 'mlp-down', 'norm']);

function counted(steps: readonly Step[], pass = 'forward'): number {
  return steps.reduce((n, s) => n + (s.op === 'compute' && s.pass === pass && COUNTED.has(s.kind) ? s.flops : 0), 0);
}

function step(steps: readonly Step[], kind: string, pass = 'forward'): number {
  const s = steps.find((x) => x.op === 'compute' && x.kind === kind && x.pass === pass);
  return s?.op === 'compute' ? s.flops : NaN;
}

/** Every step of a graph's blocks and programs. */
function allSteps(graph: { blocks: Record<string, Step[]>; programs: Record<string, { phases: Record<string, Step[]> }> }): Step[] {
  return [...Object.values(graph.blocks), ...Object.values(graph.programs).flatMap((p) => Object.values(p.phases))].flat();
}

describe('graph FLOPs = the cost model’s', () => {
  it('prefill of a biased gpt2 layer over two tensor ranks: the layer steps and the head sum to the prefill estimate', () => {
    // One prompt per prefill step (the default chunk, vLLM's 8,192 capped at max_batch × seq, would hold four).
    const c = compileBody(
      'model = gpt_tiny  cluster = node8  mode = serve  tensor = 2  batch { max_batch = 4  seq = 256  max_prefill_tokens = 256 }',
    );
    const plan = c.plan as ServePlan;
    const stage = plan.stages[0]!;
    const head = step(c.graph.programs['stage0']!.phases['prefill']!, 'head');
    expect(stage.layers * counted(c.graph.blocks['layer.prefill']!) + head).toBe(prefillFlops(plan, stage, 256));
  });

  it('prefill attention is causal: average context seq/2, also chunk by chunk', () => {
    const whole = compileBody(
      'model = llama_tiny  cluster = node8  mode = serve  batch { max_batch = 4  seq = 256  max_prefill_tokens = 256 }',
    );
    const chunked = compileBody(
      'model = llama_tiny  cluster = node8  mode = serve  batch { max_batch = 4  seq = 256  max_prefill_tokens = 64 }',
    );
    // 4 · queries · (seq/2) · heads · head_dim: 8 heads of 32.
    expect(step(whole.graph.blocks['layer.prefill']!, 'attention')).toBe(4 * 256 * 128 * 8 * 32);
    expect(4 * step(chunked.graph.blocks['layer.prefill']!, 'attention')).toBe(4 * 256 * 128 * 8 * 32);
    // A decode step is the cost model's TPOT: each token attends to the average context, seq/2.
    expect(step(whole.graph.blocks['layer.decode']!, 'attention')).toBe(4 * 4 * 128 * 8 * 32);
  });

  it('training forward: the layer steps and the head sum to the microbatch estimate (full s × s attention)', () => {
    const c = compileBody('model = llama_tiny  cluster = node8  mode = train  tensor = 2  data = 4  batch { global = 8  seq = 128 }');
    const plan = c.plan as TrainPlan;
    const stage = plan.stages[0]!;
    const f = trainMicrobatchFlops(plan, stage);
    const forward = c.graph.blocks['layer.forward']!;
    expect(step(forward, 'attention')).toBe(4 * 128 * 128 * 4 * 32);
    expect(stage.layers * counted(forward) + step(allSteps(c.graph), 'head')).toBe(f.forward);
  });
});
