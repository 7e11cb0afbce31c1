/**
 * Hand-built models and checked plans for the memory tests (no parser, no checker):
 * the checker's derived facts are recomputed here from their documented definitions.
 */
import { GPUS, type GpuSpec } from '../../src/facts/gpus.js';
import type { ClusterSpec, Derived, ExpertMesh, Mesh, ModelSpec, ServePlan, Stage, TrainPlan } from '../../src/plan.js';
import { MiB } from '../../src/format.js';
import type { Span } from '../../src/source.js';
import { buildModel, layerRuns, type Arch, type ModelSizes } from '../../src/model.js';

export { GiB, MiB } from '../../src/format.js';

export const span: Span = { file: 'test.plan', start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };

/** A checked model as the checker builds it (the arch's presets, then `sizes`), declared at `span`. */
export function modelSpec(arch: Arch, sizes: ModelSizes): ModelSpec {
  return { ...buildModel(arch, sizes), span };
}

export const llama2_7b: ModelSpec = modelSpec('llama', {
  name: 'llama2_7b',
  layers: 32,
  hidden: 4096,
  heads: 32,
  kvHeads: 32,
  headDim: 128,
  ffn: 11008,
  vocab: 32000,
  maxSeq: 4096,
});

export const tinyllama: ModelSpec = modelSpec('llama', {
  name: 'tinyllama',
  layers: 22,
  hidden: 2048,
  heads: 32,
  kvHeads: 4,
  headDim: 64,
  ffn: 5632,
  vocab: 32000,
  maxSeq: 2048,
});

/** Llama-3-8B's sizes: also the base of variants (test/model.test.ts narrows some layers' MLP). */
export const LLAMA3_8B_SIZES: ModelSizes = {
  name: 'llama3_8b',
  layers: 32,
  hidden: 4096,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  ffn: 14336,
  vocab: 128256,
  maxSeq: 8192,
};
export const llama3_8b: ModelSpec = modelSpec('llama', LLAMA3_8B_SIZES);

export const gpt2: ModelSpec = modelSpec('gpt2', {
  name: 'gpt2',
  layers: 12,
  hidden: 768,
  heads: 12,
  kvHeads: 12,
  headDim: 64,
  ffn: 3072,
  vocab: 50257,
  maxSeq: 1024,
  dtype: 'fp32',
});

export function cluster(gpus: number, gpu: GpuSpec = GPUS.H100_SXM_80GB!, gpusPerNode = Math.min(gpus, 8)): ClusterSpec {
  return { name: 'c', span, gpu, gpus, nodes: Math.ceil(gpus / gpusPerNode), gpusPerNode, networkGBs: 50 };
}

/** The checker's derived facts, from their definitions in src/plan.ts (per run of alike layers; the scalars are the largest). */
export function derive(model: ModelSpec, mesh: Mesh, experts: ExpertMesh = { tensor: mesh.tensor, expert: 1, data: mesh.data }): Derived {
  const t = mesh.tensor;
  const layers = layerRuns(model).map(({ first, last, layer }) => {
    const { attention: a, mlp } = layer;
    const kv = a.kind === 'gqa' ? a.kvHeads : 0;
    return {
      first,
      last,
      layer,
      headsPerRank: a.heads / t,
      kvHeadsPerRank: a.kind === 'mla' ? 1 : kv >= t ? kv / t : 1,
      kvReplication: a.kind === 'mla' ? t : kv >= t ? 1 : t / kv,
      ffnPerRank: mlp.kind === 'dense' ? mlp.ffn / t : mlp.expertFfn / experts.tensor,
      expertsPerRank: mlp.kind === 'moe' ? mlp.experts / experts.expert : 0,
      sharedFfnPerRank: mlp.kind === 'moe' && mlp.sharedExperts > 0 ? mlp.sharedFfn / t : 0,
    };
  });
  const most = (f: (l: (typeof layers)[number]) => number) => Math.max(...layers.map(f));
  return {
    vocabPadded: Math.ceil(model.vocab / t) * t,
    headsPerRank: most((l) => l.headsPerRank),
    kvHeadsPerRank: most((l) => l.kvHeadsPerRank),
    kvReplication: most((l) => l.kvReplication),
    ffnPerRank: most((l) => l.ffnPerRank),
    layers,
    gpusUsed: t * mesh.pipeline * mesh.data,
  };
}

