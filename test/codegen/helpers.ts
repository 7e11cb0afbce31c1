/** Compiled graphs of example plans, and modules generated from them, for the codegen tests. */
import ts from 'typescript';
import { analyze } from '../../src/analyze.js';
import { generateTs } from '../../src/codegen/ts.js';
import { compilePlan } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';

export const VERSION = '0.0.0-test';

/** The graph of plan `name` in `file` (which must check and fit). */
export function graphOf(file: string, name: string): Graph {
  const r = analyze([file], { plan: name }).results[0];
  if (!r) throw new Error(`${file} has no plan '${name}' that checks`);
  return compilePlan(r.plan, r.memory).graph;
}

export function moduleOf(file: string, name: string): Promise<string> {
  return generateTs(graphOf(file, name), { version: VERSION });
}

/** Runs a generated module (types erased) and returns its exports. */
export async function load(text: string): Promise<Record<string, unknown>> {
  const js = ts.transpileModule(text, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  }).outputText;
  return (await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`)) as Record<string, unknown>;
}
