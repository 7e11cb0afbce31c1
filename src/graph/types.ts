/**
 * The execution graph: a checked plan lowered to what every device does, in order.
 * Versioned (`format`, `version`); JSON Schema in `src/graph/graph.schema.json`;
 * documented in docs/graph.md.
 *
 * Compact by construction: devices that run the same program share one program
 * template (every tensor rank and data replica of a stage does), and a transformer
 * layer's steps are written once as a block template that program steps instance
 * over a layer range. So the graph grows with stages × microbatches + layers, not
 * with devices × ops. Communication steps name their group by axis; each device's
 * entry says which group of ranks that is.
 */
import type { Dtype } from '../facts/dtypes.js';
import type { Breakdown } from '../memory/types.js';
import type { AxisSize, Coords, MeshAxis } from '../mesh.js';
import type { Model } from '../model.js';

export const GRAPH_FORMAT = 'parplan-graph';
export const GRAPH_VERSION = 4;

/**
 * What a collective runs over: a mesh axis (src/mesh.ts), or `embedding`, a group that
 * is no mesh axis: the first and last pipeline stage of one tensor rank and replica,
 * which hold separate copies of tied embeddings (their gradients are summed).
 */
export type Axis = MeshAxis | 'embedding' | ExpertAxis | HsdpAxis;

/**
 * The groups of the expert grid (src/mesh.ts `expertGroupsAlong`; docs/language.md "Expert
 * parallelism"), present when the model has MoE layers: `expert` exchanges tokens (the
 * all-to-alls of dispatch and combine), `expert_data` holds replicas of one expert shard (the
 * expert gradients' all-reduce), `expert_tensor` splits each expert's width.
 */
export type ExpertAxis = 'expert' | 'expert_data' | 'expert_tensor';
export const EXPERT_AXES: readonly ExpertAxis[] = ['expert', 'expert_data', 'expert_tensor'];

/**
 * HSDP's sub-groups of the data axis (src/mesh.ts `hsdpGroupsAlong`; docs/graph.md "The mesh"),
 * present when a training plan's shard_group < data: `data_shard` holds one copy of the model
 * states between its ranks (ZeRO's reduce-scatters and all-gathers), `data_replicate` the ranks
 * that hold the same shard (the gradient shards' all-reduce).
 */
export type HsdpAxis = 'data_shard' | 'data_replicate';
export const HSDP_AXES: readonly HsdpAxis[] = ['data_shard', 'data_replicate'];

export interface Graph {
  format: typeof GRAPH_FORMAT;
  version: typeof GRAPH_VERSION;
  plan: { name: string; file: string; mode: 'serve' | 'train'; engine?: 'generic' | 'webgpu' };
  model: GraphModel;
  mesh: GraphMesh;
  /** Every device, in rank order. */
  devices: GraphDevice[];
  /**
   * Groups of ranks per axis: along a mesh axis, the ranks that differ only in that
   * axis' coordinate, numbered in rank order of the other coordinates. A device's
   * `groups[axis]` indexes these. `embedding` (no mesh axis) pairs the first and last
   * pipeline stage when tied embeddings are split across them; it is numbered as the
   * pipeline groups are.
   */
  groups: Record<MeshAxis | 'embedding', number[][]> & Partial<Record<ExpertAxis | HsdpAxis, number[][]>>;
  tensors: GraphTensor[];
  /** Step lists instanced per layer (`{l}` in tensor names is the layer index). */
  blocks: Record<string, Step[]>;
  programs: Record<string, Program>;
  /** Training: the pipeline schedule the programs follow. */
  schedule?: GraphSchedule;
  /** Serving: the symbolic dimensions and their maxima (from the batch policy). */
  symbols?: Record<string, { max: number; doc: string }>;
  /** The cost model's estimate for this plan (docs/cost.md), as `parplan check --format json` reports it. */
  cost?: unknown;
  /** Serving: the batch policy the server applies. */
  batch?: { maxBatch: number; maxWaitMs: number; queue: number; seq: number; maxPrefillTokens: number };
  /** engine = webgpu: per program, the activation and workspace buffers the runtime allocates (src/memory/webgpu.ts; training: src/memory/webgpu-train.ts). */
  buffers?: Record<string, { name: string; category: 'activations' | 'workspace'; bytes: number }[]>;
}

