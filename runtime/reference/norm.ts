/** Reference LayerNorm and RMSNorm over rows of `cols` values (f64 arithmetic, f32 results). */

/** y = (x − mean) / √(var + eps) · weight + bias, var biased (÷ cols). */
export function layerNorm(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  eps: number,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[b + c]!;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[b + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) out[b + c] = (x[b + c]! - mean) * inv * weight[c]! + bias[c]!;
  }
  return out;
}

/**
 * y = x / √(mean(x²) + eps) · (offset + weight): HF LlamaRMSNorm with offset 0; Gemma2RMSNorm
 * (float32, `output * (1.0 + self.weight.float())`) with offset 1.
 */
export function rmsNorm(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  weight: ArrayLike<number>,
  eps: number,
  offset = 0,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[b + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) out[b + c] = x[b + c]! * inv * (offset + weight[c]!);
  }
  return out;
}
