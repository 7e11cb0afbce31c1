/**
 * CheckedPlan: the checker's only output. Every name is resolved, every default
 * applied, every value typed and in range, every divisibility proven. Later stages
 * (memory, lowering) read only this, never the AST.
 */
import type { Span } from './source.js';
import type { Dtype, FloatDtype } from './facts/dtypes.js';
import type { FP8_RECIPES } from './facts/keys.js';
import type { GpuSpec } from './facts/gpus.js';
import type { StepProfile } from './facts/profile.js';
import type { Mesh } from './mesh.js';
import type { LayerSpec, Model } from './model.js';
import type { ScheduleTable } from './schedules/types.js';

/** The checked model: the one model description (src/model.ts) and where it was declared. */
export interface ModelSpec extends Model {
  /** The model's name in its declaration. */
  span: Span;
}

export interface ClusterSpec {
  name: string;
  span: Span;
  gpu: GpuSpec;
  gpus: number;
  nodes: number;
  gpusPerNode: number;
  /** Inter-node bandwidth per GPU, GB/s (10^9) per direction: the cluster's `network` key (default 50). */
  networkGBs: number;
  /** CPU memory per node (the cluster's `host_memory`), bytes; absent when not given (offload plans then skip the host check). */
  hostMemoryBytes?: number;
  /** The gpu block's `profile`: measured step times (src/latency/profile.ts), the path as written and where. */
  profile?: { profile: StepProfile; path: string; span: Span };
}

export type { Mesh } from './mesh.js';

/** One pipeline stage: an inclusive range of layers. */
export interface Stage {
  index: number;
  firstLayer: number;
  /** Inclusive. */
  lastLayer: number;
  /** lastLayer − firstLayer + 1. */
  layers: number;
  /** The token (and learned position) embedding lives on the first stage. */
  hasEmbedding: boolean;
  /** The final norm and output layer live on the last stage. */
  hasOutput: boolean;
  /**
   * With a `layout`: this rank's virtual stages (model chunks) in order, each with its own
   * layer count (0 for an empty stage). `firstLayer`/`layers` above are then the first chunk's
   * first layer and the rank's total. Absent: the chunks are equal (layers / virtual each).
   */
  chunks?: VirtualStage[];
}

/** One virtual pipeline stage of a `layout` (Megatron's --pipeline-model-parallel-layout). */
export interface VirtualStage {
  /** Position in the layout (layer order): virtual stage `index` runs on rank index % pipeline. */
  index: number;
  rank: number;
  firstLayer: number;
  /** Transformer layers (0: an empty stage, or one that holds only the embedding or loss). */
  layers: number;
  hasEmbedding: boolean;
  hasOutput: boolean;
}

export interface ServeBatch {
  maxBatch: number;
  maxWaitMs: number;
  seq: number;
  queue: number;
  maxPrefillTokens: number;
}

export interface TrainBatch {
  global: number;
  micro: number;
  seq: number;
}

/**
 * Per-rank facts of one run of alike layers (layers first … last): what each rank holds of
 * the layer's attention and MLP. GQA: heads/t query heads and kv_heads/t KV heads (1 when
 * t > kv_heads: replicated); MLA: heads/t query heads and one latent (kv_lora_rank +
 * qk_rope_head_dim wide) that every tensor rank keeps whole; MoE: the routed experts split
 * over the expert grid (plan.experts), the shared experts over tensor.
 */
export interface LayerRankFacts {
  first: number;
  /** Inclusive. */
  last: number;
  layer: LayerSpec;
  /** Query heads per tensor rank (heads / tensor). */
  headsPerRank: number;
  /** KV heads per tensor rank: GQA kv_heads / tensor, or 1 when tensor > kv_heads; MLA 1 (the latent). */
  kvHeadsPerRank: number;
  /** How many tensor ranks hold a copy of each KV head (1 = not replicated; MLA: tensor, every rank keeps the latent). */
  kvReplication: number;
  /** Dense MLP: ffn / tensor; MoE: one routed expert's width on each expert-tensor rank, expert_ffn / expert_tensor. */
  ffnPerRank: number;
  /** MoE: routed experts each expert rank holds (experts / expert); 0 for a dense MLP. */
  expertsPerRank: number;
  /** MoE: one shared expert's width per tensor rank (shared_expert_ffn / tensor); 0 without shared experts. */
  sharedFfnPerRank: number;
}

