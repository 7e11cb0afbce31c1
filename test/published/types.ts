/**
 * A published memory measurement of a training or serving recipe, and the plan that describes
 * the same run: the table test (table.test.ts) checks parplan's estimate against it, and
 * bench/published.ts prints the table with its ratios. Rows live in rows/<topic>.ts.
 */
export interface PublishedRow {
  /** Short unique id, e.g. `torchtitan-t1-fsdp`. */
  id: string;
  /** The run in words: model, GPUs, parallelism, batch, recipe. */
  recipe: string;
  /** Where the figure is published: repository + file + commit (or paper + table), and what it measures (peak, max over ranks, nvidia-smi). */
  source: string;
  /** A whole `.plan` file (model, cluster and one plan) describing the run. */
  plan: string;
  /** The plan to compare (default: the only plan in the file). */
  planName?: string;
  /** What is compared: the largest device total (`gpu`, default) or the largest per-node host total (`host`). */
  measure?: 'gpu' | 'host';
  /** The published figure, GiB (2^30 bytes). Convert GB or MiB figures here and say so in `source`. */
  publishedGiB: number;
  /** Accepted |estimate / published − 1| (default 0.10). A wider band needs `note` saying why the source's own numbers differ. */
  tolerance?: number;
  /** What the source includes or leaves out that the plan cannot (allocator caches, CUDA context, compile), and any departure from ±10%. */
  note?: string;
  /**
   * What parplan estimated before issue 14 (main at 185917c) for the closest plan it could
   * express, GiB; null when the run could not be written at all. For the closing note's before/after.
   */
  beforeGiB?: number | null;
}
