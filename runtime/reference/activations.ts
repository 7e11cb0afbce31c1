/** Reference activations and element-wise ops (f64 arithmetic, f32 results). */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation — GPT-2's `gelu_new`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

/** SiLU (swish): x·σ(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function gelu(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = geluTanh(x[i]!);
  return out;
}

/** SwiGLU: silu(gate) · up, element-wise (Llama's MLP before down_proj). */
export function swiglu(gate: ArrayLike<number>, up: ArrayLike<number>): Float32Array {
  if (gate.length !== up.length) throw new Error(`swiglu: gate has ${gate.length} elements, up ${up.length}`);
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = silu(gate[i]!) * up[i]!;
  return out;
}

/** GeGLU: gelu_tanh(gate) · up, element-wise (Gemma's MLP with gelu_pytorch_tanh, before down_proj). */
export function geglu(gate: ArrayLike<number>, up: ArrayLike<number>): Float32Array {
  if (gate.length !== up.length) throw new Error(`geglu: gate has ${gate.length} elements, up ${up.length}`);
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = geluTanh(gate[i]!) * up[i]!;
  return out;
}

/** Soft-capping: cap · tanh(x / cap), element-wise (Gemma-2's final logits). */
export function softcap(x: ArrayLike<number>, cap: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = cap * Math.tanh(x[i]! / cap);
  return out;
}

/** Residual add: a + b. */
export function add(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  if (a.length !== b.length) throw new Error(`add: ${a.length} vs ${b.length} elements`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}
