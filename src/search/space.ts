/**
 * The search space: every combination of parallel knobs worth asking the checker about,
 * one small pure function per dimension (as torchtitan and Megatron name them). The
 * enumeration proposes; it does not judge: whether a combination is valid is the
 * checker's question (src/check/), so a rule there never drifts from a copy here.
 * Each dimension stays bounded for any model and cluster (at most a few dozen values).
 */
import type { TrainPlan } from '../plan.js';
import { divisors } from '../util/divisors.js';

export interface MeshKnobs {
  tensor: number;
  pipeline: number;
  data: number;
  /** MoE models only: the expert-parallel degree (absent for dense models, which have no expert grid). */
  expert?: number;
  /** MoE models only: the expert tensor-parallel degree. */
  expertTensor?: number;
}

export interface TrainKnobs extends MeshKnobs {
  mode: 'train';
  /** Absent with pipeline = 1, where a schedule has no effect. */
  schedule?: Exclude<TrainPlan['schedule'], 'table'>;
  /** Model chunks per stage, for schedule = interleaved only. */
  virtual?: number;
  micro: number;
  zero: TrainPlan['zero'];
  recompute: TrainPlan['recompute'];
  sequenceParallel: boolean;
}

export interface ServeKnobs extends MeshKnobs {
  mode: 'serve';
  maxBatch: number;
  /** The prefill chunk (max_prefill_tokens); undefined: the checker's default (vLLM's, src/check/batch.ts). */
  maxPrefillTokens?: number;
}

export type Knobs = TrainKnobs | ServeKnobs;

/** Model chunks per stage tried for interleaved schedules (Megatron's usual values). */
export const VIRTUAL_STAGES = [2, 3, 4, 6, 8] as const;
/** Microbatch sizes tried: sequences per forward/backward pass. */
export const MICRO_BATCHES = [1, 2, 4, 8] as const;
/** max_batch values tried when serving: powers of 2 up to vLLM's largest common setting. */
export const MAX_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;
/**
 * Prefill chunks tried besides the default (max_prefill_tokens): vLLM's two defaults' neighbours,
 * a smaller one where long prompts' activations do not fit and a larger one for fewer steps
 * per prompt; a chunk of at least max_batch × seq is the whole batch, the default's case.
 */
export const PREFILL_CHUNKS = [2048, 16384] as const;
export const ZERO_STAGES = [0, 1, 2, 3] as const;
export const RECOMPUTE = ['none', 'selective', 'full'] as const;

export { divisors };

/** Tensor degrees: divisors of the GPU count within one node (Megatron keeps tensor groups on NVLink). */
export function tensorDegrees(gpus: number, gpusPerNode: number): number[] {
  return divisors(gpus).filter((t) => t <= gpusPerNode);
}

/** Pipeline degrees: divisors of the GPUs left per tensor group, at most one stage per layer. */
export function pipelineDegrees(gpusPerTensorGroup: number, layers: number): number[] {
  return divisors(gpusPerTensorGroup).filter((p) => p <= layers);
}

/**
 * Expert grids over a stage's tensor × data ranks for `experts` routed experts, as the engines
 * form them. Training (Megatron-Core): expert tensor is the tensor degree (its default, and what a
 * dense layer does) or 1 (whole experts, its advice for fine-grained experts), and the expert
 * degree divides the experts and the ranks left. Serving (vLLM, FusedMoEParallelConfig.make): one
 * engine per replica with each expert split over its tensor ranks (expert 1, expert tensor =
 * tensor); one engine over all replicas with each expert split over every rank (expert 1, expert
 * tensor = tensor × data); or --enable-expert-parallel, whole experts over every rank (expert =
 * tensor × data, expert tensor 1). The checker still judges every candidate (src/check/).
 */
export function expertGrids(
  tensor: number,
  data: number,
  experts: number,
  mode: 'train' | 'serve' = 'train',
): Pick<MeshKnobs, 'expert' | 'expertTensor'>[] {
  const ranks = tensor * data;
  if (mode === 'serve') {
    const out: Pick<MeshKnobs, 'expert' | 'expertTensor'>[] = [{ expert: 1, expertTensor: tensor }];
    if (data > 1) out.push({ expert: 1, expertTensor: ranks });
    if (ranks > 1 && experts % ranks === 0) out.push({ expert: ranks, expertTensor: 1 });
    return out;
  }
  const out: Pick<MeshKnobs, 'expert' | 'expertTensor'>[] = [];
  for (const expertTensor of tensor > 1 ? [tensor, 1] : [1]) {
    for (const expert of divisors(ranks / expertTensor)) if (experts % expert === 0) out.push({ expert, expertTensor });
  }
  return out;
}