/** The model description (src/model.ts) with two facts derived for the graph's readers. */
export interface GraphModel extends Model {
  /** The vocabulary padded for tensor parallelism: the rows of the embedding and output tensors. */
  vocabPadded: number;
  /** Total parameters, as Hugging Face counts them. */
  params: number;
}

export interface GraphMesh {
  /** The mesh axes, fastest-varying first (rank order), with their sizes. */
  axes: AxisSize[];
  /** Model chunks per pipeline rank (1 unless interleaved). */
  virtual: number;
  gpu: string;
  gpusPerNode: number;
  /** MoE models: the expert grid regrouping each stage's tensor × data ranks (plan.experts). */
  experts?: { tensor: number; expert: number; data: number };
  /** HSDP (shard_group < data): the data ranks split into `replicate` groups of `shard` consecutive ranks. */
  hsdp?: { shard: number; replicate: number };
  /** Layer ranges of the virtual stages (pipeline × virtual of them), in order; an empty one (a `layout`'s) has lastLayer = firstLayer − 1. */
  stages: { index: number; rank: number; firstLayer: number; lastLayer: number }[];
}

export interface GraphDevice {
  rank: number;
  /** Index along every mesh axis (`pipeline` is the stage). */
  coords: Coords;
  node: number;
  /** Key into `programs`. */
  program: string;
  /** Index into `groups[axis]` of the group this device belongs to. */
  groups: Partial<Record<Axis, number>>;
  /** The memory plan's bytes for this device (what the runtime allocates). */
  memory: Breakdown & {
    total: number;
    /**
     * Training: bytes of the weights category that steps allocate and free (autocast's cast cache, `cast.*`): the
     * simulation counts them while they are live, not as static memory. Absent: 0.
     */
    allocated?: number;
  };
}

/** `cast`: a 16-bit copy of weights made during a training step (autocast's cast cache), not a weight to load. */
export type TensorRole = 'weight' | 'gradient' | 'optimizer' | 'activation' | 'kvCache' | 'logits' | 'input' | 'cast';

export interface Shard {
  /** Dimension of the global shape that is split; -1: the flattened tensor (ZeRO). */
  dim: number;
  parts: number;
  /** The mesh axis whose coordinate is the shard index (routed experts: an axis of the expert grid; HSDP: data_shard). */
  over: MeshAxis | ExpertAxis | HsdpAxis;
  /** Consecutive ranks holding the same shard (KV heads replicated when tensor > kv_heads): index = floor(rank / replicas). */
  replicas?: number;
}

export interface GraphTensor {
  /** e.g. `layers.{l}.attn.q.weight`, `embedding.weight`, `act.{l}.mb{m}` patterns. */
  name: string;
  role: TensorRole;
  /** `layer`: one instance per layer of each owning stage; `stage`: one per owning stage. */
  scope: 'layer' | 'stage';
  /** Global shape; strings are symbolic dimensions (`batch`, `seq`, `tokens`, `micro`). */
  shape: (number | string)[];
  dtype: Dtype;
  /** How it is split; empty = replicated on every owner. Shard index = the owner's rank on `over`. */
  shards: Shard[];
  /** Bytes of one shard instance (symbolic dimensions at their maxima). */
  bytes: number;
  /** Pipeline ranks whose devices own it. */
  owners: number[];
  /** `layer` scope in a model whose layers differ: the layer ranges (inclusive) that have it; absent: every layer. */
  layers?: [number, number][];
  /** A bucket (a collective's tensor made of others): the tensors it holds; each owner holds those of its own. */
  members?: string[];
}

