/**
 * Fused vocab-parallel cross-entropy on the head's logits [T, cols] of one tensor rank, which
 * hold the global vocabulary columns vocabBase … vocabBase + cols − 1; columns ≥ vocab (the
 * padding of vocabPadded) are masked: probability 0, gradient 0. No other vocab-wide buffer.
 *
 * 1. `crossEntropyStatsProgram`: per row, the local max m and Σ exp(x − m) over the valid
 *    columns → stats [T, 2] = (m, s) (a shard with no valid column gives (−3e38, 0)).
 *    Bindings logits, stats; uniform T. One workgroup per row.
 * 2. Across tensor ranks the executor combines the pairs: all-gather them into parts
 *    [ranks, T, 2] and run `crossEntropyCombineProgram` (M = maxᵣ mᵣ, S = Σᵣ sᵣ·exp(mᵣ − M)),
 *    or — the same result with two all-reduces — all-reduce max of m, rescale s·exp(m − M)
 *    on each rank, all-reduce sum. With one tensor rank the stats are already combined.
 *    Bindings parts, stats; uniform T.
 * 3. `crossEntropyGradProgram`, in place: logits ← (softmax − onehot(label))·scale with
 *    softmax = exp(x − M)/S, the onehot only where the label is in this shard; and
 *    loss[t] = M + log S − x[label] on the rank holding the label, 0 elsewhere (a sum over
 *    tensor ranks gives each row's loss). `scale` (a dynamic f32 dim) is 1 / the number of
 *    tokens of the global batch, so microbatch accumulation and the data-parallel sum give
 *    torch's mean. Bindings logits (read_write), labels (u32 [T]), stats, loss; uniforms T, scale.
 */
import { declareBindings, grid1d, main1d, nextPow2, reductions, WG_LINEAR } from '../wgsl/common.js';
import { ceilDiv, dimU32, kernelProgram, positiveInt, u32Fields, type Dims, type KernelProgram, type UniformField } from './types.js';

export interface CrossEntropyOptions {
  /** Columns of this rank's logits (vocab_loc, padding included). */
  cols: number;
  /** The global column of local column 0 (default 0). */
  vocabBase?: number;
  /** The real vocabulary: global columns ≥ vocab are padding (default: vocabBase + cols, none). */
  vocab?: number;
}

const UNIFORMS: UniformField[] = u32Fields('T', 'cols', 'vocabBase', 'vocab');
const GRAD_UNIFORMS: UniformField[] = [...UNIFORMS, { name: 'scale', type: 'f32' }];

function resolve(o: CrossEntropyOptions, what: string): Dims {
  const cols = positiveInt(o.cols, `${what} cols`);
  const vocabBase = o.vocabBase ?? 0;
  const vocab = o.vocab ?? vocabBase + cols;
  if (!Number.isInteger(vocabBase) || vocabBase < 0 || !Number.isInteger(vocab) || vocab < 1 || vocab > 0xffffffff)
    throw new Error(`${what}: vocabBase ${vocabBase} and vocab ${vocab} must be u32s, vocab ≥ 1`);
  return { cols, vocabBase, vocab };
}

/** The valid columns of the shard: [0, VALID). */
const VALID = 'let VALID = select(0u, min(u.cols, u.vocab - u.vocabBase), u.vocab > u.vocabBase);';

/** Per-row local (max, Σ exp(x − max)). Bindings logits, stats; uniform T. */
export function crossEntropyStatsProgram(o: CrossEntropyOptions): KernelProgram {
  const fixed = resolve(o, 'crossEntropyStats');
  const WG = Math.min(256, Math.max(32, nextPow2(Math.ceil((fixed['cols'] as number) / 4))));
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'logits', access: 'read', type: 'f32' },
      { name: 'stats', access: 'read_write', type: 'f32' },
    ],
    UNIFORMS,
  );
  const s = `${decls}${WG_LINEAR}${reductions(WG)}${main1d(WG)}
  let t = wg_linear(wid, nwg);
  if (t >= u.T) { return; }
  let COLS = u.cols;
  ${VALID}
  let base = t * COLS;
  var m = -3.0e38;
  for (var c = lid; c < VALID; c += ${WG}u) { m = max(m, logits[base + c]); }
  m = red_max(m, lid);
  var acc = 0.0;
  for (var c = lid; c < VALID; c += ${WG}u) { acc += exp(logits[base + c] - m); }
  let sum = red_sum(acc, lid);
  if (lid == 0u) { stats[2u * t] = m; stats[2u * t + 1u] = sum; }
}
`;
  const name = 'cross_entropy_stats';
  return kernelProgram(name, s, {
    cacheKey: `${name}:wg${WG}`,
    workgroupSize: WG,
    bindings,
    uniforms: UNIFORMS,
    fixed,
    workgroupStorageBytes: 4 * WG,
    dispatch: (d: Dims) => grid1d(dimU32(d, 'T', name)),
  });
}

