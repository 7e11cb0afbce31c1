/**
 * Pipeline parallelism: each pipeline rank's program follows the schedule's actions.
 * A forward action on virtual stage c receives its input from the previous virtual
 * stage (unless c = 0: the embedding), runs the chunk's layers, and sends to the next
 * (unless c is the last: head and loss). A backward action mirrors it with gradients.
 */
import { bytesPerElement } from '../facts/dtypes.js';
import type { GraphMesh, GraphSchedule, Step } from '../graph/types.js';
import { stageInput, stageInputGrad } from '../schedules/deadlock.js';
import { formatAction, type Action, type ScheduleTable } from '../schedules/types.js';
import type { Stage, TrainPlan } from '../plan.js';
import { blockRunsOf, layerBlocks } from './layer.js';
import { layerGradSyncSteps } from './data.js';
import { overlapsGradSync } from '../cost/train.js';

/** Layer ranges of the virtual stages: stage s's layers split into `virtual` equal chunks; chunk k of rank r is virtual stage k·p + r. */
export function virtualStages(
  plan: TrainPlan | { mesh: { pipeline: number }; stages: Pick<Stage, 'firstLayer' | 'layers' | 'chunks'>[]; virtual?: number },
): GraphMesh['stages'] {
  const p = plan.mesh.pipeline;
  const v = 'virtual' in plan && plan.virtual ? plan.virtual : 1;
  const out: GraphMesh['stages'] = [];
  // A layout: its virtual stages, uneven or empty (an empty one ends before it starts).
  const chunks = plan.stages.flatMap((s) => ('chunks' in s && s.chunks ? s.chunks : []));
  if (chunks.length > 0) {
    for (const c of [...chunks].sort((x, y) => x.index - y.index))
      out.push({ index: c.index, rank: c.rank, firstLayer: c.firstLayer, lastLayer: c.firstLayer + c.layers - 1 });
    return out;
  }
  if (v === 1) {
    plan.stages.forEach((s, r) => out.push({ index: r, rank: r, firstLayer: s.firstLayer, lastLayer: s.firstLayer + s.layers - 1 }));
    return out;
  }
  // Interleaved (Megatron): the model is cut into p·v equal chunks; chunk c runs on rank c % p.
  const total = plan.stages.reduce((a, s) => a + s.layers, 0);
  const per = total / (p * v);
  for (let c = 0; c < p * v; c++) out.push({ index: c, rank: c % p, firstLayer: c * per, lastLayer: (c + 1) * per - 1 });
  return out;
}

export interface PipelineInput {
  plan: TrainPlan;
  table: ScheduleTable;
  stages: GraphMesh['stages'];
  /** Steps before the first layer (c = 0) and after the last (head and loss), forward and backward. */
  embedForward: Step[];
  embedBackward: Step[];
  headForward: Step[];
  headBackward: Step[];
  /** Bytes of one stage boundary's send/recv when the engine's activations are not the plan's precision (webgpu: f32). */
  boundaryBytes?: number;
}

