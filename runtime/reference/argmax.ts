/** Reference argmax per row: the first index of the largest of the first `cols` values (row stride `rowStride`); NaNs ignored. */
export function argmax(x: ArrayLike<number>, rows: number, cols: number, rowStride = cols): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = -Infinity;
    let bi = 0xffffffff;
    for (let c = 0; c < cols; c++) {
      const v = x[r * rowStride + c]!;
      if (Number.isNaN(v)) continue;
      if (bi === 0xffffffff || v > best) {
        best = v;
        bi = c;
      }
    }
    out[r] = bi;
  }
  return out;
}
