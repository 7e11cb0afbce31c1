/**
 * The compiler's back half: a checked plan and its memory plan → execution graph,
 * validated by simulation. A deadlock becomes PP5001, pointing at the action-table
 * cell when the plan wrote its schedule inline (the checker has already found that
 * one from the table: callers report the two once, with uniqueDiagnostics); anything
 * else the simulation finds is a bug in parplan (PP9001).
 */
import { diag, type Diagnostic } from './diagnostics/diagnostic.js';
import { simulate, type Rates, type SimResult } from './graph/simulate.js';
import type { Graph } from './graph/types.js';
import { lower } from './lower/index.js';
import { deadlockDiagnostic } from './schedules/deadlock.js';
import { hardwareOf, planCost, ratesOf } from './cost/index.js';
import type { MemoryPlan } from './memory/types.js';
import { coordsOf } from './mesh.js';
import type { CheckedPlan } from './plan.js';

export interface Compiled {
  graph: Graph;
  simulation: SimResult;
  diagnostics: Diagnostic[];
}

/**
 * The simulation's timeline uses the cost model's effective rates (one source of
 * truth for peaks and efficiency); an unknown rate (a custom GPU without figures)
 * falls back to 1 TFLOP/s and 1 GB/s so that the simulation still orders events.
 */
export function ratesFor(plan: CheckedPlan): Rates {
  const r = ratesOf(hardwareOf(plan));
  return { flops: r.flops ?? 1e12, intraNode: r.link ?? 1e9, interNode: r.network ?? 1e9 };
}

export function compilePlan(plan: CheckedPlan, memory: MemoryPlan): Compiled {
  const graph = lower(plan, memory);
  graph.cost = planCost(plan, memory);
  const simulation = simulate(graph, { rates: ratesFor(plan) });
  return { graph, simulation, diagnostics: simulationDiagnostics(plan, simulation) };
}

export function simulationDiagnostics(plan: CheckedPlan, sim: SimResult): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (sim.deadlock) {
    const first = sim.deadlock.stuck[0]!;
    // For an inline table, point at the cell the first stuck rank cannot finish.
    const table = plan.mode === 'train' ? plan.actions : undefined;
    const stage = plan.mode === 'train' ? coordsOf(plan.mesh, first.rank).pipeline : 0;
    const cell = table?.[stage]?.[first.actionIndex]?.span;
    out.push(deadlockDiagnostic(sim.deadlock.stuck, sim.deadlock.grid, cell ?? plan.spans['actions'] ?? plan.spans['schedule'] ?? plan.span));
  }
  // Unmatched messages or collectives cannot come from a checked plan (the checker
  // validates action tables): they are a lowering bug.
  for (const p of sim.problems.slice(0, 5)) out.push(diag('PP9001', plan.span, { detail: `the simulation of plan '${plan.name}' found: ${p}` }));
  return out;
}
