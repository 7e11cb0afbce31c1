/** Reference row-wise softmax (stable: subtract the row maximum), f64 arithmetic. */
export function softmax(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[b + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[b + c]! - m);
    for (let c = 0; c < cols; c++) out[b + c] = Math.exp(x[b + c]! - m) / s;
  }
  return out;
}
