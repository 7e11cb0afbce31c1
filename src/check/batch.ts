/**
 * The batch policy: training batch arithmetic (global = micro × data × microbatches)
 * and sequence lengths against the model's context.
 */
import { diag } from '../diagnostics/diagnostic.js';
import type { ServeBatch, TrainBatch } from '../plan.js';
import { spanOf, type PlanContext } from './context.js';

function checkSeq(ctx: PlanContext, seq: number): boolean {
  if (seq <= ctx.model.maxSeq) return true;
  ctx.out.push(
    diag(
      'PP3015',
      spanOf(ctx, 'batch.seq'),
      { seq, maxSeq: ctx.model.maxSeq },
      {
        help: `seq = ${ctx.model.maxSeq} or less`,
        related: [{ span: ctx.model.span, message: `model '${ctx.model.name}' declared here` }],
      },
    ),
  );
  return false;
}

export function checkServeBatch(ctx: PlanContext): ServeBatch | undefined {
  const b = ctx.batch;
  if (!b) return undefined;
  const maxBatch = b.value<number>('max_batch');
  const seq = b.value<number>('seq');
  if (maxBatch === undefined || seq === undefined) return undefined;
  if (!checkSeq(ctx, seq)) return undefined;
  return {
    maxBatch,
    seq,
    maxWaitMs: b.valueOrDefault<number>('max_wait'),
    queue: b.valueOrDefault<number>('queue'),
    maxPrefillTokens: b.value<number>('max_prefill_tokens') ?? seq,
  };
}

export interface TrainBatchFacts {
  batch: TrainBatch;
  microbatches: number;
}

export function checkTrainBatch(ctx: PlanContext): TrainBatchFacts | undefined {
  const b = ctx.batch;
  if (!b) return undefined;
  const global = b.value<number>('global');
  const seq = b.value<number>('seq');
  if (global === undefined || seq === undefined) return undefined;
  const micro = b.valueOrDefault<number>('micro');
  const data = ctx.mesh.data;
  let ok = checkSeq(ctx, seq);
  const per = micro * data;
  if (global % per !== 0) {
    const lo = Math.floor(global / per) * per;
    const hi = lo + per;
    const options = [lo, hi].filter((g) => g > 0).map((g) => `global = ${g}`);
    ctx.out.push(
      diag(
        'PP3011',
        spanOf(ctx, 'batch.global'),
        { global, micro, data, product: per },
        {
          help: `${options.join(' or ')} (a multiple of ${per})`,
          related: b.has('micro') ? [{ span: spanOf(ctx, 'batch.micro'), message: `micro = ${micro}` }] : [],
        },
      ),
    );
    return undefined;
  }
  const derived = global / per;
  const given = ctx.fields.get<number>('microbatches');
  if (given && given.value !== derived) {
    ctx.out.push(
      diag(
        'PP3012',
        given.span,
        { microbatches: given.value, derived },
        {
          help: `microbatches = ${derived} (= ${global} / (${micro} × ${data})), or remove it: it is derived`,
        },
      ),
    );
    ok = false;
  }
  return ok ? { batch: { global, micro, seq }, microbatches: derived } : undefined;
}
