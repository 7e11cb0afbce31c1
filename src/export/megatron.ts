/**
 * Megatron-LM: the `pretrain_gpt.py` argument list (model shape, parallel sizes, batch,
 * recompute, precision, optimizer sharding) and a torchrun command per node. Mapping and its
 * reasons: docs/export.md.
 */
import { shardOver } from '../memory/zero.js';
import { formatLayout } from '../check/layout.js';
import { FP8_AMAX_HISTORY } from '../memory/fp8.js';
import { DEFAULT_NORM_EPS, type AttentionSpec, type MlaAttention, type MoeMlp } from '../model.js';
import type { CheckedPlan, TrainPlan } from '../plan.js';
import { meshText, stageSizes } from './cluster.js';
import { Findings } from './findings.js';
import { activationOf, everyNth, layerShape, patternExpression, type LayerShape } from './layers.js';
import { MEGATRON_MODEL_SOURCES, MEGATRON_SOURCES, type MegatronFlag } from './options/megatron.js';
import { TORCHRUN_ARGS } from './options/torchrun.js';
import { versionLine } from './options/versions.js';
import { citations, usedSources } from './options/source.js';
import { comment, plain, required, script, word, type Arg } from './shell.js';
import { torchrunPerNode } from './torchrun.js';
import type { ExportOptions, ExportResult } from './types.js';

type Args = Arg<MegatronFlag>[];

export function exportMegatron(plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  const f = new Findings(plan, 'megatron');
  if (plan.mode !== 'train') return f.notTraining();
  const at = f.trainingStart(() =>
    f.notExpressible(
      'adapter',
      f.adapterKnob(),
      'pretrain_gpt.py has no LoRA (no adapter arguments at d98e8a64; Megatron-Core models are LoRA-tuned through NeMo or Megatron-Bridge)',
      "remove the adapter block to plan full training, or run LoRA with Hugging Face PEFT (deepspeed export) or torchtitan's LoRAConverter",
    ),
  );
  const tokenizer = opts.model === undefined ? tokenizerPlaceholder(plan, f) : word(opts.model);
  const args: Args = [
    ...modelArgs(plan, f),
    ...parallelArgs(plan, f),
    ...batchArgs(plan),
    ...recomputeArgs(plan, f),
    ...precisionArgs(plan, f),
    ...fp8Args(plan, f),
    ...optimizerArgs(plan, f),
  ];
  args.push(...runLengthArgs());
  args.push(
    ['--tokenizer-type', 'HuggingFaceTokenizer'],
    ['--tokenizer-model', tokenizer],
    ['--data-path', required('DATA_PATH', 'set DATA_PATH to the prefix of the preprocessed training data')],
  );
  if (f.failed || at === undefined) return { files: [], diagnostics: f.list };
  const fsdp = plan.zero >= 2;
  const text = script(
    header(plan, args),
    // Megatron asserts this with tensor parallelism (before Blackwell), and asserts the opposite with Megatron-FSDP.
    ...(plan.mesh.tensor > 1 && !fsdp ? ['export CUDA_DEVICE_MAX_CONNECTIONS=1', ''] : []),
    'ARGS=(',
    ...args.map(([flag, value]) => `  ${flag}${value === undefined ? '' : ` ${value}`}`),
    ')',
    '',
    torchrunPerNode(plan.name, at, 'pretrain_gpt.py "${ARGS[@]}"'),
  );
  return { files: [{ name: `${plan.name}.megatron.sh`, text }], diagnostics: f.list };
}

/**
 * What a plan does not say but Megatron needs to start: the run's length (without --train-iters
 * or --train-samples, update_train_iters raises a TypeError at start-up) and the peak learning
 * rate. Named placeholders the script checks before launching; the schedule keeps Megatron's
 * defaults (linear decay to --min-lr 0 over the run, no warm-up), docs/export.md.
 */
function runLengthArgs(): Args {
  return [
    ['--train-iters', required('TRAIN_ITERS', 'set TRAIN_ITERS to the number of training iterations (optimizer steps)')],
    ['--lr', required('LR', 'set LR to the peak learning rate, e.g. 3e-4')],
  ];
}

