/**
 * `parplan` as a library: plans written in TypeScript (builders and templates, checked
 * with `analyzePlans`), `.plan` files checked with `analyze`, and the renderers that
 * `parplan check` prints with. The WebGPU runtime is `parplan/runtime`.
 *
 *   import { model, cluster, plan, analyzePlans, renderText } from 'parplan';
 */
export { model, cluster, plan, planFile, isEmbedded } from './embedded/builders.js';
export { analyzePlans, type AnalyzePlansOptions } from './analyze-values.js';
export type {
  ByteSize,
  Cluster,
  ClusterOptions,
  Dtype,
  Duration,
  Embedded,
  GpuId,
  GpuOptions,
  Interpolation,
  LayerRange,
  Mode,
  Model,
  ModelOptions,
  HfModelOptions,
  Percent,
  Plan,
  PlanFileValue,
  PlanOptions,
  ServePlanOptions,
  TrainPlanOptions,
} from './embedded/types.js';

export { analyze, analyzeProject, type Analysis, type AnalyzeOptions, type PlanResult } from './analyze.js';
export type { Diagnostic } from './diagnostics/diagnostic.js';
export type { Span } from './source.js';
export { renderText } from './render/text.js';
export { renderJson, toJson, type JsonReport } from './render/json.js';
