/** A toy model small enough to do the cost model's arithmetic by hand. */
import type { GpuSpec } from '../../src/facts/gpus.js';
import type { ModelSpec } from '../../src/plan.js';
import { modelSpec } from '../memory/fixtures.js';

/**
 * toy: 2 layers, h = 64, 4 heads of 16, ffn 256, vocab 1000, llama-style (rmsnorm, swiglu,
 * no bias, untied). One layer: q, k, v, o = 64 × 64 = 4,096 each; up, gate, down =
 * 64 × 256 = 16,384 each; norms 2 × 64 = 128: 4 × 4,096 + 3 × 16,384 + 128 = 65,664.
 */
export const toy: ModelSpec = modelSpec('llama', {
  name: 'toy',
  layers: 2,
  hidden: 64,
  heads: 4,
  kvHeads: 4,
  headDim: 16,
  ffn: 256,
  vocab: 1000,
  maxSeq: 4096,
});

export const TOY_LAYER_PARAMS = 65_664;

/** A custom GPU as the checker builds it from `gpu { name memory [tflops] [bandwidth] [link] }`. */
export function customGpu(tflops = 0, bandwidth = 0, link = 0): GpuSpec {
  return {
    id: 'mystery',
    name: 'mystery',
    memoryBytes: 24 * 2 ** 30,
    memorySource: "declared in cluster 'c'",
    tflops16: tflops,
    tflops32: 0,
    memoryBandwidthGBs: bandwidth,
    link: { kind: 'pcie', bandwidthGBs: link },
    bf16: true,
  };
}