export type ComputeKind =
  | 'embedding'
  | 'norm'
  | 'qkv'
  | 'rope'
  | 'attention'
  | 'out-proj'
  | 'residual'
  | 'mlp-up'
  | 'mlp-act'
  | 'mlp-down'
  /** MoE: the router's logits and top-k choice (hidden → experts). */
  | 'router'
  /** MoE: the routed experts this rank holds, on the tokens dispatched to it. */
  | 'expert-up'
  | 'expert-act'
  | 'expert-down'
  | 'final-norm'
  | 'head'
  | 'loss'
  | 'sample'
  | 'optimizer'
  /** Training with grad_clip: the sum of squares of gradients (into `grad.norm`), then the clip scale from the all-reduced sum. */
  | 'grad-norm';

export type Pass = 'forward' | 'backward' | 'backward-input' | 'backward-weight' | 'recompute';

export const COLLECTIVE_OPS = ['all-reduce', 'all-gather', 'reduce-scatter', 'all-to-all'] as const;
export type CollectiveOp = (typeof COLLECTIVE_OPS)[number];

export type Step =
  | {
      op: 'compute';
      kind: ComputeKind;
      pass: Pass;
      /** Tensors read and written (names; `{l}` and `{m}` are the layer and microbatch). */
      reads: string[];
      writes: string[];
      /** Multiply-adds × 2 on this device, symbolic dimensions at their maxima. */
      flops: number;
      /**
       * Serving: bytes this step reads from device memory on this device (its weights; in decode
       * also the KV cache at the average context), the roofline's memory term: the simulation
       * takes max(flops / FLOP/s, bytes / memory bandwidth) (src/cost/serve.ts `layerStepBytes`).
       */
      bytes?: number;
      /** Activation tensors this step allocates and frees (the simulation's memory timeline). */
      alloc?: string[];
      free?: string[];
      /** The microbatch `{m}` stands for, outside blocks. */
      microbatch?: number;
      /**
       * The last `grad-norm` step (reading `grad.norm` alone): the plan's `grad_clip`, the max global L2 norm; the step
       * turns the summed squares into [min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖]. Absent (no grad_clip): [1, ‖g‖].
       */
      maxNorm?: number;
    }
  /** Instance a block template for each layer in [first, last] (or reversed for backward). */
  | { op: 'block'; block: string; layers: [number, number]; microbatch?: number; reverse?: boolean }
  /** Point-to-point between pipeline neighbours of the same tensor rank and replica. */
  | { op: 'send' | 'recv'; peer: 'next' | 'prev'; tensor: string; microbatch?: number; bytes: number }
  /** A collective over the device's group along `axis`; `all-to-all` (MoE dispatch and combine): `bytes` are this rank's tokens for every member, its own share included (the simulation and the cost model charge the (n − 1)/n that leave it). */
  | {
      op: CollectiveOp;
      axis: Axis;
      tensor: string;
      bytes: number;
      microbatch?: number;
      /** The result goes (added) into this tensor instead of in place: ZeRO-3's gathered weights, ZeRO-2/3's gradient shards. */
      into?: string;
      /** all-reduce: the reduction (absent: sum). */
      reduce?: 'sum' | 'max';
      /**
       * Issued on the device's communication stream (FSDP2's all-gather and reduce-scatter streams, DDP's and
       * Megatron's overlapped gradient buckets): the steps after it do not wait for it; a compute step outside a
       * block that reads its tensor (`*` matching any run of characters, either way) waits for it, as does the
       * phase's end (docs/graph.md "Overlapped collectives").
       */
      overlap?: true;
    }
  /** Marks the start of a schedule action (for pictures and the simulation's grid). */
  | { op: 'action'; action: string };

export type Collective = Extract<Step, { op: CollectiveOp }>;

export function isCollective(s: Step): s is Collective {
  return (COLLECTIVE_OPS as readonly string[]).includes(s.op);
}

export interface Program {
  id: string;
  /** Pipeline rank the program is for. */
  stage: number;
  /** Serving: `prefill` and `decode`; training: `step` (one optimizer step). */
  phases: Record<string, Step[]>;
}

export interface GraphSchedule {
  kind: 'gpipe' | '1f1b' | 'interleaved' | 'table';
  microbatches: number;
  virtual: number;
  /** Per pipeline rank, the actions in PyTorch notation (`0F0`, `1B3`). */
  actions: string[][];
}