const COMBINE_UNIFORMS: UniformField[] = u32Fields('T', 'ranks');

/** Combine [ranks, T, 2] (max, sumexp) pairs into [T, 2]. Bindings parts, stats; uniform T. */
export function crossEntropyCombineProgram(o: { ranks: number }): KernelProgram {
  const ranks = positiveInt(o.ranks, 'crossEntropyCombine ranks');
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'parts', access: 'read', type: 'f32' },
      { name: 'stats', access: 'read_write', type: 'f32' },
    ],
    COMBINE_UNIFORMS,
  );
  const s = `${decls}
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let T = u.T;
  if (t >= T) { return; }
  var m = -3.0e38;
  for (var r = 0u; r < u.ranks; r++) { m = max(m, parts[2u * (r * T + t)]); }
  var s = 0.0;
  for (var r = 0u; r < u.ranks; r++) {
    let sr = parts[2u * (r * T + t) + 1u];
    if (sr > 0.0) { s += sr * exp(parts[2u * (r * T + t)] - m); }
  }
  stats[2u * t] = m;
  stats[2u * t + 1u] = s;
}
`;
  const name = 'cross_entropy_combine';
  return kernelProgram(name, s, {
    workgroupSize: 64,
    bindings,
    uniforms: COMBINE_UNIFORMS,
    fixed: { ranks },
    dispatch: (d: Dims) => [ceilDiv(dimU32(d, 'T', name), 64), 1, 1],
  });
}

/** In place: logits ← (softmax − onehot)·scale; loss per row. Bindings logits, labels, stats, loss; uniforms T, scale. */
export function crossEntropyGradProgram(o: CrossEntropyOptions): KernelProgram {
  const fixed = resolve(o, 'crossEntropyGrad');
  // one workgroup per row: lse once per row, no per-element division (slow on lavapipe)
  const WG = Math.min(256, Math.max(32, nextPow2(Math.ceil((fixed['cols'] as number) / 4))));
  const { bindings, wgsl: decls } = declareBindings(
    [
      { name: 'logits', access: 'read_write', type: 'f32' },
      { name: 'labels', access: 'read', type: 'u32' },
      { name: 'stats', access: 'read', type: 'f32' },
      { name: 'loss', access: 'read_write', type: 'f32' },
    ],
    GRAD_UNIFORMS,
  );
  const s = `${decls}${WG_LINEAR}${main1d(WG)}
  let t = wg_linear(wid, nwg);
  if (t >= u.T) { return; }
  let COLS = u.cols;
  ${VALID}
  let base = t * COLS;
  let lse = stats[2u * t] + log(stats[2u * t + 1u]);
  // labels below vocabBase wrap past the shard, like those above it
  let lc = labels[t] - u.vocabBase;
  if (lc < COLS) {
    if (lid == 0u) { loss[t] = lse - logits[base + lc]; }
  } else if (lid == 0u) {
    loss[t] = 0.0;
  }
  // the loss reads x[label] before any invocation overwrites it
  workgroupBarrier();
  for (var c = lid; c < COLS; c += ${WG}u) {
    var d = 0.0;
    if (c < VALID) { d = (exp(logits[base + c] - lse) - select(0.0, 1.0, c == lc)) * u.scale; }
    logits[base + c] = d;
  }
}
`;
  const name = 'cross_entropy_grad';
  return kernelProgram(name, s, {
    cacheKey: `${name}:wg${WG}`,
    workgroupSize: WG,
    bindings,
    uniforms: GRAD_UNIFORMS,
    fixed,
    dispatch: (d: Dims) => grid1d(dimU32(d, 'T', name)),
  });
}
