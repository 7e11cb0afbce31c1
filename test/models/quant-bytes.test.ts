/**
 * Whole-model weight bytes of quantized checkpoints against independent references
 * (reference-counts.json `quantized`, computed tensor by tensor by test/models/reference_params.py
 * from the checkpoints' layouts; model-families-anchors §5):
 *   gpt-oss-20b MXFP4: experts 17/32 B/param, the rest bf16 = the checkpoint index's total_size;
 *   Qwen2.5-7B-Instruct-AWQ: qweight + qzeros int32, fp16 scales per 128 inputs, the rest fp16;
 *   DeepSeek-V3 FP8: e4m3 linears + fp32 weight_scale_inv per 128 × 128 block, the rest bf16.
 * The models are built from the config values (test/models/configs.ts), not parplan's importer.
 */
import { describe, expect, it } from 'vitest';
import { countParams } from '../../src/memory/params.js';
import { modelWeightBytes, quantLinearBytes } from '../../src/memory/weights.js';
import { modelOf, readConfig, REFERENCE } from './configs.js';

const quantized = (file: string) => REFERENCE.models[file]!.quantized as Record<string, number>;

describe('quantized weight bytes equal the checkpoints', () => {
  it('gpt-oss-20b MXFP4: 13,761,264,768 B, the index total_size', () => {
    const m = modelOf('gpt-oss-20b.json');
    expect(countParams(m)).toBe(20_914_757_184);
    expect(quantized('gpt-oss-20b.json').weight_bytes).toBe(13_761_264_768);
    expect(modelWeightBytes(m)).toBe(13_761_264_768);
    // By hand: expert weights 24 layers × 32 experts × 3 × 2880² at 17/32 B, everything else 2 B.
    const mx = 24 * 32 * 3 * 2880 * 2880;
    expect(mx).toBe(quantized('gpt-oss-20b.json').mxfp4_params);
    expect((mx * 17) / 32 + (countParams(m) - mx) * 2).toBe(13_761_264_768);
  });

  it('Qwen2.5-7B-Instruct AWQ int4, group 128, fp16 rest: 5,570,747,392 B', () => {
    const m = modelOf('Qwen2.5-7B-Instruct-AWQ.json', 'fp16');
    expect(modelWeightBytes(m)).toBe(quantized('Qwen2.5-7B-Instruct-AWQ.json').weight_bytes);
    // By hand: per quantized param 0.5 B + (4/8 + 2)/128 B of zeros and scales (every in is a multiple of 128).
    const q = quantized('Qwen2.5-7B-Instruct-AWQ.json').quantized_params!;
    expect(q * (0.5 + 2.5 / 128) + (countParams(m) - q) * 2).toBe(5_570_747_392);
  });

  it('DeepSeek-V3 FP8 128 × 128 blocks: the checkpoint with its MTP layer', () => {
    // The checkpoint stores a 62nd (MTP) decoder layer, a MoE layer like the others, plus bf16
    // enorm, hnorm, shared_head.norm (3h), eh_proj (2h²) and copies of embed_tokens and the head
    // (2Vh); and it keeps e_score_correction_bias in fp32 where parplan stores the router bias in
    // dtype (2 more bytes × 256 experts × 59 MoE layers). Model the 62 layers, add those.
    const c = readConfig('DeepSeek-V3.json');
    const withMtp = modelOf('DeepSeek-V3.json', 'bf16', 62);
    const h = 7168;
    const V = 129_280;
    const extras = 2 * (3 * h + 2 * h * h + 2 * V * h) + 2 * 256 * 59;
    expect(c.num_nextn_predict_layers).toBe(1);
    expect(modelWeightBytes(withMtp) + extras).toBe(quantized('DeepSeek-V3.json').weight_bytes_with_mtp);
  });
});

describe('one linear by hand', () => {
  it('awq 4096 → 4096, group 128: qweight 8 MiB + zeros 64 KiB + scales 256 KiB', () => {
    expect(quantLinearBytes({ method: 'awq', groupSize: 128, lmHead: false }, 4096, 4096)).toBe(
      4096 * 4096 * 0.5 + 32 * 512 * 4 + 32 * 4096 * 2,
    );
  });
  it('gptq adds g_idx, 4 B per input', () => {
    expect(quantLinearBytes({ method: 'gptq', groupSize: 128, lmHead: false }, 4096, 4096)).toBe(
      4096 * 4096 * 0.5 + 32 * 512 * 4 + 32 * 4096 * 2 + 4096 * 4,
    );
  });
  it('fp8: blocks ⌈out/128⌉ × ⌈in/128⌉ fp32 scales (DeepSeek kv_a_proj 7168 → 576: 5 × 56)', () => {
    expect(quantLinearBytes({ method: 'fp8', groupSize: 128, lmHead: false }, 7168, 576)).toBe(7168 * 576 + 4 * 5 * 56);
    expect(quantLinearBytes({ method: 'fp8', groupSize: 0, lmHead: false }, 4096, 4096)).toBe(4096 * 4096 + 4);
  });
});
