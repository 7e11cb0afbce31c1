/** DeepSpeed: the JSON config keys and the `deepspeed` launcher flags (names only). */
import type { OptionSource } from './source.js';

/** Top-level keys and the data_types / precision sections (deepspeed/runtime/constants.py). */
export const DEEPSPEED_CONSTANTS = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/runtime/constants.py',
  commit: 'cf44300453eb0af79ed84ed8f1cb49d57478bd76',
  names: [
    'train_batch_size',
    'train_micro_batch_size_per_gpu',
    'gradient_accumulation_steps',
    'bf16.enabled',
    'fp16.enabled',
    'optimizer.type',
    'data_types.grad_accum_dtype',
  ],
} as const satisfies OptionSource;

/** zero_optimization.stage (DeepSpeedZeroConfig, ZeroStageEnum 0–3). */
export const DEEPSPEED_ZERO = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/runtime/zero/config.py',
  commit: 'cf44300453eb0af79ed84ed8f1cb49d57478bd76',
  names: ['zero_optimization.stage'],
} as const satisfies OptionSource;

/**
 * ZeRO-Offload / ZeRO-Infinity and the ZeRO buckets parplan's offload model assumes (DeepSpeedZeroConfig,
 * DeepSpeedZeroOffloadOptimizerConfig / DeepSpeedZeroOffloadParamConfig in offload_config.py at the same
 * commit); mics_shard_size is MiCS, ZeRO-3 sharded within groups of that many ranks and replicated across.
 * Cited only by configs that use one of them.
 */
export const DEEPSPEED_ZERO_OFFLOAD = {
  repo: 'microsoft/DeepSpeed',
  path: 'deepspeed/runtime/zero/config.py',
  commit: '38327e07f6cd39b63418f60cedd1651b0be3e7c3',
  names: [
    'zero_optimization.offload_optimizer.device',
    'zero_optimization.offload_optimizer.pin_memory',
    'zero_optimization.offload_param.device',
    'zero_optimization.offload_param.pin_memory',
    'zero_optimization.contiguous_gradients',
    'zero_optimization.overlap_comm',
    'zero_optimization.reduce_bucket_size',
    'zero_optimization.stage3_prefetch_bucket_size',
    'zero_optimization.stage3_param_persistence_threshold',
    'zero_optimization.mics_shard_size',
  ],
} as const satisfies OptionSource;

/**
 * PyTorch autocast over fp32 parameters (precision = amp_*): the `torch_autocast` section
 * (TORCH_AUTOCAST_FORMAT in constants.py; DtypeEnum accepts "bfloat16" / "float16"). Under ZeRO-3
 * the Linear parameters are all-gathered in the autocast dtype (partition_parameters.py
 * get_allgather_dtype, the comm_dtype torch_autocast.py init_autocast_params sets).
 */
export const DEEPSPEED_TORCH_AUTOCAST = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/runtime/constants.py',
  commit: 'edaa7221267243c7be7fb49c5d5f5c4fb97b4641',
  names: ['torch_autocast.enabled', 'torch_autocast.dtype'],
} as const satisfies OptionSource;

/** AutoTP (tensor parallel training): TPTrainingConfig.autotp_size. */
export const DEEPSPEED_TENSOR_PARALLEL = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/runtime/tensor_parallel/config.py',
  commit: 'cf44300453eb0af79ed84ed8f1cb49d57478bd76',
  names: ['tensor_parallel.autotp_size'],
} as const satisfies OptionSource;

/** The `deepspeed` launcher (deepspeed/launcher/runner.py parse_args). */
export const DEEPSPEED_LAUNCHER = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/launcher/runner.py',
  commit: 'cf44300453eb0af79ed84ed8f1cb49d57478bd76',
  names: ['--hostfile', '--num_nodes', '--num_gpus', '--master_addr', '--master_port'],
} as const satisfies OptionSource;

/** The flags `deepspeed.add_config_arguments` adds to the user script's parser. */
export const DEEPSPEED_SCRIPT_ARGS = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/__init__.py',
  commit: 'cf44300453eb0af79ed84ed8f1cb49d57478bd76',
  names: ['--deepspeed', '--deepspeed_config'],
} as const satisfies OptionSource;

/**
 * DeepSpeed-MoE: experts are a layer the training script builds, `deepspeed.moe.layer.MoE(hidden_size,
 * expert, num_experts, ep_size, k, capacity_factor, …, drop_tokens, …, enable_expert_tensor_parallelism)`;
 * the JSON config has no expert settings. Expert-parallel groups are cut from the data-parallel ranks
 * (groups._create_expert_and_data_parallel), or with enable_expert_tensor_parallelism from the data
 * ranks of each tensor rank (groups._create_expert_data_and_model_parallel, experts split like the
 * dense layers). TopKGate takes any k (top1gating, top2gating, topkgating) in
 * deepspeed/moe/sharded_moe.py@27d3016d3f17.
 */
export const DEEPSPEED_MOE = {
  repo: 'deepspeedai/DeepSpeed',
  path: 'deepspeed/moe/layer.py',
  commit: '639460ab3299c47139aff6a28627aa4e901391ba',
  names: ['num_experts', 'ep_size', 'k', 'capacity_factor', 'drop_tokens', 'enable_expert_tensor_parallelism'],
} as const satisfies OptionSource;

export type DeepSpeedMoeArg = (typeof DEEPSPEED_MOE.names)[number];

export const DEEPSPEED_SOURCES = [
  DEEPSPEED_CONSTANTS,
  DEEPSPEED_TORCH_AUTOCAST,
  DEEPSPEED_ZERO,
  DEEPSPEED_TENSOR_PARALLEL,
  DEEPSPEED_LAUNCHER,
  DEEPSPEED_SCRIPT_ARGS,
] as const;

export type DeepSpeedKey =
  | (typeof DEEPSPEED_CONSTANTS.names)[number]
  | (typeof DEEPSPEED_TORCH_AUTOCAST.names)[number]
  | (typeof DEEPSPEED_ZERO.names)[number]
  | (typeof DEEPSPEED_ZERO_OFFLOAD.names)[number]
  | (typeof DEEPSPEED_TENSOR_PARALLEL.names)[number];
export type DeepSpeedLauncherFlag = (typeof DEEPSPEED_LAUNCHER.names)[number] | (typeof DEEPSPEED_SCRIPT_ARGS.names)[number];

/** `grad_accum_dtype` values (the comment block above DATA_TYPES in constants.py). */
export const DEEPSPEED_GRAD_ACCUM_DTYPES = ['fp32', 'fp16', 'bf16'] as const;
