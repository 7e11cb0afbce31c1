/**
 * ZeRO-2/3's full-size buffers on the WebGPU runtime: the executor gives a layer's `gathered.X` and
 * `gradbuf.X` one buffer for every layer where each block that uses it gathers (or reduce-scatters)
 * it first (`layerSharedBuffers`), and the memory plan's `gathered` and `gradbuf` regions count
 * exactly those buffers: one per shared layer template, one per stage tensor, every layer's own
 * copy where the backward reads the forward's (reshard_after_forward = false). No GPU needed: the
 * sizes come from the compiled graph. The trainers' runs against the oracle (multi.test.ts) check
 * that the sharing computes the same weights.
 */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/types.js';
import { layerSharedBuffers } from '../../runtime/training/executor.js';
import { compileSource } from '../graph/helpers.js';
import { PRELUDE } from './multi-cases.js';

function compile(model: string, body: string): Graph {
  const text = `${PRELUDE}\nplan p {\n  cluster = soft8  mode = train  engine = webgpu  model = ${model}\n  ${body}\n  batch { global = 8  micro = 2  seq = 8 }\n}\n`;
  return compileSource(text).graph as Graph;
}

/** The bytes the executor creates for the tensors starting with `prefix` on device `rank`: shared templates once, the rest per instance. */
function allocated(graph: Graph, rank: number, prefix: string): number {
  const shared = layerSharedBuffers(graph);
  const dev = graph.devices.find((d) => d.rank === rank)!;
  const stage = dev.coords['pipeline']!;
  const layers = graph.mesh.stages.filter((s) => s.rank === stage).reduce((a, s) => a + s.lastLayer - s.firstLayer + 1, 0);
  let bytes = 0;
  for (const t of graph.tensors) {
    if (!t.name.startsWith(prefix) || t.members || !t.owners.includes(stage)) continue;
    bytes += t.scope === 'layer' && !shared.has(t.name) ? layers * t.bytes : t.bytes;
  }
  return bytes;
}

const region = (graph: Graph, rank: number, name: string) =>
  graph.buffers?.[graph.devices.find((d) => d.rank === rank)!.program]?.find((r) => r.name === name)?.bytes;

describe('ZeRO-2/3 full-size buffers: what the executor creates is what the plan counts', () => {
  it.each([
    ['gpt2_tiny', 'data = 2  zero = 3', 'every layer template shared'],
    ['llama_tiny', 'data = 2  zero = 3  recompute = full', 'every layer template shared'],
    ['gpt2_tiny4', 'pipeline = 2  data = 2  zero = 3  schedule = 1f1b', 'every layer template shared'],
    ['llama_tiny', 'tensor = 2  data = 2  zero = 2', 'every layer template shared'],
    ['gpt2_tiny', 'data = 2  zero = 3  reshard_after_forward = false', 'gradients shared, weights per layer'],
    ['llama_tiny', 'data = 2  zero = 2  actions = ["0F0 0I0 0F1 0I1 0W0 0W1"]', 'every layer template shared'],
    [
      'gpt2_tiny4',
      'pipeline = 2  data = 2  zero = 3  actions = ["0F0 0F1 0I0 0I1 0W0 0W1", "1F0 1I0 1F1 1I1 1W0 1W1"]',
      'every layer template shared',
    ],
  ])('%s, %s: %s', (model, body) => {
    const graph = compile(model, body);
    const shared = layerSharedBuffers(graph);
    const templates = graph.tensors.filter((t) => t.scope === 'layer' && /^(gathered|gradbuf)\./.test(t.name)).map((t) => t.name);
    const reshard = !body.includes('reshard_after_forward = false');
    // Each template is shared unless it is a weight the backward reads without gathering it again.
    for (const n of templates) expect(shared.has(n), n).toBe(reshard || n.startsWith('gradbuf.'));
    for (const dev of graph.devices) {
      if (body.includes('zero = 3'))
        expect(allocated(graph, dev.rank, 'gathered.'), `rank ${dev.rank} gathered`).toBe(region(graph, dev.rank, 'gathered'));
      expect(allocated(graph, dev.rank, 'gradbuf.'), `rank ${dev.rank} gradbuf`).toBe(region(graph, dev.rank, 'gradbuf'));
    }
  });
});
