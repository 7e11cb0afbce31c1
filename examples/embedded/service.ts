/**
 * A service's two plans on one 8×H100 node, written in TypeScript: Llama-3-8B served for
 * chat (builders) and fine-tuned (a template). `parplan check examples/embedded` checks
 * them without running this file; `analyzePlans([chat, finetune])` does the same at run time.
 */
import { cluster, model, plan } from 'parplan';
import { CHAT_BATCH, LLAMA3_8B, SEQ } from './models.js';

export const llama3_8b = model('llama3_8b', LLAMA3_8B);

export const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 });

/** Four replicas of a two-way tensor-parallel group. */
export const chat = plan('chat', {
  model: llama3_8b,
  cluster: node,
  mode: 'serve',
  tensor: 2,
  data: 4,
  batch: { ...CHAT_BATCH, max_batch: 64 },
  kv_dtype: 'bf16',
  reserve: '10%',
});

/** The same node trains between releases: tensor × pipeline × data = 2 × 2 × 2. */
export const finetune = plan`finetune {
  model = ${llama3_8b}  cluster = ${node}  mode = train
  tensor = 2  sequence_parallel = true
  pipeline = 2  schedule = 1f1b
  data = 2  zero = 1
  batch { global = 256  micro = 1  seq = ${SEQ} }
  recompute = selective
}`;
