/** The batching server and its HTTP front (docs/serving.md). */
export {
  createServer,
  type CloseOptions,
  type FinishReason,
  type GenerateOptions,
  type GenerateResult,
  type Server,
  type ServerOptions,
} from './server.js';
export { checkPolicy, policyFromPlan, type BatchPolicy } from './policy.js';
export type { RequestCounts, ServerStats } from './stats.js';
/** Every error class, each with a `code` and an HTTP `status`. */
export * from './errors.js';
export { shutdown, startHttpServer, type CloseHttpOptions, type HttpHandle, type HttpOptions } from './http.js';
export { createTimeline, type ServingTimeline } from './timeline.js';
/** The Prometheus metrics of an HTTP server (`HttpHandle.metrics`). */
export type { Metrics } from './metrics.js';
