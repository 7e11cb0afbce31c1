/**
 * DeepSpeed: the JSON config (batch triple, ZeRO stage, precision, gradient dtype, optimizer,
 * AutoTP size) and the `deepspeed` launch with a hostfile. Pipeline stages and activation
 * checkpointing live in the training script, not the config: warnings say so. Mapping and
 * its reasons: docs/export.md.
 */
import { shardOver } from '../memory/zero.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { DEEPSPEED_OFFLOAD } from '../memory/offload.js';
import { meshText, stageSizes, type Placement } from './cluster.js';
import { Findings } from './findings.js';
import {
  DEEPSPEED_MOE,
  DEEPSPEED_SOURCES,
  DEEPSPEED_ZERO_OFFLOAD,
  DEEPSPEED_TORCH_AUTOCAST,
  type DeepSpeedKey,
  type DeepSpeedLauncherFlag,
} from './options/deepspeed.js';
import { layerRuns, type MoeMlp } from '../model.js';
import { versionLine } from './options/versions.js';
import { citations, usedSources } from './options/source.js';
import { beside, command, comment, HERE, required, script, type Arg } from './shell.js';
import type { ExportFile, ExportResult } from './types.js';

type Config = [DeepSpeedKey, string | number | boolean][];

export function exportDeepSpeed(plan: CheckedPlan): ExportResult {
  const f = new Findings(plan, 'deepspeed');
  if (plan.mode !== 'train') return f.notTraining();
  const at = f.trainingStart(() =>
    // ds_config has no LoRA section (deepspeed.linear.LoRAConfig is a Python API for its own
    // OptimizedLinear, at edaa7221): the adapters come from the training script, and the config's
    // ZeRO stage, batch and precision then apply to the adapted model as planned.
    f.approximated(
      'adapter',
      f.adapterKnob(),
      'the config has no LoRA section: the training script makes the adapters (Hugging Face PEFT) before deepspeed.initialize',
      `in the training script: model = get_peft_model(model, ${f.peftConfig()}); deepspeed.initialize then shards and steps only the adapters`,
    ),
  );
  const config: Config = [
    ['train_batch_size', plan.batch.global],
    ['train_micro_batch_size_per_gpu', plan.batch.micro],
    ['gradient_accumulation_steps', plan.microbatches],
    ['zero_optimization.stage', plan.zero],
    ...shardingConfig(plan, f),
    ...precisionConfig(plan),
    ['optimizer.type', plan.optimizer === 'adamw' ? 'AdamW' : plan.optimizer === 'adam' ? 'Adam' : 'SGD'],
    ...tensorConfig(plan, f),
  ];
  accumulationCheck(plan, f);
  mpuNote(plan, f);
  pipelineChecks(plan, f);
  contextCheck(plan, f);
  recomputeCheck(plan, f);
  fp8Unsupported(plan, f);
  const moe = expertCheck(plan, f);
  if (f.failed || at === undefined) return { files: [], diagnostics: f.list };
  const json = `${plan.name}.deepspeed.json`;
  const files: ExportFile[] = [{ name: json, text: JSON.stringify(nest(config), null, 2) + '\n' }];
  if (at.nodes > 1) files.push({ name: `${plan.name}.hostfile`, text: hostfile(at) });
  files.push({
    name: `${plan.name}.deepspeed.sh`,
    text: launch(
      plan,
      at,
      json,
      moe,
      config.map(([k]) => k),
    ),
  });
  return { files, diagnostics: f.list };
}

/**
 * Without ZeRO, DeepSpeed accumulates gradients in the weights' dtype only: another
 * grad_accum_dtype raises NotImplementedError ("unsupported mix of model_dtype and
 * grad_accum_dtype", DeepSpeedEngine._configure_basic_optimizer's dtype checks in
 * deepspeed/runtime/engine.py at v0.19.5). ZeRO-1 and above take fp32 accumulation of 16-bit weights.
 */
function accumulationCheck(plan: TrainPlan, f: Findings): void {
  // With precision = amp_* the weights are fp32 (bf16 and fp16 off), which accumulates in fp32.
  if (plan.zero !== 0 || plan.amp || plan.gradDtype === plan.precision) return;
  f.notExpressible(
    'grad_dtype',
    `grad_dtype = ${plan.gradDtype} with zero = 0`,
    `without ZeRO it accumulates gradients in the ${plan.precision} of the weights (data_types.grad_accum_dtype = ${plan.gradDtype} raises NotImplementedError at start-up)`,
    `set zero = 1 or more, or grad_dtype = ${plan.precision} and check the plan again`,
    f.given('grad_dtype') ? undefined : f.span('zero'),
  );
}

