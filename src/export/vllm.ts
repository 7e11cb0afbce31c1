/**
 * vLLM: one `vllm serve` command per data-parallel replica (each a tensor × pipeline group),
 * pinned to its GPUs with CUDA_VISIBLE_DEVICES and given its own port. Mapping and its
 * reasons: docs/export.md.
 */
import type { Dtype } from '../facts/dtypes.js';
import type { CheckedPlan, ServePlan } from '../plan.js';
import { Findings } from './findings.js';
import { locate, meshText, stageSizes } from './cluster.js';
import { citations } from './options/source.js';
import { VLLM_SOURCES, type VllmCacheDtype, type VllmFlag, type VllmModelDtype } from './options/vllm.js';
import { command, comment, required, word, type Arg } from './shell.js';
import type { ExportOptions, ExportResult } from './types.js';

const FIRST_PORT = 8000;

const MODEL_DTYPE: Partial<Record<Dtype, VllmModelDtype>> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };
const CACHE_DTYPE: Partial<Record<Dtype, VllmCacheDtype>> = {
  fp16: 'float16',
  bf16: 'bfloat16',
  fp8: 'fp8',
  int8: 'int8_per_token_head',
  int4: 'int4_per_token_head',
};

export function exportVllm(plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  const f = new Findings(plan, 'vllm');
  if (plan.mode !== 'serve') {
    f.wrongMode('serve', 'export a training plan with --to torchtitan, megatron or deepspeed, or pick a serve plan with --plan NAME');
    return { files: [], diagnostics: f.list };
  }
  const model = opts.model === undefined ? modelPlaceholder(plan, f) : word(opts.model);
  const args = engineArgs(plan, f);
  const env = stageEnv(plan);
  unexpressed(plan, f);
  if (f.failed) return { files: [], diagnostics: f.list };
  return { files: [{ name: `${plan.name}.vllm.sh`, text: script(plan, model, args, env) }], diagnostics: f.list };
}

function modelPlaceholder(plan: ServePlan, f: Findings): string {
  f.placeholder(
    `the Hugging Face model of '${plan.model.name}'`,
    '$MODEL',
    "set MODEL when running the script, or export with --model ID (a Hugging Face id such as 'org/name', or a local path)",
  );
  return required('MODEL', `set MODEL to the Hugging Face id or local path of ${plan.model.name}`);
}

/** The flags every replica shares. */
function engineArgs(plan: ServePlan, f: Findings): Arg<VllmFlag>[] {
  const b = plan.batch;
  const args: Arg<VllmFlag>[] = [
    ['--tensor-parallel-size', String(plan.mesh.tensor)],
    ['--pipeline-parallel-size', String(plan.mesh.pipeline)],
    ['--max-model-len', String(b.seq)],
    ['--max-num-seqs', String(b.maxBatch)],
    ['--max-num-batched-tokens', String(b.maxPrefillTokens)],
  ];
  if (b.maxPrefillTokens < b.maxBatch) {
    f.notExpressible(
      'batch.max_prefill_tokens',
      `max_prefill_tokens = ${b.maxPrefillTokens}`,
      `--max-num-batched-tokens must be at least --max-num-seqs (max_batch = ${b.maxBatch})`,
      `set max_prefill_tokens = ${b.maxBatch} or more`,
    );
  }
  // A prefill budget below the context length only works when prompts are prefilled in chunks.
  if (b.maxPrefillTokens < b.seq) args.push(['--enable-chunked-prefill']);
  args.push(['--dtype', modelDtype(plan, f)]);
  const kv = cacheDtype(plan, f);
  if (kv !== undefined) args.push(['--kv-cache-dtype', kv]);
  args.push(['--gpu-memory-utilization', String(Number((1 - plan.reserve).toFixed(4)))]);
  return args;
}

function modelDtype(plan: ServePlan, f: Findings): VllmModelDtype {
  const d = plan.model.dtype;
  const name = MODEL_DTYPE[d];
  if (name !== undefined) return name;
  f.approximated(
    'dtype',
    `dtype = ${d}`,
    `--dtype takes float formats only; with --dtype auto vLLM reads a quantized checkpoint's format from its config`,
    `serve a checkpoint quantized to ${d} (its quantization config sets the format)`,
    plan.model.span,
  );
  return 'auto';
}

