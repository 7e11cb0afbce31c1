/**
 * `parplan check` end to end (parser, checker, memory, cost) on MoE, MLA and sliding-window
 * models: every plan is checked, sized and costed, with no internal error.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { memoryHost } from '../fuzz/mutate.js';

const MODELS = `
model mixtral {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  ffn = 14336  vocab = 32000  max_seq = 32768
  experts = 8  experts_per_token = 2
}
model dsv3 {
  arch = llama  layers = 61  hidden = 7168  heads = 128  ffn = 18432  vocab = 129280  max_seq = 163840
  experts = 256  experts_per_token = 8  expert_ffn = 2048  shared_experts = 1  dense_layers = 3  router_bias = true
  kv_lora_rank = 512  q_lora_rank = 1536  qk_nope_head_dim = 128  qk_rope_head_dim = 64  v_head_dim = 128
  quantization = fp8  quant_group = 128
}
model gemma2 {
  arch = llama  layers = 42  hidden = 3584  heads = 16  kv_heads = 8  head_dim = 256  ffn = 14336  vocab = 256000  max_seq = 8192
  sliding_window = 4096  sliding_window_pattern = 2  norms_per_layer = 4  activation = geglu  tied_embeddings = true
}
model gptoss {
  arch = llama  layers = 24  hidden = 2880  heads = 64  kv_heads = 8  head_dim = 64  ffn = 2880  vocab = 201088  max_seq = 131072
  experts = 32  experts_per_token = 4  sliding_window = 128  sliding_window_pattern = 2  attention_sinks = true
  bias = true  router_bias = true  quantization = mxfp4
}
cluster node { gpu = H100_SXM_80GB  gpus = 16 }
`;

function check(plans: string) {
  const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', MODELS + plans]])) });
  return { a, errors: a.diagnostics.filter((d) => d.severity === 'error') };
}

describe('check on MoE, MLA and sliding-window models', () => {
  it('serving: every plan sized and costed', () => {
    const { a, errors } = check(`
plan mixtral_ep { model = mixtral  cluster = node  mode = serve  tensor = 2  data = 8  expert = 8  expert_tensor = 2
  batch { max_batch = 32  seq = 4096 } }
plan dsv3_tp { model = dsv3  cluster = node  mode = serve  tensor = 8  pipeline = 2  expert = 8  expert_tensor = 1  kv_block = 64
  batch { max_batch = 8  seq = 8192 } }
plan gemma { model = gemma2  cluster = node  mode = serve  tensor = 2  batch { max_batch = 16  seq = 8192 } }
plan oss { model = gptoss  cluster = node  mode = serve  batch { max_batch = 16  seq = 8192 } }
`);
    expect(errors.filter((d) => d.code !== 'PP4001')).toEqual([]);
    expect(a.results.map((r) => r.plan.name)).toEqual(['mixtral_ep', 'dsv3_tp', 'gemma', 'oss']);
    for (const r of a.results) {
      expect(r.memory.devices.every((d) => Number.isInteger(d.totalBytes) && d.totalBytes > 0)).toBe(true);
      expect(r.cost.serve?.tpotSeconds ?? 0).toBeGreaterThan(0);
    }
    const dsv3 = a.results[1]!.plan;
    expect(dsv3.mode === 'serve' && dsv3.kvBlock).toBe(64);
    // Layers 0–2 dense, 3–60 MoE: two runs, MLA's latent whole on every tensor rank.
    expect(dsv3.derived.layers.map((l) => [l.first, l.last, l.kvReplication, l.expertsPerRank])).toEqual([
      [0, 2, 8, 0],
      [3, 60, 8, 32],
    ]);
    expect(a.results[2]!.memory.devices[0]!.why.kvCache).toContain('window 4,096');
    expect(a.results[3]!.memory.devices[0]!.why.weights).toContain('mxfp4');
  });

  it('training: MoE with expert parallelism and a windowed model', () => {
    const { a, errors } = check(`
plan mixtral_train { model = mixtral  cluster = node  mode = train  tensor = 2  data = 8  expert = 8  expert_tensor = 1  zero = 1  sequence_parallel = true
  capacity_factor = 1.25  batch { global = 64  micro = 1  seq = 4096 } }
plan gemma_train { model = gemma2  cluster = node  mode = train  tensor = 2  data = 8  batch { global = 64  micro = 1  seq = 4096 } }
`);
    expect(errors.filter((d) => d.code !== 'PP4001')).toEqual([]);
    expect(a.results).toHaveLength(2);
    const mixtral = a.results[0]!;
    expect(mixtral.plan.mode === 'train' && mixtral.plan.capacityFactor).toBe(1.25);
    expect(mixtral.memory.devices[0]!.why.optimizer).toContain('expert data');
    expect(mixtral.cost.train?.mfu ?? 0).toBeGreaterThan(0);
  });
});
