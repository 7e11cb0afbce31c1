/** Reference embedding gather: out[t] = table[ids[t]] (+ posTable[positions[t]]); out-of-range rows give zeros. */
export function embedding(
  ids: ArrayLike<number>,
  table: ArrayLike<number>,
  hidden: number,
  pos?: { positions: ArrayLike<number>; table: ArrayLike<number> },
): Float32Array {
  const T = ids.length;
  const vocab = table.length / hidden;
  const out = new Float32Array(T * hidden);
  for (let t = 0; t < T; t++) {
    const id = ids[t]!;
    const p = pos?.positions[t];
    const maxPos = pos ? pos.table.length / hidden : 0;
    for (let c = 0; c < hidden; c++) {
      let v = id < vocab ? table[id * hidden + c]! : 0;
      if (pos && p! < maxPos) v += pos.table[p! * hidden + c]!;
      out[t * hidden + c] = v;
    }
  }
  return out;
}
