/**
 * torchtitan: the job config (TOML, the config system before torchtitan's PR #2386) and a
 * torchrun command per node; a hand-written schedule becomes a schedule CSV. Mapping and its
 * reasons: docs/export.md.
 */
import { shardOver } from '../memory/zero.js';
import { DEFAULT_ROPE_THETA } from '../model.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { formatAction } from '../schedules/types.js';
import { meshText } from './cluster.js';
import { Findings } from './findings.js';
import { activationOf, layerShape, type LayerShape } from './layers.js';
import { versionLine } from './options/versions.js';
import { citations, usedSources } from './options/source.js';
import { TORCHRUN_ARGS } from './options/torchrun.js';
import {
  TORCHTITAN_EXPERT_CONFIG,
  TORCHTITAN_MODELS,
  TORCHTITAN_SOURCES,
  type TorchtitanKey,
  type TorchtitanModel,
} from './options/torchtitan.js';
import { beside, comment, HERE, plain, required, script } from './shell.js';
import { torchrunPerNode } from './torchrun.js';
import type { ExportFile, ExportOptions, ExportResult } from './types.js';

type Value = string | number | boolean | readonly string[] | readonly (readonly string[])[];
type Config = [TorchtitanKey, Value][];

export function exportTorchtitan(plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  const f = new Findings(plan, 'torchtitan');
  if (plan.mode !== 'train') return f.notTraining();
  const at = f.trainingStart(() =>
    f.notExpressible(
      'adapter',
      f.adapterKnob(),
      "the TOML job config it is exported to has no LoRA (torchtitan's LoRAConverter, components/lora.py since #3264, is in its later Python config)",
      'remove the adapter block to plan full training, or configure LoRAConverter by hand in a Python recipe (rank, alpha, target_modules)',
    ),
  );
  const csv = `${plan.name}.schedule.csv`;
  const config: Config = [
    ['job.description', `parplan plan ${plan.name}`],
    ...modelConfig(plan, f, opts),
    ...trainingConfig(plan, f),
    ...float8Config(plan, f),
    ...dataParallelConfig(plan, f),
    ...modelParallelConfig(plan, f, csv),
    ...recomputeConfig(plan, f),
  ];
  if (f.failed || at === undefined) return { files: [], diagnostics: f.list };
  const toml = `${plan.name}.torchtitan.toml`;
  const files: ExportFile[] = [
    { name: toml, text: `${header(plan, config)}\n${renderToml(config)}` },
    {
      name: `${plan.name}.torchtitan.sh`,
      text: script(
        header(plan, config),
        comment('run from a torchtitan checkout; the job file is the one beside this script'),
        HERE,
        '',
        ...placeholderCheck(toml, config),
        torchrunPerNode(plan.name, at, trainEntry(plan, toml, csv)),
      ),
    },
  ];
  if (plan.schedule === 'table' && plan.actions)
    files.push({ name: csv, text: plan.actions.map((rank) => rank.map(formatAction).join(',')).join('\n') + '\n' });
  return { files, diagnostics: f.list };
}

function modelConfig(plan: TrainPlan, f: Findings, opts: ExportOptions): Config {
  const m = plan.model;
  if (m.arch !== 'llama') {
    f.notExpressible(
      'model',
      `arch = ${m.arch}`,
      'its model registry has Llama-family models, not GPT-2',
      'export --to megatron or deepspeed, which build GPT-2-style models',
      m.span,
    );
    return [];
  }
  const shape = layerShape(m);
  const family = 'differs' in shape ? { why: shape.differs } : familyOf(m, shape);
  if ('why' in family) {
    f.notExpressible(
      'model',
      `model '${m.name}'`,
      family.why,
      'export --to deepspeed (its training script builds the model) or megatron, or add the model to torchtitan',
      m.span,
    );
    return [];
  }
  let flavor = opts.model;
  if (flavor === undefined) {
    flavor = fillIn(`a ${family.name} flavor with ${flavorText(m, shape as LayerShape)}`);
    f.placeholder(
      `the torchtitan flavor of '${m.name}'`,
      'model.flavor',
      `pick the flavor with these dimensions (torchtitan/models/${family.name}), or export with --model FLAVOR`,
    );
  }
  return [
    ['model.name', family.name],
    ['model.flavor', flavor],
  ];
}

