/**
 * The facts of a compiled plan that a generated module exports as literal types
 * (`export type MaxBatch = 8`), each with the doc line the module shows for it.
 */
import type { Graph } from '../graph/types.js';
import { MESH_AXES, meshOf } from '../mesh.js';

export interface Fact {
  /** The exported type's name. */
  name: string;
  value: number | string;
  doc: string;
}

export function planFacts(graph: Graph): Fact[] {
  const { batch, schedule, model } = graph;
  const mesh = meshOf(graph.mesh.axes);
  const facts: Fact[] = [
    { name: 'Mode', value: graph.plan.mode, doc: '`mode`: serving or training.' },
    { name: 'Devices', value: graph.devices.length, doc: `Devices the plan runs on: ${MESH_AXES.map((a) => a.name).join(' × ')}.` },
    // One fact per mesh axis (`Tensor`, `Pipeline`, `Data`).
    ...MESH_AXES.map((a) => ({ name: a.name[0]!.toUpperCase() + a.name.slice(1), value: mesh[a.name], doc: `\`${a.name}\`: ${a.size}.` })),
    { name: 'Vocab', value: model.vocab, doc: "The model's vocabulary: token ids are below it." },
  ];
  if (batch) {
    facts.push(
      {
        name: 'MaxBatch',
        value: batch.maxBatch,
        doc: '`max_batch`: sequences decoded together per replica; `forward` takes at most this many.',
      },
      { name: 'Seq', value: batch.seq, doc: '`seq`: tokens per sequence, prompt and generated tokens together.' },
      { name: 'MaxPrefillTokens', value: batch.maxPrefillTokens, doc: '`max_prefill_tokens`: prompt tokens per prefill step.' },
    );
  }
  if (schedule) {
    facts.push(
      { name: 'Schedule', value: schedule.kind, doc: 'The pipeline schedule.' },
      { name: 'Microbatches', value: schedule.microbatches, doc: 'Microbatches per optimizer step.' },
    );
  }
  return facts;
}

/**
 * The part of the graph's type that the runtime's checks read (runtime/typed.ts), for
 * a graph too large to export as a literal: plan, mesh axes, batch policy, schedule.
 */
export function graphSummary(graph: Graph): Record<string, unknown> {
  const { axes, virtual, gpu } = graph.mesh;
  return {
    plan: graph.plan,
    mesh: { axes, virtual, gpu },
    ...(graph.batch ? { batch: graph.batch } : {}),
    ...(graph.schedule
      ? { schedule: { kind: graph.schedule.kind, microbatches: graph.schedule.microbatches, virtual: graph.schedule.virtual } }
      : {}),
  };
}
