/**
 * `random:SEED` weights: deterministic values that depend only on (seed, tensor
 * name, global element index) — not on the sharding — so a sharded run and a
 * single-device run see the same weights, and any shard can be produced without
 * the rest of the tensor.
 *
 * Each element is a counter-based hash (no sequential PRNG state): two 32-bit
 * hashes of (seed, name, index) give four 16-bit uniforms whose standardised sum
 * (Irwin–Hall) is normal-ish with unit variance. Scales follow GPT-2 / Megatron:
 * weights N(0, 0.02) (positions 0.01), the residual projections (attention output,
 * MLP down) 0.02 / √(2·layers), norm weights 1, norm biases 0, other biases
 * N(0, 0.01); the vocabulary padding rows are 0.
 */
import { elementCount, normalizeSlice, rangesShape, type Range } from './slice.js';

/** What the scales need of the model. */
export interface RandomModel {
  layers: number;
  vocab: number;
  tiedEmbeddings?: boolean;
}

export type Init = { kind: 'constant'; value: number } | { kind: 'normal'; std: number };

/** How a graph weight is initialised. */
export function initFor(name: string, model: RandomModel): Init {
  if (/(^|\.)(attn_norm|mlp_norm|final_norm)\.weight$/.test(name)) return { kind: 'constant', value: 1 };
  if (/(^|\.)(attn_norm|mlp_norm|final_norm)\.bias$/.test(name)) return { kind: 'constant', value: 0 };
  if (name.endsWith('.bias')) return { kind: 'normal', std: 0.01 };
  if (/\.(attn\.o|mlp\.down)\.weight$/.test(name)) return { kind: 'normal', std: 0.02 / Math.sqrt(2 * Math.max(1, model.layers)) };
  if (name === 'positions.weight') return { kind: 'normal', std: 0.01 };
  return { kind: 'normal', std: 0.02 };
}

/** The name whose values a weight takes: a tied output layer has the embedding's. */
export function randomName(name: string, model: RandomModel): string {
  return name === 'output.weight' && model.tiedEmbeddings ? 'embedding.weight' : name;
}

function mix32(x: number): number {
  // lowbias32 (C. Wellons): a full-avalanche 32-bit integer hash.
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A 32-bit key for (seed, name): FNV-1a over the UTF-16 code units, mixed with both halves of the seed. */
export function tensorKey(seed: number, name: string): number {
  if (!Number.isSafeInteger(seed)) throw new Error(`random seed must be an integer, not ${seed}`);
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return mix32(mix32(h >>> 0) ^ mix32(lo + 0x9e3779b9) ^ mix32(hi ^ 0x85ebca6b));
}

const U = 1 / 65536;
const SQRT3 = Math.sqrt(3);

/** The standard normal-ish value of element `index` (a global element index, up to 2^53) under `key`. */
export function unitValue(key: number, index: number): number {
  const lo = index >>> 0;
  const hi = Math.floor(index / 2 ** 32);
  const k = hi === 0 ? key : mix32(key ^ mix32(hi));
  const a = mix32(lo ^ k);
  const b = mix32(a ^ 0x2545f491 ^ k);
  const sum = ((a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16) + 2) * U; // four U(0,1)
  return (sum - 2) * SQRT3;
}

/** One element of a random weight. */
export function randomValue(seed: number, name: string, index: number, model: RandomModel): number {
  const init = initFor(name, model);
  return init.kind === 'constant' ? init.value : init.std * unitValue(tensorKey(seed, randomName(name, model)), index);
}

/**
 * A region (one range per dimension) of the random weight `name` of global
 * `shape`, as f32, row-major. Rows of the embedding and output layer at or past
 * the vocabulary are zero.
 */
export function randomRegion(
  seed: number,
  name: string,
  shape: readonly number[],
  region: readonly Range[] | undefined,
  model: RandomModel,
): Float32Array {
  const ranges = normalizeSlice(shape, region);
  const out = new Float32Array(elementCount(rangesShape(ranges)));
  if (out.length === 0) return out;
  const init = initFor(name, model);
  if (init.kind === 'constant') return out.fill(init.value);
  const key = tensorKey(seed, randomName(name, model));
  if (shape.length === 0) {
    out[0] = init.std * unitValue(key, 0);
    return out;
  }
  const padded = name === 'embedding.weight' || name === 'output.weight' ? model.vocab : Infinity;
  const n = shape.length;
  const strides = new Array<number>(n);
  let s = 1;
  for (let i = n - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  // Odometer over all but the last dimension; the last is a contiguous index run.
  const last = n - 1;
  const idx = ranges.map((r) => r[0]);
  const [c0, c1] = ranges[last]!;
  let o = 0;
  for (;;) {
    let base = 0;
    for (let i = 0; i < last; i++) base += idx[i]! * strides[i]!;
    const row = n > 1 ? idx[0]! : -1;
    if (n > 1 && row >= padded) o += c1 - c0;
    else {
      for (let c = c0; c < c1; c++) {
        if (n === 1 && c >= padded) {
          o++;
          continue;
        }
        out[o++] = init.std * unitValue(key, base + c);
      }
    }
    let i = last - 1;
    while (i >= 0) {
      idx[i]!++;
      if (idx[i]! < ranges[i]![1]) break;
      idx[i] = ranges[i]![0];
      i--;
    }
    if (i < 0) break;
  }
  return out;
}
