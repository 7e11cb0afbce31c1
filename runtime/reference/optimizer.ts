/**
 * Reference optimizer steps and gradient clipping (f64), as torch does them:
 * `torch.nn.utils.clip_grad_norm_` (scale = min(1, maxNorm / (norm + 1e-6)), grads multiplied),
 * `torch.optim.AdamW` (decoupled weight decay, bias correction, eps outside the sqrt) and
 * `torch.optim.SGD` without momentum (weight decay added to the gradient).
 */

// The hyper-parameters as the AdamW kernel takes them (one definition).
import type { AdamWHyper } from '../kernels/optimizer.js';
export type { AdamWHyper };

/** Σ g² over every element of the buffers. */
export function sumSquares(...gs: ArrayLike<number>[]): number {
  let s = 0;
  for (const g of gs) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return s;
}

/** clip_grad_norm_'s factor and the total norm, from the global Σ g². */
export function clipFactor(sumSq: number, maxNorm: number): { factor: number; norm: number } {
  const norm = Math.sqrt(sumSq);
  return { factor: Math.min(1, maxNorm / (norm + 1e-6)), norm };
}

/**
 * One AdamW step (step t ≥ 1) in place on p, m, v with gradient g·gscale:
 * p −= lr·wd·p; m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; p −= lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + eps).
 */
export function adamwStep(
  p: Float64Array,
  m: Float64Array,
  v: Float64Array,
  g: ArrayLike<number>,
  t: number,
  h: AdamWHyper,
  gscale = 1,
): void {
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! * gscale;
    p[i] = p[i]! * (1 - h.lr * h.weightDecay);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
    p[i] = p[i]! - (h.lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + h.eps));
  }
}

/** One SGD step in place: p −= lr·(g·gscale + wd·p). */
export function sgdStep(p: Float64Array, g: ArrayLike<number>, lr: number, weightDecay: number, gscale = 1): void {
  for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * (g[i]! * gscale + weightDecay * p[i]!);
}
