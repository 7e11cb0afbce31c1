/** vLLM: `vllm serve` flags and environment variables (names only, as the sources spell them). */
import type { OptionSource } from './source.js';

/** EngineArgs.add_cli_args: the engine flags. */
export const VLLM_ENGINE_ARGS = {
  repo: 'vllm-project/vllm',
  path: 'vllm/engine/arg_utils.py',
  commit: '99d7eb5d6a512cfcc5a2b104f24ebf2d6cda772b',
  names: [
    '--tensor-parallel-size',
    '--pipeline-parallel-size',
    '--data-parallel-size',
    // one engine over several data-parallel ranks (and nodes), as expert parallelism needs
    '--data-parallel-size-local',
    '--data-parallel-start-rank',
    '--data-parallel-address',
    '--data-parallel-rpc-port',
    '--enable-expert-parallel',
    '--block-size',
    '--distributed-executor-backend',
    '--max-num-seqs',
    '--max-num-batched-tokens',
    '--enable-chunked-prefill',
    '--max-model-len',
    '--dtype',
    '--kv-cache-dtype',
    '--gpu-memory-utilization',
    '--served-model-name',
  ],
} as const satisfies OptionSource;

/** FrontendArgs (flags generated from its fields) and make_arg_parser's positional `model_tag`. */
export const VLLM_FRONTEND_ARGS = {
  repo: 'vllm-project/vllm',
  path: 'vllm/entrypoints/openai/cli_args.py',
  commit: '789340fbad95a900ca3c467c9cee33b3d905fd61',
  names: ['--host', '--port'],
} as const satisfies OptionSource;

/** `--headless` (a data-parallel node that runs engines but no API server), read as `args.headless` by the serve command. */
export const VLLM_SERVE_CLI = {
  repo: 'vllm-project/vllm',
  path: 'vllm/entrypoints/cli/serve.py',
  commit: '78265ccd8aadf98d0e9d33c13b6cd2f0053b165e',
  names: ['--headless'],
  unverified: {
    '--headless':
      'serve.py reads args.headless and runs run_headless (data_parallel_size_local engines, no API server); the flag itself is added by make_arg_parser in vllm/entrypoints/openai/cli_args.py, not re-read',
  },
} as const satisfies OptionSource;

/**
 * CacheDType: the `--kv-cache-dtype` values of the stated version's era (EngineArgs.kv_cache_dtype
 * is typed CacheDType at 99d7eb5d). cache.py at that commit is not stored; these are the values
 * common to CacheDType at 002f10e0 (later, which adds float16, int8_per_token_head and others)
 * and to the CacheDType of the v0.11-era copies found by text search ("auto", "bfloat16",
 * "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla"): one version's values, never a mix.
 */
export const VLLM_CACHE_DTYPES = {
  repo: 'vllm-project/vllm',
  path: 'vllm/config/cache.py',
  commit: '002f10e0cfa1373a19a0d2756598a34b700d20e5',
  names: ['auto', 'bfloat16', 'fp8', 'fp8_e4m3', 'fp8_e5m2'],
} as const satisfies OptionSource;

/**
 * The `--dtype` choices: EngineArgs.dtype is typed ModelDType at 99d7eb5d (the stated version),
 * Literal["auto", "half", "float16", "bfloat16", "float", "float32"] in vllm/config/model.py in
 * every copy found, as in the explicit choices list of older arg_utils.py read here.
 */
export const VLLM_MODEL_DTYPES = {
  repo: 'vllm-project/vllm',
  path: 'vllm/engine/arg_utils.py',
  commit: '001999d2f360c2c5da23a916510c273b1a73d06c',
  names: ['auto', 'half', 'float16', 'bfloat16', 'float', 'float32'],
} as const satisfies OptionSource;

/** Environment variables read by vllm/envs.py. */
export const VLLM_ENV = {
  repo: 'vllm-project/vllm',
  path: 'vllm/envs.py',
  names: ['VLLM_PP_LAYER_PARTITION', 'CUDA_VISIBLE_DEVICES'],
  unverified: {
    VLLM_PP_LAYER_PARTITION:
      'seen as `"VLLM_PP_LAYER_PARTITION": lambda: os.getenv(...)` ("Pipeline stage partition strategy") in copies of vllm/envs.py found by text search; the commit of the copy was not reported',
    CUDA_VISIBLE_DEVICES: 'CUDA runtime variable, not a vLLM name',
  },
} as const satisfies OptionSource;

/** Cited in every launch script (VLLM_SERVE_CLI only in those that use `--headless`). */
export const VLLM_SOURCES = [VLLM_ENGINE_ARGS, VLLM_FRONTEND_ARGS, VLLM_CACHE_DTYPES, VLLM_MODEL_DTYPES, VLLM_ENV] as const;

export type VllmFlag =
  (typeof VLLM_ENGINE_ARGS.names)[number] | (typeof VLLM_FRONTEND_ARGS.names)[number] | (typeof VLLM_SERVE_CLI.names)[number];
export type VllmCacheDtype = (typeof VLLM_CACHE_DTYPES.names)[number];
export type VllmModelDtype = (typeof VLLM_MODEL_DTYPES.names)[number];
export type VllmEnv = (typeof VLLM_ENV.names)[number];