/** Balanced stages (earlier stages take the remainder), or explicit layer counts. */
export function stages(layers: number, pipeline: number, counts?: number[]): Stage[] {
  const sizes = counts ?? Array.from({ length: pipeline }, (_, i) => Math.floor(layers / pipeline) + (i < layers % pipeline ? 1 : 0));
  let first = 0;
  return sizes.map((n, index) => {
    const s: Stage = {
      index,
      firstLayer: first,
      lastLayer: first + n - 1,
      layers: n,
      hasEmbedding: index === 0,
      hasOutput: index === sizes.length - 1,
    };
    first += n;
    return s;
  });
}

interface Common {
  tensor?: number;
  context?: number;
  pipeline?: number;
  data?: number;
  stageLayers?: number[];
  gpu?: GpuSpec;
  gpusPerNode?: number;
  reserve?: number;
  workspaceBytes?: number;
  attention?: 'flash' | 'standard';
  /** The expert grid (default: expert 1, expert_tensor = tensor). */
  experts?: Partial<ExpertMesh>;
}

function base(model: ModelSpec, o: Common) {
  const mesh: Mesh = { tensor: o.tensor ?? 1, context: o.context ?? 1, pipeline: o.pipeline ?? 1, data: o.data ?? 1 };
  const gpus = mesh.tensor * mesh.context * mesh.pipeline * mesh.data;
  const et = o.experts?.tensor ?? mesh.tensor;
  const ee = o.experts?.expert ?? 1;
  const ex: ExpertMesh = { tensor: et, expert: ee, data: (mesh.tensor * mesh.data) / (et * ee) };
  return {
    name: 'p',
    file: 'test.plan',
    span,
    model,
    cluster: cluster(gpus, o.gpu, o.gpusPerNode),
    mesh,
    experts: ex,
    stages: stages(model.layers, mesh.pipeline, o.stageLayers),
    reserve: o.reserve ?? 0.1,
    workspaceBytes: o.workspaceBytes ?? 256 * MiB,
    attention: o.attention ?? 'flash',
    derived: derive(model, mesh, ex),
    spans: {},
  };
}

export function servePlan(
  model: ModelSpec,
  o: Common & Partial<ServePlan['batch']> & { kvDtype?: ServePlan['kvDtype']; engine?: ServePlan['engine']; kvBlock?: number } = {},
): ServePlan {
  const seq = o.seq ?? model.maxSeq;
  return {
    ...base(model, o),
    mode: 'serve',
    batch: { maxBatch: o.maxBatch ?? 1, maxWaitMs: 5, seq, queue: 1024, maxPrefillTokens: o.maxPrefillTokens ?? seq },
    kvDtype: o.kvDtype ?? model.dtype,
    kvBlock: o.kvBlock ?? 16,
    engine: o.engine ?? 'generic',
    workspaceGiven: false,
  };
}

type TrainOpts = Common &
  Partial<TrainPlan['batch']> &
  Partial<
    Pick<
      TrainPlan,
      | 'sequenceParallel'
      | 'schedule'
      | 'microbatches'
      | 'virtual'
      | 'zero'
      | 'recompute'
      | 'recomputeMethod'
      | 'recomputeLayers'
      | 'precision'
      | 'amp'
      | 'optimizer'
      | 'gradDtype'
      | 'contextComm'
      | 'fp8'
      | 'capacityFactor'
      | 'shardGroup'
      | 'reshardAfterForward'
      | 'offload'
    >
  >;

export function trainPlan(model: ModelSpec, o: TrainOpts = {}): TrainPlan {
  const b = base(model, o);
  const micro = o.micro ?? 1;
  const global = o.global ?? micro * b.mesh.data * (o.microbatches ?? 1);
  return {
    ...b,
    mode: 'train',
    batch: { global, micro, seq: o.seq ?? model.maxSeq },
    sequenceParallel: o.sequenceParallel ?? false,
    schedule: o.schedule ?? '1f1b',
    microbatches: o.microbatches ?? global / (micro * b.mesh.data),
    virtual: o.virtual ?? 1,
    zero: o.zero ?? 0,
    ...(o.shardGroup !== undefined ? { shardGroup: o.shardGroup } : {}),
    reshardAfterForward: o.reshardAfterForward ?? true,
    offload: o.offload ?? 'none',
    recompute: o.recompute ?? 'none',
    recomputeMethod: o.recomputeMethod ?? 'uniform',
    recomputeLayers: o.recomputeLayers ?? 1,
    precision: o.precision ?? 'bf16',
    amp: o.amp ?? false,
    optimizer: o.optimizer ?? 'adamw',
    gradDtype: o.gradDtype ?? 'fp32',
    contextComm: o.contextComm ?? 'p2p',
    fp8: o.fp8 ?? 'none',
    ...(o.capacityFactor !== undefined ? { capacityFactor: o.capacityFactor } : {}),
  };
}
