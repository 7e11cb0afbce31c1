/** Megatron-LM: `pretrain_gpt.py` arguments (names only, as megatron/training/arguments.py spells them). */
import type { OptionSource } from './source.js';

export const MEGATRON_ARGS = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'megatron/training/arguments.py',
  commit: '5be9626709af2722333bf54797c954c09edeada3',
  names: [
    // network size
    '--num-layers',
    '--hidden-size',
    '--ffn-hidden-size',
    '--num-attention-heads',
    '--kv-channels',
    '--group-query-attention',
    '--num-query-groups',
    '--max-position-embeddings',
    '--position-embedding-type',
    '--normalization',
    '--swiglu',
    '--untie-embeddings-and-output-weights',
    '--make-vocab-size-divisible-by',
    '--attention-backend',
    // training
    '--micro-batch-size',
    '--global-batch-size',
    '--recompute-granularity',
    '--recompute-method',
    '--recompute-num-layers',
    '--sequence-parallel',
    '--disable-bias-linear',
    '--optimizer',
    // mixed precision
    '--fp16',
    '--bf16',
    '--grad-reduce-in-bf16',
    '--accumulate-allreduce-grads-in-fp32',
    // distributed
    '--tensor-model-parallel-size',
    '--pipeline-model-parallel-size',
    '--context-parallel-size',
    '--cp-comm-type',
    '--pipeline-model-parallel-layout',
    '--num-virtual-stages-per-pipeline-rank',
    '--use-distributed-optimizer',
    '--use-megatron-fsdp',
    '--data-parallel-sharding-strategy',
    // checkpointing (Megatron-FSDP asserts this format)
    '--ckpt-format',
    // tokenizer and data
    '--vocab-size',
    '--tokenizer-type',
    '--tokenizer-model',
    '--seq-length',
    '--data-path',
  ],
  unverified: {
    '--context-parallel-size':
      "read in megatron/training/arguments.py's distributed group through the search index (commit not reported): type=int, default=1",
    '--cp-comm-type': 'read there too: nargs=\'+\', default ["p2p"], choices p2p, a2a, allgather, a2a+p2p (one per layer, or one for all)',
  },
} as const satisfies OptionSource;

/**
 * Flags written out in arguments.py at a later commit (the MoE, MLA and network-size groups): the
 * commit the model-family flags were read at, with the ones generated from TransformerConfig below.
 */
export const MEGATRON_MODEL_ARGS = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'megatron/training/arguments.py',
  commit: '5be9626709af2722333bf54797c954c09edeada3',
  names: [
    // _add_moe_args
    '--num-experts',
    '--moe-layer-freq',
    // _add_mla_args
    '--q-lora-rank',
    '--kv-lora-rank',
    '--qk-head-dim',
    '--qk-pos-emb-head-dim',
    '--v-head-dim',
    '--rotary-scaling-factor',
    // network size
    '--window-size',
    '--window-attn-skip-freq',
    '--rotary-base',
    '--use-rope-scaling',
    '--rope-scaling-factor',
    '--rotary-seq-len-interpolation-factor',
    '--rope-type',
    // with --position-embedding-type yarn (a choice at this commit)
    '--yarn-original-max-position-embeddings',
    '--yarn-beta-fast',
    '--yarn-beta-slow',
    // _add_distributed_args: HSDP, the data ranks in that many replicas of one sharded group
    // (parallel_state.py: intra_partial_data_parallel_size = dp / instances; Megatron-FSDP:
    // mcore_fsdp_adapter.py enable_hsdp = num_distributed_optimizer_instances > 1, outer no_shard)
    '--num-distributed-optimizer-instances',
  ],
} as const satisfies OptionSource;

/**
 * Flags arguments.py generates from TransformerConfig's fields (ArgumentGroupFactory in
 * megatron/training/argument_utils.py: `--` + the field name with `_` → `-`; a bool field that
 * defaults to False becomes a store_true flag), read from the dataclass (and its base
 * ModelParallelConfig, megatron/core/model_parallel_config.py, for the expert sizes).
 */
export const MEGATRON_CONFIG_ARGS = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'megatron/core/transformer/transformer_config.py',
  commit: '5be9626709af2722333bf54797c954c09edeada3',
  names: [
    '--moe-router-topk',
    '--moe-ffn-hidden-size',
    '--moe-shared-expert-intermediate-size',
    '--moe-shared-expert-gate',
    '--moe-router-pre-softmax',
    '--moe-router-score-function',
    '--moe-router-enable-expert-bias',
    '--moe-router-bias-update-rate',
    '--moe-token-dispatcher-type',
    '--moe-expert-capacity-factor',
    '--moe-pad-expert-input-to-capacity',
    '--multi-latent-attention',
    '--qk-layernorm',
    '--add-qkv-bias',
    '--softmax-type',
    // layernorm_epsilon's argparse_meta names it so
    '--norm-epsilon',
    // ModelParallelConfig fields (TransformerConfig's base class)
    '--expert-model-parallel-size',
    '--expert-tensor-parallel-size',
  ],
} as const satisfies OptionSource;

