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
    maxPrefillTokens: b.value<number>('max_prefill_tokens') ?? defaultPrefillTokens(ctx, maxBatch, seq),
  };
}

const GiB = 2 ** 30;

/**
 * The default prefill budget per step (max_prefill_tokens), as vLLM's OpenAI-compatible server
 * chooses max_num_batched_tokens with chunked prefill on (its default for generative models):
 * vllm-project/vllm vllm/engine/arg_utils.py @99d7eb5d, EngineArgs.get_batch_defaults and
 * _set_default_max_num_seqs_and_batched_tokens_args: 8192 on GPUs of at least 70 GiB that are
 * not A100s (H100, H200, MI300X: "use larger default values"), else 2048 (the A100 is left
 * out: larger budgets lowered its throughput, vLLM PR #17885); then at most max_num_seqs ×
 * max_model_len (max_batch × seq), and at least max_batch (vLLM requires
 * max_num_batched_tokens ≥ max_num_seqs). engine = webgpu prefills each prompt whole: seq.
 */
export function defaultPrefillTokens(ctx: PlanContext, maxBatch: number, seq: number): number {
  if (ctx.fields.valueOrDefault<string>('engine') === 'webgpu') return seq;
  return vllmPrefillTokens(ctx.cluster.gpu, maxBatch, seq);
}

/** vLLM's default max_num_batched_tokens on `gpu` (see defaultPrefillTokens). */
export function vllmPrefillTokens(gpu: { id: string; name: string; memoryBytes: number }, maxBatch: number, seq: number): number {
  const large = gpu.memoryBytes >= 70 * GiB && !/a100/i.test(`${gpu.id} ${gpu.name}`);
  return Math.max(maxBatch, Math.min(maxBatch * seq, large ? 8192 : 2048));
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
