/**
 * Megatron-LM: the `pretrain_gpt.py` argument list (model shape, parallel sizes, batch,
 * recompute, precision, optimizer sharding) and a torchrun command per node. Mapping and its
 * reasons: docs/export.md.
 */
import { uniformLayer } from '../model.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { meshText, partialNodeWhy, placement, stageSizes } from './cluster.js';
import { Findings } from './findings.js';
import { MEGATRON_SOURCES, type MegatronFlag } from './options/megatron.js';
import { TORCHRUN_ARGS } from './options/torchrun.js';
import { citations } from './options/source.js';
import { comment, required, word, type Arg } from './shell.js';
import { torchrunPerNode } from './torchrun.js';
import type { ExportOptions, ExportResult } from './types.js';

type Args = Arg<MegatronFlag>[];

export function exportMegatron(plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  const f = new Findings(plan, 'megatron');
  if (plan.mode !== 'train') {
    f.wrongMode('train', 'export a serve plan with --to vllm, or pick a training plan with --plan NAME');
    return { files: [], diagnostics: f.list };
  }
  const at = placement(plan);
  if (at === undefined)
    f.notExpressible('data', `data = ${plan.mesh.data}`, partialNodeWhy(plan), 'use every GPU of the nodes the plan runs on');
  const tokenizer = opts.model === undefined ? tokenizerPlaceholder(plan, f) : word(opts.model);
  const args: Args = [
    ...modelArgs(plan),
    ...parallelArgs(plan, f),
    ...batchArgs(plan),
    ...recomputeArgs(plan),
    ...precisionArgs(plan, f),
    ...optimizerArgs(plan, f),
  ];
  args.push(
    ['--tokenizer-type', 'HuggingFaceTokenizer'],
    ['--tokenizer-model', tokenizer],
    ['--data-path', required('DATA_PATH', 'set DATA_PATH to the prefix of the preprocessed training data')],
  );
  if (f.failed || at === undefined) return { files: [], diagnostics: f.list };
  const fsdp = plan.zero >= 2;
  const lines = [
    '#!/usr/bin/env bash',
    header(plan),
    '',
    // Megatron asserts this with tensor parallelism (before Blackwell), and asserts the opposite with Megatron-FSDP.
    ...(plan.mesh.tensor > 1 && !fsdp ? ['export CUDA_DEVICE_MAX_CONNECTIONS=1', ''] : []),
    'ARGS=(',
    ...args.map(([flag, value]) => `  ${flag}${value === undefined ? '' : ` ${value}`}`),
    ')',
    '',
    torchrunPerNode(plan.name, at, 'pretrain_gpt.py "${ARGS[@]}"'),
  ];
  return { files: [{ name: `${plan.name}.megatron.sh`, text: lines.join('\n') }], diagnostics: f.list };
}

function tokenizerPlaceholder(plan: TrainPlan, f: Findings): string {
  f.placeholder(
    `the Hugging Face tokenizer of '${plan.model.name}'`,
    '$TOKENIZER',
    'set TOKENIZER when running the script, or export with --model ID (a Hugging Face id or local path)',
  );
  return required('TOKENIZER', `set TOKENIZER to the Hugging Face id or local path of ${plan.model.name}'s tokenizer`);
}

/** The model's shape, so that Megatron builds the network the plan sized. */
function modelArgs(plan: TrainPlan): Args {
  const m = plan.model;
  // Megatron's arguments describe one layer for all.
  const { attention: a, mlp } = uniformLayer(m, 'the Megatron export');
  const args: Args = [
    ['--num-layers', String(m.layers)],
    ['--hidden-size', String(m.hidden)],
    ['--ffn-hidden-size', String(mlp.ffn)],
    ['--num-attention-heads', String(a.heads)],
  ];
  if (a.kvHeads !== a.heads) args.push(['--group-query-attention'], ['--num-query-groups', String(a.kvHeads)]);
  if (a.headDim * a.heads !== m.hidden) args.push(['--kv-channels', String(a.headDim)]);
  args.push(
    ['--max-position-embeddings', String(m.maxSeq)],
    ['--position-embedding-type', m.positions === 'rope' ? 'rope' : 'learned_absolute'],
    ['--normalization', m.norm === 'rmsnorm' ? 'RMSNorm' : 'LayerNorm'],
  );
  if (mlp.activation === 'swiglu') args.push(['--swiglu']);
  if (!m.bias) args.push(['--disable-bias-linear']);
  if (!m.tiedEmbeddings) args.push(['--untie-embeddings-and-output-weights']);
  // parplan pads the vocabulary to a multiple of tensor; Megatron to 128 × tensor unless told otherwise.
  args.push(['--make-vocab-size-divisible-by', '1'], ['--attention-backend', plan.attention === 'flash' ? 'flash' : 'unfused']);
  return args;
}

