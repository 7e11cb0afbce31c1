/**
 * LoRA adapters in the training exports: Megatron-LM and the TOML-era torchtitan config have no
 * LoRA (PP8002 naming the adapter); DeepSpeed's config is right for a PEFT-adapted model, with a
 * warning that the adapters come from the training script and the PEFT call to make them.
 */
import { describe, expect, it } from 'vitest';
import type { ExportResult } from '../../src/export/index.js';
import { exportChecked } from './helpers.js';

const codes = (r: ExportResult) => r.diagnostics.filter((d) => d.severity !== 'note').map((d) => `${d.code} ${d.message}`);

const PLAN = `
model llama3_8b { arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  ffn = 14336  vocab = 128256  max_seq = 8192 }
cluster node { gpu = H100_SXM_80GB  gpus = 8 }
plan p {
  model = llama3_8b  cluster = node  mode = train  data = 8  zero = 2
  adapter { rank = 16  alpha = 32  targets = ["q_proj", "v_proj"]  dropout = 0.05 }
  batch { global = 64  micro = 1  seq = 4096 }
}
`;

describe('adapter exports', () => {
  it('Megatron-LM and torchtitan refuse the adapter, naming it', () => {
    expect(codes(exportChecked('megatron', PLAN))).toEqual([
      'PP8002 Megatron-LM cannot express adapter { rank = 16  targets = ["q_proj", "v_proj"] }: pretrain_gpt.py has no LoRA (no adapter arguments at d98e8a64; Megatron-Core models are LoRA-tuned through NeMo or Megatron-Bridge)',
    ]);
    expect(codes(exportChecked('torchtitan', PLAN))).toEqual([
      'PP8002 torchtitan cannot express adapter { rank = 16  targets = ["q_proj", "v_proj"] }: the TOML job config it is exported to has no LoRA (torchtitan\'s LoRAConverter, components/lora.py since #3264, is in its later Python config)',
    ]);
  });

  it('DeepSpeed writes the config with a warning that gives the PEFT call', () => {
    const r = exportChecked('deepspeed', PLAN);
    expect(r.files.length).toBeGreaterThan(0);
    expect(codes(r)).toContain(
      'PP8003 DeepSpeed runs adapter { rank = 16  targets = ["q_proj", "v_proj"] } differently: the config has no LoRA section: the training script makes the adapters (Hugging Face PEFT) before deepspeed.initialize',
    );
    const d = r.diagnostics.find((x) => x.code === 'PP8003' && x.message.includes('adapter'))!;
    expect(d.help).toBe(
      'in the training script: model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])); deepspeed.initialize then shards and steps only the adapters',
    );
    expect(JSON.parse(r.files[0]!.text).zero_optimization.stage).toBe(2);
  });

  it('a plan without adapter exports as before (no adapter finding)', () => {
    const r = exportChecked('megatron', PLAN.replace(/ {2}adapter \{[^}]*\}\n/, ''));
    expect(codes(r).filter((c) => c.includes('adapter'))).toEqual([]);
  });
});
