/**
 * Parameter counts of models read from Hugging Face configs (`hf_config`) against an independent
 * reference: for every config in examples/configs/, `countParams` of the model the checker builds
 * from it equals `total_params` of test/models/reference-counts.json, and the active parameters
 * equal `active_params` where given. Each reference figure is the sum of the tensor shapes that
 * transformers' modeling code creates for that config (test/models/reference_params.py, which cites
 * the source and commit of each family in `modeling_source`), cross-checked with published totals
 * (test/models/published-counts.json). Nothing here is parplan's own output copied back.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { checkModel } from '../../src/check/model.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { addConfigs, importScope, nodeHost, type Program } from '../../src/load.js';
import { countParams, layerParams } from '../../src/memory/params.js';
import { sumLayers } from '../../src/model.js';
import type { ModelSpec } from '../../src/plan.js';

const REPO = join(import.meta.dirname, '..', '..');
const CONFIGS = join(REPO, 'examples', 'configs');

interface Reference {
  total_params: number;
  active_params?: number;
  modeling_source: string;
}
const references = (
  JSON.parse(readFileSync(join(REPO, 'test', 'models', 'reference-counts.json'), 'utf8')) as { models: Record<string, Reference> }
).models;

/** The model the checker builds from `model m { hf_config = "<config>" <extra> }`, and every diagnostic on the way. */
export function modelFromConfig(config: string, extra = ''): { spec: ModelSpec | undefined; diagnostics: Diagnostic[] } {
  const file = join(CONFIGS, 'virtual.plan');
  const ast = parse(`model m {\n  hf_config = "${config}"\n${extra}}\n`, file).ast;
  const out: Diagnostic[] = [];
  const program: Program = { root: ast, files: [ast], syntaxErrors: false };
  addConfigs(program, () => importScope(file, REPO, nodeHost), nodeHost, out);
  const spec = checkModel(ast.declarations[0]!, out, program.configs);
  return { spec, diagnostics: out };
}

/** Parameters one token computes with: the whole model less, per layer, the routed experts it does not use. */
function activeParams(model: ModelSpec): number {
  return (
    countParams(model) -
    sumLayers(model, (l) => {
      const p = layerParams(model, l);
      return p.total - p.active;
    })
  );
}

const configs = readdirSync(CONFIGS)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('parameter counts from Hugging Face configs', () => {
  it('every config has a reference', () => {
    expect(configs.filter((c) => !references[c])).toEqual([]);
    expect(configs.length).toBeGreaterThanOrEqual(13);
  });
  for (const config of configs) {
    const ref = references[config]!;
    it(`${config}: ${ref.total_params.toLocaleString('en')} params (${ref.modeling_source.split(' ').slice(1, 3).join(' ')})`, () => {
      const { spec, diagnostics } = modelFromConfig(config);
      expect(diagnostics.filter((d) => d.severity !== 'note').map((d) => `${d.code} ${d.message}`)).toEqual([]);
      expect(countParams(spec!)).toBe(ref.total_params);
      if (ref.active_params !== undefined) expect(activeParams(spec!)).toBe(ref.active_params);
    });
  }
});
