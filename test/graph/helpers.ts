import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { analyze } from '../../src/analyze.js';
import { expect } from 'vitest';
import type { PlanResult } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import { memoryHost } from '../fuzz/mutate.js';

/** src/graph/graph.schema.json, parsed, and a validator compiled from it (strict, every error). */
export const GRAPH_SCHEMA = JSON.parse(readFileSync('src/graph/graph.schema.json', 'utf8'));
export const validateGraph = new Ajv2020({ allErrors: true, strict: true }).compile(GRAPH_SCHEMA);

export const PRELUDE = `
model llama_tiny {
  arch = llama  layers = 8  hidden = 256  heads = 8  kv_heads = 4  ffn = 512  vocab = 1000  max_seq = 512
}
model gpt_tiny {
  arch = gpt2  layers = 8  hidden = 256  heads = 8  vocab = 1001  max_seq = 512
}
cluster node8 { gpu = H100_SXM_80GB  gpus = 8 }
cluster two_nodes { gpu = H100_SXM_80GB  nodes = 2  gpus_per_node = 4 }
`;

/** Analyse and compile the one plan of a file's text (at /p.plan); a plan that does not check throws, naming its errors. */
export function compileSource(text: string) {
  const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', text]])) });
  const errors = a.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || a.results.length !== 1)
    throw new Error(`plan did not check: ${errors.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  const r = a.results[0]!;
  return { ...r, ...compilePlan(r.plan, r.memory) };
}

/** Analyse and compile one plan written as the body of `plan p { … }` (after PRELUDE). */
export function compileBody(body: string, extra = '') {
  const text = `${PRELUDE}\n${extra}\nplan p {\n${body}\n}\n`;
  return compileSource(text);
}

/**
 * Compiles a plan that checked and asserts what every compiled graph must be (`where` names the
 * plan in failures): no diagnostics, no deadlock in the simulation, valid against the schema.
 */
export function compileValid(r: Pick<PlanResult, 'plan' | 'memory'>, where: string) {
  const c = compilePlan(r.plan, r.memory);
  expect(c.diagnostics, where).toEqual([]);
  expect(c.simulation.deadlock, where).toBeUndefined();
  expect(validateGraph(JSON.parse(JSON.stringify(c.graph))), `${where}: ${JSON.stringify(validateGraph.errors?.[0])}`).toBe(true);
  return c;
}
