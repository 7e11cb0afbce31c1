/**
 * The checks `trainer.step(batch)` makes before anything runs: the batch is the step's global
 * batch, `sequences` sequences of seq + 1 token ids each (the inputs are tokens 0 … seq − 1,
 * the labels tokens 1 … seq: next-token prediction), every id an integer in 0 … vocab − 1.
 * A batch that is not that is a BatchError saying what was expected and what was given (which
 * sequence, which position, which value), never a wrong loss.
 */
import type { Graph } from '../../src/graph/types.js';

export class BatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchError';
  }
}

export interface BatchShape {
  /** Sequences in the global batch (the plan's global batch size). */
  sequences: number;
  /** Tokens per sequence the model sees (the plan's seq); each sequence holds seq + 1 ids. */
  seq: number;
  /** Token ids must be below this (the model's unpadded vocabulary). */
  vocab: number;
}

/** A global batch as the trainer takes it: one array of ids per sequence. */
export type Batch = ReadonlyArray<ArrayLike<number>>;

const show = (v: unknown): string => (typeof v === 'number' ? String(v) : v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v)));

/**
 * Check `batch` against `shape` and return it as one Int32Array, row-major
 * [sequences, seq + 1]. Throws a BatchError naming the first thing wrong.
 */
export function checkBatch(batch: unknown, shape: BatchShape): Int32Array {
  const { sequences, seq, vocab } = shape;
  const width = seq + 1;
  const expected = `${sequences} sequences of ${width} tokens (seq ${seq} + 1: inputs and next-token labels)`;
  if (!Array.isArray(batch)) throw new BatchError(`the batch must be an array of ${expected}, got ${typeof batch}`);
  if (batch.length !== sequences) throw new BatchError(`the batch has ${batch.length} sequences; expected ${expected}`);
  const out = new Int32Array(sequences * width);
  for (let s = 0; s < sequences; s++) {
    const row: unknown = batch[s];
    const length = isArrayLike(row) ? row.length : undefined;
    if (length === undefined) throw new BatchError(`sequence ${s} of the batch is not an array of token ids (got ${show(row)})`);
    if (length !== width) throw new BatchError(`sequence ${s} of the batch has ${length} tokens; expected ${expected}`);
    const ids = row as ArrayLike<unknown>;
    for (let t = 0; t < width; t++) {
      const id = ids[t];
      if (typeof id !== 'number' || !Number.isInteger(id))
        throw new BatchError(`sequence ${s}, position ${t}: token ${show(id)} is not an integer token id`);
      if (id < 0 || id >= vocab)
        throw new BatchError(`sequence ${s}, position ${t}: token ${id} is outside the vocabulary (0 … ${vocab - 1}, vocab ${vocab})`);
      out[s * width + t] = id;
    }
  }
  return out;
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || ArrayBuffer.isView(v) ? typeof (v as { length?: unknown }).length === 'number' : false;
}

/**
 * The global batch a training graph takes: `input.mb{m}` is [micro, seq] (src/lower), the
 * schedule runs `microbatches` of them per step on each data-parallel rank. Undefined when
 * the graph does not say (not a training graph of this shape).
 */
export function trainingBatchShape(graph: Graph): BatchShape | undefined {
  // The generic lowering's `input.mb{m}`, or engine = webgpu's `tokens.mb{m}`: both [micro, seq].
  const input = graph.tensors.find((t) => t.name === 'input.mb{m}') ?? graph.tensors.find((t) => t.name === 'tokens.mb{m}');
  const [micro, seq] = input?.shape ?? [];
  const microbatches = graph.schedule?.microbatches;
  const data = graph.mesh.axes.find((a) => a.name === 'data')?.size ?? 1;
  if (typeof micro !== 'number' || typeof seq !== 'number' || microbatches === undefined) return undefined;
  return { sequences: micro * microbatches * data, seq, vocab: graph.model.vocab };
}
