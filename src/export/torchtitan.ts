/**
 * torchtitan: the job config (TOML, the config system before torchtitan's PR #2386) and a
 * torchrun command per node; a hand-written schedule becomes a schedule CSV. Mapping and its
 * reasons: docs/export.md.
 */
import { uniformLayer } from '../model.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { formatAction } from '../schedules/types.js';
import { meshText, partialNodeWhy, placement } from './cluster.js';
import { Findings } from './findings.js';
import { citations } from './options/source.js';
import { TORCHRUN_ARGS } from './options/torchrun.js';
import { TORCHTITAN_SOURCES, type TorchtitanKey } from './options/torchtitan.js';
import { comment } from './shell.js';
import { torchrunPerNode } from './torchrun.js';
import type { ExportFile, ExportOptions, ExportResult } from './types.js';

type Value = string | number | boolean | readonly string[];
type Config = [TorchtitanKey, Value][];

export function exportTorchtitan(plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  const f = new Findings(plan, 'torchtitan');
  if (plan.mode !== 'train') {
    f.wrongMode('train', 'export a serve plan with --to vllm, or pick a training plan with --plan NAME');
    return { files: [], diagnostics: f.list };
  }
  const at = placement(plan);
  if (at === undefined)
    f.notExpressible('data', `data = ${plan.mesh.data}`, partialNodeWhy(plan), 'use every GPU of the nodes the plan runs on');
  const csv = `${plan.name}.schedule.csv`;
  const config: Config = [
    ['job.description', `parplan plan ${plan.name}`],
    ...modelConfig(plan, f, opts),
    ...trainingConfig(plan, f),
    ...dataParallelConfig(plan, f),
    ...modelParallelConfig(plan, f, csv),
    ...recomputeConfig(plan, f),
  ];
  if (f.failed || at === undefined) return { files: [], diagnostics: f.list };
  const toml = `${plan.name}.torchtitan.toml`;
  const files: ExportFile[] = [
    { name: toml, text: `${header(plan)}\n${renderToml(config)}` },
    {
      name: `${plan.name}.torchtitan.sh`,
      text: ['#!/bin/sh', header(plan), '', torchrunPerNode(plan.name, at, `-m torchtitan.train --job.config_file ${toml}`)].join('\n'),
    },
  ];
  if (plan.schedule === 'table' && plan.actions)
    files.push({ name: csv, text: plan.actions.map((rank) => rank.map(formatAction).join(',')).join('\n') + '\n' });
  return { files, diagnostics: f.list };
}

function modelConfig(plan: TrainPlan, f: Findings, opts: ExportOptions): Config {
  if (plan.model.arch !== 'llama') {
    f.notExpressible(
      'model',
      `arch = ${plan.model.arch}`,
      'its model registry has Llama-family models, not GPT-2',
      'export --to megatron or deepspeed, which build GPT-2-style models',
      plan.model.span,
    );
    return [];
  }
  const m = plan.model;
  let flavor = opts.model;
  if (flavor === undefined) {
    flavor = `<fill in: a llama3 flavor with ${m.layers} layers, dim ${m.hidden}, ${uniformLayer(m, 'the torchtitan export').attention.heads} heads, ${uniformLayer(m).attention.kvHeads} KV heads>`;
    f.placeholder(
      `the torchtitan flavor of '${m.name}'`,
      'model.flavor',
      'pick the flavor with these dimensions (torchtitan/models/llama3), or export with --model FLAVOR',
    );
  }
  return [
    ['model.name', 'llama3'],
    ['model.flavor', flavor],
  ];
}

/** Batch and precision. torchtitan splits the local batch into pipeline microbatches, and otherwise accumulates gradients. */
function trainingConfig(plan: TrainPlan, f: Findings): Config {
  const b = plan.batch;
  const local = plan.mesh.pipeline > 1 ? b.global / plan.mesh.data : b.micro;
  const config: Config = [
    ['training.local_batch_size', local],
    ['training.global_batch_size', b.global],
    ['training.seq_len', b.seq],
  ];
  if (plan.precision === 'fp16') {
    f.notExpressible('precision', 'precision = fp16', 'its mixed_precision_param is bfloat16 or float32', 'use precision = bf16 (or fp32)');
  } else {
    config.push(['training.mixed_precision_param', plan.precision === 'bf16' ? 'bfloat16' : 'float32']);
  }
  // Gradients are reduced and kept in fp32 (mixed_precision_reduce has no other value): more memory than a 16-bit grad_dtype.
  if (plan.gradDtype !== 'fp32') {
    f.notExpressible(
      'grad_dtype',
      `grad_dtype = ${plan.gradDtype}`,
      'it keeps gradients in fp32 (mixed_precision_reduce = float32), which needs more memory than the plan was checked for',
      'set grad_dtype = fp32 and check the plan again, or export --to megatron or deepspeed',
    );
  }
  config.push(['training.mixed_precision_reduce', 'float32']);
  if (plan.optimizer === 'sgd')
    f.notExpressible('optimizer', 'optimizer = sgd', 'its optimizer.name takes Adam or AdamW', 'use optimizer = adamw');
  else config.push(['optimizer.name', plan.optimizer === 'adamw' ? 'AdamW' : 'Adam']);
  return config;
}

