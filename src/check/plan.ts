/**
 * A `plan` declaration → CheckedPlan. The parallel dimensions are checked one per
 * function, in a fixed order (tensor, pipeline, mesh size, batch, schedule,
 * precision); each reports its own diagnostics, and a plan with any error yields
 * no CheckedPlan.
 */
import type { BlockValue, Declaration } from '../ast.js';
import { diag, hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import type { Dtype, FloatDtype } from '../facts/dtypes.js';
import { KEY_TABLE, MODES, PRECISIONS, type Mode } from '../facts/keys.js';
import { describeLayer, layerRuns, sameShape, type MoeMlp } from '../model.js';
import type { CheckedPlan, ClusterSpec, Mesh, ModelSpec, ServePlan, TrainPlan } from '../plan.js';
import type { Span } from '../source.js';
import { checkAdapter } from './adapter.js';
import { checkServeBatch, checkTrainBatch } from './batch.js';
import { spanOf, type PlanContext } from './context.js';
import { checkMeshSize } from './data.js';
import { checkLayout } from './layout.js';
import { checkContext } from './context-parallel.js';
import { checkSchedule, checkStages } from './pipeline.js';
import { checkAmp, checkBf16, checkEngineDtypes, checkNoEffect, checkRecompute } from './precision.js';
import { checkFp8 } from './fp8.js';
import { checkExperts, defaultExpertTensor } from './expert.js';
import { checkSharding } from './shard.js';
import { checkTensor, deriveFacts } from './tensor.js';
import { checkTraffic, readTrafficBlocks, type Traces } from './traffic.js';
import { readBlock } from './values.js';
import { checkWebgpuTraining } from './webgpu-train.js';

/** Declarations visible to a plan, by name; `spec` is undefined when the declaration itself has errors. */
export interface Scope {
  models: Map<string, { decl: Declaration; spec: ModelSpec | undefined }>;
  clusters: Map<string, { decl: Declaration; spec: ClusterSpec | undefined }>;
}

export function checkPlan(
  decl: Declaration,
  scope: Scope,
  file: string,
  out: Diagnostic[],
  traces: Traces = new Map(),
): CheckedPlan | undefined {
  const before = out.length;
  const mode = peekMode(decl.body);
  const where = `plan '${decl.name}'`;
  const fields = readBlock(decl.body, 'plan', mode ? { where, mode, anchor: decl.nameSpan, out } : { where, anchor: decl.nameSpan, out });
  const model = resolveRef(fields.get<string>('model'), 'model', scope.models, out);
  const cluster = resolveRef(fields.get<string>('cluster'), 'cluster', scope.clusters, out);
  const planBlock = (key: 'batch' | 'adapter') => {
    const f = fields.get<BlockValue>(key);
    return f && mode
      ? readBlock(f.value, key, { where: `the ${key} block of plan '${decl.name}'`, mode, anchor: f.entry.keySpan, out })
      : undefined;
  };
  const batch = planBlock('batch');
  const adapterBlock = planBlock('adapter');
  const trafficBlocks = mode === 'serve' ? readTrafficBlocks(fields, decl.name, out) : {};
  if (!mode || !model || !cluster || fields.value<Mode>('mode') === undefined) return undefined;

  const mesh: Mesh = {
    tensor: fields.valueOrDefault<number>('tensor'),
    context: fields.valueOrDefault<number>('context'),
    pipeline: fields.valueOrDefault<number>('pipeline'),
    data: fields.valueOrDefault<number>('data'),
  };
  const ctx: PlanContext = { decl, mode, fields, batch, model, cluster, mesh, out };

  const tensorOk = checkTensor(ctx);
  const layout = ctx.fields.has('layout') ? checkLayout(ctx) : undefined;
  const stages = ctx.fields.has('layout') ? layout?.stages : checkStages(ctx);
  const meshOk = checkMeshSize(ctx);
  const contextOk = checkContext(ctx);
  const experts = checkExperts(ctx);
  // The shape both modes need; each mode's own checks still run (and report) when it fails.
  const shapeOk = stages !== undefined && tensorOk && meshOk && contextOk && experts !== undefined;
  checkNoEffect(ctx);
  const spans: Record<string, Span> = {};
  for (const [k, f] of fields.map) spans[k] = f.span;
  if (batch) for (const [k, f] of batch.map) spans[`batch.${k}`] = f.span;
  if (adapterBlock) for (const [k, f] of adapterBlock.map) spans[`adapter.${k}`] = f.span;
  for (const [k, b] of Object.entries(trafficBlocks)) for (const [key, f] of b.fields.map) spans[`${k}.${key}`] = f.span;
  const expertMesh = experts ?? { tensor: mesh.tensor, expert: 1, data: mesh.data };
  const base = {
    name: decl.name,
    file,
    span: decl.nameSpan,
    model,
    cluster,
    mesh,
    experts: expertMesh,
    reserve: fields.valueOrDefault<number>('reserve'),
    workspaceBytes: fields.valueOrDefault<number>('workspace'),
    attention: fields.valueOrDefault<CheckedPlan['attention']>('attention'),
    derived: deriveFacts(model, mesh, expertMesh),
    spans,
  };

  if (mode === 'serve') {
    const b = checkServeBatch(ctx);
    const kvDtype = fields.value<Dtype>('kv_dtype') ?? model.dtype;
    // An absent kv_dtype is the model dtype, checked once as that.
    const dtypes = [
      { key: 'model.dtype', what: `model '${model.name}' dtype`, dtype: model.dtype },
      ...(fields.has('kv_dtype') ? [{ key: 'kv_dtype', what: 'kv_dtype', dtype: kvDtype }] : []),
    ];
    const precisionOk = checkBf16(ctx, dtypes);
    const engine = fields.valueOrDefault<ServePlan['engine']>('engine');
    const engineOk = engine !== 'webgpu' || (checkEngineDtypes(ctx, dtypes) && checkEngineModel(ctx));
    const load = b ? checkTraffic(ctx, trafficBlocks, b, traces) : { ok: false };
    if (!load.ok || !b || !shapeOk || !precisionOk || !engineOk || hasErrors(out.slice(before))) return undefined;
    const plan: ServePlan = {
      ...base,
      stages,
      mode,
      batch: b,
      kvDtype,
      kvBlock: fields.valueOrDefault<number>('kv_block'),
      engine,
      workspaceGiven: fields.has('workspace'),
      ...(load.traffic ? { traffic: load.traffic } : {}),
      ...(load.slo ? { slo: load.slo } : {}),
    };
    return plan;
  }

  const adapter = checkAdapter(ctx, adapterBlock);
  const tb = checkTrainBatch(ctx);
  const sched = checkSchedule(ctx, tb?.microbatches, layout);
  const recipe =
    fields.value<Precision>('precision') ?? (isPrecision(model.dtype) ? model.dtype : fields.valueOrDefault<Precision>('precision'));
  // amp_bf16 / amp_fp16: the compute dtype is the 16-bit one; the parameters stay fp32 (plan.amp).
  const amp = recipe === 'amp_bf16' || recipe === 'amp_fp16';
  const precision: TrainPlan['precision'] = recipe === 'amp_bf16' ? 'bf16' : recipe === 'amp_fp16' ? 'fp16' : recipe;
  const gradDtype = fields.valueOrDefault<TrainPlan['gradDtype']>('grad_dtype');
  const sharding = checkSharding(ctx, fields.valueOrDefault<number>('expert'));
  const precisionOk = checkBf16(ctx, [
    { key: fields.has('precision') ? 'precision' : 'model.dtype', what: 'precision', dtype: precision },
    { key: 'grad_dtype', what: 'grad_dtype', dtype: gradDtype },
  ]);
  const recipeOk = checkAmp(ctx, amp, recipe) && checkRecompute(ctx);
  const fp8 = fields.valueOrDefault<TrainPlan['fp8']>('fp8');
  const sp = fields.valueOrDefault<boolean>('sequence_parallel') ? ctx.mesh.tensor : 1;
  const fp8Ok = !precisionOk || checkFp8(ctx, fp8, recipe, tb ? (tb.batch.seq * tb.batch.micro) / sp : undefined);
  const engine = fields.valueOrDefault<'generic' | 'webgpu'>('engine');
  const engineOk = engine !== 'webgpu' || (checkEngineModel(ctx) && checkWebgpuTraining(ctx, { recipe }));
  if (
    !engineOk ||
    !fp8Ok ||
    !tb ||
    !sched ||
    !shapeOk ||
    !precisionOk ||
    !recipeOk ||
    adapter === false ||
    !sharding ||
    hasErrors(out.slice(before))
  )
    return undefined;
  const plan: TrainPlan = {
    ...base,
    stages,
    mode,
    batch: tb.batch,
    microbatches: tb.microbatches,
    schedule: sched.schedule,
    ...(sched.actions ? { actions: sched.actions } : {}),
    virtual: sched.virtual,
    sequenceParallel: fields.valueOrDefault<boolean>('sequence_parallel'),
    zero: fields.valueOrDefault<TrainPlan['zero']>('zero'),
    ...sharding,
    recompute: fields.valueOrDefault<TrainPlan['recompute']>('recompute'),
    recomputeMethod: fields.valueOrDefault<TrainPlan['recomputeMethod']>('recompute_method'),
    recomputeLayers: fields.valueOrDefault<number>('recompute_layers'),
    precision,
    amp,
    optimizer: fields.valueOrDefault<TrainPlan['optimizer']>('optimizer'),
    gradDtype,
    contextComm: fields.valueOrDefault<TrainPlan['contextComm']>('context_comm'),
    fp8,
    ...(fields.has('capacity_factor') ? { capacityFactor: fields.value<number>('capacity_factor')! } : {}),
    ...(adapter ? { adapter } : {}),
    ...(engine === 'webgpu' ? { engine } : {}),
    ...(fields.has('grad_clip') ? { gradClip: fields.value<number>('grad_clip')! } : {}),
  };
  return plan;
}

/**
 * The webgpu runtime runs dense layers with grouped-query attention (full or in a sliding
 * window), every layer alike but for its window, unquantized weights, a gelu, swiglu or geglu
 * MLP, RoPE unscaled or with llama3 / linear scaling, Qwen2's q/k/v biases, Qwen3's q/k norms,
 * Gemma-2's facts (four norms per layer, soft-capping, the attention scalar, scaled embeddings,
 * offset norms) and Mixtral / Qwen3-MoE experts (softmax top-k router, SwiGLU experts) with the
 * expert grid within a replica's tensor ranks (expert × expert_tensor = tensor); a model with
 * anything else (shared experts, a router bias, MLA, sinks, dynamic/yarn scaling, quantized
 * weights) needs engine = generic (PP3036).
 */
function checkEngineModel(ctx: PlanContext): boolean {
  const { model } = ctx;
  const runs = layerRuns(model);
  const scaling = model.positions === 'rope' ? model.ropeScaling?.type : undefined;
  const unsupported: [boolean, string][] = [
    [model.quant !== undefined, `quantized weights (${model.quant?.method})`],
    ...moeUnsupported(ctx, runs),
    [runs.some((r) => r.layer.attention.kind === 'mla'), 'multi-head latent attention'],
    [
      runs.some((r) => !sameShape(r.layer, runs[0]!.layer)),
      `layers that differ (${[...new Set(runs.map((r) => describeLayer(r.layer)))].join(' vs ')})`,
    ],
    [
      (model.normsPerLayer ?? 2) === 4 && model.qkNorm === true,
      "four norms with q/k norms (Gemma-3: its local layers' RoPE base, rope_local_base_freq, is not in the model description)",
    ],
    [scaling === 'dynamic' || scaling === 'yarn', `rope_scaling = ${scaling} (the runtime applies none, linear and llama3)`],
    [runs.some((r) => r.layer.attention.kind === 'gqa' && r.layer.attention.sinks === true), 'attention sinks'],
    [
      runs.some((r) => r.layer.attention.kind === 'gqa' && r.layer.attention.headDim % 2 !== 0),
      'an odd head_dim (its KV cache and RoPE work on pairs of dimensions)',
    ],
  ];
  const what = unsupported.find(([has]) => has)?.[1];
  if (!what) return true;
  ctx.out.push(
    diag(
      'PP3036',
      spanOf(ctx, 'engine'),
      { what, model: model.name },
      {
        help: 'use engine = generic (the default), which sizes the plan for a CUDA serving engine such as vLLM',
        related: [{ span: model.span, message: `model '${model.name}' declared here` }],
      },
    ),
  );
  return false;
}

/** What the webgpu runtime does not run of a model's MoE layers (it runs Mixtral's and Qwen3-MoE's kind, expert × expert_tensor = tensor). */
function moeUnsupported(ctx: PlanContext, runs: ReturnType<typeof layerRuns>): [boolean, string][] {
  const moe = runs.map((r) => r.layer.mlp).filter((m): m is MoeMlp => m.kind === 'moe');
  if (moe.length === 0) return [];
  const { tensor, data } = ctx.mesh;
  const expert = ctx.fields.valueOrDefault<number>('expert');
  const etp = ctx.fields.value<number>('expert_tensor') ?? defaultExpertTensor(ctx.mode, tensor, data, expert);
  return [
    [ctx.model.arch !== 'llama', `Mixture-of-Experts layers in arch ${ctx.model.arch}`],
    [moe.some((m) => m.sharedExperts > 0), 'shared experts'],
    [moe.some((m) => m.routerBias), 'a router bias'],
    [ctx.model.bias, 'expert biases'],
    [moe.some((m) => m.activation !== 'swiglu'), 'experts without SwiGLU'],
    [
      expert * etp !== tensor,
      `expert groups beyond a replica's tensor ranks (expert × expert_tensor = ${expert} × ${etp} ≠ tensor = ${tensor}; the runtime exchanges tokens among the tensor ranks of a replica: ${tensor % expert === 0 ? `set expert_tensor = ${tensor / expert}` : `use expert = 1, or a tensor degree that expert ${expert} divides`})`,
    ],
  ];
}

/** A model dtype that training can use as its precision (quantized ones cannot). */
type Precision = (typeof PRECISIONS)[number];
function isPrecision(d: Dtype): d is FloatDtype {
  return (KEY_TABLE.plan.precision.type.values as readonly string[]).includes(d);
}

/** The mode decides which keys apply, so it is read before the rest of the block. */
function peekMode(body: BlockValue): Mode | undefined {
  const e = body.entries.find((x) => x.key === 'mode');
  return e && e.value.kind === 'ident' && (MODES as readonly string[]).includes(e.value.name) ? (e.value.name as Mode) : undefined;
}

function resolveRef<T>(
  field: { value: string; span: Span } | undefined,
  kind: 'model' | 'cluster',
  table: Map<string, { decl: Declaration; spec: T | undefined }>,
  out: Diagnostic[],
): T | undefined {
  if (!field) return undefined;
  const found = table.get(field.value);
  if (found) return found.spec;
  const names = [...table.keys()];
  const hint = didYouMean(field.value, names, 6);
  const help = hint ?? (names.length === 0 ? `declare one: ${kind} ${field.value} { … }, or import the file that does` : undefined);
  out.push(diag('PP2010', field.span, { kind, name: field.value }, help ? { help } : {}));
  return undefined;
}