/**
 * ZeRO-Offload: offload_optimizer / offload_param to the CPU (pinned), with the buckets parplan's
 * memory model counts on the GPU (src/memory/offload.ts: contiguous gradients, overlap_comm's two
 * reduce buckets, DeepSpeed's default sizes, written out so the run matches the check).
 * HSDP: MiCS (mics_shard_size, ZeRO-3 only). reshard_after_forward = false has no DeepSpeed knob.
 */
function shardingConfig(plan: TrainPlan, f: Findings): Config {
  const out: Config = [];
  if (shardOver(plan) < plan.mesh.data) {
    if (plan.zero === 3) out.push(['zero_optimization.mics_shard_size', shardOver(plan)]);
    else
      f.notExpressible(
        'shard_group',
        `shard_group = ${shardOver(plan)} with zero = ${plan.zero}`,
        'its ZeRO-1/2 partition over the whole data-parallel group; sharding within groups (MiCS, mics_shard_size) is ZeRO-3 only',
        'use zero = 3, or remove shard_group, or export --to torchtitan',
      );
  }
  if (plan.zero === 3 && !plan.reshardAfterForward)
    f.notExpressible(
      'reshard_after_forward',
      'reshard_after_forward = false',
      'ZeRO-3 releases gathered parameters after each module (stage3_max_live_parameters and stage3_max_reuse_distance bound what stays, not per pass)',
      'remove reshard_after_forward (true), or export --to torchtitan (fsdp_reshard_after_forward = "never")',
    );
  if (plan.offload === 'none') return out;
  out.push(['zero_optimization.offload_optimizer.device', 'cpu'], ['zero_optimization.offload_optimizer.pin_memory', true]);
  if (plan.offload === 'optimizer_params')
    out.push(
      ['zero_optimization.offload_param.device', 'cpu'],
      ['zero_optimization.offload_param.pin_memory', true],
      ['zero_optimization.stage3_prefetch_bucket_size', DEEPSPEED_OFFLOAD.prefetchBucket],
      ['zero_optimization.stage3_param_persistence_threshold', DEEPSPEED_OFFLOAD.persistenceThreshold],
    );
  out.push(
    ['zero_optimization.contiguous_gradients', true],
    ['zero_optimization.overlap_comm', true],
    ['zero_optimization.reduce_bucket_size', DEEPSPEED_OFFLOAD.reduceBucket],
  );
  return out;
}

/**
 * Context parallelism: DeepSpeed-Ulysses (sequence_parallel_size, given to deepspeed.initialize
 * through the script's mpu) splits heads with an all-to-all, another scheme than the ring /
 * all-gather attention the plan was checked for, and the config has no key for it.
 */
function contextCheck(plan: TrainPlan, f: Findings): void {
  if (plan.mesh.context === 1) return;
  f.notExpressible(
    'context',
    `context = ${plan.mesh.context}`,
    'it has no ring or all-gather context-parallel attention (DeepSpeed-Ulysses splits heads inside the training script, with its own memory)',
    'export --to megatron or torchtitan, or set context = 1',
  );
}

/**
 * DeepSpeed's JSON config has no fp8 training switch: its precision sections are fp16 and bf16
 * (deepspeed/runtime/config.py); fp8 comes from TransformerEngine modules inside the model code.
 */
function fp8Unsupported(plan: TrainPlan, f: Findings): void {
  if (plan.fp8 === 'none') return;
  f.notExpressible(
    'fp8',
    `fp8 = ${plan.fp8}`,
    'its config has no fp8 training setting (precision is fp16 or bf16); fp8 GEMMs need TransformerEngine or torchao layers in the model code',
    'remove fp8 to export a bf16 run, or export --to megatron (te_*) or torchtitan (torchao_*)',
  );
}

/**
 * DeepSpeed checks train_batch_size = micro × accumulation × its data-parallel world size, which
 * is the whole world unless deepspeed.initialize gets an mpu (DeepSpeedConfig in
 * deepspeed/runtime/config.py at v0.19.5: mpu.get_data_parallel_world_size()); AutoTP's groups are
 * made after that check. With tensor > 1 the script must pass one.
 */
function mpuNote(plan: TrainPlan, f: Findings): void {
  const { tensor, data } = plan.mesh;
  if (tensor === 1) return;
  f.approximated(
    'tensor',
    `tensor = ${tensor}`,
    `it checks train_batch_size against the data-parallel world size, which is all ${plan.derived.gpusUsed} ranks unless the training script passes deepspeed.initialize(..., mpu=...) whose get_data_parallel_world_size() returns ${data}: without it the batch assertion fails at start-up`,
    'pass an mpu (Megatron-style parallel state with tensor and data groups) to deepspeed.initialize in the training script',
  );
}

/**
 * Megatron's recipe (16-bit weights, fp32 master copy) is bf16 / fp16 enabled; precision = amp_*
 * (fp32 weights under autocast) is torch_autocast with both off (DEEPSPEED_TORCH_AUTOCAST).
 */
