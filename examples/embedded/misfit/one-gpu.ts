/**
 * MUST FAIL (PP4001): Llama-2-70B's bf16 weights alone are 128 GiB, and one A100-80GB
 * has 72 GiB usable after the 10% reserve. `tensor: 2` on a two-GPU cluster would not fit
 * either; tensor = 4 on four GPUs, or int4 weights, would.
 */
import { cluster, model, plan } from 'parplan';

const llama2_70b = model('llama2_70b', {
  arch: 'llama',
  layers: 80,
  hidden: 8192,
  heads: 64,
  kv_heads: 8,
  ffn: 28672,
  vocab: 32000,
  max_seq: 4096,
});

const oneA100 = cluster('one_a100', { gpu: 'A100_80GB', gpus: 1 });

export const single = plan('llama2_70b_single', {
  model: llama2_70b,
  cluster: oneA100,
  mode: 'serve',
  batch: { max_batch: 8, seq: 4096 },
});
