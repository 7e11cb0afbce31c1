/**
 * A generated module's graph runs: the `as const` literal, loaded as a module, drives
 * the WebGPU runtime (software GPU in CI) to the same tokens as the compiled graph.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime, type GraphInput } from '../../runtime/index.js';
import { graphOf, load, moduleOf } from './helpers.js';

describe('a generated module on the runtime', () => {
  it("examples/service: the module's graph generates the same tokens as the compiled graph", async () => {
    const mod = await load(await moduleOf('examples/service/plan.plan', 'tiny_service'));
    const tokens = async (graph: GraphInput) => {
      const rt = await createRuntime(graph, { weights: 'random:1' });
      try {
        return (await rt.generate([1, 2, 3], { maxNewTokens: 8 })).tokens;
      } finally {
        await rt.close();
      }
    };
    const fromModule = await tokens(mod['graph'] as GraphInput);
    expect(fromModule).toHaveLength(8);
    expect(fromModule).toEqual(await tokens(graphOf('examples/service/plan.plan', 'tiny_service')));
  });
});