function tokenizerPlaceholder(plan: TrainPlan, f: Findings): string {
  f.placeholder(
    `the Hugging Face tokenizer of '${plan.model.name}'`,
    '$TOKENIZER',
    'set TOKENIZER when running the script, or export with --model ID (a Hugging Face id or local path)',
  );
  return required('TOKENIZER', `set TOKENIZER to the Hugging Face id or local path of the tokenizer of ${plain(plan.model.name)}`);
}

/** The model's shape, so that Megatron builds the network the plan sized. */
function modelArgs(plan: TrainPlan, f: Findings): Args {
  const m = plan.model;
  const shape = layerShape(m);
  if ('differs' in shape) {
    f.notExpressible(
      'model',
      `model '${m.name}'`,
      `its arguments give one layer shape for all layers, and ${shape.differs}`,
      'export --to deepspeed, whose training script builds the model',
      m.span,
    );
    return [];
  }
  const a = shape.attention;
  const mlp = shape.dense ?? shape.moe!;
  const args: Args = [
    ['--num-layers', String(m.layers)],
    ['--hidden-size', String(m.hidden)],
    // Layers without experts use it; an all-MoE model still needs one (Megatron defaults it to 4 × hidden).
    ['--ffn-hidden-size', String(mlp.kind === 'dense' ? mlp.ffn : mlp.expertFfn)],
    ['--num-attention-heads', String(a.heads)],
  ];
  if (a.kind === 'gqa') {
    if (a.kvHeads !== a.heads) args.push(['--group-query-attention'], ['--num-query-groups', String(a.kvHeads)]);
    if (a.headDim * a.heads !== m.hidden) args.push(['--kv-channels', String(a.headDim)]);
  } else {
    args.push(...mlaArgs(a));
  }
  args.push(...windowArgs(shape), ...attentionExtras(plan, a, f));
  args.push(
    ['--max-position-embeddings', String(m.maxSeq)],
    [
      '--position-embedding-type',
      m.positions === 'rope' ? (m.ropeScaling?.type === 'yarn' && a.kind === 'gqa' ? 'yarn' : 'rope') : 'learned_absolute',
    ],
    ['--normalization', m.norm === 'rmsnorm' ? 'RMSNorm' : 'LayerNorm'],
  );
  if (m.normEps !== DEFAULT_NORM_EPS) args.push(['--norm-epsilon', String(m.normEps)]);
  if (m.positions === 'rope') args.push(...ropeArgs(plan, a, f));
  args.push(...activationArgs(plan, shape, f));
  if (!m.bias) args.push(['--disable-bias-linear']);
  if (!m.bias && m.qkvBias) args.push(['--add-qkv-bias']);
  if (!m.tiedEmbeddings) args.push(['--untie-embeddings-and-output-weights']);
  if (shape.moe) args.push(...moeArgs(plan, shape, shape.moe, f));
  // parplan pads the vocabulary to a multiple of tensor; Megatron to 128 × tensor unless told otherwise.
  args.push(['--make-vocab-size-divisible-by', '1'], ['--attention-backend', plan.attention === 'flash' ? 'flash' : 'unfused']);
  return args;
}

/** MLA (Megatron-Core's MLATransformerConfig): ranks and head sizes; no q compression without --q-lora-rank. */
function mlaArgs(a: MlaAttention): Args {
  const args: Args = [['--multi-latent-attention']];
  if (a.qLoraRank > 0) args.push(['--q-lora-rank', String(a.qLoraRank)]);
  args.push(
    ['--kv-lora-rank', String(a.kvLoraRank)],
    ['--qk-head-dim', String(a.qkNopeHeadDim)],
    ['--qk-pos-emb-head-dim', String(a.qkRopeHeadDim)],
    ['--v-head-dim', String(a.vHeadDim)],
  );
  return args;
}

/**
 * A sliding window of w positions (the query's own included) is Megatron's (w − 1, 0): keys
 * i − w[0] … i + w[1] (get_sliding_window_causal_mask). Full-attention layers among windowed ones
 * by --window-attn-skip-freq: N for every N-th layer (layer_number % N == 0, 1-based), else a list.
 */
function windowArgs(shape: LayerShape): Args {
  if (shape.window === undefined) return [];
  const args: Args = [['--window-size', word(`${shape.window - 1},0`)]];
  if (shape.windowed.every((w) => w)) return args;
  const n = everyNth(shape.windowed);
  args.push(['--window-attn-skip-freq', n !== undefined ? String(n) : word(patternExpression(shape.windowed))]);
  return args;
}

