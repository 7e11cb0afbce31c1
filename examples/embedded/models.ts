/**
 * Shared facts for the embedded plans of this folder: a model's dimensions (from its
 * Hugging Face config.json) and a serving batch policy, as `as const` objects. The plans in
 * service.ts import them; `parplan check` follows the import without running anything.
 */
import type { ModelOptions } from 'parplan';

/** meta-llama/Meta-Llama-3-8B: 8,030,261,248 parameters. */
export const LLAMA3_8B = {
  arch: 'llama',
  layers: 32,
  hidden: 4096,
  heads: 32,
  kv_heads: 8,
  ffn: 14336,
  vocab: 128256,
  max_seq: 8192,
  dtype: 'bf16',
} as const satisfies ModelOptions;

/** Tokens per sequence: prompt plus output when serving, the sequence length when training. */
export const SEQ = 4096;

export const CHAT_BATCH = { max_batch: 32, max_wait: '5 ms', seq: SEQ, queue: 1024 } as const;
