/**
 * Embedding backward: grad[id − rowBase, :] += dX[t, :] for every token t whose id falls in this
 * table shard [rowBase, rowBase + rows) (a vocab-parallel split: other shards' ids contribute
 * nothing here). Learned positions (GPT-2's wpe) are the same call with ids = positions. The
 * tied output head's weight gradient adds into the same buffer (matmulGradWeight accumulates).
 *
 * Deterministic without float atomics (WGSL has none): one workgroup per gradient row; its
 * invocations own disjoint columns, and the workgroup scans the token ids in order (each id read
 * once per row, the same address for every invocation), adding the matching dX rows in token
 * order. So the sum order is fixed, no two invocations write one element, and the arithmetic is
 * T·hidden adds plus rows·T id compares — no sort, no [T, hidden] scratch. (A sort-by-id then
 * segmented sum would drop the rows·T compares; it needs a scratch buffer and two more kernels,
 * worth it only for very large vocab × tokens.)
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
  let r = wg_linear(wid, nwg);
  if (r >= u.rows) { return; }
  let HIDDEN = u.hidden;
  let id = r + u.rowBase;
  for (var t = 0u; t < u.T; t++) {
    if (ids[t] == id) {
      for (var c = lid; c < HIDDEN; c += ${WG}u) { grad[r * HIDDEN + c] += dX[t * HIDDEN + c]; }
    }
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
      return grid1d(rows);
    },
  });
}
