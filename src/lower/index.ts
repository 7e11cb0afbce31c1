/**
 * Lowering: CheckedPlan + MemoryPlan → Graph. Pure. The dimensions are applied in a
 * fixed order, each by its own module: the mesh (mesh.ts), tensor parallelism inside
 * each layer (layer.ts), pipeline stages and the schedule (pipeline.ts), data
 * parallelism and the optimizer (data.ts); serving programs are prefill and decode.
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { GRAPH_FORMAT, GRAPH_VERSION, type Graph, type Program, type Step } from '../graph/types.js';
import { matmulBackward } from '../cost/flops.js';
import { countParams } from '../memory/params.js';
import { outputWeightBytes } from '../memory/weights.js';
import { webgpuLayout } from '../memory/webgpu.js';
import type { MemoryPlan } from '../memory/types.js';
import type { CheckedPlan, ServePlan, TrainPlan } from '../plan.js';
import { gradientSyncSteps } from './data.js';
import { blockRuns, CAST_OUTPUT, castCacheAllocated, castCacheBytes, compute, serveBlocks, trainBlocks } from './layer.js';
import { hasExperts, hsdpShardGroup, lowerMesh } from './mesh.js';
import { axesOf } from '../mesh.js';
import { graphSchedule, pipelineSteps, virtualStages } from './pipeline.js';
import { scheduleFor } from '../schedules/index.js';
import { lowerTensors } from './tensors.js';
import { lowerWebgpuTrain, webgpuTrainTensors } from './webgpu-train.js';

export function lower(plan: CheckedPlan, memory: MemoryPlan): Graph {
  const mesh = lowerMesh(plan);
  const stages = plan.mode === 'train' ? virtualStages(plan) : virtualStages({ mesh: plan.mesh, stages: plan.stages });
  const webgpuTrain = plan.mode === 'train' && plan.engine === 'webgpu';
  const lowered: Lowered =
    plan.mode === 'train' ? (webgpuTrain ? lowerWebgpuTrain(plan, stages) : lowerTrain(plan, stages)) : lowerServe(plan);
  const byRank = new Map(memory.devices.map((d) => [d.rank, d]));
  // Per stage, not per device: castCacheBytes walks every stage, and a plan can have thousands of devices.
  const cast = plan.mode === 'train' ? castCacheBytes(plan) : undefined;
  const allocatedByStage = plan.mode === 'train' ? plan.stages.map((st) => castCacheAllocated(plan, st, cast)) : [];
  const { model, derived } = plan;
  const hsdp = hsdpShardGroup(plan);
  return {
    format: GRAPH_FORMAT,
    version: GRAPH_VERSION,
    plan:
      plan.mode === 'serve'
        ? { name: plan.name, file: plan.file, mode: plan.mode, engine: plan.engine }
        : { name: plan.name, file: plan.file, mode: plan.mode, ...(plan.engine === 'webgpu' ? { engine: plan.engine } : {}) },
    model: {
      name: model.name,
      arch: model.arch,
      layers: model.layers,
      hidden: model.hidden,
      vocab: model.vocab,
      vocabPadded: derived.vocabPadded,
      maxSeq: model.maxSeq,
      dtype: model.dtype,
      norm: model.norm,
      bias: model.bias,
      positions: model.positions,
      tiedEmbeddings: model.tiedEmbeddings,
      normEps: model.normEps,
      ropeTheta: model.ropeTheta,
      // The newer model facts, only where the model has them (absent = default).
      ...(model.qkvBias !== undefined ? { qkvBias: model.qkvBias } : {}),
      ...(model.normsPerLayer !== undefined ? { normsPerLayer: model.normsPerLayer } : {}),
      ...(model.qkNorm !== undefined ? { qkNorm: model.qkNorm } : {}),
      ...(model.ropeScaling !== undefined ? { ropeScaling: model.ropeScaling } : {}),
      ...(model.attnSoftcap !== undefined ? { attnSoftcap: model.attnSoftcap } : {}),
      ...(model.logitSoftcap !== undefined ? { logitSoftcap: model.logitSoftcap } : {}),
      ...(model.queryPreAttnScalar !== undefined ? { queryPreAttnScalar: model.queryPreAttnScalar } : {}),
      ...(model.scaleEmbeddings !== undefined ? { scaleEmbeddings: model.scaleEmbeddings } : {}),
      ...(model.normOffset !== undefined ? { normOffset: model.normOffset } : {}),
      ...(model.quant !== undefined ? { quant: model.quant } : {}),
      layer: model.layer,
      ...(model.overrides ? { overrides: model.overrides } : {}),
      params: countParams(model),
    },
    mesh: {
      axes: axesOf(plan.mesh),
      virtual: plan.mode === 'train' ? plan.virtual : 1,
      gpu: plan.cluster.gpu.id,
      gpusPerNode: plan.cluster.gpusPerNode,
      ...(hasExperts(plan) ? { experts: { ...plan.experts } } : {}),
      ...(hsdp !== undefined ? { hsdp: { shard: hsdp, replicate: plan.mesh.data / hsdp } } : {}),
      stages,
    },
    devices: mesh.devices.map((d) => {
      const m = byRank.get(d.rank)!;
      // What of the weights category the steps allocate and free (autocast's cast cache): not static in the simulation.
      const allocated = allocatedByStage[d.coords.pipeline] ?? 0;
      return {
        ...d,
        program: `stage${d.coords.pipeline}`,
        memory: { ...m.breakdown, total: m.totalBytes, ...(allocated > 0 ? { allocated } : {}) },
      };
    }),
    groups: mesh.groups,
    tensors: plan.mode === 'train' && webgpuTrain ? webgpuTrainTensors(plan) : lowerTensors(plan),
    blocks: lowered.blocks,
    programs: lowered.programs,
    ...(lowered.schedule ? { schedule: lowered.schedule } : {}),
    ...(lowered.symbols ? { symbols: lowered.symbols } : {}),
    ...(plan.mode === 'serve' ? { batch: { ...plan.batch } } : {}),
    ...(plan.mode === 'serve' && plan.engine === 'webgpu'
      ? {
          buffers: Object.fromEntries(
            plan.stages.map((st) => [
              `stage${st.index}`,
              webgpuLayout(plan, st).map((r) => ({ name: r.name, category: r.category, bytes: r.bytes })),
            ]),
          ),
        }
      : {}),
    ...(lowered.buffers ? { buffers: lowered.buffers } : {}),
  };
}

interface Lowered {
  blocks: Graph['blocks'];
  programs: Record<string, Program>;
  schedule?: Graph['schedule'];
  symbols?: Graph['symbols'];
  buffers?: Graph['buffers'];
}

function lowerTrain(plan: TrainPlan, stages: Graph['mesh']['stages']): Lowered {
  const table = scheduleFor(plan);
  const { seq: s, micro: b } = plan.batch;
  // A context rank embeds, norms and scores its s/c tokens of each sequence.
  const T = (s / plan.mesh.context) * b;
  const h = plan.model.hidden;
  const t = plan.mesh.tensor;
  const vRows = plan.derived.vocabPadded / t;
  const headFlops = 2 * T * h * vRows;
  const lossBytes = 3 * 4 * T; // vocab-parallel cross entropy: max, sum of exps, target logit
  const tp = (step: Step): Step[] => (t > 1 ? [step] : []);
  // Autocast's copy of the output layer lives from the head's forward to its backward.
  const cast = castCacheBytes(plan);
  const castHead = (cast?.head ?? 0) > 0 ? [CAST_OUTPUT] : [];
  const input = {
    plan,
    table,
    stages,
    embedForward: [
      compute('embedding', 'forward', ['input.mb{m}', ...embeddingWeights(plan)], ['hidden'], T * h, { alloc: ['input.mb{m}'] }),
      ...tp({ op: 'all-reduce', axis: 'tensor', tensor: 'hidden', bytes: T * h * bytesPerElement(plan.precision) }),
    ],
    embedBackward: [
      compute('embedding', 'backward', ['grad.hidden', 'input.mb{m}'], ['grad.embedding.weight'], T * h, { free: ['input.mb{m}'] }),
    ],
    headForward: [
      compute('final-norm', 'forward', ['hidden', ...finalNormWeights(plan)], ['x'], 5 * T * h, { alloc: ['output.mb{m}', ...castHead] }),
      compute(
        'head',
        'forward',
        ['x', plan.model.tiedEmbeddings && plan.mesh.pipeline === 1 ? 'embedding.weight' : 'output.weight'],
        ['logits'],
        headFlops,
      ),
      ...tp({ op: 'all-reduce', axis: 'tensor', tensor: 'loss.partials', bytes: lossBytes }),
      compute('loss', 'forward', ['logits'], ['loss'], 5 * T * vRows),
    ],
    headBackward: [
      compute('loss', 'backward', ['loss', 'output.mb{m}'], ['grad.logits'], 5 * T * vRows),
      compute('head', 'backward', ['grad.logits', 'output.mb{m}'], ['grad.x', 'grad.output.weight'], matmulBackward(plan, headFlops)),
      ...tp({ op: 'all-reduce', axis: 'tensor', tensor: 'grad.x', bytes: T * h * bytesPerElement(plan.precision) }),
      compute('final-norm', 'backward', ['grad.x', 'output.mb{m}'], ['grad.hidden'], 5 * T * h, { free: ['output.mb{m}'] }),
    ],
  };
  const programs: Record<string, Program> = {};
  for (const stage of plan.stages) {
    const steps = [...pipelineSteps(input, stage.index), ...gradientSyncSteps(plan, stage)];
    if (castHead.length > 0 || cast) {
      // The optimizer step releases autocast's cast cache: the copies of this rank's layers (its virtual stages) and head.
      const names = stages.filter((v) => v.rank === stage.index).flatMap((v) => range(v.firstLayer, v.lastLayer).map((l) => `cast.${l}`));
      if (stage.hasOutput) names.push(...castHead);
      const i = steps.findIndex((s) => s.op === 'compute' && s.kind === 'optimizer');
      const opt = steps[i] as Extract<Step, { op: 'compute' }>;
      steps[i] = { ...opt, free: [...(opt.free ?? []), ...names] };
    }
    programs[`stage${stage.index}`] = { id: `stage${stage.index}`, stage: stage.index, phases: { step: steps } };
  }
  return {
    blocks: trainBlocks(plan),
    programs,
    schedule: graphSchedule(plan, table),
  };
}

/** first, first + 1, …, last (empty when last < first). */
function range(first: number, last: number): number[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i);
}

