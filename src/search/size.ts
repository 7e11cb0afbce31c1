/**
 * Sizing a candidate as memoryPlan does, per stage instead of per device. memoryPlan
 * computes one footprint per pipeline stage (deviceFootprint at tensor rank 0) and gives
 * it to every tensor rank and data replica of that stage, so the stage footprints decide
 * whether a plan fits in O(stages) rather than O(GPUs). test/search holds every verdict
 * against fitsAll(memoryPlan(plan)).
 */
import { deviceFootprint, usableBytes } from '../memory/index.js';
import { rankOf } from '../mesh.js';
import type { CheckedPlan } from '../plan.js';

export interface Size {
  /** The first device of the fullest stage (rank order), as `check` names it. */
  worstRank: number;
  worstStage: number;
  /** What each device of that stage needs. */
  totalBytes: number;
  usableBytes: number;
  /** usableBytes − totalBytes: negative when the plan does not fit. */
  headroomBytes: number;
}

export function sizeStages(plan: CheckedPlan): Size {
  const usable = usableBytes(plan.cluster.gpu.memoryBytes, plan.reserve);
  let worstStage = 0;
  let totalBytes = -Infinity;
  for (const stage of plan.stages) {
    const bytes = deviceFootprint(plan, stage, 0).totalBytes;
    if (bytes > totalBytes) {
      totalBytes = bytes;
      worstStage = stage.index;
    }
  }
  return {
    worstRank: rankOf(plan.mesh, { tensor: 0, context: 0, pipeline: worstStage, data: 0 }),
    worstStage,
    totalBytes,
    usableBytes: usable,
    headroomBytes: usable - totalBytes,
  };
}
