/** Issue 14's recipes in the exports: precision = amp_*, recompute = selective_op, full with recompute_method / recompute_layers. */
import { describe, expect, it } from 'vitest';
import { exportText, trainPlan } from './helpers.js';

const codes = (r: { diagnostics: { code: string; severity: string; message: string }[] }) =>
  r.diagnostics.map((d) => `${d.severity}[${d.code}] ${d.message}`);

describe('torchtitan', () => {
  it('amp_bf16 with ZeRO-3 and selective_op is its own FSDP2 recipe: bfloat16 / float32, selective "op", no findings', () => {
    const r = exportText('torchtitan', trainPlan('data = 8  zero = 3  precision = amp_bf16  recompute = selective_op'));
    // Only the placeholder note for the model flavor the test model lacks: no recipe findings.
    expect(codes(r).filter((c) => !c.startsWith('note[PP8004]'))).toEqual([]);
    const text = r.files[0]!.text;
    expect(text).toContain('mixed_precision_param = "bfloat16"');
    expect(text).toContain('mixed_precision_reduce = "float32"');
    expect(text).toContain('mode = "selective"\nselective_ac_option = "op"');
  });

  it('grouped or block full recompute is an error naming recompute_layers; amp without FSDP under TP trains in fp32', () => {
    expect(codes(exportText('torchtitan', trainPlan('data = 8  zero = 3  recompute = full  recompute_layers = 4')))).toContain(
      'error[PP8002] torchtitan cannot express recompute_method = uniform, recompute_layers = 4: its full activation checkpointing wraps every transformer block alone',
    );
    expect(codes(exportText('torchtitan', trainPlan('tensor = 2  precision = amp_bf16'))).join('\n')).toMatch(
      /error\[PP8002\] torchtitan cannot express precision = amp_bf16: without FSDP its autocast is off/,
    );
  });
});

describe('Megatron-LM', () => {
  it('full recompute writes the plan method and layers; amp and selective_op are errors naming the knob', () => {
    const text = exportText('megatron', trainPlan('recompute = full  recompute_method = block  recompute_layers = 3'), { model: 'x' })
      .files[0]!.text;
    expect(text).toContain('--recompute-granularity full\n  --recompute-method block\n  --recompute-num-layers 3');
    expect(codes(exportText('megatron', trainPlan('precision = amp_bf16'), { model: 'x' }))).toContain(
      'error[PP8002] Megatron-LM cannot express precision = amp_bf16: autocast over fp32 parameters has no flag; --bf16 keeps bf16 weights and an fp32 master copy in the optimizer',
    );
    expect(codes(exportText('megatron', trainPlan('recompute = selective_op'), { model: 'x' })).join('\n')).toMatch(
      /error\[PP8002\] Megatron-LM cannot express recompute = selective_op/,
    );
  });
});

describe('DeepSpeed', () => {
  it('amp_bf16 is torch_autocast (bfloat16) with bf16 and fp16 off; Megatron-style bf16 stays bf16.enabled', () => {
    const r = exportText('deepspeed', trainPlan('data = 8  zero = 3  precision = amp_bf16'));
    const json = JSON.parse(r.files.find((f) => f.name.endsWith('.json'))!.text) as Record<string, Record<string, unknown>>;
    expect(json.torch_autocast).toEqual({ enabled: true, dtype: 'bfloat16' });
    expect(json.bf16).toEqual({ enabled: false });
    expect(json.fp16).toEqual({ enabled: false });
    const plain = JSON.parse(
      exportText('deepspeed', trainPlan('data = 8  zero = 1')).files.find((f) => f.name.endsWith('.json'))!.text,
    ) as Record<string, unknown>;
    expect(plain.torch_autocast).toBeUndefined();
    expect(plain.bf16).toEqual({ enabled: true });
  });

  it('selective_op is an error naming the knob', () => {
    expect(codes(exportText('deepspeed', trainPlan('data = 8  recompute = selective_op'))).join('\n')).toMatch(
      /error\[PP8002\] DeepSpeed cannot express recompute = selective_op/,
    );
  });
});