/** Facts derived from the model and the mesh, computed once by the checker. */
export interface Derived {
  /** Vocabulary padded up to a multiple of the tensor degree (Megatron's vocab-parallel split). */
  vocabPadded: number;
  /** Query heads per tensor rank: the largest over the layers (`layers` has each run's). */
  headsPerRank: number;
  /** KV heads per tensor rank, the largest over the layers: kv_heads / tensor, or 1 when tensor > kv_heads (replicated). */
  kvHeadsPerRank: number;
  /** How many tensor ranks hold a copy of each KV head (1 = not replicated), the largest over the layers. */
  kvReplication: number;
  /** MLP width per rank, the largest over the layers (dense ffn / tensor, MoE expert_ffn / expert_tensor). */
  ffnPerRank: number;
  /** Each run of alike layers, in layer order (one entry when every layer is alike): the per-layer facts. */
  layers: readonly LayerRankFacts[];
  /** GPUs used: tensor × pipeline × data. */
  gpusUsed: number;
}

/**
 * How the routed experts of MoE layers split over the tensor × data ranks of each pipeline
 * stage (Megatron-Core's expert grid, "MoE parallel folding"): the same ranks regrouped as
 * tensor (expert tensor parallelism, fastest) × expert × data, with
 * tensor × expert × data = mesh.tensor × mesh.data. Dense models: expert = 1.
 */
export interface ExpertMesh {
  /** Ranks that split each expert's width (expert_tensor). */
  tensor: number;
  /** Ranks that split the routed experts between them (expert). */
  expert: number;
  /** Replicas of each expert shard (expert data parallelism): mesh.tensor × mesh.data / (tensor × expert). */
  data: number;
}

interface PlanBase {
  name: string;
  /** The file the plan is declared in. */
  file: string;
  /** The plan's name in its declaration (where plan-wide diagnostics point). */
  span: Span;
  model: ModelSpec;
  cluster: ClusterSpec;
  mesh: Mesh;
  /** The expert grid of the MoE layers (expert = 1 without experts). */
  experts: ExpertMesh;
  stages: Stage[];
  /** Fraction of each GPU held back, in [0, 1). */
  reserve: number;
  workspaceBytes: number;
  attention: 'flash' | 'standard';
  derived: Derived;
  /** Spans of the values the user wrote, by key path (`tensor`, `batch.max_batch`), for diagnostics of later stages. */
  spans: Record<string, Span>;
}

export interface ServePlan extends PlanBase {
  mode: 'serve';
  batch: ServeBatch;
  kvDtype: Dtype;
  /** generic: a CUDA serving engine as docs/memory.md models it; webgpu: parplan's runtime (src/memory/webgpu.ts). */
  engine: 'generic' | 'webgpu';
  /** Tokens per KV-cache page (vLLM block_size): each sequence holds whole pages. */
  kvBlock: number;
  /** Whether the plan set `workspace` itself (the webgpu engine then adds it to its own buffers). */
  workspaceGiven: boolean;
  /** The plan's `traffic { … }` block: the load `parplan check` predicts latency under (src/latency/). */
  traffic?: ServeTraffic;
  /** The plan's `slo { … }` block (only with traffic). */
  slo?: ServeSlo;
}

/** Request lengths in tokens: fixed, uniform over [min, max], or lognormal with this mean and p99. */
export type Lengths =
  { kind: 'fixed'; value: number } | { kind: 'uniform'; min: number; max: number } | { kind: 'lognormal'; mean: number; p99: number };

export interface ServeTraffic {
  /** Requests per second. */
  rate: number;
  /** The trace's requests (seconds from the first, prompt and output tokens), replacing process and lengths; its times scaled to `rate`. */
  trace?: readonly { at: number; prompt: number; output: number }[];
  /** The `trace` file as the plan names it (with `trace`). */
  traceFile?: string;
  process: 'poisson' | 'burst';
  burst: number;
  prompt: Lengths;
  output: Lengths;
  /** Requests to simulate (before LIMITS.latencyRequests). */
  requests: number;
  seed: number;
}

export type SloMetric = 'ttft' | 'tpot' | 'e2e';

