/**
 * What the batching server needs from a model: a fixed number of KV-cache slots
 * (the plan's `max_batch`), a prefill that fills one slot from a prompt, and a
 * decode step over any set of occupied slots (iteration-level batching: sequences
 * join and leave between steps). An engine with several data-parallel replicas may
 * also prefill slots of different replicas at the same time (`prefillMany`). The WebGPU executor implements it; tests use a
 * CPU engine. Tokens are chosen greedily (argmax) inside the engine, so only token ids
 * cross the device boundary — unless a sequence samples: then its entry carries a
 * `Sampler` and the engine hands that sequence's row of logits to it on the host.
 */
export interface Engine {
  /** KV-cache slots: the most sequences decoded together (the plan's max_batch). */
  readonly slots: number;
  /** The most tokens one sequence may hold, prompt and output (the plan's seq). */
  readonly maxSeq: number;
  /**
   * Run `prompt` into `slot` (positions 0 … prompt.length − 1); resolves to the first
   * generated token: the argmax, or what `sample` picks from the last token's logits.
   */
  prefill(slot: number, prompt: readonly number[], sample?: Sampler): Promise<number>;
  /**
   * Optional, with `replicaOf`: prefill several slots in one call, one promise per entry
   * (in entry order), each resolving to that entry's first token or rejecting with its
   * own error, so one failing prompt does not lose the others and each entry's first
   * token is known as soon as it is computed. Entries on different replicas may run at
   * the same time; entries on one replica run in entry order. The call lasts until every
   * promise has settled: no other call starts before. Slots are distinct. On device loss
   * every unfinished entry rejects with `EngineLostError`.
   */
  prefillMany?(entries: readonly PrefillEntry[]): Promise<number>[];
  /**
   * Optional, with `prefillMany`: the data-parallel replica holding `slot` (0-based).
   * Slots of one replica share its devices, so the server spreads sequences over
   * replicas and applies its prefill budget per replica.
   */
  replicaOf?(slot: number): number;
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

export interface PrefillEntry {
  slot: number;
  prompt: readonly number[];
  /** Chooses the first token from the logits (absent: argmax). */
  sample?: Sampler;
}

export interface DecodeEntry {
  slot: number;
  token: number;
  position: number;
  /** Chooses the next token from the logits (absent: argmax). */
  sample?: Sampler;
}

/**
 * A sequence's token choice on the host: given its row of logits, exactly `vocab` long
 * (the padding columns of a padded vocabulary removed), returns a token id below `vocab`.
 * The server makes one per sampling request (runtime/text/sampling.ts), holding its random stream.
 */
export type Sampler = (logits: Float32Array) => number;

export class EngineLostError extends Error {
  constructor(reason: string) {
    super(`the GPU device was lost: ${reason}`);
    this.name = 'EngineLostError';
  }
}
