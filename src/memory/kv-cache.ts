/**
 * KV cache (serving only), as vLLM v1 sizes it (vllm/v1/kv_cache_interface.py,
 * vllm/v1/core/kv_cache_utils.py; see docs/memory.md). Per layer and token, one device keeps:
 *   GQA: a key and a value for each KV head on the device, 2 × kvHeadsPerRank × head_dim
 *        (kv_heads / tensor, or 1 when replicated; AttentionSpec);
 *   MLA: one latent of kv_lora_rank + qk_rope_head_dim, the same on every tensor rank
 *        (MLAAttentionSpec: one KV head, no factor 2).
 * Each of max_batch sequences holds whole pages of kv_block tokens (vLLM block_size):
 *   full attention:   ⌈seq / kv_block⌉ pages
 *   sliding window W: a decoding sequence ⌈W / kv_block⌉ + 1 pages (vLLM's SlidingWindowManager
 *                     frees the pages that left the window: remove_skipped_blocks), and the one
 *                     that takes the step's prefill budget ⌈min(W − 1 + max_prefill_tokens, seq) /
 *                     kv_block⌉ + 1 (SlidingWindowSpec.max_memory_usage_bytes, the worst case of
 *                     one request); each at most its full-attention pages
 * With both kinds on a stage, vLLM's hybrid manager groups layers (group size: the smallest
 * kind's layer count, or the largest's when it is under 1.5 × the smallest) and every group
 * holds group-size layers, padding included (_get_kv_cache_groups_uniform_page_size).
 * The webgpu engine keeps seq tokens per sequence without pages (runtime/allocate.ts).
 */
import { DTYPES, dtypeBytes } from '../facts/dtypes.js';
import type { AttentionSpec } from '../model.js';
import type { CheckedPlan, LayerRankFacts, ServePlan, Stage } from '../plan.js';
import { bytesText, num } from '../format.js';
import { part, type Part } from './format.js';
import { stageRuns } from './params.js';

/** KV-cache elements per token of one layer on one tensor rank: GQA 2 × KV heads per rank × head_dim; MLA the latent. */
export function kvElementsPerToken(f: Pick<LayerRankFacts, 'layer' | 'kvHeadsPerRank'>): number {
  const a = f.layer.attention;
  return a.kind === 'mla' ? a.kvLoraRank + a.qkRopeHeadDim : 2 * f.kvHeadsPerRank * a.headDim;
}

/** The sliding window of a layer's attention, or undefined for full attention (MLA has none). */
export function windowOf(a: AttentionSpec): number | undefined {
  return a.kind === 'gqa' ? a.window : undefined;
}

/**
 * Tokens (whole pages) the max_batch sequences hold together in one layer with attention window
 * `window` (undefined: full attention), and the formula in words (built when called).
 */
export function kvTokensHeld(plan: ServePlan, window: number | undefined): { tokens: number; text: () => string } {
  const { seq, maxBatch, maxPrefillTokens } = plan.batch;
  if (plan.engine === 'webgpu') return { tokens: maxBatch * seq, text: () => `${maxBatch} seqs × ${num(seq)} tokens` };
  const bs = plan.kvBlock;
  const full = Math.ceil(seq / bs);
  const fullText = () => (full * bs !== seq ? `${num(full * bs)} tokens (⌈${num(seq)} / ${bs}⌉ pages of ${bs})` : `${num(seq)} tokens`);
  if (window === undefined) return { tokens: maxBatch * full * bs, text: () => `${maxBatch} seqs × ${fullText()}` };
  const decoding = Math.min(Math.ceil(window / bs) + 1, full);
  const prefilling = Math.min(Math.ceil(Math.min(window - 1 + maxPrefillTokens, seq) / bs) + 1, full);
  const text = () => {
    const w = num(window);
    return (
      `(${maxBatch - 1} decoding seqs × ${num(decoding)} pages [⌈${w} / ${bs}⌉ + 1] + 1 prefilling × ${num(prefilling)} pages ` +
      `[⌈min(${w} − 1 + ${num(maxPrefillTokens)}, ${num(seq)}) / ${bs}⌉ + 1]) × ${bs} tokens (window ${w}, each at most ${num(full)} pages)`
    );
  };
  return { tokens: ((maxBatch - 1) * decoding + prefilling) * bs, text };
}

/** The stage's layers bucketed by KV spec (window, elements per token): one entry per kind of layer, in order of first appearance. */
export interface KvBucket {
  window: number | undefined;
  elements: number;
  layers: number;
  facts: LayerRankFacts;
}

export function kvBuckets(plan: CheckedPlan, stage: Stage): KvBucket[] {
  const buckets: KvBucket[] = [];
  for (const { n, f } of stageRuns(plan, stage)) {
    const window = windowOf(f.layer.attention);
    const elements = kvElementsPerToken(f);
    const b = buckets.find((x) => x.window === window && x.elements === elements);
    if (b) b.layers += n;
    else buckets.push({ window, elements, layers: n, facts: f });
  }
  return buckets;
}