/**
 * The torchtitan model family that builds this model (its registry at TORCHTITAN_MODELS' commit):
 * llama3 for dense Llama layers, qwen3 for q/k norms (dense or MoE), deepseek_v3 for MLA; what
 * none of them builds, with why.
 */
function familyOf(m: TrainPlan['model'], shape: LayerShape): { name: TorchtitanModel } | { why: string } {
  const a = shape.attention;
  if ((m.normsPerLayer ?? 2) !== 2) return { why: 'its models have two norms per layer (Gemma-2/3 have four)' };
  if (activationOf(shape) !== 'swiglu') return { why: `its Llama-family models gate with SwiGLU, not ${activationOf(shape)}` };
  if (m.qkvBias || m.bias) return { why: 'its Llama-family models have no biases on the attention projections' };
  if (shape.window !== undefined || (a.kind === 'gqa' && a.sinks))
    return { why: 'of its models only gpt_oss has sliding windows and attention sinks, and its layers are fixed to gpt-oss' };
  if (a.kind === 'mla') return { name: 'deepseek_v3' };
  if (m.qkNorm) return { name: 'qwen3' };
  if (shape.moe)
    return {
      why: 'its MoE models are deepseek_v3 (MLA), qwen3 (q/k norms), llama4 and gpt_oss; a MoE of plain Llama layers (Mixtral) is none of them',
    };
  return { name: 'llama3' };
}

/** The dimensions a flavor must have, in words (the existing Llama text unchanged for dense Llama models). */
function flavorText(m: TrainPlan['model'], shape: LayerShape): string {
  const a = shape.attention;
  const parts = [`${m.layers} layers`, `dim ${m.hidden}`, `${a.heads} heads`];
  if (a.kind === 'gqa') {
    parts.push(`${a.kvHeads} KV heads`);
    if (a.headDim * a.heads !== m.hidden) parts.push(`head_dim ${a.headDim}`);
  } else {
    parts.push(
      `q_lora_rank ${a.qLoraRank}, kv_lora_rank ${a.kvLoraRank}, qk_nope_head_dim ${a.qkNopeHeadDim}, qk_rope_head_dim ${a.qkRopeHeadDim}, v_head_dim ${a.vHeadDim}`,
    );
  }
  const e = shape.moe;
  if (e) {
    parts.push(`${e.experts} experts (top ${e.topK}, width ${e.expertFfn})`);
    if (e.sharedExperts > 0) parts.push(`${e.sharedExperts} shared`);
    const dense = shape.moeLayers.indexOf(true);
    if (dense > 0) parts.push(`${dense} dense layers of width ${shape.dense?.ffn}`);
  }
  if (m.ropeTheta !== DEFAULT_ROPE_THETA) parts.push(`rope_theta ${m.ropeTheta}`);
  if (m.ropeScaling) parts.push(`${m.ropeScaling.type} rope scaling by ${m.ropeScaling.factor}`);
  return parts.join(', ');
}

/**
 * fp8 through torchao's Float8Linear (job_config.py's Float8 section): tensorwise under FSDP
 * (zero = 3) gathers fp8 weights with precomputed scales, as parplan counts it, and recomputes
 * the fp8 weight in backward (the field's doc: "to prevent saving unsharded FP8 weights for
 * backward computation"); rowwise communicates in high precision. TransformerEngine is not
 * torchtitan's.
 */
