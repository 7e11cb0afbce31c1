/**
 * The cost model's expert-parallel traffic against hand computation and the worked example of
 * /work/shared/research/model-families-anchors.md §1.5 (derived there for uniform routing):
 * DeepSeek-V3, T = 4096 tokens, bf16, EP = 64: 462 MB per dispatch per layer, 1.85 GB forward and
 * backward, 107 GB per microbatch over 58 MoE layers.
 */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { checkProgram } from '../../src/check/index.js';
import { expertDataTraffic, expertGroupCrossesNodes, expertParamsOnDevice, expertTraffic, TrafficSum } from '../../src/cost/comm.js';
import type { CheckedPlan, TrainPlan } from '../../src/plan.js';

const TEXT = `
model deepseek_v3 {
  arch = llama  layers = 61  hidden = 7168  heads = 128  ffn = 18432  vocab = 129280  max_seq = 4096  dtype = bf16
  q_lora_rank = 1536  kv_lora_rank = 512  qk_nope_head_dim = 128  qk_rope_head_dim = 64  v_head_dim = 128
  experts = 256  experts_per_token = 8  expert_ffn = 2048  shared_experts = 1  shared_expert_ffn = 2048  dense_layers = 3
}
model mix {
  arch = llama  layers = 4  hidden = 1024  heads = 16  kv_heads = 4  vocab = 32000  max_seq = 4096  dtype = bf16
  experts = 8  experts_per_token = 2  expert_ffn = 2048
}
cluster nodes8 { gpu = H100_SXM_80GB  nodes = 8  gpus_per_node = 8 }
cluster node8 { gpu = H100_SXM_80GB  gpus = 8 }
`;

function checked(body: string): CheckedPlan {
  const { ast, diagnostics } = parse(`${TEXT}\nplan p {\n${body}\n}\n`, 'p.plan');
  const r = checkProgram([ast], ast);
  const errors = [...diagnostics, ...r.diagnostics].filter((d) => d.severity === 'error');
  if (errors.length > 0 || r.plans.length !== 1) throw new Error(errors.map((d) => `${d.code} ${d.message}`).join('; '));
  return r.plans[0]!;
}

describe('expert-parallel traffic', () => {
  it('DeepSeek-V3 on 64 GPUs with EP 64: 462 MB per dispatch per layer, 107 GB per microbatch, over the network', () => {
    const plan = checked(`model = deepseek_v3  cluster = nodes8  mode = train  data = 64  expert = 64
      batch { global = 64  micro = 1  seq = 4096 }`);
    const stage = plan.stages[0]!;
    const one = expertTraffic(plan, stage, 4096, 2, 1).list({} as never)[0]!;
    expect(one.group).toBe('expert');
    expect(one.link).toBe('network');
    // One all-to-all per layer over the stage's 58 MoE layers: 4096 · 8 · 7168 · 2 · 63/64 = 462,422,016 B each.
    expect(one.bytes).toBe(58 * 462_422_016);
    expect(one.bytes / 58 / 1e6).toBeCloseTo(462.4, 1);
    const step = expertTraffic(plan, stage, 4096, 2, 4).list({} as never)[0]!;
    expect(step.bytes).toBe(58 * 4 * 462_422_016);
    expect(step.bytes / 1e9).toBeCloseTo(107.3, 1);
    expect(step.ops).toBe(58 * 4);
  });

  it('an expert group inside a node uses its NVLink; tensor 2 halves the tokens each rank routes', () => {
    const plan = checked(`model = mix  cluster = node8  mode = train  tensor = 2  data = 4  expert = 4  expert_tensor = 1
      sequence_parallel = true  batch { global = 16  micro = 1  seq = 256 }`);
    const stage = plan.stages[0]!;
    expect(expertGroupCrossesNodes(plan, 0, 'expert')).toBe(false);
    const rows = expertTraffic(plan, stage, 256, 2, 4).list({} as never);
    // 4 MoE layers × 4 all-to-alls × (128 tokens · 2 · 1024 · 2 B) × 3/4.
    expect(rows).toEqual([expect.objectContaining({ group: 'expert', link: 'nvlink', bytes: 4 * 4 * 128 * 2 * 1024 * 2 * 0.75, ops: 16 })]);
  });

  it('expert gradients: all-reduced over the expert-data replicas', () => {
    const plan = checked(`model = mix  cluster = node8  mode = train  data = 8  expert = 4
      batch { global = 16  micro = 1  seq = 256 }`) as TrainPlan;
    const stage = plan.stages[0]!;
    // 4 layers × 8 experts × 3 · 1024 · 2048 / 4 ranks.
    const params = expertParamsOnDevice(plan, stage);
    expect(params).toBe((4 * 8 * 3 * 1024 * 2048) / 4);
    const rows = expertDataTraffic(plan, stage, params, new TrafficSum()).list({} as never);
    // expert data = 8 / 4 = 2 replicas: 2 · (2 − 1)/2 · G, fp32 gradients.
    expect(rows).toEqual([expect.objectContaining({ group: 'expert_data', link: 'nvlink', bytes: params * 4, ops: 1 })]);
  });

  it('a dense model has none', () => {
    const plan = checked(`model = mix  cluster = node8  mode = train  data = 8  batch { global = 16  seq = 256 }`);
    expect(expertTraffic(plan, plan.stages[0]!, 256, 2, 4).list({} as never)).toEqual([]);
  });
});
