/**
 * The model's layers as the engines' arguments describe them: one attention shape (some layers
 * with a sliding window), one dense MLP and one MoE MLP, and per layer which of each it uses.
 * Read through layerRuns, so leading dense layers and local/global patterns are seen as they are.
 */
import { layerRuns, type AttentionSpec, type DenseMlp, type GqaAttention, type Model, type MoeMlp } from '../model.js';

export interface LayerShape {
  /** Every layer's attention, its window left out (`window` has it). */
  attention: AttentionSpec;
  /** The window of the windowed layers; undefined when no layer has one. */
  window?: number;
  /** Per layer (0-based): whether it attends through the window. */
  windowed: boolean[];
  /** The dense MLP of the layers that have one. */
  dense?: DenseMlp;
  /** The MoE MLP of the layers that have one. */
  moe?: MoeMlp;
  /** Per layer: whether its MLP is the MoE one. */
  moeLayers: boolean[];
}

/** The shape, or what differs between layers beyond the window and dense/MoE choice (engines give one shape of each). */
export function layerShape(model: Model): LayerShape | { differs: string } {
  let attention: AttentionSpec | undefined;
  let window: number | undefined;
  let dense: DenseMlp | undefined;
  let moe: MoeMlp | undefined;
  const windowed: boolean[] = [];
  const moeLayers: boolean[] = [];
  for (const run of layerRuns(model)) {
    const att = run.layer.attention;
    const w = att.kind === 'gqa' ? att.window : undefined;
    const a: AttentionSpec = att.kind === 'gqa' && w !== undefined ? withoutWindow(att) : att;
    if (attention === undefined) attention = a;
    else if (!same(attention, a)) return { differs: 'the attention of some layers differs from the others (kind, heads or head sizes)' };
    if (w !== undefined) {
      if (window !== undefined && window !== w) return { differs: `layers use different sliding windows (${window} and ${w})` };
      window = w;
    }
    const m = run.layer.mlp;
    if (m.kind === 'dense') {
      if (dense !== undefined && !same(dense, m)) return { differs: 'the dense MLPs of some layers differ in width or activation' };
      dense = m;
    } else {
      if (moe !== undefined && !same(moe, m)) return { differs: 'the MoE MLPs of some layers differ' };
      moe = m;
    }
    for (let l = run.first; l <= run.last; l++) {
      windowed.push(w !== undefined);
      moeLayers.push(m.kind === 'moe');
    }
  }
  if (attention === undefined) return { differs: 'the model has no layers' };
  if (dense && moe && dense.activation !== moe.activation) return { differs: 'the dense and MoE MLPs use different activations' };
  return {
    attention,
    windowed,
    moeLayers,
    ...(window !== undefined ? { window } : {}),
    ...(dense ? { dense } : {}),
    ...(moe ? { moe } : {}),
  };
}

function withoutWindow(a: GqaAttention): GqaAttention {
  const { window: _, ...rest } = a;
  return rest;
}

function same(a: object, b: object): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}

/** The MLP activation every layer uses. */
export function activationOf(s: LayerShape): DenseMlp['activation'] {
  return (s.moe ?? s.dense)!.activation;
}

/**
 * A per-layer 0/1 list as the Python list expression Megatron-LM's pattern arguments evaluate
 * (`_eval_pattern`: digits, commas, brackets, parentheses, + and * only): runs of equal values,
 * `([0]*3+[1]*58)`.
 */
export function patternExpression(bits: readonly boolean[]): string {
  const parts: string[] = [];
  for (let i = 0; i < bits.length;) {
    let j = i;
    while (j + 1 < bits.length && bits[j + 1] === bits[i]) j++;
    const n = j - i + 1;
    parts.push(`[${bits[i] ? 1 : 0}]${n > 1 ? `*${n}` : ''}`);
    i = j + 1;
  }
  return `(${parts.join('+')})`;
}

/** N ≥ 2 when exactly the layers N−1, 2N−1, … (0-based) are false (every N-th layer, 1-based); else undefined. */
export function everyNth(bits: readonly boolean[]): number | undefined {
  const first = bits.indexOf(false);
  if (first < 1) return undefined;
  const n = first + 1;
  return bits.every((b, l) => b === ((l + 1) % n !== 0)) ? n : undefined;
}
