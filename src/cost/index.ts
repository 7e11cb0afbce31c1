/**
 * The cost model: CheckedPlan (+ MemoryPlan) → PlanCost, estimated time and traffic of a
 * training step or of serving. Pure; every formula, constant and source is in docs/cost.md.
 */
import type { MemoryPlan } from '../memory/types.js';
import type { CheckedPlan } from '../plan.js';
import { EFFICIENCY } from './constants.js';
import { hardwareOf, ratesOf, usesFp32 } from './rates.js';
import { serveCost } from './serve.js';
import { trainCost } from './train.js';
import type { Hardware, PlanCost, Traffic } from './types.js';

export * from './types.js';
export * from './constants.js';
export { bubbleFraction, chunksPerStage, tensorTraffic, pipelineTraffic, dataTraffic } from './train.js';
export { weightReadBytes, decodeBytes, serveTraffic } from './serve.js';
export * from './flops.js';
export {
  allReduceBytes,
  reduceScatterBytes,
  linkOf,
  tensorGroupCrossesNodes,
  dataGroupCrossesNodes,
  pipelineHopCrossesNodes,
} from './comm.js';
export { hardwareOf, ratesOf } from './rates.js';

/** Estimated cost of the plan; times are null (with `reason`) where the GPU lacks a rate they need. */
export function planCost(plan: CheckedPlan, memory: MemoryPlan): PlanCost {
  const hardware = hardwareOf(plan);
  const rates = ratesOf(hardware);
  const efficiency = { ...EFFICIENCY };
  if (plan.mode === 'train') {
    const train = trainCost(plan, memory, rates, hardware.tflops * 1e12);
    const reason = missing(
      plan,
      hardware,
      train.stages.flatMap((s) => s.traffic),
    );
    return { known: reason === null, reason, efficiency, hardware, train, serve: null };
  }
  const serve = serveCost(plan, rates);
  const reason = missing(
    plan,
    hardware,
    serve.stages.flatMap((s) => s.traffic),
  );
  return { known: reason === null, reason, efficiency, hardware, train: null, serve };
}

/** Why some time is unknown: each missing rate the plan needs, or null. */
function missing(plan: CheckedPlan, hw: Hardware, traffic: readonly Traffic[]): string | null {
  const gpu = `GPU '${plan.cluster.gpu.id}'`;
  const out: string[] = [];
  if (hw.tflops <= 0) {
    out.push(
      usesFp32(plan)
        ? `${gpu} has no fp32 throughput (a custom GPU's tflops is 16-bit)`
        : `${gpu} has no throughput: give tflops in its gpu block`,
    );
  }
  if (plan.mode === 'serve' && hw.memoryBandwidthGBs <= 0) out.push(`${gpu} has no memory bandwidth: give bandwidth in its gpu block`);
  if (hw.linkBandwidthGBs <= 0 && traffic.some((t) => t.link !== 'network' && t.bytes > 0))
    out.push(`${gpu} has no GPU-to-GPU link bandwidth: give link in its gpu block`);
  if (hw.networkGBs <= 0 && traffic.some((t) => t.link === 'network' && t.bytes > 0))
    out.push(`cluster '${plan.cluster.name}' has network = 0`);
  return out.length === 0 ? null : out.join('; ');
}
