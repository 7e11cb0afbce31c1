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
import { gatedMlp, type Arch, type LayerSpec } from './model.js';

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

/** The modules of `layer` that adapters can reach (routed experts left out), with their shapes. */
export function layerModules(model: { arch: Arch; hidden: number }, layer: LayerSpec): AdaptedModule[] {
  const h = model.hidden;
  const a = layer.attention;
  const m = layer.mlp;
  const mod = (name: string, i: number, o: number): AdaptedModule => ({ name, in: i, out: o });
  const mlp = (prefix: string, f: number): AdaptedModule[] =>
    f > 0
      ? [
          ...(gatedMlp(m.activation) ? [mod(`${prefix}gate_proj`, h, f)] : []),
          mod(`${prefix}up_proj`, h, f),
          mod(`${prefix}down_proj`, f, h),
        ]
      : [];
  const mlps = m.kind === 'dense' ? mlp('', m.ffn) : m.sharedExperts > 0 ? mlp('shared_experts.', m.sharedExperts * m.sharedFfn) : [];
  if (a.kind === 'gqa') {
    const q = a.heads * a.headDim;
    const kv = a.kvHeads * a.headDim;
    if (model.arch === 'gpt2' && m.kind === 'dense' && !gatedMlp(m.activation))
      return [mod('attn.c_attn', h, q + 2 * kv), mod('attn.c_proj', q, h), mod('mlp.c_fc', h, m.ffn), mod('mlp.c_proj', m.ffn, h)];
    return [mod('q_proj', h, q), mod('k_proj', h, kv), mod('v_proj', h, kv), mod('o_proj', q, h), ...mlps];
  }
  const qk = a.qkNopeHeadDim + a.qkRopeHeadDim;
  const q =
    a.qLoraRank > 0 ? [mod('q_a_proj', h, a.qLoraRank), mod('q_b_proj', a.qLoraRank, a.heads * qk)] : [mod('q_proj', h, a.heads * qk)];
  return [
    ...q,
    mod('kv_a_proj_with_mqa', h, a.kvLoraRank + a.qkRopeHeadDim),
    mod('kv_b_proj', a.kvLoraRank, a.heads * (a.qkNopeHeadDim + a.vHeadDim)),
    mod('o_proj', a.heads * a.vHeadDim, h),
    ...mlps,
  ];
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