function precisionConfig(plan: TrainPlan): Config {
  if (plan.amp)
    return [
      ['bf16.enabled', false],
      ['fp16.enabled', false],
      ['torch_autocast.enabled', true],
      ['torch_autocast.dtype', plan.precision === 'bf16' ? 'bfloat16' : 'float16'],
      ['data_types.grad_accum_dtype', plan.gradDtype],
    ];
  return [
    ['bf16.enabled', plan.precision === 'bf16'],
    ['fp16.enabled', plan.precision === 'fp16'],
    ['data_types.grad_accum_dtype', plan.gradDtype],
  ];
}

/** AutoTP splits layers over tensor ranks, but has no Megatron sequence parallelism. */
function tensorConfig(plan: TrainPlan, f: Findings): Config {
  if (plan.mesh.tensor === 1) return [];
  if (plan.sequenceParallel) {
    f.notExpressible(
      'sequence_parallel',
      'sequence_parallel = true',
      'its tensor parallelism (AutoTP) keeps full norm and dropout activations on every tensor rank, more memory than the plan was checked for',
      'set sequence_parallel = false and check the plan again, or export --to megatron or torchtitan',
    );
  }
  return [['tensor_parallel.autotp_size', plan.mesh.tensor]];
}

/** DeepSpeed pipelines are built in the script (PipelineModule), run one 1F1B schedule, and refuse ZeRO-2/3. */
function pipelineChecks(plan: TrainPlan, f: Findings): void {
  const p = plan.mesh.pipeline;
  if (p === 1) return;
  if (plan.zero >= 2)
    f.notExpressible(
      'zero',
      `zero = ${plan.zero} with pipeline = ${p}`,
      'its pipeline engine asserts that ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism',
      'use zero = 1, or export --to megatron or torchtitan',
    );
  if (!stageSizes(plan).even)
    f.notExpressible(
      plan.stages[0]?.chunks ? 'layout' : 'stages',
      'uneven stages',
      "PipelineModule partitions by method ('uniform', 'parameters', 'type:…'), not by a list of layer counts",
      'use stages of equal size, or export --to megatron or torchtitan',
    );
  if (plan.schedule === 'interleaved' || plan.schedule === 'table') {
    f.notExpressible(
      plan.schedule === 'table' ? 'actions' : 'schedule',
      plan.schedule === 'table' ? 'a hand-written actions table' : 'schedule = interleaved',
      'its pipeline engine runs one schedule (1F1B, TrainSchedule)',
      'use schedule = 1f1b, or export --to torchtitan',
    );
  } else if (plan.schedule === 'gpipe') {
    f.approximated(
      'schedule',
      'schedule = gpipe',
      'its pipeline engine runs 1F1B, which keeps fewer microbatches of activations in flight',
      'use schedule = 1f1b',
    );
  }
  f.approximated(
    'pipeline',
    `pipeline = ${p}`,
    `the config has no stage count: build the model as PipelineModule(layers, num_stages=${p}, partition_method='uniform') in the training script`,
  );
}

/**
 * DeepSpeed-MoE layers are built by the training script (deepspeed.moe.layer.MoE), not the
 * config: a warning says how. Its expert-parallel groups are cut from the data-parallel ranks,
 * and experts either split over the tensor ranks like the dense layers
 * (enable_expert_tensor_parallelism) or stay whole: expert divides data, expert_tensor is 1 or
 * tensor. Other grids are errors naming the knob. True when the model has experts.
 */
function expertCheck(plan: TrainPlan, f: Findings): boolean {
  const moe = layerRuns(plan.model)
    .map((r) => r.layer.mlp)
    .find((m): m is MoeMlp => m.kind === 'moe');
  if (moe === undefined) return false;
  const e = plan.experts;
  const { tensor, data } = plan.mesh;
  if (e.tensor !== 1 && e.tensor !== tensor) {
    f.notExpressible(
      'expert_tensor',
      `expert_tensor = ${e.tensor}`,
      `its experts split over the ${tensor} tensor ranks like the dense layers (enable_expert_tensor_parallelism) or stay whole`,
      `set expert_tensor = ${tensor} or 1`,
    );
    return true;
  }
  if (data % e.expert !== 0) {
    f.notExpressible(
      'expert',
      `expert = ${e.expert}`,
      `its expert-parallel groups (ep_size) are cut from the ${data} data-parallel ranks, never the tensor ranks`,
      `use an expert degree that divides data = ${data}`,
    );
    return true;
  }
  const args = [
    `num_experts=${moe.experts}`,
    `ep_size=${e.expert}`,
    `k=${moe.topK}`,
    // DeepSpeed-MoE drops tokens over capacity by default (and dispatches capacity-sized, padded buffers).
    plan.capacityFactor !== undefined ? `capacity_factor=${plan.capacityFactor}` : 'drop_tokens=False',
    ...(e.tensor > 1 ? ['enable_expert_tensor_parallelism=True'] : []),
  ];
  f.approximated(
    f.given('expert') ? 'expert' : 'model',
    `the ${moe.experts} experts`,
    `the config has no expert settings: build each MoE layer as deepspeed.moe.layer.MoE(hidden_size, expert, ${args.join(', ')}) in the training script${moe.sharedExperts > 0 ? ', with the shared experts as a dense MLP beside it' : ''}`,
    undefined,
    f.given('expert') ? undefined : plan.model.span,
  );
  return true;
}