/**
 * vLLM's hybrid group size for buckets of `counts` layers, all of one page size: the smallest
 * count, or the largest when largest < 1.5 × smallest. One bucket: its count (no padding).
 */
export function hybridGroupSize(counts: readonly number[]): number {
  const min = Math.min(...counts);
  const max = Math.max(...counts);
  return max < 1.5 * min ? max : min;
}

/** Layers each bucket is charged for: with several kinds of equal page size, whole groups of group-size layers (padding included). */
function chargedLayers(plan: CheckedPlan, buckets: readonly KvBucket[]): { layers: number[]; groupSize: number | undefined } {
  const hybrid =
    buckets.length > 1 && !(plan.mode === 'serve' && plan.engine === 'webgpu') && buckets.every((b) => b.elements === buckets[0]!.elements);
  if (!hybrid) return { layers: buckets.map((b) => b.layers), groupSize: undefined };
  const g = hybridGroupSize(buckets.map((b) => b.layers));
  return { layers: buckets.map((b) => Math.ceil(b.layers / g) * g), groupSize: g };
}

/**
 * KV-cache bytes per token of context one device of `stage` reads in a decode step, at
 * `context` tokens: Σ layers × elements × bytes(kv_dtype) × min(context, window) / context.
 * For full attention this is the bytes per cached token.
 */
export function kvReadBytes(plan: ServePlan, stage: Stage, batch: number, context: number): number {
  let elements = 0;
  for (const b of kvBuckets(plan, stage)) elements += b.layers * b.elements * Math.min(context, b.window ?? context);
  return Math.ceil(batch * dtypeBytes(elements, plan.kvDtype));
}

/** KV-cache bytes per token on one device of `stage`, every layer counted (int4 rounded up per token). */
export function kvBytesPerToken(plan: ServePlan, stage: Stage): number {
  return dtypeBytes(
    kvBuckets(plan, stage).reduce((s, b) => s + b.layers * b.elements, 0),
    plan.kvDtype,
  );
}

function elementsText(f: LayerRankFacts, plan: ServePlan): string {
  const a = f.layer.attention;
  if (a.kind === 'mla') {
    const repl = plan.mesh.tensor > 1 ? `, whole on each of ${plan.mesh.tensor} tensor ranks` : '';
    return `(${a.kvLoraRank} kv_lora_rank + ${a.qkRopeHeadDim} qk_rope_head_dim) latent${repl}`;
  }
  const repl = f.kvReplication > 1 ? `, each replicated on ${f.kvReplication} tensor ranks` : '';
  return `2 (K, V) × ${f.kvHeadsPerRank} KV heads${repl} × ${a.headDim} head_dim`;
}

export function kvCache(plan: CheckedPlan, stage: Stage): Part {
  if (plan.mode === 'train') return { bytes: 0, why: 'kvCache: 0 (training keeps no KV cache)' };
  const dt = plan.kvDtype;
  const per = () => `${num(DTYPES[dt].bits / 8)} B (${dt})`;
  const buckets = kvBuckets(plan, stage);
  const { layers, groupSize } = chargedLayers(plan, buckets);
  const held = buckets.map((b) => kvTokensHeld(plan, b.window));
  let elements = 0;
  for (let i = 0; i < buckets.length; i++) elements += layers[i]! * buckets[i]!.elements * held[i]!.tokens;
  const bytes = dtypeBytes(elements, dt);
  // One kind of layer with GQA: the formula as it always read (2 (K, V) × layers × heads × head_dim × …).
  const only = buckets.length === 1 ? buckets[0]! : undefined;
  if (only && only.facts.layer.attention.kind === 'gqa' && only.window === undefined) {
    const f = only.facts;
    const headDim = only.facts.layer.attention.headDim;
    return part(bytes, () => {
      const repl = f.kvReplication > 1 ? `, each replicated on ${f.kvReplication} tensor ranks` : '';
      return `kvCache: 2 (K, V) × ${stage.layers} layers × ${f.kvHeadsPerRank} KV heads${repl} × ${headDim} head_dim × ${per()} × ${held[0]!.text()} = ${bytesText(bytes)}`;
    });
  }
  return part(bytes, () => {
    const terms = buckets.map((b, i) => {
      const pad = layers[i]! > b.layers ? ` (+${layers[i]! - b.layers} padding)` : '';
      return `${layers[i]} layers${pad} × ${elementsText(b.facts, plan)} × ${per()} × ${held[i]!.text()}`;
    });
    const group = groupSize !== undefined ? ` [vLLM hybrid groups of ${groupSize} layers]` : '';
    return `kvCache: ${terms.join(' + ')}${group} = ${bytesText(bytes)}`;
  });
}