function float8Config(plan: TrainPlan, f: Findings): Config {
  if (plan.fp8 === 'none') return [];
  if (plan.fp8 !== 'torchao_tensorwise' && plan.fp8 !== 'torchao_rowwise') {
    f.notExpressible(
      'fp8',
      `fp8 = ${plan.fp8}`,
      'it trains in fp8 through torchao\'s Float8Linear (model.converters = ["quantize.linear.float8"]), not TransformerEngine',
      'use fp8 = torchao_tensorwise or torchao_rowwise, or export --to megatron',
    );
    return [];
  }
  // torchtitan v0.2.2 names: the converter and section are quantize.linear.float8 (register_model_converter in
  // torchtitan/components/quantization/float8.py); force_recompute_fp8_weight_in_bwd is no longer a field there.
  const config: Config = [
    ['model.converters', ['quantize.linear.float8']],
    ['quantize.linear.float8.recipe_name', plan.fp8 === 'torchao_tensorwise' ? 'tensorwise' : 'rowwise'],
  ];
  if (plan.fp8 === 'torchao_tensorwise' && plan.zero === 3 && plan.mesh.data > 1)
    config.push(
      ['quantize.linear.float8.enable_fsdp_float8_all_gather', true],
      ['quantize.linear.float8.precompute_float8_dynamic_scale_for_fsdp', true],
    );
  return config;
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
  // torchtitan's mixed_precision_param = bfloat16 is the AMP recipe (fp32 parameters, bf16 compute: FSDP2's
  // MixedPrecisionPolicy, or autocast without FSDP, distributed/utils.py maybe_enable_amp): precision = amp_bf16.
  if (plan.precision === 'fp16') {
    f.notExpressible(
      'precision',
      `precision = ${plan.amp ? 'amp_fp16' : 'fp16'}`,
      'its mixed_precision_param is bfloat16 or float32',
      `use precision = ${plan.amp ? 'amp_bf16' : 'bf16'} (or fp32)`,
    );
  } else {
    mixedPrecisionCheck(plan, f);
    config.push(['training.mixed_precision_param', plan.precision === 'bf16' ? 'bfloat16' : 'float32']);
    const fsdp = plan.zero >= 1 && plan.mesh.data > 1;
    if (plan.amp && !fsdp && (plan.mesh.tensor > 1 || plan.mesh.pipeline > 1))
      f.notExpressible(
        'precision',
        `precision = amp_${plan.precision}`,
        'without FSDP its autocast is off under tensor or pipeline parallelism ("Mixed precision training with TP or PP is only supported when FSDP/HSDP/CP is enabled", distributed/utils.py maybe_enable_amp): it trains in fp32',
        'shard over the data replicas (zero = 3 with data > 1), or use precision = fp32',
      );
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
 * torchtitan applies mixed_precision_param through FSDP (fully_shard), or through autocast for
 * DDP or one GPU; with tensor or pipeline parallelism and no FSDP it disables mixed precision
 * and trains in fp32, only logging a warning (maybe_enable_amp in torchtitan/distributed/utils.py
 * at v0.2.2): more memory than a bf16 plan was checked for.
 */
function mixedPrecisionCheck(plan: TrainPlan, f: Findings): void {
  const { tensor, pipeline, data } = plan.mesh;
  // FSDP is on with sharded data ranks or context parallelism (ParallelDims.fsdp_enabled: dp_shard or cp).
  const fsdp = (plan.zero > 0 && data > 1) || plan.mesh.context > 1;
  // AMP plans (precision = amp_bf16) have their own check below.
  if (plan.precision !== 'bf16' || plan.amp || fsdp || (tensor === 1 && pipeline === 1)) return;
  f.notExpressible(
    'precision',
    'training.mixed_precision_param = "bfloat16"',
    `with ${tensor > 1 ? 'tensor' : 'pipeline'} parallelism it applies mixed precision only through FSDP (data_parallel_shard_degree > 1), and without it trains in fp32, which needs more memory than the plan was checked for`,
    data > 1
      ? 'set zero = 1 or more (FSDP over the data ranks)'
      : 'shard over data ranks (data > 1 with zero ≥ 1), or set precision = fp32 and check the plan again',
  );
}

/**
 * ZeRO over data replicas as FSDP: 0 replicates (DDP); 2 shards with reshard_after_forward =
 * never (weights stay gathered from forward to backward); 3 shards with always. ZeRO-1 has no
 * FSDP equivalent and runs as ZeRO-2, which needs less memory.
 */
function dataParallelConfig(plan: TrainPlan, f: Findings): Config {
  const data = plan.mesh.data;
  if (plan.zero === 0 || data === 1) {
    if (plan.offload !== 'none')
      f.notExpressible(
        'offload',
        `offload = ${plan.offload} with data = 1`,
        'CPU offload is an FSDP policy (training.enable_cpu_offload), and torchtitan applies FSDP only when data_parallel_shard_degree > 1',
        'shard over more than one data rank (data > 1, zero = 3), or export --to deepspeed (ZeRO-Offload runs on one GPU)',
      );
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
  // HSDP: FSDP within shard groups, replicated across them (parallel_dims: dp_replicate × dp_shard).
  const shard = shardOver(plan);
  // "default" would resolve to `not pp_enabled` (torchtitan/distributed/fsdp.py, HEAD b5bcd76c):
  // the plan's choice is written out instead.
  const reshard = plan.zero === 3 && plan.reshardAfterForward ? 'always' : 'never';
  const config: Config = [
    ['parallelism.data_parallel_replicate_degree', data / shard],
    ['parallelism.data_parallel_shard_degree', shard],
    ['parallelism.fsdp_reshard_after_forward', reshard],
  ];
  if (plan.offload === 'optimizer_params') {
    // FSDP2 CPUOffloadPolicy (models/llama3/infra/parallelize.py at the job config's commit):
    // sharded fp32 parameters, their gradients and the optimizer states on the CPU.
    config.push(['training.enable_cpu_offload', true]);
    f.approximated(
      'offload',
      'offload = optimizer_params',
      "FSDP2's CPUOffloadPolicy keeps the fp32 sharded parameters as the master copy (no separate 16-bit shard in CPU memory) and steps the optimizer on the CPU: no more memory than the plan was checked for",
    );
  } else if (plan.offload === 'optimizer')
    f.notExpressible(
      'offload',
      'offload = optimizer',
      'training.enable_cpu_offload (FSDP2 CPUOffloadPolicy) offloads parameters and gradients with the optimizer states; there is no optimizer-only offload',
      'use offload = optimizer_params with zero = 3, or export --to deepspeed',
    );
  return config;
}

/**
 * Experts (job_config.py and parallel_dims.py at TORCHTITAN_EXPERT_CONFIG's commit): the sparse
 * mesh (pp, dp_replicate, efsdp, ep, etp) takes ep × etp ranks out of the FSDP-sharded data
 * ranks and the tensor ranks (efsdp = dp_shard · tp / (etp · ep)), with etp 1 or tensor. With
 * expert = 1 the experts split over the tensor ranks like the dense layers.
 */
function expertConfig(plan: TrainPlan, f: Findings): Config {
  const e = plan.experts;
  const { tensor, data } = plan.mesh;
  capacityCheck(plan, f);
  if (e.expert === 1) {
    if (e.tensor > tensor)
      f.notExpressible(
        'expert_tensor',
        `expert_tensor = ${e.tensor}`,
        `without expert parallelism its experts split over the ${tensor} tensor ranks only, more memory than the plan was checked for`,
        `set expert_tensor = ${tensor}, or expert = ${e.tensor} with expert_tensor = 1`,
      );
    else if (e.tensor < tensor)
      f.approximated(
        'expert_tensor',
        `expert_tensor = ${e.tensor}`,
        `without expert parallelism its experts split over all ${tensor} tensor ranks, which needs less memory`,
        `remove expert_tensor`,
      );
    return [];
  }
  const shard = plan.zero === 0 || data === 1 ? 1 : data;
  if (e.tensor !== 1 && e.tensor !== tensor) {
    f.notExpressible(
      'expert_tensor',
      `expert_tensor = ${e.tensor}`,
      `its expert_tensor_parallel_degree is 1 or the tensor degree (${tensor})`,
      `set expert_tensor = 1 or ${tensor}`,
    );
    return [];
  }
  if ((shard * tensor) % (e.expert * e.tensor) !== 0) {
    f.notExpressible(
      'expert',
      `expert = ${e.expert}`,
      `its expert groups are drawn from the FSDP-sharded data ranks and the tensor ranks (${shard} × ${tensor} here${plan.zero === 0 && data > 1 ? ': with zero = 0 the data ranks are replicas' : ''}), and expert × expert_tensor = ${e.expert * e.tensor} does not divide them`,
      plan.zero === 0 && data > 1
        ? 'set zero = 2 (FSDP over the data ranks)'
        : `use an expert degree that divides ${(shard * tensor) / e.tensor}`,
    );
    return [];
  }
  return [
    ['parallelism.expert_parallel_degree', e.expert],
    ['parallelism.expert_tensor_parallel_degree', e.tensor],
  ];
}

/**
 * Its MoE layers are dropless (no capacity setting in the job config): every routed token is
 * kept, k·T routed copies on balanced routing, which is no more than the plan's padded
 * capacity_factor × k·T when the factor is at least 1 (src/memory/activations.ts).
 */
function capacityCheck(plan: TrainPlan, f: Findings): void {
  const cf = plan.capacityFactor;
  if (cf === undefined) return;
  if (cf >= 1)
    f.approximated(
      'capacity_factor',
      `capacity_factor = ${cf}`,
      'its MoE layers are dropless (no capacity): no tokens are dropped, and on balanced routing they need no more memory than the padded capacity',
      'remove capacity_factor',
    );
  else
    f.notExpressible(
      'capacity_factor',
      `capacity_factor = ${cf}`,
      'its MoE layers are dropless, so each expert takes every token routed to it, more than the capacity the plan was checked for',
      'remove capacity_factor (dropless) and check the plan again',
    );
}

function modelParallelConfig(plan: TrainPlan, f: Findings, csv: string): Config {
  const { tensor, pipeline } = plan.mesh;
  const config: Config = [['parallelism.tensor_parallel_degree', tensor], ...expertConfig(plan, f), ...contextConfig(plan, f)];
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
      config.push(['parallelism.pipeline_parallel_schedule', plan.schedule === 'gpipe' ? 'GPipe' : '1F1B']);
      break;
    case 'interleaved':
      config.push(['parallelism.pipeline_parallel_schedule', 'Interleaved1F1B']);
      break;
    case 'table':
      config.push(
        ['parallelism.pipeline_parallel_schedule', plan.virtual > 1 ? 'PipelineScheduleMulti' : 'PipelineScheduleSingle'],
        ['parallelism.pipeline_parallel_schedule_csv', csv],
      );
      break;
  }
  config.push(['parallelism.module_fqns_per_model_part', modelParts(plan, f)]);
  return config;
}

/**
 * The modules of each model part (pipeline stage, or virtual stage of a looped schedule), as
 * torchtitan 0.2.x takes them (parallelism.module_fqns_per_model_part; split points were removed
 * in 0.2.0). Written out rather than left to pipeline_parallel_layers_per_stage, which counts the
 * embedding and the output as layers of their own (generate_llm_fqn_per_model_part in
 * torchtitan/distributed/pipeline_parallel.py at v0.2.2) and so splits differently from the plan.
 * Part k of a looped schedule runs on rank k mod pipeline (its "loop" style), as the plan's
 * chunk k of rank k mod pipeline holds layers k·n … (k+1)·n − 1.
 */
export function modelParts(plan: TrainPlan, f?: Findings): string[][] {
  const { pipeline } = plan.mesh;
  const n = plan.model.layers / (pipeline * plan.virtual);
  // A `layout` gives each virtual stage its own layers (and says where the embedding and loss are).
  const chunks: { firstLayer: number; layers: number; hasEmbedding: boolean; hasOutput: boolean }[] = plan.stages.some((s) => s.chunks)
    ? plan.stages.flatMap((s) => s.chunks ?? []).sort((a, b) => a.index - b.index)
    : plan.virtual > 1
      ? Array.from({ length: pipeline * plan.virtual }, (_, k) => ({
          firstLayer: k * n,
          layers: n,
          hasEmbedding: k === 0,
          hasOutput: k === pipeline * plan.virtual - 1,
        }))
      : plan.stages;
  const parts = chunks.map((c) => [
    ...(c.hasEmbedding ? ['tok_embeddings'] : []),
    ...Array.from({ length: c.layers }, (_, i) => `layers.${c.firstLayer + i}`),
    ...(c.hasOutput ? ['norm', 'output'] : []),
  ]);
  if (f && parts.some((p) => p.length === 0))
    f.notExpressible(
      'layout',
      'a layout with an empty virtual stage',
      'each of its model parts (module_fqns_per_model_part) must hold at least one module',
      'give every virtual stage at least one t, or export --to megatron',
    );
  return parts;
}

/**
 * recompute → activation_checkpoint: selective_op is torchtitan's own mode = selective with
 * selective_ac_option = op; full checkpoints every block (torchtitan has no Megatron-style block
 * or grouped recompute: its per-layer option, every N-th block, was removed in 114151ad).
 */
function recomputeConfig(plan: TrainPlan, f: Findings): Config {
  switch (plan.recompute) {
    case 'none':
      return [['activation_checkpoint.mode', 'none']];
    case 'full':
      if (plan.recomputeMethod === 'block' || plan.recomputeLayers > 1)
        f.notExpressible(
          'recompute_layers',
          `recompute_method = ${plan.recomputeMethod}, recompute_layers = ${plan.recomputeLayers}`,
          'its full activation checkpointing wraps every transformer block alone',
          'remove recompute_method and recompute_layers (every layer checkpointed), or export --to megatron',
        );
      return [['activation_checkpoint.mode', 'full']];
    case 'selective_op':
      return [
        ['activation_checkpoint.mode', 'selective'],
        ['activation_checkpoint.selective_ac_option', 'op'],
      ];
    case 'selective':
      f.approximated(
        'recompute',
        'recompute = selective',
        "its selective mode is per-op (it saves some matmul outputs and recomputes the rest, recompute = selective_op), not Megatron's attention-only recompute, and needs less activation memory",
        'set recompute = selective_op to check the plan torchtitan runs',
      );
      return [
        ['activation_checkpoint.mode', 'selective'],
        ['activation_checkpoint.selective_ac_option', 'op'],
      ];
  }
}

/**
 * `-m torchtitan.train` with the job file, then what it cannot hold: the Hugging Face assets
 * directory (tokenizer, config; torchtitan falls back to a test tokenizer without it) as a
 * placeholder, and the schedule CSV beside the script (a path in the job file would be read from
 * the working directory). Command-line fields override the job file's.
 */
function trainEntry(plan: TrainPlan, toml: string, csv: string): string {
  const args: [TorchtitanKey | '--job.config_file', string][] = [
    ['--job.config_file', beside(toml)],
    [
      'model.hf_assets_path',
      required('HF_ASSETS_PATH', 'set HF_ASSETS_PATH to the directory of the Hugging Face assets (tokenizer, config.json) of the model'),
    ],
  ];
  if (plan.schedule === 'table' && plan.mesh.pipeline > 1) args.push(['parallelism.pipeline_parallel_schedule_csv', beside(csv)]);
  return ['-m torchtitan.train', ...args.map(([k, v]) => `${k.startsWith('--') ? k : `--${k}`} ${v}`)].join(' \\\n  ');
}

/** The text of a value the user must fill in before the job can start (a TOML string: the job file stays valid). */
export const FILL_IN = '<fill in: ';

function fillIn(what: string): string {
  return `${FILL_IN}${what}>`;
}

/** Stops the script before launching while the job file still holds a `<fill in: …>` value, naming the fields. */
function placeholderCheck(toml: string, config: Config): string[] {
  const open = config.filter(([, v]) => typeof v === 'string' && v.startsWith(FILL_IN)).map(([k]) => k);
  if (open.length === 0) return [];
  return [
    `if grep -q '${FILL_IN}' ${beside(toml)}; then`,
    `  echo "fill in ${open.join(', ')} in ${plain(toml)} first (the values written <fill in: ...>)" >&2`,
    '  exit 1',
    'fi',
    '',
  ];
}

/** `section.field` keys as `[section]` tables, in first-seen order. */
function renderToml(config: Config): string {
  const sections = new Map<string, string[]>();
  for (const [key, value] of config) {
    // A nested table's field is a dotted key under its section (quantize.linear.float8.recipe_name).
    const [section, ...rest] = key.split('.') as [string, ...string[]];
    const field = rest.join('.');
    const lines = sections.get(section) ?? [];
    lines.push(`${field} = ${tomlValue(value)}`);
    sections.set(section, lines);
  }
  return [...sections].map(([s, lines]) => `[${s}]\n${lines.join('\n')}\n`).join('\n');
}

function tomlValue(v: Value): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // A list of lists (module_fqns_per_model_part): one inner list per line.
  if (v.some((x) => Array.isArray(x))) return `[\n${(v as readonly (readonly string[])[]).map((l) => `  ${tomlValue(l)},`).join('\n')}\n]`;
  return `[${(v as readonly string[]).map((s) => JSON.stringify(s)).join(', ')}]`;
}

function header(plan: TrainPlan, config: Config): string {
  // The expert fields and the model registry are cited where the job uses them.
  const used = config.flatMap(([key, value]) => (key === 'model.name' && value !== 'llama3' ? [key, String(value)] : [key]));
  const extra = usedSources([TORCHTITAN_EXPERT_CONFIG, TORCHTITAN_MODELS], used);
  return comment(
    [
      `torchtitan job for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      versionLine('torchtitan', 'torchtitan'),
      `${meshText(plan)}.`,
      'Option names as in:',
      ...citations([...TORCHTITAN_SOURCES, ...extra, TORCHRUN_ARGS]).map((c) => `  ${c}`),
    ].join('\n'),
  );
}

/**
 * Context parallelism: context_parallel_degree, and the rotate method: 'allgather' is the plan's
 * all_gather, 'alltoall' (torch's ring rotation of the KV shards) its p2p ring. Ulysses-style
 * a2a (a head split) has no rotate method. torchtitan shards its FSDP over dp_shard × cp
 * whenever cp > 1 (parallelize.py applies fully_shard on the 'dp_shard_cp' mesh), so ZeRO 0 or
 * 1 runs sharded there.
 */
function contextConfig(plan: TrainPlan, f: Findings): Config {
  const c = plan.mesh.context;
  if (c === 1) return [];
  if (plan.contextComm === 'a2a')
    f.notExpressible(
      'context_comm',
      'context_comm = a2a',
      "its context_parallel_rotate_method rotates K and V shards ('allgather' or 'alltoall'), it has no head-split all-to-all",
      'use context_comm = all_gather (or p2p) and check the plan again',
    );
  if (plan.zero < 2)
    f.approximated(
      'zero',
      `zero = ${plan.zero}`,
      'with context parallelism it always shards parameters, gradients and optimizer states over data × context (FSDP), which needs less memory',
      'set zero = 3',
    );
  return [
    ['parallelism.context_parallel_degree', c],
    ...(plan.contextComm === 'a2a'
      ? []
      : ([['parallelism.context_parallel_rotate_method', plan.contextComm === 'all_gather' ? 'allgather' : 'alltoall']] as Config)),
  ];
}
