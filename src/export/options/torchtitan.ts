/** torchtitan: the job config (TOML sections and fields of JobConfig, the TOML-era config system). */
import type { OptionSource } from './source.js';

export const TORCHTITAN_JOB_CONFIG = {
  repo: 'pytorch/torchtitan',
  path: 'torchtitan/config/job_config.py',
  commit: '73a0e6979dd10b6b1904098eb3c8f62c18ab87ce',
  names: [
    'job.description',
    'job.dump_folder',
    'model.name',
    'model.flavor',
    'model.tokenizer_path',
    'model.hf_assets_path',
    'optimizer.name',
    'training.local_batch_size',
    'training.global_batch_size',
    'training.seq_len',
    'training.mixed_precision_param',
    'training.mixed_precision_reduce',
    'training.enable_cpu_offload',
    'parallelism.data_parallel_replicate_degree',
    'parallelism.data_parallel_shard_degree',
    'parallelism.fsdp_reshard_after_forward',
    'parallelism.tensor_parallel_degree',
    'parallelism.context_parallel_degree',
    'parallelism.context_parallel_rotate_method',
    'parallelism.disable_loss_parallel',
    'parallelism.pipeline_parallel_degree',
    'parallelism.module_fqns_per_model_part',
    'parallelism.pipeline_parallel_schedule',
    'parallelism.pipeline_parallel_schedule_csv',
    'parallelism.pipeline_parallel_microbatch_size',
    'activation_checkpoint.mode',
    'activation_checkpoint.selective_ac_option',
    // Model.converters ("the `float8` converter swaps `torch.nn.Linear` with `Float8Linear`") and the Float8 section
    'model.converters',
    'quantize.linear.float8.recipe_name',
    'quantize.linear.float8.enable_fsdp_float8_all_gather',
    'quantize.linear.float8.precompute_float8_dynamic_scale_for_fsdp',
  ],
  unverified: {
    'parallelism.context_parallel_degree':
      'Parallelism.context_parallel_degree, read through the search index in job_config.py (commit not reported)',
    'parallelism.context_parallel_rotate_method':
      "Parallelism.context_parallel_rotate_method there: 'allgather' (default) or 'alltoall' (\"all-to-all shuffle the kv shards\", the ring)",
  },
} as const satisfies OptionSource;

/**
 * The expert-parallel fields, at v0.2.2 (first read at the last commit of job_config.py before
 * the config system moved to Python dataclasses, PR #2386, 9810191bb): expert_tensor_parallel_degree takes 1 or the
 * tensor degree there ("Currently, we only support either etp = tp or etp = 1"), and
 * torchtitan/distributed/parallel_dims.py at the same commit folds them as the sparse mesh
 * (pp, dp_replicate, efsdp, ep, etp) with efsdp = dp_shard · cp · tp / (etp · ep).
 */
export const TORCHTITAN_EXPERT_CONFIG = {
  repo: 'pytorch/torchtitan',
  path: 'torchtitan/config/job_config.py',
  commit: '73a0e6979dd10b6b1904098eb3c8f62c18ab87ce',
  names: ['parallelism.expert_parallel_degree', 'parallelism.expert_tensor_parallel_degree'],
} as const satisfies OptionSource;

/** `model.name` values: the registry's `_supported_models`, at the same commit. */
export const TORCHTITAN_MODELS = {
  repo: 'pytorch/torchtitan',
  path: 'torchtitan/models/__init__.py',
  commit: '73a0e6979dd10b6b1904098eb3c8f62c18ab87ce',
  names: ['llama3', 'qwen3', 'deepseek_v3', 'llama4', 'gpt_oss'],
} as const satisfies OptionSource;

export type TorchtitanModel = (typeof TORCHTITAN_MODELS.names)[number];

/** Values of the Literal-typed fields above, as written in their annotations or docstrings. */
export const TORCHTITAN_CHOICES = {
  'training.mixed_precision_param': ['bfloat16', 'float32'],
  'training.mixed_precision_reduce': ['float32'],
  'parallelism.fsdp_reshard_after_forward': ['default', 'always', 'never'],
  'parallelism.context_parallel_rotate_method': ['allgather', 'alltoall'],
  'activation_checkpoint.mode': ['selective', 'full', 'none'],
  'activation_checkpoint.selective_ac_option': ['op'],
  'quantize.linear.float8.recipe_name': ['tensorwise', 'rowwise', 'rowwise_with_gw_hp'],
  'optimizer.name': ['AdamW', 'Adam'],
  'model.name': TORCHTITAN_MODELS.names,
  // pipeline_parallel_schedule names (torch.distributed.pipelining's schedule classes, per the field's doc)
  'parallelism.pipeline_parallel_schedule': ['GPipe', '1F1B', 'Interleaved1F1B', 'PipelineScheduleSingle', 'PipelineScheduleMulti'],
} as const satisfies Partial<Record<TorchtitanKey, readonly string[]>>;

/** The TOML-era launch: `torchrun … -m torchtitan.train --job.config_file FILE` (Job.config_file). */
export const TORCHTITAN_ENTRY = {
  repo: 'pytorch/torchtitan',
  path: 'torchtitan/config/job_config.py',
  commit: '73a0e6979dd10b6b1904098eb3c8f62c18ab87ce',
  names: ['--job.config_file'],
} as const satisfies OptionSource;

/** Cited in every job file (TORCHTITAN_EXPERT_CONFIG and TORCHTITAN_MODELS only where used). */
export const TORCHTITAN_SOURCES = [TORCHTITAN_JOB_CONFIG, TORCHTITAN_ENTRY] as const;

export type TorchtitanKey = (typeof TORCHTITAN_JOB_CONFIG.names)[number] | (typeof TORCHTITAN_EXPERT_CONFIG.names)[number];