/** The tables the embedding step reads: tokens, and learned positions where the model has them. */
function embeddingWeights(plan: CheckedPlan): string[] {
  return plan.model.positions === 'learned' ? ['embedding.weight', 'positions.weight'] : ['embedding.weight'];
}

/** The final norm's gain, and its bias for LayerNorm. */
function finalNormWeights(plan: CheckedPlan): string[] {
  return plan.model.norm === 'layernorm' ? ['final_norm.weight', 'final_norm.bias'] : ['final_norm.weight'];
}

function lowerServe(plan: ServePlan): Lowered {
  const p = plan.mesh.pipeline;
  const t = plan.mesh.tensor;
  const h = plan.model.hidden;
  const e = Math.max(2, bytesPerElement(plan.model.dtype));
  const vRows = plan.derived.vocabPadded / t;
  const B = plan.batch.maxBatch;
  const programs: Record<string, Program> = {};
  for (const stage of plan.stages) {
    const r = stage.index;
    const phase = (name: 'prefill' | 'decode', T: number): Step[] => {
      const steps: Step[] = [];
      if (r === 0) {
        if (name === 'decode' && p > 1) steps.push({ op: 'recv', peer: 'prev', tensor: 'tokens', bytes: B * 8 });
        steps.push(compute('embedding', 'forward', ['tokens', ...embeddingWeights(plan)], ['hidden'], T * h));
        if (t > 1) steps.push({ op: 'all-reduce', axis: 'tensor', tensor: 'hidden', bytes: T * h * e });
      } else {
        steps.push({ op: 'recv', peer: 'prev', tensor: 'hidden', bytes: T * h * e });
      }
      steps.push(...blockRuns(plan, name, stage.firstLayer, stage.lastLayer));
      if (stage.hasOutput) {
        // Only the last position of each sequence needs logits.
        const rows = name === 'prefill' ? 1 : B;
        steps.push(compute('final-norm', 'forward', ['hidden', ...finalNormWeights(plan)], ['x'], 5 * rows * h));
        steps.push(
          compute(
            'head',
            'forward',
            ['x', plan.model.tiedEmbeddings && p === 1 ? 'embedding.weight' : 'output.weight'],
            ['logits'],
            2 * rows * h * vRows,
            // The output layer's weights are read whole each step (the cost model's outputWeightBytes).
            { alloc: ['logits'], bytes: outputWeightBytes(plan, stage) },
          ),
        );
        if (t > 1) steps.push({ op: 'all-gather', axis: 'tensor', tensor: 'logits', bytes: rows * plan.derived.vocabPadded * 4 });
        steps.push(compute('sample', 'forward', ['logits'], ['tokens'], rows * plan.derived.vocabPadded, { free: ['logits'] }));
        // The sampled tokens feed the next decode step on the first stage (loop-carried).
        if (p > 1) steps.push({ op: 'send', peer: 'next', tensor: 'tokens', bytes: B * 8 });
      } else {
        steps.push({ op: 'send', peer: 'next', tensor: 'hidden', bytes: T * h * e });
      }
      return steps;
    };
    programs[`stage${r}`] = {
      id: `stage${r}`,
      stage: r,
      phases: { prefill: phase('prefill', plan.batch.maxPrefillTokens), decode: phase('decode', B) },
    };
  }
  return {
    blocks: serveBlocks(plan, 'scratch.prefill'),
    programs,
    symbols: {
      batch: { max: B, doc: 'sequences in a decode step (batch.max_batch)' },
      seq: { max: plan.batch.seq, doc: 'tokens per sequence, prompt and output (batch.seq)' },
      tokens: { max: plan.batch.maxPrefillTokens, doc: 'prompt tokens in a prefill step (batch.max_prefill_tokens)' },
    },
  };
}