function attentionExtras(plan: TrainPlan, a: AttentionSpec, f: Findings): Args {
  const m = plan.model;
  const args: Args = [];
  // With MLA the flag gives the latent norms (q_a_layernorm, kv_a_layernorm) fused into the up-projections
  // (gpt_layer_specs.py: column_parallel_layer_norm_linear if qk_layernorm), which DeepSeek's MLA always has.
  if (m.qkNorm || a.kind === 'mla') args.push(['--qk-layernorm']);
  // A learned sink logit per head in the softmax (gpt-oss): TransformerConfig.softmax_type.
  if (a.kind === 'gqa' && a.sinks) args.push(['--softmax-type', 'learnable']);
  if ((m.normsPerLayer ?? 2) !== 2) {
    f.notExpressible(
      'model',
      `norms_per_layer = ${m.normsPerLayer}`,
      "pretrain_gpt.py's layer has one norm before attention and one before the MLP; no flag adds norms after them (Gemma-2/3)",
      'export --to vllm to serve it; training it needs a custom layer spec',
      m.span,
    );
  }
  return args;
}

/** Rotary base and scaling: llama3 (fixed low 1, high 4, original 8192 in Megatron), linear, and yarn. */
function ropeArgs(plan: TrainPlan, a: AttentionSpec, f: Findings): Args {
  const m = plan.model;
  const args: Args = [];
  // Always written, so that the base is the model's whatever Megatron's default (10000 at core_v0.19.0).
  {
    // --rotary-base is type=int.
    if (Number.isInteger(m.ropeTheta)) args.push(['--rotary-base', String(m.ropeTheta)]);
    else
      f.notExpressible('model', `rope_theta = ${m.ropeTheta}`, '--rotary-base takes an integer', 'round rope_theta to an integer', m.span);
  }
  const r = m.ropeScaling;
  if (a.kind === 'mla') {
    // MLATransformerConfig defaults to yarn; say which, since --rotary-scaling-factor defaults to 1.
    if (r === undefined) return [...args, ['--rope-type', 'rope']];
    if (r.type !== 'yarn') {
      f.notExpressible(
        'model',
        `rope_scaling = ${r.type}`,
        'its MLA takes plain or yarn rotary embeddings',
        'use rope_scaling = yarn or none',
        m.span,
      );
      return args;
    }
    // original_max_position_embeddings, beta_fast and beta_slow have no flags with MLA: MLATransformerConfig's 4096, 32, 1.
    if ((r.originalMaxSeq ?? 4096) !== 4096 || (r.betaFast ?? 32) !== 32 || (r.betaSlow ?? 1) !== 1) {
      f.notExpressible(
        'model',
        'yarn rope scaling',
        "with MLA its yarn takes MLATransformerConfig's original context 4096, beta_fast 32 and beta_slow 1, which have no flags",
        'use rope_original_max_seq = 4096, rope_beta_fast = 32, rope_beta_slow = 1',
        m.span,
      );
    }
    return [...args, ['--rope-type', 'yarn'], ['--rotary-scaling-factor', String(r.factor)]];
  }
  if (r === undefined) return args;
  switch (r.type) {
    case 'llama3':
      if ((r.lowFreqFactor ?? 1) !== 1 || (r.highFreqFactor ?? 4) !== 4 || (r.originalMaxSeq ?? 8192) !== 8192) {
        f.notExpressible(
          'model',
          'llama3 rope scaling',
          'its --use-rope-scaling fixes low_freq_factor 1, high_freq_factor 4 and an original context of 8192 (RotaryEmbedding._apply_scaling)',
          'use rope_low_freq_factor = 1, rope_high_freq_factor = 4, rope_original_max_seq = 8192',
          m.span,
        );
      }
      return [...args, ['--use-rope-scaling'], ['--rope-scaling-factor', String(r.factor)]];
    case 'linear':
      // Positions divided by the factor; the flag is type=int.
      if (Number.isInteger(r.factor)) return [...args, ['--rotary-seq-len-interpolation-factor', String(r.factor)]];
      f.notExpressible(
        'model',
        `linear rope scaling by ${r.factor}`,
        '--rotary-seq-len-interpolation-factor takes an integer',
        'use an integer rope_factor',
        m.span,
      );
      return args;
    case 'yarn':
      return [
        ...args,
        ['--rotary-scaling-factor', String(r.factor)],
        ['--yarn-original-max-position-embeddings', String(r.originalMaxSeq ?? 4096)],
        ['--yarn-beta-fast', String(r.betaFast ?? 32)],
        ['--yarn-beta-slow', String(r.betaSlow ?? 1)],
      ];
    case 'dynamic':
      f.notExpressible(
        'model',
        'dynamic rope scaling',
        'it has no dynamic NTK scaling',
        'use rope_scaling = llama3, linear or yarn',
        m.span,
      );
      return args;
  }
}