function parallelArgs(plan: TrainPlan, f: Findings): Args {
  const { tensor, pipeline } = plan.mesh;
  const args: Args = [
    ['--tensor-model-parallel-size', String(tensor)],
    ['--pipeline-model-parallel-size', String(pipeline)],
  ];
  if (plan.sequenceParallel && tensor > 1) args.push(['--sequence-parallel']);
  args.push(...scheduleArgs(plan, f), ...zeroArgs(plan));
  return args;
}

function scheduleArgs(plan: TrainPlan, f: Findings): Args {
  if (plan.mesh.pipeline === 1) return [];
  switch (plan.schedule) {
    case 'interleaved':
      return [['--num-virtual-stages-per-pipeline-rank', String(plan.virtual)]];
    case 'table':
      f.notExpressible(
        'actions',
        'a hand-written actions table',
        'its pipeline schedules are 1F1B and interleaved 1F1B, chosen by flags',
        'use schedule = 1f1b or interleaved, or export --to torchtitan (which takes a schedule CSV)',
      );
      return [];
    case 'gpipe':
      f.approximated(
        'schedule',
        'schedule = gpipe',
        'it has no GPipe schedule; it runs 1F1B, which keeps fewer microbatches of activations in flight',
        'use schedule = 1f1b',
      );
      return layoutArgs(plan);
    case '1f1b':
      return layoutArgs(plan);
  }
}

/** Uneven stages as a layout string: `E` embedding, `t` a layer, `L` the loss, `|` between stages. */
function layoutArgs(plan: TrainPlan): Args {
  const { sizes, even } = stageSizes(plan);
  if (even) return [];
  const stages = sizes.map((n, i) => `${i === 0 ? 'E' : ''}t*${n}${i === sizes.length - 1 ? 'L' : ''}`);
  return [['--pipeline-model-parallel-layout', `'${stages.join('|')}'`]];
}

/** ZeRO-1 is the distributed optimizer; ZeRO-2/3 are Megatron-FSDP's sharding strategies. */
function zeroArgs(plan: TrainPlan): Args {
  switch (plan.zero) {
    case 0:
      return [];
    case 1:
      return [['--use-distributed-optimizer']];
    case 2:
    case 3:
      return [
        ['--use-megatron-fsdp'],
        ['--data-parallel-sharding-strategy', plan.zero === 2 ? 'optim_grads' : 'optim_grads_params'],
        // Megatron asserts this checkpoint format with Megatron-FSDP.
        ['--ckpt-format', 'fsdp_dtensor'],
      ];
  }
}

function batchArgs(plan: TrainPlan): Args {
  return [
    ['--micro-batch-size', String(plan.batch.micro)],
    ['--global-batch-size', String(plan.batch.global)],
    ['--seq-length', String(plan.batch.seq)],
  ];
}

function recomputeArgs(plan: TrainPlan): Args {
  switch (plan.recompute) {
    case 'none':
      return [];
    case 'selective':
      return [['--recompute-granularity', 'selective']];
    case 'full':
      return [
        ['--recompute-granularity', 'full'],
        ['--recompute-method', 'uniform'],
        ['--recompute-num-layers', '1'],
      ];
  }
}

/** Gradients are kept in the training dtype or in fp32; Megatron has no third choice. */
function precisionArgs(plan: TrainPlan, f: Findings): Args {
  const p = plan.precision;
  const g = plan.gradDtype;
  const args: Args = p === 'bf16' ? [['--bf16']] : p === 'fp16' ? [['--fp16']] : [];
  if (g === 'fp32' && p !== 'fp32') args.push(['--accumulate-allreduce-grads-in-fp32']);
  else if (g === 'bf16' && p === 'bf16') args.push(['--grad-reduce-in-bf16']);
  else if (g !== p) {
    f.notExpressible(
      'grad_dtype',
      `grad_dtype = ${g}`,
      `with precision = ${p} its gradients are ${p === 'fp32' ? 'fp32' : `${p} or fp32`}`,
      `set grad_dtype = fp32${p === 'fp32' ? '' : ` or ${p}`}`,
    );
  }
  return args;
}

function optimizerArgs(plan: TrainPlan, f: Findings): Args {
  if (plan.optimizer === 'sgd') return [['--optimizer', 'sgd']];
  if (plan.optimizer === 'adam' && f.given('optimizer')) {
    f.approximated(
      'optimizer',
      'optimizer = adam',
      'its adam applies weight decay decoupled from the gradient (AdamW); the states are the same size',
      'use optimizer = adamw',
    );
  }
  return [['--optimizer', 'adam']];
}

function header(plan: TrainPlan): string {
  return comment(
    [
      `Megatron-LM launch for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      `${meshText(plan)}; run from a Megatron-LM checkout.`,
      'Option names as in:',
      ...citations([...MEGATRON_SOURCES, TORCHRUN_ARGS]).map((c) => `  ${c}`),
    ].join('\n'),
  );
}
