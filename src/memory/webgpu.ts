/**
 * The buffers parplan's WebGPU runtime allocates on one device of a serving plan
 * (engine = webgpu), as data: the memory model sums them, the runtime allocates
 * exactly these regions — so what is checked is what runs.
 *
 * Activations are f32 whatever the weights' dtype. One arena per device, sized for
 * T = max(max_prefill_tokens, max_batch) tokens, with the same liveness as the
 * generic formula: the residual stream, the normalised input (later the output of
 * the row-parallel projections), and one region shared by the attention tensors
 * (q, k, v, attention output) and the MLP's (gate, up, product); the last stage
 * adds fp32 logits and the sampled tokens. Communication goes through the host, so
 * tensor- and pipeline-parallel plans add mapped staging buffers (read back and
 * upload) to the workspace.
 */
import type { ServePlan, Stage } from '../plan.js';

export const WEBGPU_ELEMENT_BYTES = 4;
/** Uniform buffers for kernel parameters. */
export const WEBGPU_UNIFORM_POOL_BYTES = 64 * 1024;

export interface WebgpuRegion {
  name: 'ids' | 'hidden' | 'x' | 'shared' | 'logits' | 'staging-read' | 'staging-write' | 'uniforms' | 'extra';
  category: 'activations' | 'workspace';
  bytes: number;
  doc: string;
}

/** Tokens the arena holds at once: a prefill chunk, or one decode step over every slot. */
export function webgpuTokens(plan: ServePlan): number {
  return Math.max(plan.batch.maxPrefillTokens, plan.batch.maxBatch);
}

export function webgpuLayout(plan: ServePlan, stage: Stage): WebgpuRegion[] {
  const { model, derived } = plan;
  const e = WEBGPU_ELEMENT_BYTES;
  const T = webgpuTokens(plan);
  const h = model.hidden;
  const d = model.headDim;
  const t = plan.mesh.tensor;
  const attn = (derived.headsPerRank + 2 * derived.kvHeadsPerRank) * d + derived.headsPerRank * d;
  const mlp = (model.activation === 'swiglu' ? 3 : 2) * derived.ffnPerRank;
  const scores = plan.attention === 'standard' ? derived.headsPerRank * T * Math.min(T, plan.batch.seq) * e : 0;
  const regions: WebgpuRegion[] = [
    { name: 'ids', category: 'activations', bytes: 3 * T * 4, doc: 'token ids, positions and KV slots (u32) of the tokens in flight' },
    { name: 'hidden', category: 'activations', bytes: T * h * e, doc: 'the residual stream' },
    { name: 'x', category: 'activations', bytes: T * h * e, doc: 'normalised input; then the row-parallel projection output' },
    { name: 'shared', category: 'activations', bytes: Math.max(attn * T * e + scores, mlp * T * e), doc: 'attention (q, k, v, output) or MLP (gate, up, product) tensors' },
  ];
  const vRows = derived.vocabPadded / t;
  if (stage.hasOutput) {
    regions.push({ name: 'logits', category: 'activations', bytes: plan.batch.maxBatch * (vRows * e + 4), doc: 'fp32 logits of the last position of each sequence, and the sampled tokens' });
  }
  if (t > 1 || plan.mesh.pipeline > 1) {
    const read = Math.max(T * h * e, stage.hasOutput && t > 1 ? plan.batch.maxBatch * vRows * e : 0);
    regions.push({ name: 'staging-read', category: 'workspace', bytes: read, doc: 'mapped buffer for reading partial sums and activations back to the host' });
    regions.push({ name: 'staging-write', category: 'workspace', bytes: T * h * e, doc: 'mapped buffer for uploading reduced or received activations' });
  }
  regions.push({ name: 'uniforms', category: 'workspace', bytes: WEBGPU_UNIFORM_POOL_BYTES, doc: 'kernel parameters' });
  if (plan.workspaceGiven) regions.push({ name: 'extra', category: 'workspace', bytes: plan.workspaceBytes, doc: "the plan's workspace" });
  return regions;
}