/**
 * TransformerEngine's fp8 flags (`_add_transformer_engine_args` in arguments.py: --fp8-format
 * dest fp8, choices e4m3 | hybrid; --fp8-recipe choices tensorwise | delayed | mxfp8 | blockwise,
 * default delayed; --fp8-amax-history-len default 1; --fp8-param-gather, which keeps the compute
 * weight in fp8 only: parplan does not model it and does not write it). Read in a stored copy of
 * the file whose commit the index did not report (208,034 characters, the same TE group as the
 * 000c4ac2 copy ends with, `--inference-rng-tracker`); TransformerConfig's fp8 fields
 * (megatron/core/transformer/transformer_config.py: fp8_recipe "delayed", fp8_amax_history_len 1,
 * fp8_param False, fp8_wgrad True) agree.
 */
export const MEGATRON_FP8_ARGS = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'megatron/training/arguments.py',
  names: ['--fp8-format', '--fp8-recipe', '--fp8-amax-history-len', '--fp8-param-gather'],
} as const satisfies OptionSource;

/** Values of the choice-valued arguments above, as listed in their `choices=`. */
export const MEGATRON_CHOICES = {
  // 'yarn' is among the choices at core_v0.19.0
  '--position-embedding-type': ['learned_absolute', 'rope', 'yarn'],
  '--normalization': ['LayerNorm', 'RMSNorm'],
  '--attention-backend': ['flash', 'unfused'],
  '--recompute-granularity': ['full', 'selective'],
  '--recompute-method': ['uniform', 'block'],
  '--optimizer': ['adam', 'sgd'],
  '--data-parallel-sharding-strategy': ['no_shard', 'optim', 'optim_grads', 'optim_grads_params'],
  '--ckpt-format': ['torch_dist', 'fsdp_dtensor'],
  '--tokenizer-type': ['HuggingFaceTokenizer'],
  // TransformerConfig's Literal annotations and arguments.py's choices at core_v0.19.0
  '--moe-router-score-function': ['softmax', 'sigmoid', 'sqrtsoftplus'],
  '--moe-token-dispatcher-type': ['allgather', 'alltoall', 'flex'],
  '--softmax-type': ['vanilla', 'off-by-one', 'learnable'],
  '--rope-type': ['rope', 'yarn'],
  '--cp-comm-type': ['p2p', 'a2a', 'allgather', 'a2a+p2p'],
  '--fp8-format': ['e4m3', 'hybrid'],
  '--fp8-recipe': ['tensorwise', 'delayed', 'mxfp8', 'blockwise'],
} as const satisfies Partial<Record<MegatronFlag, readonly string[]>>;

/** The entry point the launch runs (Megatron-LM's GPT pre-training script, at the repository root). */
export const MEGATRON_ENTRY = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'pretrain_gpt.py',
  commit: '5be9626709af2722333bf54797c954c09edeada3',
  names: [],
} as const satisfies OptionSource;

/** What starts the run: its length and the peak learning rate (placeholders the script checks), read in the table of MEGATRON_VERSION. */
export const MEGATRON_RUN_ARGS = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'megatron/training/config/training_config.py',
  commit: '5be9626709af2722333bf54797c954c09edeada3',
  // --train-iters: TrainingConfig.train_iters; --lr: arguments.py _add_learning_rate_args
  names: ['--train-iters', '--lr'],
} as const satisfies OptionSource;

/** Cited in every launch script. */
export const MEGATRON_SOURCES = [MEGATRON_ARGS, MEGATRON_ENTRY, MEGATRON_RUN_ARGS] as const;
/** Cited when a launch uses one of their names (MoE, MLA, windows, rope scaling). */
export const MEGATRON_MODEL_SOURCES = [MEGATRON_MODEL_ARGS, MEGATRON_CONFIG_ARGS, MEGATRON_FP8_ARGS] as const;

export type MegatronFlag =
  | (typeof MEGATRON_ARGS.names)[number]
  | (typeof MEGATRON_MODEL_ARGS.names)[number]
  | (typeof MEGATRON_CONFIG_ARGS.names)[number]
  | (typeof MEGATRON_RUN_ARGS.names)[number]
  | (typeof MEGATRON_FP8_ARGS.names)[number];