/** --swiglu gates with SiLU; without it the MLP is plain GELU. Gemma's tanh-GELU gate has no flag (--quick-geglu is x·σ(1.702x)). */
function activationArgs(plan: TrainPlan, shape: LayerShape, f: Findings): Args {
  switch (activationOf(shape)) {
    case 'swiglu':
      return [['--swiglu']];
    case 'gelu':
      return [];
    case 'geglu':
      f.notExpressible(
        'model',
        'activation = geglu',
        'its gated activations are --swiglu (SiLU) and --quick-geglu (x·sigmoid(1.702x)), not the tanh-GELU gate of Gemma',
        'export --to vllm to serve it; training it needs a custom activation',
        plan.model.span,
      );
      return [];
  }
}

/**
 * Routed experts (--num-experts, --moe-router-topk, --moe-ffn-hidden-size), the shared experts as
 * one MLP of their summed width (--moe-shared-expert-intermediate-size), leading dense layers as
 * a --moe-layer-freq list, and the router's bias.
 */
function moeArgs(plan: TrainPlan, shape: LayerShape, moe: MoeMlp, f: Findings): Args {
  const m = plan.model;
  const args: Args = [
    ['--num-experts', String(moe.experts)],
    ['--moe-router-topk', String(moe.topK)],
    ['--moe-ffn-hidden-size', String(moe.expertFfn)],
  ];
  if (moe.sharedExperts > 0) args.push(['--moe-shared-expert-intermediate-size', String(moe.sharedExperts * moe.sharedFfn)]);
  if (moe.sharedGate) args.push(['--moe-shared-expert-gate']);
  // Megatron's default (top-k, then softmax over those) renormalizes; softmax before top-k keeps the probabilities.
  if (!moe.normTopK) args.push(['--moe-router-pre-softmax']);
  // 1 = an expert layer, 0 = dense; the list's length is the number of layers.
  if (!shape.moeLayers.every((e) => e)) args.push(['--moe-layer-freq', word(patternExpression(shape.moeLayers))]);
  if (moe.routerBias && !m.bias) {
    // DeepSeek-V3's score-correction bias: aux-loss-free balancing, which Megatron allows only with sigmoid (or sqrtsoftplus) scores.
    args.push(['--moe-router-score-function', 'sigmoid'], ['--moe-router-enable-expert-bias'], ['--moe-router-bias-update-rate', '1e-3']);
  }
  // With biases (gpt-oss), the router's learned bias comes with them; Megatron asserts expert tensor 1.
  if (m.bias && plan.experts.tensor > 1) {
    f.notExpressible(
      'expert_tensor',
      `expert_tensor = ${plan.experts.tensor}`,
      "its experts take biases only with --expert-tensor-parallel-size 1 ('Bias in Moe is only supported when ETP==1')",
      'set expert_tensor = 1',
    );
  }
  // Capacity: each expert takes at most capacity_factor × its even share, padded to it (the plan's memory counts the padding).
  if (plan.capacityFactor !== undefined)
    args.push(['--moe-expert-capacity-factor', String(plan.capacityFactor)], ['--moe-pad-expert-input-to-capacity']);
  return args;
}

function parallelArgs(plan: TrainPlan, f: Findings): Args {
  const { tensor, pipeline } = plan.mesh;
  const args: Args = [
    ['--tensor-model-parallel-size', String(tensor)],
    ['--pipeline-model-parallel-size', String(pipeline)],
  ];
  args.push(...expertArgs(plan));
  if (plan.sequenceParallel && tensor > 1) args.push(['--sequence-parallel']);
  // Context parallelism: --cp-comm-type names the plan's exchange (Megatron's 'allgather' is the plan's all_gather).
  if (plan.mesh.context > 1)
    args.push(
      ['--context-parallel-size', String(plan.mesh.context)],
      ['--cp-comm-type', plan.contextComm === 'all_gather' ? 'allgather' : plan.contextComm],
    );
  args.push(...scheduleArgs(plan, f), ...zeroArgs(plan));
  shardingChecks(plan, f);
  return args;
}

