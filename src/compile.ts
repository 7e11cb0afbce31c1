/**
 * The compiler's back half: a checked plan and its memory plan → execution graph,
 * validated by simulation. A deadlock becomes PP5001, pointing at the action-table
 * cell when the plan wrote its schedule inline; anything else the simulation finds
 * is a bug in parplan (PP9001).
 */
import { diag, type Diagnostic } from './diagnostics/diagnostic.js';
import { findGpu } from './facts/gpus.js';
import { simulate, type Rates, type SimResult } from './graph/simulate.js';
import type { Graph } from './graph/types.js';
import { lower } from './lower/index.js';
import type { MemoryPlan } from './memory/types.js';
import type { CheckedPlan } from './plan.js';

export interface Compiled {
  graph: Graph;
  simulation: SimResult;
  diagnostics: Diagnostic[];
}

/** Efficiency applied to the catalog's peaks for the simulation's timeline. */
export const SIM_EFFICIENCY = { compute: 0.5, link: 0.8 };

export function ratesFor(plan: CheckedPlan): Rates {
  const gpu = findGpu(plan.cluster.gpu.id) ?? plan.cluster.gpu;
  const peak = (plan.mode === 'train' && plan.precision === 'fp32') || (plan.mode === 'serve' && plan.model.dtype === 'fp32') ? gpu.tflops32 : gpu.tflops16;
  return {
    flops: Math.max(peak, 1) * 1e12 * SIM_EFFICIENCY.compute,
    intraNode: Math.max(gpu.link.bandwidthGBs, 1) * 1e9 * SIM_EFFICIENCY.link,
    interNode: 50e9 * SIM_EFFICIENCY.link,
  };
}

export function compilePlan(plan: CheckedPlan, memory: MemoryPlan): Compiled {
  const graph = lower(plan, memory);
  const simulation = simulate(graph, { rates: ratesFor(plan) });
  return { graph, simulation, diagnostics: simulationDiagnostics(plan, simulation) };
}

export function simulationDiagnostics(plan: CheckedPlan, sim: SimResult): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (sim.deadlock) {
    const first = sim.deadlock.stuck[0]!;
    const detail = sim.deadlock.stuck
      .slice(0, 3)
      .map((s) => `rank ${s.rank}${s.action ? ` in ${s.action}` : ''} waits for ${s.waitingFor}`)
      .join('; ');
    // For an inline table, point at the cell the first stuck rank cannot finish.
    const table = plan.mode === 'train' ? plan.actions : undefined;
    const stage = plan.mode === 'train' ? Math.floor(first.rank / plan.mesh.tensor) % plan.mesh.pipeline : 0;
    const cell = table?.[stage]?.[first.actionIndex]?.span;
    const span = cell ?? plan.spans['actions'] ?? plan.spans['schedule'] ?? plan.span;
    out.push(diag('PP5001', span, { detail }, { help: `no rank can move; the stuck actions are in brackets:\n${sim.deadlock.grid}` }));
  }
  // Unmatched messages or collectives cannot come from a checked plan (the checker
  // validates action tables): they are a lowering bug.
  for (const p of sim.problems.slice(0, 5)) out.push(diag('PP9001', plan.span, { detail: `the simulation of plan '${plan.name}' found: ${p}` }));
  return out;
}
