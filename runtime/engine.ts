/**
 * What the batching server needs from a model: a fixed number of KV-cache slots
 * (the plan's `max_batch`), a prefill that fills one slot from a prompt, and a
 * decode step over any set of occupied slots (iteration-level batching: sequences
 * join and leave between steps). The WebGPU executor implements it; tests use a
 * CPU engine. Sampling is greedy (argmax) inside the engine, so only token ids
 * cross the device boundary.
 */
export interface Engine {
  /** KV-cache slots: the most sequences decoded together (the plan's max_batch). */
  readonly slots: number;
  /** The most tokens one sequence may hold, prompt and output (the plan's seq). */
  readonly maxSeq: number;
  /** Run `prompt` into `slot` (positions 0 … prompt.length − 1); resolves to the first generated token. */
  prefill(slot: number, prompt: readonly number[]): Promise<number>;
  /**
   * One decode step: for each entry, feed `token` at `position` of its slot's sequence
   * and resolve to the next token, in the same order as `batch`.
   */
  decode(batch: readonly DecodeEntry[]): Promise<number[]>;
  /** The slot's sequence is finished; its KV entries may be overwritten. */
  release(slot: number): void;
  /** Becomes false when a device is lost; then every call rejects with `EngineLostError`. */
  readonly healthy: boolean;
  /** Called once if a device is lost. */
  onLost(listener: (reason: string) => void): void;
  /** Time spent computing since creation, in ms (for the server's busy fraction). */
  busyMs(): number;
}

export interface DecodeEntry {
  slot: number;
  token: number;
  position: number;
}

export class EngineLostError extends Error {
  constructor(reason: string) {
    super(`the GPU device was lost: ${reason}`);
    this.name = 'EngineLostError';
  }
}