function recomputeCheck(plan: TrainPlan, f: Findings): void {
  if (plan.recompute === 'none') return;
  if (plan.recompute === 'selective_op') {
    f.notExpressible(
      'recompute',
      'recompute = selective_op',
      "its activation checkpointing (deepspeed.checkpointing.checkpoint) recomputes whole functions; torchtitan's per-op policy is not in its config or API",
      'use recompute = full (checkpoint each layer in the training script), or export --to torchtitan',
    );
    return;
  }
  const how =
    plan.recompute === 'full'
      ? `the config has no switch for it: checkpoint ${plan.recomputeMethod === 'block' ? `the first ${plan.recomputeLayers} layers of each stage` : plan.recomputeLayers > 1 ? `each group of ${plan.recomputeLayers} layers` : 'each layer'} in the training script (deepspeed.checkpointing.checkpoint)`
      : 'the config has no switch for it, and it checkpoints whole layers: checkpoint each layer in the training script (deepspeed.checkpointing.checkpoint), which needs less memory than selective';
  f.approximated('recompute', `recompute = ${plan.recompute}`, how);
}

/** `a.b` keys as nested objects, in order. */
function nest(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of config) {
    const parts = key.split('.');
    let at = out;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[parts.at(-1)!] = value;
  }
  return out;
}

function hostfile(at: Placement): string {
  const lines = [comment(`one line per node (MPI style); replace node-N with the host names\n${versionLine('deepspeed', 'DeepSpeed')}`)];
  for (let n = 0; n < at.nodes; n++) lines.push(`node-${n} slots=${at.perNode}`);
  return lines.join('\n') + '\n';
}

function launch(plan: TrainPlan, at: Placement, json: string, moe: boolean, used: readonly string[]): string {
  const args: Arg<DeepSpeedLauncherFlag>[] =
    at.nodes > 1
      ? [
          ['--hostfile', beside(`${plan.name}.hostfile`)],
          ['--num_nodes', String(at.nodes)],
        ]
      : [];
  args.push(['--num_gpus', String(at.perNode)]);
  if (at.nodes > 1) args.push(['--master_addr', required('MASTER_ADDR', 'set MASTER_ADDR to the address of node 0')]);
  const flags: Arg<DeepSpeedLauncherFlag>[] = [['--deepspeed'], ['--deepspeed_config', beside(json)]];
  const entry = `${required('TRAIN_SCRIPT', 'set TRAIN_SCRIPT to your DeepSpeed training script')} \\\n  ${flags.map(([f, v]) => (v === undefined ? f : `${f} ${v}`)).join(' ')}`;
  return script(
    header(plan, moe, used),
    HERE,
    '',
    // The launcher starts every node of the hostfile itself (over ssh), so it runs once.
    comment(at.nodes > 1 ? `run on node 0 only: the launcher starts all ${at.nodes} nodes of the hostfile` : 'the only node'),
    command('deepspeed', args, ` \\\n  ${entry}`),
  );
}

function header(plan: TrainPlan, moe: boolean, used: readonly string[]): string {
  const e = plan.experts;
  return comment(
    [
      `DeepSpeed launch for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      versionLine('deepspeed', 'DeepSpeed'),
      `${meshText(plan)}; the training script builds the model and calls deepspeed.initialize.`,
      ...(plan.mesh.tensor > 1
        ? [
            `tensor ${plan.mesh.tensor} > 1: pass deepspeed.initialize(..., mpu=...) with get_data_parallel_world_size() = ${plan.mesh.data}, else its train_batch_size check fails.`,
          ]
        : []),
      ...(moe
        ? [
            `Experts: expert tensor ${e.tensor} × expert ${e.expert} × expert data ${e.data}; the script builds the MoE layers (deepspeed.moe.layer.MoE).`,
          ]
        : []),
      'Option names as in:',
      ...citations([
        ...DEEPSPEED_SOURCES.filter((src) => plan.amp || src !== DEEPSPEED_TORCH_AUTOCAST),
        ...usedSources([DEEPSPEED_ZERO_OFFLOAD], used),
        ...(moe ? [DEEPSPEED_MOE] : []),
      ]).map((c) => `  ${c}`),
    ].join('\n'),
  );
}