export interface ServeSlo {
  /** Percentile objectives, in key-table order: `ttft_p99 = 500 ms` is { metric: 'ttft', quantile: 0.99, seconds: 0.5 }. */
  latency: { key: string; metric: SloMetric; quantile: number; seconds: number }[];
  /** Most requests refused by the queue limit, a fraction. */
  maxRejected?: number;
}

export interface TrainPlan extends PlanBase {
  mode: 'train';
  batch: TrainBatch;
  sequenceParallel: boolean;
  /** `table`: the plan gives its own schedule as `actions`. */
  schedule: 'gpipe' | '1f1b' | 'interleaved' | 'table';
  /** The plan's `actions` table, checked per rank (one list per pipeline rank); present iff schedule = table. */
  actions?: ScheduleTable;
  /** Microbatches per step per pipeline = global / (micro × data). */
  microbatches: number;
  /** Model chunks per stage: 1 unless schedule = interleaved, or a table with `virtual`. */
  virtual: number;
  zero: 0 | 1 | 2 | 3;
  /**
   * HSDP: the data ranks ZeRO shards over (divides mesh.data); absent: every data rank (plain
   * ZeRO/FSDP). Read it through shardOver (src/memory/zero.ts), which also covers plan variants
   * whose data degree changed.
   */
  shardGroup?: number;
  /** zero = 3: whether gathered weights are freed after forward (FSDP2 reshard_after_forward). */
  reshardAfterForward: boolean;
  /** ZeRO-Offload / ZeRO-Infinity to CPU memory. */
  offload: 'none' | 'optimizer' | 'optimizer_params';
  recompute: 'none' | 'selective' | 'selective_op' | 'full';
  /** recompute = full: uniform (every group of recomputeLayers layers checkpointed at its input) or block (the first recomputeLayers layers of each stage). */
  recomputeMethod: 'uniform' | 'block';
  /** recompute = full: Megatron's --recompute-num-layers (1 with uniform: every layer). */
  recomputeLayers: number;
  /** The compute dtype: weights and activations in Megatron's recipe, autocast's 16-bit dtype with amp. */
  precision: FloatDtype;
  /**
   * precision = amp_bf16 | amp_fp16: PyTorch autocast (HF Trainer) / FSDP2 MixedPrecisionPolicy: fp32
   * parameters that the optimizer updates directly (no master copy), fp32 gradients, 16-bit compute.
   */
  amp: boolean;
  optimizer: 'adamw' | 'adam' | 'sgd';
  gradDtype: FloatDtype;
  /** How context-parallel attention exchanges K and V (matters when mesh.context > 1): a p2p ring, one all-gather, or an all-to-all over heads. */
  contextComm: 'p2p' | 'all_gather' | 'a2a';
  /** fp8 training recipe of the linear layers' GEMMs (`none`: all in precision); see src/memory/fp8.ts. */
  fp8: Fp8Recipe;
  /** MoE: each expert takes at most capacity_factor × its even share of tokens, padded to it; absent: dropless. */
  capacityFactor?: number;
  /** LoRA: only adapters train; absent: every parameter trains. */
  adapter?: Adapter;
  /** webgpu: parplan's runtime trains it (src/memory/webgpu-train.ts, src/lower/webgpu-train.ts); absent: generic. */
  engine?: 'generic' | 'webgpu';
  /** Clip gradients to this global norm before the optimizer (grad_clip); absent: no clipping. */
  gradClip?: number;
}

/** LoRA fine-tuning (`adapter { }`): the base frozen in its dtype or quantization, adapters on the target modules trained. */
export interface Adapter {
  /** Rank r: a target d_in → d_out gains r·(d_in + d_out) trainable parameters. */
  rank: number;
  /** Scale numerator (alpha / rank); no effect on memory or time. */
  alpha: number;
  /** Dropout on the adapter input (0: none, PEFT's Identity). */
  dropout: number;
  /** PEFT target names (or "all-linear"), as written or the family default; src/adapter.ts resolves them per layer. */
  targets: readonly string[];
}

export type CheckedPlan = ServePlan | TrainPlan;

/** The `fp8` key's values: TransformerEngine's recipes (te_*) and torchao's Float8Linear scalings (torchao_*). */
export type Fp8Recipe = (typeof FP8_RECIPES)[number];
