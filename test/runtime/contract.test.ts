/**
 * The graph is the runtime's whole contract: it binds the tensors each step names, from the
 * graph alone. A weight renamed consistently (tensors and blocks) still loads and runs, with
 * the CPU reference's logits on the weights it loaded; a step naming a tensor the graph does
 * not have, or a collective or stage transfer the runtime does not run, is refused with the
 * step's path before any device is opened; blocks run their layers in order, or reversed.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, Step } from '../../src/graph/types.js';
import { flattenPhase } from '../../runtime/executor.js';
import { createRuntime, RuntimeInputError } from '../../runtime/index.js';
import { ReferenceModel, weightShapes } from '../../runtime/reference/model.js';
import { forEachWeight } from '../../runtime/weights/load.js';
import { sourceFor } from '../../runtime/weights/names.js';
import { ARCH_CASES, tinyOf } from './archs.js';
import { compileTiny, maxRelError } from './models.js';

const qwen2 = ARCH_CASES.find((c) => c.modelType === 'qwen2')!;
const graphOf = () => compileTiny(tinyOf(qwen2), { tensor: 1, pipeline: 1, data: 1 });

/** The graph with every `from…` tensor name (in tensors, blocks and programs) spelled `to…`. */
function renamed(g: Graph, from: string, to: string): Graph {
  return JSON.parse(JSON.stringify(g).replaceAll(`"${from}`, `"${to}`)) as Graph;
}

describe('the graph is the contract', () => {
  it('a weight renamed in tensors and blocks still loads and runs: the reference logits on the weights it loaded', async () => {
    const g = renamed(graphOf(), 'layers.{l}.attn.q.', 'layers.{l}.attn.query.');
    expect(JSON.stringify(g)).not.toContain('attn.q.');
    // The weights random:5 gives the renamed graph, under their Hugging Face names (through the original names).
    const m = g.model;
    const hf = new Map<string, Float32Array>();
    await forEachWeight(g, { tensor: 0, pipeline: 0, data: 0 }, { kind: 'random', seed: 5 }, (w) => {
      const name = w.name.replace('.attn.query.', '.attn.q.');
      const source = sourceFor(m, name)!.source;
      const values = new Float32Array(w.data.buffer, w.data.byteOffset, w.data.byteLength / 4);
      const n = weightShapes(m)
        .get(source)!
        .reduce((a, b) => a * b, 1);
      hf.set(source, values.slice(0, n)); // the embedding without its vocabulary padding
    });
    const reference = new ReferenceModel(m, hf);
    const rt = await createRuntime(g, { weights: 'random:5' });
    try {
      const [logits] = await rt.forward([qwen2.prompt]);
      const want = reference.prefill(reference.newCache(1), 0, qwen2.prompt, 0, { logitsRows: [qwen2.prompt.length - 1] });
      expect(maxRelError(logits!, want)).toBeLessThan(1e-4);
    } finally {
      await rt.close();
    }
  });

  const refusals: [string, (g: Graph) => void, string][] = [
    [
      'a step reading a weight the graph lacks',
      (g) => ((g.blocks['layer.decode']![1] as Extract<Step, { op: 'compute' }>).reads[1] = 'layers.{l}.attn.nope.weight'),
      'graph.blocks["layer.decode"][1].reads[1] = "layers.{l}.attn.nope.weight" is neither a buffer of program "stage0" nor a weight or the KV cache',
    ],
    [
      'a step writing a buffer the layout lacks',
      (g) => ((g.blocks['layer.prefill']![0] as Extract<Step, { op: 'compute' }>).writes[0] = 'u'),
      'graph.blocks["layer.prefill"][0].writes[0] = "u" is neither a buffer of program "stage0" nor a weight or the KV cache',
    ],
    [
      'a reduce-scatter',
      (g) => g.blocks['layer.decode']!.splice(1, 0, { op: 'reduce-scatter', axis: 'tensor', tensor: 'y', bytes: 4 }),
      'graph.blocks["layer.decode"][1].op = "reduce-scatter" (of "y" over tensor) is not a collective the WebGPU runtime runs',
    ],
    [
      'a send of another tensor',
      (g) => g.programs['stage0']!.phases['decode']!.push({ op: 'send', peer: 'next', tensor: 'x', bytes: 4 }),
      'is not what the WebGPU runtime passes between stages',
    ],
  ];
  it.each(refusals)('%s is refused, naming the step, before any device is opened', async (_, edit, message) => {
    const g = graphOf();
    edit(g);
    // No devices given: had the graph passed, createRuntime would say the devices are missing.
    const error = await createRuntime(g, { weights: 'random:1', devices: [] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RuntimeInputError);
    expect((error as RuntimeInputError).code).toBe('invalid_graph');
    expect((error as Error).message).toContain(message);
  });

  // Gemma-2's facts are read by kernels: each must be a value they can use; layers may differ only in their window.
  const gemma2 = ARCH_CASES.find((c) => c.modelType === 'gemma2')!;
  const gemmaRefusals: [string, (m: Graph['model']) => void, string][] = [
    ['a soft-cap of 0', (m) => (m.attnSoftcap = 0), 'graph.model.attnSoftcap = 0'],
    [
      'a logit soft-cap that is no number',
      (m) => ((m as unknown as Record<string, unknown>)['logitSoftcap'] = '30'),
      'graph.model.logitSoftcap',
    ],
    ['a negative query_pre_attn_scalar', (m) => (m.queryPreAttnScalar = -256), 'graph.model.queryPreAttnScalar = -256'],
    ['three norms per layer', (m) => (m.normsPerLayer = 3), 'graph.model.normsPerLayer = 3 must be 2 or 4'],
    ['Gemma-3: four norms with q/k norms', (m) => (m.qkNorm = true), "Gemma-3, whose local layers' RoPE base is not in the model"],
    [
      'layers that differ in more than their window',
      (m) => {
        const o = m.overrides![0]!;
        o.attention = { ...(o.attention as { kind: 'gqa'; heads: number; kvHeads: number; headDim: number }), kvHeads: 4 };
      },
      'layers that differ other than in their sliding window',
    ],
  ];
  it.each(gemmaRefusals)('gemma2: %s is refused before any device is opened', async (_, edit, message) => {
    const g = compileTiny(tinyOf(gemma2), { tensor: 1, pipeline: 1, data: 1 });
    expect(g.model.overrides?.length).toBeGreaterThan(0);
    edit(g.model);
    const error = await createRuntime(g, { weights: 'random:1', devices: [] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RuntimeInputError);
    expect((error as Error).message).toContain(message);
  });

  it('a block runs its layers in order, or last to first with reverse; {l} and {m} are filled', () => {
    const g = graphOf();
    g.programs['stage0']!.phases['decode'] = [{ op: 'block', block: 'layer.decode', layers: [0, 1], reverse: true, microbatch: 3 }];
    g.blocks['layer.decode']![0] = { ...(g.blocks['layer.decode']![0] as Extract<Step, { op: 'compute' }>), reads: ['act.{l}.mb{m}'] };
    const flat = flattenPhase(g, 'stage0', 'decode');
    const per = g.blocks['layer.decode']!.length;
    expect(flat.map((f) => f.layer)).toEqual([...Array<number>(per).fill(1), ...Array<number>(per).fill(0)]);
    expect(flat[0]!.reads).toEqual(['act.1.mb3']);
    expect(flat[per]!.reads).toEqual(['act.0.mb3']);
  });
});