/**
 * ZeRO over data replicas as FSDP: 0 replicates (DDP); 2 shards with reshard_after_forward =
 * never (weights stay gathered from forward to backward); 3 shards with always. ZeRO-1 has no
 * FSDP equivalent and runs as ZeRO-2, which needs less memory.
 */
function dataParallelConfig(plan: TrainPlan, f: Findings): Config {
  const data = plan.mesh.data;
  if (plan.zero === 0 || data === 1) {
    return [
      ['parallelism.data_parallel_replicate_degree', data],
      ['parallelism.data_parallel_shard_degree', 1],
    ];
  }
  if (plan.zero === 1)
    f.approximated(
      'zero',
      'zero = 1',
      'FSDP has no stage that shards only optimizer states; it runs as zero = 2 (gradients sharded too), which needs less memory',
      'use zero = 2',
    );
  return [
    ['parallelism.data_parallel_replicate_degree', 1],
    ['parallelism.data_parallel_shard_degree', data],
    ['parallelism.fsdp_reshard_after_forward', plan.zero === 3 ? 'always' : 'never'],
  ];
}

function modelParallelConfig(plan: TrainPlan, f: Findings, csv: string): Config {
  const { tensor, pipeline } = plan.mesh;
  const config: Config = [['parallelism.tensor_parallel_degree', tensor]];
  if (tensor > 1 && !plan.sequenceParallel) {
    f.approximated(
      'sequence_parallel',
      'sequence_parallel = false',
      'its tensor parallelism always shards norm and dropout activations over the tensor group, which needs less memory',
      'set sequence_parallel = true',
    );
  }
  if (f.given('attention') && plan.attention === 'standard') {
    f.approximated(
      'attention',
      'attention = standard',
      'it uses scaled_dot_product_attention, which never holds the s × s score matrix',
      'remove attention = standard',
    );
  }
  config.push(['parallelism.pipeline_parallel_degree', pipeline]);
  if (pipeline === 1) return config;
  config.push(['parallelism.pipeline_parallel_microbatch_size', plan.batch.micro]);
  switch (plan.schedule) {
    case 'gpipe':
    case '1f1b':
      config.push(
        ['parallelism.pipeline_parallel_schedule', plan.schedule === 'gpipe' ? 'GPipe' : '1F1B'],
        // Each split point is the first layer of a stage after the first.
        ['parallelism.pipeline_parallel_split_points', plan.stages.slice(1).map((s) => `layers.${s.firstLayer}`)],
      );
      break;
    case 'interleaved':
      config.push(
        ['parallelism.pipeline_parallel_schedule', 'Interleaved1F1B'],
        ['parallelism.pipeline_parallel_layers_per_stage', plan.model.layers / (pipeline * plan.virtual)],
      );
      break;
    case 'table':
      config.push(
        ['parallelism.pipeline_parallel_schedule', plan.virtual > 1 ? 'PipelineScheduleMulti' : 'PipelineScheduleSingle'],
        ['parallelism.pipeline_parallel_schedule_csv', csv],
        ['parallelism.pipeline_parallel_layers_per_stage', plan.model.layers / (pipeline * plan.virtual)],
      );
      break;
  }
  return config;
}

function recomputeConfig(plan: TrainPlan, f: Findings): Config {
  if (plan.recompute !== 'selective') return [['activation_checkpoint.mode', plan.recompute]];
  f.approximated(
    'recompute',
    'recompute = selective',
    "its selective mode is per-op (it saves some matmul outputs and recomputes the rest), not Megatron's attention-only recompute; activation memory differs from the plan's estimate",
    'use recompute = full for a bound that holds, or keep selective and measure',
  );
  return [
    ['activation_checkpoint.mode', 'selective'],
    ['activation_checkpoint.selective_ac_option', 'op'],
  ];
}

/** `section.field` keys as `[section]` tables, in first-seen order. */
function renderToml(config: Config): string {
  const sections = new Map<string, string[]>();
  for (const [key, value] of config) {
    const [section, field] = key.split('.') as [string, string];
    const lines = sections.get(section) ?? [];
    lines.push(`${field} = ${tomlValue(value)}`);
    sections.set(section, lines);
  }
  return [...sections].map(([s, lines]) => `[${s}]\n${lines.join('\n')}\n`).join('\n');
}

function tomlValue(v: Value): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `[${v.map((s) => JSON.stringify(s)).join(', ')}]`;
}

function header(plan: TrainPlan): string {
  return comment(
    [
      `torchtitan job for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      `${meshText(plan)}.`,
      'Option names as in:',
      ...citations([...TORCHTITAN_SOURCES, TORCHRUN_ARGS]).map((c) => `  ${c}`),
    ].join('\n'),
  );
}
