/**
 * LoRA adapters (Hu et al. 2021; Hugging Face PEFT): which linears of a layer a plan's
 * `adapter { targets }` reaches, named as PEFT names them. PEFT matches a target against each
 * module's name: equal, or ending in "." + target (peft tuners/tuners_utils.py
 * check_target_module_exists), so `up_proj` also reaches a MoE layer's shared experts. The
 * modules are the ones Hugging Face's modeling code holds (`layerModules`; llama-family names;
 * gpt2's Conv1D names c_attn, c_proj, c_fc for arch gpt2).
 *
 * Routed experts are never adapted: recent transformers hold them as fused 3-D parameters that
 * LoRA's nn.Linear targets do not reach, and parplan does not model PEFT's target_parameters.
 * "all-linear" is PEFT's INCLUDE_LINEAR_LAYERS_SHORTHAND: every linear but the output layer.
 */
import { gatedMlp, layerLinears, type Arch, type LayerSpec } from './model.js';

/** PEFT's default targets when a plan gives none (peft utils/constants.py @00073fe8, TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: llama, mistral, qwen2, gemma … → q_proj, v_proj; gpt2 → c_attn). */
export const DEFAULT_TARGETS: Readonly<Record<Arch, readonly string[]>> = { llama: ['q_proj', 'v_proj'], gpt2: ['c_attn'] };

export const ALL_LINEAR = 'all-linear';

/**
 * One module an adapter can sit on: its name as Hugging Face's modeling code has it and its
 * input and output widths (of the layer given: a tensor shard from `shardLayer` gives one rank's
 * shard, so an adapter splits as its base linear does). gpt2's c_attn fuses q, k and v into one
 * h → (heads + 2·kv_heads)·head_dim Conv1D: one adapter over the fused output.
 */
export interface AdaptedModule {
  name: string;
  in: number;
  out: number;
}

/** The modules of `layer` that adapters can reach (routed experts left out), with their shapes: the model's linears (`layerLinears`) as PEFT names them. */
export function layerModules(model: { arch: Arch; hidden: number }, layer: LayerSpec): AdaptedModule[] {
  const a = layer.attention;
  const m = layer.mlp;
  if (model.arch === 'gpt2' && a.kind === 'gqa' && m.kind === 'dense' && !gatedMlp(m.activation)) {
    const h = model.hidden;
    const q = a.heads * a.headDim;
    const kv = a.kvHeads * a.headDim;
    return [
      { name: 'attn.c_attn', in: h, out: q + 2 * kv },
      { name: 'attn.c_proj', in: q, out: h },
      { name: 'mlp.c_fc', in: h, out: m.ffn },
      { name: 'mlp.c_proj', in: m.ffn, out: h },
    ];
  }
  // Hugging Face holds the shared experts as one MLP of sharedExperts × sharedFfn (DeepseekV3MLP with
  // intermediate_size = moe_intermediate_size × n_shared_experts): one module, its inner width widened.
  return layerLinears(model, layer, 0)
    .filter((l) => l.part !== 'routed')
    .map((l) =>
      l.name.endsWith('down_proj') ? { name: l.name, in: l.in * l.count, out: l.out } : { name: l.name, in: l.in, out: l.out * l.count },
    );
}

/** Whether PEFT's target `t` reaches module `name` (equal, or a dotted suffix of it). */
export function targetMatches(t: string, name: string): boolean {
  return t === ALL_LINEAR || name === t || name.endsWith(`.${t}`);
}

/** The modules of `layer` the targets reach. */
export function adaptedModules(model: { arch: Arch; hidden: number }, layer: LayerSpec, targets: readonly string[]): AdaptedModule[] {
  return layerModules(model, layer).filter((mod) => targets.some((t) => targetMatches(t, mod.name)));
}

/** Routed-expert module names a target would reach if experts were adaptable (for the checker's message). */
export function routedExpertModules(layer: LayerSpec): string[] {
  const m = layer.mlp;
  if (m.kind !== 'moe') return [];
  return [...(gatedMlp(m.activation) ? ['experts.gate_proj'] : []), 'experts.up_proj', 'experts.down_proj'];
}
