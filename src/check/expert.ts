/** The expert grid: expert and expert_tensor regroup each stage's tensor × data ranks (Megatron-Core's MoE parallel folding). */
import type { ExpertMesh } from '../plan.js';
import type { PlanContext } from './context.js';

/** The plan's expert grid; undefined when it cannot be formed (reported). */
export function checkExperts(ctx: PlanContext): ExpertMesh | undefined {
  const { fields, mesh } = ctx;
  const expert = fields.valueOrDefault<number>('expert');
  const tensor = fields.value<number>('expert_tensor') ?? mesh.tensor;
  const ranks = mesh.tensor * mesh.data;
  if (ranks % (tensor * expert) !== 0) return undefined;
  return { tensor, expert, data: ranks / (tensor * expert) };
}
