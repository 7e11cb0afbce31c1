/**
 * The buffers parplan's WebGPU runtime allocates on one device of a serving plan
 * (engine = webgpu), as data: the memory model sums them, the runtime allocates
 * exactly these regions — so what is checked is what runs.
 *
 * Activations are f32 whatever the weights' dtype, one buffer per tensor, sized for
 * T = max(max_prefill_tokens, max_batch) tokens and reused by every layer: token ids,
 * positions and KV slots; the residual stream; the normalised input; q, k, v and
 * the attention output; the output of the row-parallel projections; the MLP's up
 * projection (the activation is applied in place) and, for SwiGLU and GeGLU, its gate; the
 * last stage adds fp32 logits and the sampled tokens. Gemma's output norms work in place on
 * the projections' output. Each is named as the graph's
 * steps name the tensor it holds (src/lower/layer.ts), so the runtime binds exactly
 * what a step reads and writes. Unlike the generic
 * formula, attention and MLP buffers are not shared (WebGPU binds whole buffers
 * most simply). Communication goes through the host, so tensor- and
 * pipeline-parallel plans add mapped staging buffers (read back and upload) to
 * the workspace.
 *
 * A Mixture-of-Experts layer (Mixtral, Qwen3-MoE; tensor = expert = 1) has no `up`/`gate`: the
 * router writes each token's k choices (`routes`: expert id and routing weight per choice) and
 * one row of x per (token, choice) (`dispatch`); the experts write their gate | up rows (`ue`,
 * activated in place into the gate half) and their down projections into `y`, k rows per token,
 * which the residual step weighs and sums.
 */
import type { ServePlan, Stage } from '../plan.js';
import { gatedMlp, uniformGqaLayer, type MlpSpec } from '../model.js';

export const WEBGPU_ELEMENT_BYTES = 4;
/** Uniform buffers for kernel parameters. */
export const WEBGPU_UNIFORM_POOL_BYTES = 64 * 1024;

export interface WebgpuRegion {
  name: string;
  category: 'activations' | 'workspace';
  bytes: number;
  doc: string;
}

/** Tokens the buffers hold at once: a prefill chunk, or one decode step over every slot. */
export function webgpuTokens(plan: ServePlan): number {
  return Math.max(plan.batch.maxPrefillTokens, plan.batch.maxBatch);
}

/** The MLP's buffers (and `y`, which the MoE experts' k rows per token widen): elements for T tokens. */
export function webgpuMlpBuffers(
  T: number,
  h: number,
  mlp: MlpSpec,
  ffnPerRank: number,
  /** Ranks splitting each expert's width (expert_tensor). */
  expertTensor: number,
): Record<string, { elements: number; doc: string }> {
  if (mlp.kind === 'moe') {
    const k = mlp.topK;
    return {
      y: { elements: T * k * h, doc: 'output of the row-parallel projections; the experts’ outputs, k rows per token' },
      routes: { elements: T * k * 2, doc: "each token's k chosen experts (u32) and routing weights (f32)" },
      dispatch: { elements: T * k * h, doc: 'one row of x per (token, chosen expert): what the experts read' },
      ue: { elements: (T * k * 2 * mlp.expertFfn) / expertTensor, doc: 'the experts’ gate | up projections, activated in place' },
    };
  }
  return {
    y: { elements: T * h, doc: 'output of the row-parallel projections (partial sums until the all-reduce)' },
    up: { elements: T * ffnPerRank, doc: 'MLP up projection, activated in place' },
    ...(gatedMlp(mlp.activation) ? { gate: { elements: T * ffnPerRank, doc: 'MLP gate projection' } } : {}),
  };
}

/** The most bytes one host exchange moves per device: T rows of hidden; MoE over tensor ranks, every (token, choice) row. */
export function webgpuExchangeBytes(T: number, h: number, mlp: MlpSpec, tensor: number): number {
  return T * h * WEBGPU_ELEMENT_BYTES * (mlp.kind === 'moe' && tensor > 1 ? mlp.topK : 1);
}

export function webgpuLayout(plan: ServePlan, stage: Stage): WebgpuRegion[] {
  const { model, derived } = plan;
  const e = WEBGPU_ELEMENT_BYTES;
  const T = webgpuTokens(plan);
  const h = model.hidden;
  // The runtime reuses these buffers for every layer.
  const layer = uniformGqaLayer(model, 'the WebGPU runtime');
  const d = layer.attention.headDim;
  const t = plan.mesh.tensor;
  const act = (name: string, elements: number, doc: string): WebgpuRegion => ({ name, category: 'activations', bytes: elements * e, doc });
  const regions: WebgpuRegion[] = [
    act('tokens', T, 'token ids (u32) of the tokens in flight'),
    act('positions', T, 'their positions in their sequences (u32)'),
    act('slots', T, 'their KV-cache slots (u32)'),
    act('hidden', T * h, 'the residual stream'),
    act('x', T * h, 'normalised input'),
    act('q', T * derived.headsPerRank * d, 'queries'),
    act('k', T * derived.kvHeadsPerRank * d, 'keys of the new tokens'),
    act('v', T * derived.kvHeadsPerRank * d, 'values of the new tokens'),
    act('attn', T * derived.headsPerRank * d, 'attention output'),
  ];
  for (const [name, { elements, doc }] of Object.entries(webgpuMlpBuffers(T, h, layer.mlp, derived.ffnPerRank, plan.experts.tensor)))
    regions.push(act(name, elements, doc));
  // The runtime's attention is flash-style (an online softmax over the cache) whatever
  // `attention` says: no score matrix is ever stored.
  const vRows = derived.vocabPadded / t;
  if (stage.hasOutput) {
    regions.push(act('logits', plan.batch.maxBatch * vRows, 'fp32 logits of the last position of each sequence'));
    regions.push(act('next', plan.batch.maxBatch, 'the sampled tokens (u32)'));
  }
  if (model.positions === 'rope') regions.push(act('rope', model.maxSeq * d, 'cos and sin of every position (RoPE table)'));
  const communicates = t > 1 || plan.mesh.pipeline > 1;
  const exchanged = webgpuExchangeBytes(T, h, layer.mlp, t);
  if (communicates || stage.hasOutput) {
    const read = Math.max(communicates ? exchanged : 0, stage.hasOutput ? plan.batch.maxBatch * vRows * e : 0);
    regions.push({
      name: 'staging-read',
      category: 'workspace',
      bytes: read,
      doc: 'mapped buffer for reading logits, partial sums and activations back to the host',
    });
  }
  if (communicates) {
    regions.push({
      name: 'staging-write',
      category: 'workspace',
      bytes: exchanged,
      doc: 'mapped buffer for uploading reduced or received activations',
    });
  }
  regions.push({ name: 'uniforms', category: 'workspace', bytes: WEBGPU_UNIFORM_POOL_BYTES, doc: 'kernel parameters' });
  if (plan.workspaceGiven) regions.push({ name: 'extra', category: 'workspace', bytes: plan.workspaceBytes, doc: "the plan's workspace" });
  return regions;
}
