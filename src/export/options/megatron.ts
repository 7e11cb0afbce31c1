/** Megatron-LM: `pretrain_gpt.py` arguments (names only, as megatron/training/arguments.py spells them). */
import type { OptionSource } from './source.js';

export const MEGATRON_ARGS = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'megatron/training/arguments.py',
  commit: '000c4ac24f61159c138b0975def722c65245983c',
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
} as const satisfies OptionSource;

/** Values of the choice-valued arguments above, as listed in their `choices=`. */
export const MEGATRON_CHOICES = {
  '--position-embedding-type': ['learned_absolute', 'rope'],
  '--normalization': ['LayerNorm', 'RMSNorm'],
  '--attention-backend': ['flash', 'unfused'],
  '--recompute-granularity': ['full', 'selective'],
  '--recompute-method': ['uniform', 'block'],
  '--optimizer': ['adam', 'sgd'],
  '--data-parallel-sharding-strategy': ['no_shard', 'optim', 'optim_grads', 'optim_grads_params'],
  '--ckpt-format': ['torch_dist', 'fsdp_dtensor'],
  '--tokenizer-type': ['HuggingFaceTokenizer'],
} as const satisfies Partial<Record<MegatronFlag, readonly string[]>>;

/** The entry point the launch runs (Megatron-LM's GPT pre-training script, at the repository root). */
export const MEGATRON_ENTRY = {
  repo: 'NVIDIA/Megatron-LM',
  path: 'pretrain_gpt.py',
  commit: 'aa5bf2ca1342f3c07fe832ac0637f17fe0d432c0',
  names: [],
} as const satisfies OptionSource;

export const MEGATRON_SOURCES = [MEGATRON_ARGS, MEGATRON_ENTRY] as const;

export type MegatronFlag = (typeof MEGATRON_ARGS.names)[number];
