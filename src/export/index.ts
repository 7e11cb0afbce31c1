/** `exportPlan`: one checked plan to the files an engine needs to launch it. */
import type { CheckedPlan } from '../plan.js';
import { exportDeepSpeed } from './deepspeed.js';
import { exportMegatron } from './megatron.js';
import { exportTorchtitan } from './torchtitan.js';
import type { Engine, ExportOptions, ExportResult } from './types.js';
import { exportVllm } from './vllm.js';

export { ENGINES, ENGINE_NAMES, type Engine, type ExportFile, type ExportOptions, type ExportResult } from './types.js';

export function exportPlan(engine: Engine, plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  switch (engine) {
    case 'vllm':
      return exportVllm(plan, opts);
    case 'torchtitan':
      return exportTorchtitan(plan, opts);
    case 'megatron':
      return exportMegatron(plan, opts);
    case 'deepspeed':
      return exportDeepSpeed(plan);
  }
}
