/**
 * Context parallelism (`context = N`): every sequence split into 2N chunks, two per rank, with
 * attention exchanging K and V around the context group (Megatron-Core's `--context-parallel-size`
 * through TransformerEngine's attention, torchtitan's `context_parallel_degree`). What parplan
 * models of it is training with flash attention on dense layers; the rest is refused here, each
 * with its own code, at the key that asks for it.
 */
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns } from '../model.js';
import { spanOf, type PlanContext } from './context.js';

export function checkContext(ctx: PlanContext): boolean {
  const c = ctx.mesh.context;
  const { fields, out, model } = ctx;
  if (c === 1) return true;
  const at = spanOf(ctx, 'context');
  if (ctx.mode === 'serve') {
    // vLLM's decode context parallelism (ParallelConfig.decode_context_parallel_size) reuses the tensor
    // group's GPUs to shard the KV cache; it is not this axis, and parplan does not model it yet.
    out.push(
      diag(
        'PP3055',
        at,
        { context: c },
        {
          help: "remove 'context' (serving shards the KV cache by tensor and pipeline here; vLLM's --decode-context-parallel-size, which reuses the tensor GPUs, is not modelled yet)",
        },
      ),
    );
    return false;
  }
  let ok = true;
  // Megatron's arguments.py: seq_length % (2 × context_parallel_size) == 0, for the 2c
  // load-balancing chunks (rank i holds chunks i and 2c − 1 − i of the causal sequence).
  const seq = ctx.batch?.value<number>('seq');
  if (seq !== undefined && seq % (2 * c) !== 0) {
    const up = Math.ceil(seq / (2 * c)) * 2 * c;
    out.push(
      diag(
        'PP3056',
        spanOf(ctx, 'batch.seq'),
        { seq, chunks: 2 * c },
        {
          help: `use seq = ${up}${seq > 2 * c ? ` or ${up - 2 * c}` : ''}: each of the ${c} context ranks takes two of the ${2 * c} equal chunks (one early, one late) so that causal attention costs every rank the same`,
          related: [{ span: at, message: `context = ${c}` }],
        },
      ),
    );
    ok = false;
  }
  // TransformerEngine runs context parallelism only in its flash / fused attention backends, and
  // torch's context_parallel only for scaled_dot_product_attention's flash / efficient / cuDNN kernels.
  if (fields.valueOrDefault<string>('attention') !== 'flash') {
    out.push(
      diag(
        'PP3057',
        spanOf(ctx, 'attention'),
        { context: c },
        {
          help: 'use attention = flash: context-parallel attention (TransformerEngine, torch.distributed context_parallel) runs on flash kernels only',
          related: [{ span: at, message: `context = ${c}` }],
        },
      ),
    );
    ok = false;
  }
  const runs = layerRuns(model);
  const unmodelled = runs.some((r) => r.layer.mlp.kind === 'moe')
    ? 'Mixture-of-Experts layers (the expert grid would regroup tensor × context × data)'
    : runs.some((r) => r.layer.attention.kind === 'mla')
      ? 'multi-head latent attention'
      : undefined;
  if (unmodelled) {
    out.push(
      diag(
        'PP3059',
        at,
        { context: c, what: unmodelled },
        { help: 'use context = 1 with this model, and sequence_parallel = true with tensor > 1 to split its activations instead' },
      ),
    );
    ok = false;
  }
  // Ulysses-style all-to-all trades the sequence split for a head split inside attention: each
  // context rank takes heads / (tensor × context) query heads and as many KV heads
  // (TransformerEngine's AttnFuncWithCPAndQKVOA2A asserts both divisible).
  if (fields.valueOrDefault<string>('context_comm') === 'a2a' && !unmodelled) {
    const t = ctx.mesh.tensor;
    for (const r of runs) {
      const a = r.layer.attention;
      if (a.kind !== 'gqa') continue;
      const bad = [
        ['heads', a.heads / t],
        ['kv_heads', Math.max(1, a.kvHeads / t)],
      ].find(([, n]) => (n as number) % c !== 0);
      if (bad) {
        out.push(
          diag(
            'PP3058',
            spanOf(ctx, 'context_comm'),
            { context: c, what: bad[0]!, heads: bad[1]! },
            {
              help: 'use context_comm = p2p or all_gather (they split the sequence, not the heads), or a context degree that divides the heads per tensor rank',
              related: [{ span: at, message: `context = ${c}` }],
            },
          ),
        );
        ok = false;
        break;
      }
    }
  }
  return ok;
}
