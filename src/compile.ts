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
import { checkTrainingGraph } from './graph/validate-train.js';
import { deadlockDiagnostic } from './schedules/deadlock.js';
import { hardwareOf, planCost, ratesOf, type PlanCost } from './cost/index.js';
import { LATENCY_S } from './cost/constants.js';
import type { MemoryPlan } from './memory/types.js';
import { LIMITS } from './facts/limits.js';
import { groupDigits } from './format.js';
import { coordsOf } from './mesh.js';
import type { CheckedPlan } from './plan.js';

export interface Compiled {
  graph: Graph;
  simulation: SimResult;
  diagnostics: Diagnostic[];
}

/**
 * The simulation's timeline uses the cost model's effective rates (one source of
 * truth for peaks, efficiency and latency); an unknown rate (a custom GPU without figures)
 * falls back to 1 TFLOP/s and 1 GB/s so that the simulation still orders events.
 */
export function ratesFor(plan: CheckedPlan): Rates {
  const r = ratesOf(hardwareOf(plan));
  return {
    flops: r.flops ?? 1e12,
    memory: r.memory ?? 1e9,
    intraNode: r.link ?? 1e9,
    interNode: r.network ?? 1e9,
    intraNodeLatency: LATENCY_S.intraNode,
    interNodeLatency: LATENCY_S.network,
    // Set only for fp8 training plans on a GPU with an fp8 rate (src/cost/rates.ts ratesOf).
    ...(r.fp8 ? { fp8: r.fp8 } : {}),
  };
}

/**
 * The graph's size, from the checked plan alone (nothing is lowered): its devices, and
 * for training its schedule actions (each a few steps in one rank's program, each
 * microbatch's steps spelled out).
 */
export function graphSize(plan: CheckedPlan): { devices: number; actions: number } {
  const { tensor, pipeline, data } = plan.mesh;
  const devices = tensor * pipeline * data;
  if (plan.mode !== 'train') return { devices, actions: 0 };
  const actions = plan.actions ? plan.actions.reduce((n, row) => n + row.length, 0) : pipeline * plan.virtual * plan.microbatches * 2;
  return { devices, actions };
}

/**
 * PP5005 when the plan's graph would pass LIMITS.graphActions or LIMITS.graphDevices:
 * checked before any lowering, so that a plan that checks in milliseconds cannot make
 * compile run for minutes or out of memory. Points at the microbatches (or the batch).
 */
export function graphSizeDiagnostic(plan: CheckedPlan): Diagnostic | undefined {
  const size = graphSize(plan);
  if (size.devices > LIMITS.graphDevices) {
    return diag(
      'PP5005',
      plan.spans['data'] ?? plan.spans['tensor'] ?? plan.spans['pipeline'] ?? plan.span,
      {
        plan: plan.name,
        size: `${groupDigits(size.devices)} devices`,
        limit: `${groupDigits(LIMITS.graphDevices)} devices`,
      },
      {
        help: 'check and report this plan (check needs no graph), or compile the same plan on fewer data-parallel replicas: each replica runs the same programs',
      },
    );
  }
  if (size.actions > LIMITS.graphActions && plan.mode === 'train') {
    const how = plan.actions
      ? 'actions in its table'
      : `schedule actions (pipeline ${plan.mesh.pipeline}${plan.virtual > 1 ? ` × virtual ${plan.virtual}` : ''} × ${groupDigits(plan.microbatches)} microbatches × forward and backward)`;
    const fewer = Math.max(1, Math.floor(LIMITS.graphActions / (2 * plan.mesh.pipeline * plan.virtual)));
    return diag(
      'PP5005',
      plan.spans['microbatches'] ?? plan.spans['batch.global'] ?? plan.spans['actions'] ?? plan.span,
      {
        plan: plan.name,
        size: `${groupDigits(size.actions)} ${how}`,
        limit: `${groupDigits(LIMITS.graphActions)} actions`,
      },
      {
        help: `use fewer microbatches per step (at most ${groupDigits(fewer)} here: a smaller global batch or a larger micro), or check the plan as it is (check needs no graph): every step repeats the same schedule`,
      },
    );
  }
  return undefined;
}

/** Results small enough to compile, and the PP5005 errors of the others. */
export function compilable<R extends { plan: CheckedPlan }>(results: readonly R[]): { results: R[]; diagnostics: Diagnostic[] } {
  const out: R[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const r of results) {
    const d = graphSizeDiagnostic(r.plan);
    if (d) diagnostics.push(d);
    else out.push(r);
  }
  return { results: out, diagnostics };
}

/** `cost` defaults to the plan's cost model; a caller that has it already (analyze()'s result) passes it, so it is worked out once. */
export function compilePlan(plan: CheckedPlan, memory: MemoryPlan, cost: PlanCost = planCost(plan, memory)): Compiled {
  const graph = lower(plan, memory);
  graph.cost = cost;
  const simulation = simulate(graph, { rates: ratesFor(plan) });
  const diagnostics = simulationDiagnostics(plan, simulation);
  // engine = webgpu training: the graph is the executor's contract; a graph it cannot trust is our bug.
  if (plan.mode === 'train' && plan.engine === 'webgpu')
    for (const p of checkTrainingGraph(graph).slice(0, 5))
      diagnostics.push(diag('PP9001', plan.span, { detail: `the training graph of plan '${plan.name}' does not check: ${p.message}` }));
  return { graph, simulation, diagnostics };
}

export function simulationDiagnostics(plan: CheckedPlan, sim: SimResult): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (sim.deadlock) {
    const first = sim.deadlock.stuck[0]!;
    // For an inline table, point at the cell the first stuck rank cannot finish.
    const table = plan.mode === 'train' ? plan.actions : undefined;
    const stage = plan.mode === 'train' ? coordsOf(plan.mesh, first.rank).pipeline : 0;
    const cell = table?.[stage]?.[first.actionIndex]?.span;
    out.push(
      deadlockDiagnostic(sim.deadlock.stuck, sim.deadlock.grid, cell ?? plan.spans['actions'] ?? plan.spans['schedule'] ?? plan.span),
    );
  }
  // Unmatched messages or collectives cannot come from a checked plan (the checker
  // validates action tables): they are a lowering bug.
  for (const p of sim.problems.slice(0, 5))
    out.push(diag('PP9001', plan.span, { detail: `the simulation of plan '${plan.name}' found: ${p}` }));
  return out;
}