/**
 * Every mesh that uses all the GPUs: tensor × pipeline × data = gpus (idle GPUs are never faster);
 * for a MoE model (`experts` routed experts) each mesh once per expert grid.
 */
export function meshes(
  gpus: number,
  gpusPerNode: number,
  layers: number,
  experts?: number,
  mode: 'train' | 'serve' = 'train',
): MeshKnobs[] {
  const out: MeshKnobs[] = [];
  for (const tensor of tensorDegrees(gpus, gpusPerNode)) {
    for (const pipeline of pipelineDegrees(gpus / tensor, layers)) {
      const mesh = { tensor, pipeline, data: gpus / (tensor * pipeline) };
      if (experts === undefined) out.push(mesh);
      else for (const grid of expertGrids(tensor, mesh.data, experts, mode)) out.push({ ...mesh, ...grid });
    }
  }
  return out;
}

/** Schedules: none with one stage; GPipe, 1F1B and interleaved (each virtual count that leaves a layer per chunk) otherwise. */
export function schedules(pipeline: number, layers: number): Pick<TrainKnobs, 'schedule' | 'virtual'>[] {
  if (pipeline === 1) return [{}];
  const out: Pick<TrainKnobs, 'schedule' | 'virtual'>[] = [{ schedule: 'gpipe' }, { schedule: '1f1b' }];
  for (const virtual of VIRTUAL_STAGES) if (pipeline * virtual <= layers) out.push({ schedule: 'interleaved', virtual });
  return out;
}

/** ZeRO stages: 1–3 shard across data replicas, so with one replica only 0 means anything. */
export function zeroStages(data: number): TrainPlan['zero'][] {
  return data > 1 ? [...ZERO_STAGES] : [0];
}

/** Sequence parallelism shards over the tensor group: only with tensor > 1. */
export function sequenceParallelChoices(tensor: number): boolean[] {
  return tensor > 1 ? [false, true] : [false];
}

/**
 * Microbatch sizes no larger than a replica's share of the global batch; 1 always, so
 * that a global batch smaller than the data degree is reported by the checker (PP3011).
 */
export function microBatches(global: number, data: number): number[] {
  return MICRO_BATCHES.filter((b) => b === 1 || b * data <= global);
}

/**
 * The memory-independent part of a training candidate: mesh, schedule and microbatch.
 * Candidates that share one differ only in zero, recompute and sequence parallelism,
 * the knobs that trade memory for time (src/search/prune.ts relies on this grouping).
 */
export interface TrainGroup {
  mesh: MeshKnobs;
  schedule: Pick<TrainKnobs, 'schedule' | 'virtual'>;
  micro: number;
}

export function trainGroups(gpus: number, gpusPerNode: number, layers: number, global: number, experts?: number): TrainGroup[] {
  const out: TrainGroup[] = [];
  for (const mesh of meshes(gpus, gpusPerNode, layers, experts)) {
    for (const schedule of schedules(mesh.pipeline, layers)) {
      for (const micro of microBatches(global, mesh.data)) out.push({ mesh, schedule, micro });
    }
  }
  return out;
}

/** Every candidate of a group, in a fixed order (lighter memory later: zero up, recompute none → full). */
export function groupCandidates(g: TrainGroup): TrainKnobs[] {
  const out: TrainKnobs[] = [];
  for (const zero of zeroStages(g.mesh.data)) {
    for (const recompute of RECOMPUTE) {
      for (const sequenceParallel of sequenceParallelChoices(g.mesh.tensor)) {
        out.push({ mode: 'train', ...g.mesh, ...g.schedule, micro: g.micro, zero, recompute, sequenceParallel });
      }
    }
  }
  return out;
}

/** `defaultChunk(maxBatch)`: the checker's default prefill chunk for the cluster's GPU, not tried twice. */
export function serveCandidates(
  gpus: number,
  gpusPerNode: number,
  layers: number,
  experts?: number,
  seq = Infinity,
  defaultChunk: (maxBatch: number) => number = () => 0,
): ServeKnobs[] {
  const out: ServeKnobs[] = [];
  for (const mesh of meshes(gpus, gpusPerNode, layers, experts, 'serve'))
    for (const maxBatch of MAX_BATCHES) {
      out.push({ mode: 'serve', ...mesh, maxBatch });
      for (const chunk of PREFILL_CHUNKS)
        if (chunk >= maxBatch && chunk < maxBatch * seq && chunk !== defaultChunk(maxBatch))
          out.push({ mode: 'serve', ...mesh, maxBatch, maxPrefillTokens: chunk });
    }
  return out;
}