function cacheDtype(plan: ServePlan, f: Findings): VllmCacheDtype | undefined {
  const kv = plan.kvDtype;
  // `auto` is the model's compute dtype, which only a float model has.
  if (kv === plan.model.dtype && MODEL_DTYPE[kv] !== undefined) return 'auto';
  const name = CACHE_DTYPE[kv];
  if (name !== undefined) return name;
  f.notExpressible(
    'kv_dtype',
    `kv_dtype = ${kv}`,
    `--kv-cache-dtype has no ${kv} value (its choices: auto, float16, bfloat16, fp8, …)`,
    'set kv_dtype to the model dtype, bf16, fp16 or fp8',
  );
  return undefined;
}

/** Uneven stages: vLLM splits layers evenly unless VLLM_PP_LAYER_PARTITION lists the layers per stage. */
function stageEnv(plan: ServePlan): string | undefined {
  const { sizes, even } = stageSizes(plan);
  return plan.mesh.pipeline > 1 && !even ? `VLLM_PP_LAYER_PARTITION=${sizes.join(',')}` : undefined;
}

/** Knobs the user wrote that vLLM has no setting for: warnings, since vLLM then needs no more memory. */
function unexpressed(plan: ServePlan, f: Findings): void {
  if (f.given('batch.max_wait')) {
    f.approximated(
      'batch.max_wait',
      `max_wait = ${plan.batch.maxWaitMs} ms`,
      'continuous batching admits requests at every step and never waits for a batch to fill',
      "remove max_wait, or keep it for parplan's own runtime",
    );
  }
  if (f.given('batch.queue')) {
    f.approximated(
      'batch.queue',
      `queue = ${plan.batch.queue}`,
      'it queues every request it receives, with no bound',
      'bound the queue in front of vLLM (a proxy or the client), or remove queue',
    );
  }
  if (plan.engine === 'webgpu') {
    f.approximated(
      'engine',
      'engine = webgpu',
      "the plan was sized for parplan's WebGPU runtime, and vLLM is a CUDA engine",
      'check the plan with engine = generic before serving it with vLLM',
    );
  }
  if (f.given('attention') && plan.attention === 'standard') {
    f.approximated(
      'attention',
      'attention = standard',
      'vLLM chooses its own attention kernels, which never hold the s × s score matrix',
      'remove attention = standard',
    );
  }
}

/** One command per replica: replica r holds ranks [r·g, (r+1)·g) with g = tensor × pipeline. */
function script(plan: ServePlan, model: string, args: readonly Arg<VllmFlag>[], env: string | undefined): string {
  const g = plan.mesh.tensor * plan.mesh.pipeline;
  const out = ['#!/bin/sh', header(plan), ''];
  const portOnNode = new Map<number, number>();
  for (let r = 0; r < plan.mesh.data; r++) {
    const first = locate(plan, r * g);
    const last = locate(plan, (r + 1) * g - 1);
    const port = FIRST_PORT + (portOnNode.get(first.node) ?? 0);
    portOnNode.set(first.node, port - FIRST_PORT + 1);
    const replicaArgs: Arg<VllmFlag>[] = [['--port', String(port)], ...args];
    let prefix: string;
    if (first.node === last.node) {
      const gpus = Array.from({ length: g }, (_, i) => first.gpu + i).join(',');
      out.push(comment(`replica ${r}: node ${first.node}, GPUs ${gpus}`));
      prefix = `CUDA_VISIBLE_DEVICES=${gpus}${env ? ` ${env}` : ''} vllm serve ${model}`;
    } else {
      // A replica larger than a node runs on a Ray cluster spanning its nodes.
      out.push(
        comment(
          `replica ${r}: nodes ${first.node}-${last.node}, all their GPUs; start a Ray cluster over these nodes first, then run this on node ${first.node}`,
        ),
      );
      replicaArgs.push(['--distributed-executor-backend', 'ray']);
      prefix = `${env ? `${env} ` : ''}vllm serve ${model}`;
    }
    out.push(command(prefix, replicaArgs, plan.mesh.data > 1 ? ' &' : ''));
  }
  if (plan.mesh.data > 1) out.push('wait\n');
  return out.join('\n');
}

function header(plan: ServePlan): string {
  return comment(
    [
      `vLLM launch for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      `${meshText(plan)}: one vllm serve per replica${plan.mesh.data > 1 ? ', each on its own port (a load balancer goes in front)' : ''}.`,
      'Option names as in:',
      ...citations(VLLM_SOURCES).map((c) => `  ${c}`),
    ].join('\n'),
  );
}