/** The ordered steps of one pipeline rank for one training step (before gradient sync). */
export function pipelineSteps(input: PipelineInput, rank: number): Step[] {
  const { plan, table, stages } = input;
  const last = stages.length - 1;
  const sp = plan.sequenceParallel && plan.mesh.tensor > 1 ? plan.mesh.tensor : 1;
  // With sequence parallelism each tensor rank holds (and sends) its 1/t of the sequence.
  // With context parallelism, each context rank sends its s/c tokens to the same context rank of the next stage.
  const bytes =
    input.boundaryBytes ??
    ((plan.batch.seq / plan.mesh.context) * plan.batch.micro * plan.model.hidden * bytesPerElement(plan.precision)) / sp;
  const steps: Step[] = [];
  // Where the embedding and the loss run: virtual stage 0 and the last, or where a layout puts E and L.
  const chunks = plan.stages[rank]?.chunks;
  const embedAt = (c: number): boolean => (chunks ? chunks.some((x) => x.index === c && x.hasEmbedding) : c === 0);
  const lossAt = (c: number): boolean => (chunks ? chunks.some((x) => x.index === c && x.hasOutput) : c === last);
  // Each virtual stage's block runs in each phase, found once: a rank runs thousands of actions.
  const blocks = layerBlocks(plan);
  const runs = new Map<string, ReturnType<typeof blockRunsOf>>();
  const runsOf = (phase: string, stage: number) => {
    const key = `${phase} ${stage}`;
    let r = runs.get(key);
    if (r === undefined) runs.set(key, (r = blockRunsOf(plan, phase, stages[stage]!.firstLayer, stages[stage]!.lastLayer, blocks)));
    return r;
  };
  // Literals of fixed keys (not a spread of options): there is one per layer run per action.
  const forward = (phase: string, stage: number, microbatch: number) => {
    for (const r of runsOf(phase, stage)) steps.push({ op: 'block', block: r.block, layers: [r.first, r.last], microbatch });
  };
  const backward = (phase: string, stage: number, microbatch: number) => {
    const list = runsOf(phase, stage);
    for (let i = list.length - 1; i >= 0; i--) {
      const r = list[i]!;
      steps.push({ op: 'block', block: r.block, layers: [r.first, r.last], microbatch, reverse: true });
    }
  };
  // Each chunk's last backward: its layers' gradients are final there, and reduced layer by layer (overlapsGradSync).
  const actions = table[rank] ?? [];
  const lastBackward = new Set<Action>();
  if (overlapsGradSync(plan)) {
    const seen = new Set<number>();
    for (let i = actions.length - 1; i >= 0; i--) {
      const a = actions[i]!;
      if (a.kind === 'B' && !seen.has(a.stage)) {
        seen.add(a.stage);
        lastBackward.add(a);
      }
    }
  }
  for (const a of actions) {
    steps.push({ op: 'action', action: formatAction(a) });
    const mb = a.microbatch;
    if (a.kind === 'F') {
      if (embedAt(a.stage)) steps.push(...withMicrobatch(input.embedForward, mb));
      if (a.stage > 0) steps.push({ op: 'recv', peer: 'prev', tensor: stageInput(a.stage), microbatch: mb, bytes });
      forward('forward', a.stage, mb);
      if (lossAt(a.stage)) steps.push(...withMicrobatch(input.headForward, mb));
      if (a.stage < last) steps.push({ op: 'send', peer: 'next', tensor: stageInput(a.stage + 1), microbatch: mb, bytes });
    } else if (a.kind === 'W') {
      // Zero-bubble W: the chunk's weight gradients (no communication but ZeRO-3's gradient reduce-scatter).
      backward('backward-weight', a.stage, mb);
    } else {
      // B, or I (zero-bubble split: the input gradients; the head and embedding backward go with it).
      if (lossAt(a.stage)) steps.push(...withMicrobatch(input.headBackward, mb));
      if (a.stage < last) steps.push({ op: 'recv', peer: 'next', tensor: stageInputGrad(a.stage + 1), microbatch: mb, bytes });
      if (lastBackward.has(a)) {
        const list = runsOf('backward', a.stage);
        for (let i = list.length - 1; i >= 0; i--) {
          const r = list[i]!;
          for (let l = r.last; l >= r.first; l--)
            steps.push({ op: 'block', block: r.block, layers: [l, l], microbatch: mb, reverse: true }, ...layerGradSyncSteps(plan, l));
        }
      } else backward(a.kind === 'I' ? 'backward-input' : 'backward', a.stage, mb);
      if (embedAt(a.stage)) steps.push(...withMicrobatch(input.embedBackward, mb));
      if (a.stage > 0) steps.push({ op: 'send', peer: 'prev', tensor: stageInputGrad(a.stage), microbatch: mb, bytes });
    }
  }
  return steps;
}

function withMicrobatch(steps: Step[], mb: number): Step[] {
  return steps.map((s) => ({ ...s, microbatch: mb }) as Step);
}

export type { Action };

/** The graph's `schedule`: the plan's schedule and every rank's actions in PyTorch notation. */
export function graphSchedule(plan: TrainPlan, table: ScheduleTable): GraphSchedule {
  return { kind: plan.schedule, microbatches: plan.microbatches, virtual: plan.virtual, actions: table.map((r) => r.map(formatAction)) };
}
