/** Compiled graphs for the CLI tests that run them (serve, train): plan texts in, graph files out. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';

/**
 * Writes each plan text (one plan each) to `dir/KIND.plan`, checks and compiles it, and
 * returns the paths of the `dir/KIND.graph.json` files; a plan with errors throws.
 */
export function compileGraphs<K extends string>(dir: string, plans: Record<K, string>): Record<K, string> {
  const graphs = {} as Record<K, string>;
  for (const [kind, text] of Object.entries(plans) as [K, string][]) {
    const planFile = join(dir, `${kind}.plan`);
    writeFileSync(planFile, text);
    const a = analyze([planFile]);
    const errors = a.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length > 0 || a.results.length !== 1) throw new Error(`${kind}: ${errors.map((e) => e.message).join('; ')}`);
    const r = a.results[0]!;
    graphs[kind] = join(dir, `${kind}.graph.json`);
    writeFileSync(graphs[kind], JSON.stringify(compilePlan(r.plan, r.memory).graph));
  }
  return graphs;
}
