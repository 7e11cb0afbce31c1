/**
 * Embedding backward: grad[id − rowBase, :] += dX[t, :] for every token t whose id falls in this
 * table shard [rowBase, rowBase + rows) (a vocab-parallel split: other shards' ids contribute
 * nothing here). Learned positions (GPT-2's wpe) are the same call with ids = positions. The
 * tied output head's weight gradient adds into the same buffer (matmulGradWeight accumulates).
 *
 * Deterministic without float atomics (WGSL has none): one invocation per column of the
 * table; each walks the tokens in order and adds dX[t, c] into the row of token t's id. Invocations
 * own disjoint columns, so no two write one element, and each element's sum is in token order.
 * The work is T·hidden adds and T id reads per invocation, independent of the vocabulary: a
 * workgroup per row instead (rows·T id compares) cost GPT-2's 50,257 rows seconds per step on
 * lavapipe. (Parallel over hidden only: T serial adds each, which is cheap next to the head's matmuls.)
 *
 * Bindings ids (u32 [T]), dX (f32 [T, hidden]), grad (f32 [rows, hidden], accumulated). Uniform T.
 */
import { declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface EmbeddingBackwardOptions {
  hidden: number;
  /** Rows of this (shard of the) table. */
  rows: number;
  /** The shard's first row (default 0). */
  rowBase?: number;
}

const WG = 64;
const UNIFORMS: UniformField[] = u32Fields('T', 'hidden', 'rows', 'rowBase');

export function embeddingBackwardProgram(o: EmbeddingBackwardOptions): KernelProgram {
  const hidden = positiveInt(o.hidden, 'embeddingBackward hidden');
  const rows = positiveInt(o.rows, 'embeddingBackward rows');
  const rowBase = o.rowBase ?? 0;
  if (!Number.isInteger(rowBase) || rowBase < 0 || rowBase + rows > 0xffffffff)
    throw new Error(`embeddingBackward rowBase must be a u32 with rowBase + rows < 2³², got ${rowBase}`);
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'ids', access: 'read', type: 'u32' },
      { name: 'dX', access: 'read', type: 'f32' },
      { name: 'grad', access: 'read_write', type: 'f32' },
    ],
    UNIFORMS,
  );
  const s = `${decls}${WG_LINEAR}${main1d(WG)}
  let c = wg_linear(wid, nwg) * ${WG}u + lid;
  let HIDDEN = u.hidden;
  if (c >= HIDDEN) { return; }
  for (var t = 0u; t < u.T; t++) {
    let id = ids[t];
    // Another shard's row (vocab-parallel): nothing here. (id − rowBase wraps below rowBase: also ≥ rows.)
    let r = id - u.rowBase;
    if (r < u.rows) { grad[r * HIDDEN + c] += dX[t * HIDDEN + c]; }
  }
}
`;
  const name = 'embedding_backward';
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed: { hidden, rows, rowBase },
    dispatch: (d: Dims) => {
      dimU32(d, 'T', name);
      return grid1d(Math.ceil(hidden / WG));
    },
  });
}