/**
 * The expert grid as Megatron-Core folds it (parallel_state.py): expert tensor × expert × expert
 * data over each stage's tensor × data ranks, the same regrouping as plan.experts. Expert tensor
 * defaults to tensor there, so it is written only when it differs.
 */
function expertArgs(plan: TrainPlan): Args {
  const e = plan.experts;
  const args: Args = [];
  if (e.expert > 1) args.push(['--expert-model-parallel-size', String(e.expert)]);
  if (e.tensor !== plan.mesh.tensor) args.push(['--expert-tensor-parallel-size', String(e.tensor)]);
  // The all-to-all dispatcher sends each token to its experts' ranks only (the default all-gathers every token over the group).
  if (e.expert > 1) args.push(['--moe-token-dispatcher-type', 'alltoall']);
  return args;
}

function scheduleArgs(plan: TrainPlan, f: Findings): Args {
  if (plan.mesh.pipeline === 1) return [];
  switch (plan.schedule) {
    case 'interleaved':
      // A layout sets the virtual stages itself (Megatron derives the VPP size from its length).
      if (plan.stages.some((s) => s.chunks)) return layoutArgs(plan);
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
  // The plan's own layout, written back in Megatron's notation (pipeline_parallel_layer_layout.py).
  const chunks = plan.stages.flatMap((s) => s.chunks ?? []).sort((a, b) => a.index - b.index);
  if (chunks.length > 0) {
    const even = chunks.every((c) => c.layers === chunks[0]!.layers);
    if (!even || plan.virtual === 1) return [['--pipeline-model-parallel-layout', word(formatLayout(chunks))]];
    return plan.virtual > 1 ? [['--num-virtual-stages-per-pipeline-rank', String(plan.virtual)]] : [];
  }
  const { sizes, even } = stageSizes(plan);
  if (even) return [];
  const stages = sizes.map((n, i) => `${i === 0 ? 'E' : ''}t*${n}${i === sizes.length - 1 ? 'L' : ''}`);
  return [['--pipeline-model-parallel-layout', word(stages.join('|'))]];
}

/** ZeRO-1 is the distributed optimizer; ZeRO-2/3 are Megatron-FSDP's sharding strategies; HSDP is their replicas. */
function zeroArgs(plan: TrainPlan): Args {
  const replicas = plan.zero >= 1 && shardOver(plan) < plan.mesh.data ? plan.mesh.data / shardOver(plan) : 1;
  return [...zeroStageArgs(plan), ...(replicas > 1 ? ([['--num-distributed-optimizer-instances', String(replicas)]] as Args) : [])];
}

/**
 * What Megatron cannot run of the plan's sharding: reshard_after_forward = false under its own
 * FSDP (--torch-fsdp2-no-reshard-after-forward is PyTorch FSDP2's, not Megatron-FSDP's), and
 * offload: --optimizer-cpu-offload (with --use-precision-aware-optimizer) moves the optimizer
 * states, but the fp32 main-gradient buffer stays on the GPU, more than the plan was checked
 * for; parameters are never offloaded.
 */
function shardingChecks(plan: TrainPlan, f: Findings): void {
  if (plan.zero === 3 && !plan.reshardAfterForward)
    f.notExpressible(
      'reshard_after_forward',
      'reshard_after_forward = false',
      'Megatron-FSDP (optim_grads_params) reshards after every forward; --torch-fsdp2-no-reshard-after-forward applies to PyTorch FSDP2, not to the Megatron-FSDP this export uses',
      'remove reshard_after_forward, use zero = 2, or export --to torchtitan',
    );
  if (plan.offload !== 'none')
    f.notExpressible(
      'offload',
      `offload = ${plan.offload}`,
      plan.offload === 'optimizer'
        ? '--optimizer-cpu-offload (with --use-precision-aware-optimizer) moves the optimizer states to the CPU but keeps the fp32 main-gradient buffer on the GPU, more GPU memory than the plan was checked for'
        : 'it offloads optimizer states only (--optimizer-cpu-offload), never parameters',
      'export --to deepspeed (ZeRO-Offload), or check the plan without offload',
    );
}

function zeroStageArgs(plan: TrainPlan): Args {
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

/**
 * recompute → --recompute-granularity (selective: recompute_modules' default, core_attn), full with
 * --recompute-method / --recompute-num-layers (megatron/core/transformer/transformer_config.py).
 * torchtitan's per-op policy has no Megatron setting.
 */
function recomputeArgs(plan: TrainPlan, f: Findings): Args {
  switch (plan.recompute) {
    case 'none':
      return [];
    case 'selective':
      return [['--recompute-granularity', 'selective']];
    case 'selective_op':
      f.notExpressible(
        'recompute',
        'recompute = selective_op',
        "torchtitan's per-op selective checkpointing (save matmul outputs but every second) has no Megatron setting; its --recompute-modules checkpoint whole modules",
        'use recompute = selective (--recompute-granularity selective, core_attn) or full',
      );
      return [];
    case 'full':
      return [
        ['--recompute-granularity', 'full'],
        ['--recompute-method', plan.recomputeMethod],
        ['--recompute-num-layers', String(plan.recomputeLayers)],
      ];
  }
}

/** Gradients are kept in the training dtype or in fp32; Megatron has no third choice. */
function precisionArgs(plan: TrainPlan, f: Findings): Args {
  const p = plan.precision;
  if (plan.amp)
    // Megatron's --bf16/--fp16 keep 16-bit weights with an fp32 master copy in the optimizer; it has no flag for autocast over fp32 weights.
    f.notExpressible(
      'precision',
      `precision = amp_${p}`,
      `autocast over fp32 parameters has no flag; --${p} keeps ${p} weights and an fp32 master copy in the optimizer`,
      `use precision = ${p} (Megatron's recipe)`,
    );
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

/**
 * fp8 through TransformerEngine: HYBRID (E4M3 forward, E5M2 gradients, TE's default for per-tensor
 * recipes) or E4M3 (TE's MXFP8BlockScaling default); delayed scaling with the one-step amax
 * history parplan counts. torchao's Float8Linear is not Megatron's.
 */
function fp8Args(plan: TrainPlan, f: Findings): Args {
  switch (plan.fp8) {
    case 'none':
      return [];
    case 'te_delayed':
      return [
        ['--fp8-format', 'hybrid'],
        ['--fp8-recipe', 'delayed'],
        ['--fp8-amax-history-len', String(FP8_AMAX_HISTORY)],
      ];
    case 'te_current':
      return [
        ['--fp8-format', 'hybrid'],
        ['--fp8-recipe', 'tensorwise'],
      ];
    case 'te_mxfp8':
      return [
        ['--fp8-format', 'e4m3'],
        ['--fp8-recipe', 'mxfp8'],
      ];
    case 'torchao_tensorwise':
    case 'torchao_rowwise':
      f.notExpressible(
        'fp8',
        `fp8 = ${plan.fp8}`,
        "it trains in fp8 through TransformerEngine (--fp8-recipe), not torchao's Float8Linear",
        `use fp8 = ${plan.fp8 === 'torchao_tensorwise' ? 'te_current (per-tensor current scaling, as torchao tensorwise)' : 'te_current or te_delayed'}, or export --to torchtitan`,
      );
      return [];
  }
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

function header(plan: TrainPlan, args: Args): string {
  const e = plan.experts;
  const extra = usedSources(
    MEGATRON_MODEL_SOURCES,
    args.map(([flag]) => flag),
  );
  return comment(
    [
      `Megatron-LM launch for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      versionLine('megatron', 'Megatron-LM'),
      `${meshText(plan)}; run from a Megatron-LM checkout.`,
      ...(e.expert > 1 || e.tensor !== plan.mesh.tensor
        ? [`Experts: expert tensor ${e.tensor} × expert ${e.expert} × expert data ${e.data} over each stage's tensor × data ranks.`]
        : []),
      ...(args.some(([flag]) => flag === '--num-experts')
        ? [
            "Routing details a plan does not describe (group-limited routing, top-k scaling, load-balancing loss) keep Megatron's defaults: set them from the model's config.",
          ]
        : []),
      'Option names as in:',
      ...citations([...MEGATRON_SOURCES, ...extra, TORCHRUN_ARGS]).map((c) => `  ${c}`),
    ].join('\n'),
  );
}
