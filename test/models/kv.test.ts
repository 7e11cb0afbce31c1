/**
 * KV-cache bytes against vLLM v1, as test/models/reference_params.py computes them independently
 * (reference-counts.json `kv_cache_bf16`), from vllm-project/vllm @001cabc1:
 * vllm/v1/kv_cache_interface.py (AttentionSpec / FullAttentionSpec real_page_size_bytes =
 * block_size · num_kv_heads · 2 · head_size · dtype; MLAAttentionSpec: one KV head of
 * kv_lora_rank + qk_rope_head_dim, no factor 2; SlidingWindowSpec.max_memory_usage_bytes =
 * (⌈min(W − 1 + max_num_batched_tokens, max_model_len) / block_size⌉ + 1) · page) and
 * vllm/v1/core/kv_cache_utils.py (_get_kv_cache_groups_uniform_page_size: hybrid groups).
 */
import { describe, expect, it } from 'vitest';
import { kvCache, kvElementsPerToken } from '../../src/memory/kv-cache.js';
import { servePlan, span } from '../memory/fixtures.js';
import { modelOf, REFERENCE } from './configs.js';

interface KvReference {
  spec: string;
  bytes_per_token_per_layer: number;
  layers: number;
  at: { max_model_len: number; block_size: number; max_num_batched_tokens: number; dtype_bytes: number };
  request_bytes_all_layers?: number;
  kv_cache_groups?: { group_size: number; padding_layers: number; request_worst_case_bytes: number };
}

const files = Object.keys(REFERENCE.models);

/** A one-GPU serving plan of one request at the reference's max_model_len, block size and max_num_batched_tokens, bf16. */
function requestPlan(file: string, ref: KvReference) {
  return servePlan(
    { ...modelOf(file), span },
    {
      seq: ref.at.max_model_len,
      maxBatch: 1,
      maxPrefillTokens: ref.at.max_num_batched_tokens,
      kvBlock: ref.at.block_size,
      kvDtype: 'bf16',
    },
  );
}

describe('KV bytes per token per layer equal vLLM', () => {
  for (const file of files) {
    const ref = REFERENCE.models[file]!.kv_cache_bf16 as KvReference;
    it(`${file}: ${ref.spec}, ${ref.bytes_per_token_per_layer} B`, () => {
      const plan = requestPlan(file, ref);
      for (const f of plan.derived.layers) expect(kvElementsPerToken(f) * ref.at.dtype_bytes).toBe(ref.bytes_per_token_per_layer);
    });
  }
});

describe("one request's KV cache equals vLLM's worst case (pages, windows, hybrid groups)", () => {
  for (const file of files) {
    const ref = REFERENCE.models[file]!.kv_cache_bf16 as KvReference;
    const expected = ref.kv_cache_groups?.request_worst_case_bytes ?? ref.request_bytes_all_layers!;
    it(`${file}: ${expected} B`, () => {
      const plan = requestPlan(file, ref);
      expect(kvCache(plan, plan.stages[0]!).bytes).toBe(expected);
    });
  }
});

describe('by hand', () => {
  it('DeepSeek-V3 MLA: (512 + 64) × 2 B per layer, 61 layers, not split over tensor', () => {
    const ref = REFERENCE.models['DeepSeek-V3.json']!.kv_cache_bf16 as KvReference;
    const one = requestPlan('DeepSeek-V3.json', ref);
    const tp8 = servePlan({ ...modelOf('DeepSeek-V3.json'), span }, { tensor: 8, seq: 32768, maxBatch: 1, kvDtype: 'bf16' });
    const bytes = 61 * (512 + 64) * 2 * 32768;
    expect(bytes).toBe(2_302_672_896);
    expect(kvCache(one, one.stages[0]!).bytes).toBe(bytes);
    expect(kvCache(tp8, tp8.stages[0]!).bytes).toBe(bytes); // every tensor rank keeps the whole latent
  });

  it('Gemma-3-1B: 4 full + 22 sliding layers → groups of 4, 2 padding layers', () => {
    // page per layer: 16 tokens × 2 × 1 KV head × 256 × 2 B = 16,384 B; full: 2048 blocks; sliding (W = 512):
    // ⌈min(511 + 8192, 32768) / 16⌉ + 1 = 545 blocks; 1 full group + ⌈22 / 4⌉ = 6 sliding groups of 4 layers.
    const perGroupBlock = 4 * 16_384;
    const expected = (2048 + 6 * 545) * perGroupBlock;
    const ref = REFERENCE.models['gemma-3-1b-pt.json']!.kv_cache_bf16 as KvReference;
    expect(expected).toBe(ref.kv_cache_groups!.request_worst_case_bytes);
    const plan = requestPlan('gemma-3-1b-pt.json', ref);
    expect(kvCache(plan, plan.stages[0]!).bytes).toBe(expected);
  });

  it('a sequence holds whole pages: 1000 tokens take 63 pages of 16', () => {
    const plan = servePlan({ ...modelOf('Llama-3.1-8B.json'), span }, { seq: 1000, maxBatch: 2, kvDtype: 'bf16' });
    expect(kvCache(plan, plan.stages[0]!).bytes).toBe(2 * 32 * 8 * 128 * 2 * 2 * 1008);
    const bs32 = servePlan({ ...modelOf('Llama-3.1-8B.json'), span }, { seq: 1000, maxBatch: 2, kvDtype: 'bf16', kvBlock: 32 });
    expect(kvCache(bs32, bs32.stages[0]!).bytes).toBe(2 * 32 * 8 * 128 * 2 * 2 * 1024);
  });
});
