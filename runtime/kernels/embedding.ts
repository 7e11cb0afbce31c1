/**
 * embedding: out[t, :] = table[ids[t], :] (+ posTable[positions[t], :] for GPT-2's
 * learned positions). Tables are [rows, hidden] in any TensorType; ids and positions
 * are u32 [T]; out is f32 [T, hidden]. An id (or position) outside its table gives zeros
 * for that table. Uniform: T.
 *
 * With an f32 table this is also a row gather: bind an activation buffer as `table` and
 * row indices as `ids` (e.g. the last position of each sequence before the output head).
 *
 * A table split over several storage bindings (row blocks, runtime/split.ts) is gathered
 * one block at a time: `rowBase` is the block's first row (ids are looked up at
 * id − rowBase; ids outside [rowBase, rowBase + vocab) are not this block's), and
 * `accumulate: true` adds the block's rows to `out` for its own ids only, leaving the
 * other tokens as they are. So: the first block (or the whole table) writes every token,
 * the later blocks accumulate; a split position table accumulates too, with
 * `ids` = the positions.
 */
import { DTYPE_HELPERS, enables, featuresFor, typeTag, type TensorType } from '../wgsl/dtype.js';
import { type BindingSpec, declareBindings, grid1d, main1d, WG_LINEAR } from '../wgsl/common.js';
import { ceilDiv, dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface EmbeddingOptions {
  hidden: number;
  /** Rows of the token table (the vocabulary). */
  vocab: number;
  table?: TensorType;
  /** Learned absolute positions (GPT-2's wpe): rows of that table and its storage. */
  positional?: { maxPositions: number; table?: TensorType };
  /** The table's first row when it is a row block of a larger one (default 0). */
  rowBase?: number;
  /** Add this block's rows to `out` for the ids in its range only (no positions). */
  accumulate?: boolean;
}

const WG = 64;
const UNIFORMS: UniformField[] = u32Fields('T', 'hidden', 'vocab', 'maxPos', 'rowBase');

export function embeddingProgram(o: EmbeddingOptions): KernelProgram {
  const hidden = positiveInt(o.hidden, 'embedding hidden');
  const vocab = positiveInt(o.vocab, 'embedding vocab');
  const tt = o.table ?? { format: 'f32' };
  const pos = o.positional;
  const pt = pos ? (pos.table ?? tt) : undefined;
  const rowBase = o.rowBase ?? 0;
  if (!Number.isInteger(rowBase) || rowBase < 0 || rowBase + vocab > 0xffffffff)
    throw new Error(`embedding rowBase must be a u32 with rowBase + vocab < 2³², got ${rowBase}`);
  const accumulate = o.accumulate === true;
  if (accumulate && pos)
    throw new Error('embedding: accumulate takes no positional table (accumulate the position table as a second gather, ids = positions)');
  const specs: BindingSpec[] = [
    { name: 'ids', access: 'read', type: 'u32' },
    { name: 'table', access: 'read', tensor: tt },
  ];
  if (pos) specs.push({ name: 'positions', access: 'read', type: 'u32' }, { name: 'posTable', access: 'read', tensor: pt! });
  specs.push({ name: 'out', access: 'read_write', type: 'f32' });
  const { bindings, wgsl: decls } = declareBindings(specs, UNIFORMS);
  let s = enables([tt, pt]) + decls;
  s += DTYPE_HELPERS + WG_LINEAR;
  const maxPos = pos ? positiveInt(pos.maxPositions, 'embedding maxPositions') : 0;
  s += `${main1d(WG)}
  let HIDDEN = u.hidden;
  let g = wg_linear(wid, nwg) * ${WG}u + lid;
  let t = g / HIDDEN;
  let c = g % HIDDEN;
  if (t >= u.T) { return; }
  // ids below rowBase wrap to ≥ 2³² − rowBase, past the block like those above it
  let id = ids[t] - u.rowBase;
${
  accumulate
    ? '  if (id < u.vocab) { out[t * HIDDEN + c] += table_at(id * HIDDEN + c); }\n'
    : `  var v = 0.0;
  if (id < u.vocab) { v = table_at(id * HIDDEN + c); }
${pos ? '  let p = positions[t];\n  if (p < u.maxPos) { v += posTable_at(p * HIDDEN + c); }\n' : ''}  out[t * HIDDEN + c] = v;
`
}}
`;
  const name = `embedding_${typeTag(tt)}${pt ? `_pos_${typeTag(pt)}` : ''}${accumulate ? '_acc' : ''}`;
  return kernelProgram(name, s, {
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed: { hidden, vocab, maxPos, rowBase },
    features: featuresFor([tt, pt]),
    dispatch: (d: Dims) => grid1d(ceilDiv(dimU32(d, 'T', name) * hidden, WG)),
  });
}
