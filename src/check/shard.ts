/**
 * How ZeRO shards a training plan: the shard group (HSDP), resharding after forward (ZeRO-3 /
 * FSDP2) and offload to CPU memory (ZeRO-Offload / ZeRO-Infinity), each checked against the
 * ZeRO stage and the mesh. See docs/memory.md ("Sharding groups and offload").
 */
import { diag } from '../diagnostics/diagnostic.js';
import type { TrainPlan } from '../plan.js';
import { spanOf, type PlanContext } from './context.js';

export interface Sharding {
  shardGroup?: number;
  reshardAfterForward: boolean;
  offload: TrainPlan['offload'];
}

/** The plan's sharding keys, checked; undefined after an error (each reported at the key it is about). */
export function checkSharding(ctx: PlanContext, expert: number): Sharding | undefined {
  const { fields, mesh, out } = ctx;
  const zero = fields.valueOrDefault<TrainPlan['zero']>('zero');
  const data = mesh.data;
  const shardGroup = fields.value<number>('shard_group') ?? data;
  const reshardAfterForward = fields.valueOrDefault<boolean>('reshard_after_forward');
  const offload = fields.valueOrDefault<TrainPlan['offload']>('offload');
  let ok = true;
  const zeroRelated = fields.has('zero')
    ? [{ span: spanOf(ctx, 'zero'), message: `zero = ${zero}` }]
    : [{ span: ctx.decl.nameSpan, message: 'zero = 0 (default)' }];

  if (fields.has('shard_group')) {
    if (data % shardGroup !== 0) {
      const divisors = [...Array(Math.min(data, 64)).keys()].map((i) => i + 1).filter((d) => data % d === 0 && d <= shardGroup);
      const near = divisors[divisors.length - 1] ?? 1;
      out.push(
        diag(
          'PP3050',
          spanOf(ctx, 'shard_group'),
          { group: shardGroup, data },
          {
            help: `shard groups tile the data ranks: use a divisor of ${data}, e.g. shard_group = ${near}`,
            related: [{ span: spanOf(ctx, 'data'), message: `data = ${data}` }],
          },
        ),
      );
      ok = false;
    } else if (shardGroup < data && (expert > 1 || mesh.context > 1)) {
      const what = expert > 1 ? `expert = ${expert}` : `context = ${mesh.context}`;
      out.push(
        diag(
          'PP3051',
          spanOf(ctx, 'shard_group'),
          { group: shardGroup, data, with: what },
          {
            help:
              expert > 1
                ? `remove shard_group (shard over all ${data} data ranks), or train without expert parallelism`
                : `remove shard_group (shard over all ${data} data × ${mesh.context} context ranks), or set context = 1`,
          },
        ),
      );
      ok = false;
    } else if (zero === 0) {
      const e = fields.get('shard_group')!;
      out.push(
        diag(
          'PP3020',
          e.entry.keySpan,
          { key: 'shard_group', why: 'with zero = 0' },
          { help: 'a shard group splits ZeRO state; set zero = 1, 2 or 3 (zero = 3 with shard_group is FSDP2 HSDP), or remove it' },
        ),
      );
    }
  }
  // `true` below ZeRO-3 is what happens anyway (whole weights stay); only `false` asks for something that cannot be.
  if (fields.has('reshard_after_forward') && !reshardAfterForward && zero !== 3) {
    out.push(
      diag(
        'PP2035',
        spanOf(ctx, 'reshard_after_forward'),
        { zero },
        { help: 'set zero = 3 (FSDP) or remove reshard_after_forward: with zero < 3 every GPU keeps whole weights', related: zeroRelated },
      ),
    );
    ok = false;
  }
  if (offload !== 'none') {
    // DeepSpeed: offload_optimizer with stages 1-3, offload_param with stage 3 only (runtime/zero/offload_config.py).
    const needs = offload === 'optimizer_params' ? 3 : 1;
    if (zero < needs) {
      out.push(
        diag(
          'PP2036',
          spanOf(ctx, 'offload'),
          {
            offload,
            needs:
              needs === 3
                ? 'zero = 3 (weights offloaded are the ZeRO-3 shards)'
                : 'zero ≥ 1 (the optimizer step on the CPU runs on the ZeRO partition)',
            zero,
          },
          {
            help: needs === 3 ? 'set zero = 3, or offload = optimizer' : "set zero = 2 (ZeRO-Offload as DeepSpeed's tutorial runs it)",
            related: zeroRelated,
          },
        ),
      );
      ok = false;
    }
    // The host model counts the whole model's states (src/memory/offload.ts); an adapter's few
    // states on the host are not modelled, so say so rather than count the base's.
    if (fields.has('adapter')) {
      out.push(
        diag(
          'PP2014',
          spanOf(ctx, 'offload'),
          { key: 'offload', other: 'adapter' },
          {
            help: "offloading an adapter's optimizer states is not modelled (they are small: the frozen base has none); remove offload",
            related: [{ span: spanOf(ctx, 'adapter'), message: 'adapter' }],
          },
        ),
      );
      ok = false;
    }
  }
  if (!ok) return undefined;
  return fields.has('shard_group') && shardGroup < data ? { shardGroup, reshardAfterForward, offload } : { reshardAfterForward, offload };
}
