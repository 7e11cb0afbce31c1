/**
 * vLLM: one `vllm serve` command per data-parallel replica (each a tensor × pipeline group),
 * pinned to its GPUs with CUDA_VISIBLE_DEVICES and given its own port. Mapping and its
 * reasons: docs/export.md.
 */
import type { Dtype } from '../facts/dtypes.js';
import type { CheckedPlan, ServePlan } from '../plan.js';
import { Findings } from './findings.js';
import { locate, meshText, placement, stageSizes } from './cluster.js';
import { layerShape } from './layers.js';
import { ENGINE_VERSIONS, versionLine } from './options/versions.js';
import { citations, usedSources } from './options/source.js';
import {
  VLLM_CACHE_DTYPES,
  VLLM_SERVE_CLI,
  VLLM_SOURCES,
  type VllmCacheDtype,
  type VllmFlag,
  type VllmModelDtype,
} from './options/vllm.js';
import { background, command, comment, perNode, plain, required, script, word, type Arg } from './shell.js';
import type { ExportOptions, ExportResult } from './types.js';

const FIRST_PORT = 8000;
/** Where a multi-node data-parallel engine's ranks meet node 0 (any free port; vLLM's docs use 13345). */
const DP_RPC_PORT = 13345;

const MODEL_DTYPE: Partial<Record<Dtype, VllmModelDtype>> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };
/**
 * KV cache dtypes of the stated version (VLLM_CACHE_DTYPES): float16 and the int8/int4
 * per-token-head caches are values of other vLLM versions, so such a plan is an error.
 */
const CACHE_DTYPE: Partial<Record<Dtype, VllmCacheDtype>> = {
  bf16: 'bfloat16',
  fp8: 'fp8',
};

export function exportVllm(plan: CheckedPlan, opts: ExportOptions = {}): ExportResult {
  const f = new Findings(plan, 'vllm');
  if (plan.mode !== 'serve')
    return f.wrongMode(
      'serve',
      'export a training plan with --to torchtitan, megatron or deepspeed, or pick a serve plan with --plan NAME',
    );
  const model = opts.model === undefined ? modelPlaceholder(plan, f) : word(opts.model);
  const args = engineArgs(plan, f);
  const env = stageEnv(plan);
  const engines = engineLayout(plan, f);
  unexpressed(plan, f);
  if (f.failed || engines === undefined) return { files: [], diagnostics: f.list };
  const text = engines.kind === 'replicas' ? replicaScript(plan, model, args, env) : dataParallelScript(plan, model, args, env, engines);
  return { files: [{ name: `${plan.name}.vllm.sh`, text }], diagnostics: f.list };
}

/**
 * How the data-parallel ranks run. `replicas`: one engine per replica, each with its own copy of
 * the experts split over its tensor ranks (expert = 1, expert_tensor = tensor). `engine`: one
 * engine over all replicas (--data-parallel-size), whose MoE layers split the experts over every
 * tensor × data rank of a stage: with --enable-expert-parallel as whole experts (expert = tensor ×
 * data, expert_tensor = 1: EP = TP × DP), without it each expert's width (expert = 1, expert_tensor
 * = tensor × data). vllm/model_executor/layers/fused_moe/config.py (FusedMoEParallelConfig.make at
 * 002d6073, /work/shared/research/model-families-anchors.md §1.3). No other expert grid exists there.
 */
type EngineLayout = { kind: 'replicas' } | { kind: 'engine'; expertParallel: boolean };

/** One engine over several nodes needs whole nodes, each holding whole data-parallel ranks. */
function oneEngine(plan: ServePlan, f: Findings, expertParallel: boolean): EngineLayout | undefined {
  const at = f.wholeNodes();
  const g = plan.mesh.tensor * plan.mesh.pipeline;
  if (at === undefined) return undefined;
  if (at.nodes > 1 && at.perNode % g !== 0) {
    f.notExpressible(
      'data',
      `data = ${plan.mesh.data} in one engine`,
      `each node of a multi-node data-parallel engine runs whole data-parallel ranks, and a rank of ${g} GPUs (tensor × pipeline) does not divide ${at.perNode} GPUs per node`,
      `use tensor × pipeline dividing ${at.perNode}`,
    );
    return undefined;
  }
  return { kind: 'engine', expertParallel };
}

function engineLayout(plan: ServePlan, f: Findings): EngineLayout | undefined {
  const e = plan.experts;
  const { tensor, data } = plan.mesh;
  if (e.expert === 1 && e.tensor === tensor) return { kind: 'replicas' };
  const expertParallel = e.tensor === 1 && e.expert === tensor * data;
  if (expertParallel || (e.expert === 1 && e.tensor === tensor * data)) return oneEngine(plan, f, expertParallel);
  const knob = e.expert > 1 ? 'expert' : 'expert_tensor';
  f.notExpressible(
    knob,
    `expert = ${e.expert} with expert_tensor = ${e.tensor}`,
    `its MoE layers split the experts over every tensor × data rank of the engine: whole experts with --enable-expert-parallel (expert = tensor × data = ${tensor * data}, expert_tensor = 1), else each expert's width (expert_tensor = ${tensor}, or ${tensor * data} with data parallelism in one engine)`,
    `set expert = ${tensor * data} and expert_tensor = 1, or remove expert and expert_tensor`,
  );
  return undefined;
}

function modelPlaceholder(plan: ServePlan, f: Findings): string {
  f.placeholder(
    `the Hugging Face model of '${plan.model.name}'`,
    '$MODEL',
    "set MODEL when running the script, or export with --model ID (a Hugging Face id such as 'org/name', or a local path)",
  );
  return required('MODEL', `set MODEL to the Hugging Face id or local path of ${plain(plan.model.name)}`);
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
  // Only when the plan sets it: vLLM picks the page size per attention backend otherwise (16 on CUDA; MLA backends need their own).
  if (f.given('kv_block')) args.push(['--block-size', String(plan.kvBlock)]);
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
    `--kv-cache-dtype has no ${kv} value at ${ENGINE_VERSIONS.vllm.version} (its choices: ${VLLM_CACHE_DTYPES.names.join(', ')}; auto is the model dtype)`,
    'set kv_dtype to the model dtype, bf16 or fp8',
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

/**
 * One command per replica: replica r holds ranks [r·g, (r+1)·g) with g = tensor × pipeline. Over
 * several nodes the script runs on each node and starts the replicas of that node only
 * (`case "$NODE_RANK"`); several replicas on a node run in the background, and the script waits for them.
 */
function replicaScript(plan: ServePlan, model: string, args: readonly Arg<VllmFlag>[], env: string | undefined): string {
  const g = plan.mesh.tensor * plan.mesh.pipeline;
  const nodes = locate(plan, plan.derived.gpusUsed - 1).node + 1;
  const onNode: { notes: string[]; commands: string[] }[] = Array.from({ length: nodes }, () => ({ notes: [], commands: [] }));
  const portOnNode = new Map<number, number>();
  for (let r = 0; r < plan.mesh.data; r++) {
    const first = locate(plan, r * g);
    const last = locate(plan, (r + 1) * g - 1);
    const port = FIRST_PORT + (portOnNode.get(first.node) ?? 0);
    portOnNode.set(first.node, port - FIRST_PORT + 1);
    const replicaArgs: Arg<VllmFlag>[] = [['--port', String(port)], ...args];
    const at = onNode[first.node]!;
    let prefix: string;
    if (first.node === last.node) {
      const gpus = Array.from({ length: g }, (_, i) => first.gpu + i).join(',');
      at.notes.push(`replica ${r}: node ${first.node}, GPUs ${gpus}`);
      prefix = `CUDA_VISIBLE_DEVICES=${gpus}${env ? ` ${env}` : ''} vllm serve ${model}`;
    } else {
      // A replica larger than a node runs on a Ray cluster spanning its nodes, started from its first node.
      at.notes.push(
        `replica ${r}: nodes ${first.node}-${last.node}, all their GPUs; start a Ray cluster over these nodes first (ray start), then run this on node ${first.node}`,
      );
      for (let n = first.node + 1; n <= last.node; n++)
        onNode[n]!.notes.push(`replica ${r} runs on this node through the Ray cluster started on node ${first.node}`);
      replicaArgs.push(['--distributed-executor-backend', 'ray']);
      prefix = `${env ? `${env} ` : ''}vllm serve ${model}`;
    }
    at.commands.push(comment(at.notes.pop()!) + '\n' + command(prefix, replicaArgs, ''));
  }
  const bodies = onNode.map(({ notes, commands }) =>
    [...notes.map(comment), commands.length > 1 ? background(commands) : (commands[0] ?? '')].join('\n'),
  );
  if (nodes === 1) return script(header(plan), bodies[0]!);
  return script(header(plan), comment(`run this script on each of the ${nodes} nodes, with NODE_RANK = 0 … ${nodes - 1}`), perNode(bodies));
}

/**
 * One engine over all data-parallel ranks: on one node a single `vllm serve` over its GPUs; over
 * several nodes (each holding whole data-parallel ranks) node 0 serves the API and the others run
 * their engines headless, all meeting at node 0's address (vLLM's multi-node data-parallel launch).
 */
function dataParallelScript(
  plan: ServePlan,
  model: string,
  args: readonly Arg<VllmFlag>[],
  env: string | undefined,
  layout: { expertParallel: boolean },
): string {
  const g = plan.mesh.tensor * plan.mesh.pipeline;
  const d = plan.mesh.data;
  const dp: Arg<VllmFlag>[] = d > 1 ? [['--data-parallel-size', String(d)]] : [];
  if (layout.expertParallel) dp.push(['--enable-expert-parallel']);
  const at = placement(plan)!;
  const head = header(plan, at.nodes > 1 ? [['--headless']] : dp);
  if (at.nodes === 1) {
    const gpus = Array.from({ length: g * d }, (_, i) => i).join(',');
    return script(
      head,
      comment(`one engine${d > 1 ? ` (${d} data-parallel ranks of ${g} GPU${g > 1 ? 's' : ''})` : ''}: node 0, GPUs ${gpus}`),
      command(`CUDA_VISIBLE_DEVICES=${gpus}${env ? ` ${env}` : ''} vllm serve ${model}`, [['--port', String(FIRST_PORT)], ...args, ...dp]),
    );
  }
  const local = at.perNode / g;
  const address = required('HEAD_ADDR', 'set HEAD_ADDR to the address of node 0');
  const bodies: string[] = [];
  for (let n = 0; n < at.nodes; n++) {
    const nodeArgs: Arg<VllmFlag>[] = n === 0 ? [['--port', String(FIRST_PORT)], ...args, ...dp] : [['--headless'], ...args, ...dp];
    nodeArgs.push(['--data-parallel-size-local', String(local)]);
    if (n > 0) nodeArgs.push(['--data-parallel-start-rank', String(n * local)]);
    nodeArgs.push(['--data-parallel-address', address], ['--data-parallel-rpc-port', String(DP_RPC_PORT)]);
    bodies.push(
      [
        comment(`node ${n}: data-parallel ranks ${n * local}-${(n + 1) * local - 1}${n === 0 ? ' and the API server' : ', headless'}`),
        command(`${env ? `${env} ` : ''}vllm serve ${model}`, nodeArgs),
      ].join('\n'),
    );
  }
  return script(
    head,
    comment(`run this script on each of the ${at.nodes} nodes, with NODE_RANK = 0 … ${at.nodes - 1} and HEAD_ADDR = the address of node 0`),
    perNode(bodies),
  );
}

function header(plan: ServePlan, oneEngine?: readonly Arg<VllmFlag>[]): string {
  const e = plan.experts;
  const layout =
    oneEngine === undefined
      ? `one vllm serve per replica${plan.mesh.data > 1 ? ', each on its own port (a load balancer goes in front)' : ''}`
      : `one engine${plan.mesh.data > 1 ? ` over the ${plan.mesh.data} data-parallel ranks` : ''}`;
  return comment(
    [
      `vLLM launch for plan '${plan.name}' (${plan.file}), written by parplan export.`,
      versionLine('vllm', 'vLLM'),
      `${meshText(plan)}: ${layout}.`,
      ...(e.expert > 1 || e.tensor !== plan.mesh.tensor
        ? [`Experts: expert tensor ${e.tensor} × expert ${e.expert} × expert data ${e.data} over each stage's tensor × data ranks.`]
        : []),
      ...modelNotes(plan),
      'Option names as in:',
      ...citations([
        ...VLLM_SOURCES,
        ...usedSources(
          [VLLM_SERVE_CLI],
          (oneEngine ?? []).map(([flag]) => flag),
        ),
      ]).map((c) => `  ${c}`),
    ].join('\n'),
  );
}

/**
 * What vLLM reads from the checkpoint rather than from flags: the structure (experts, MLA,
 * sliding windows, rope scaling) from config.json, the weight format from its
 * quantization_config (so no --quantization flag: vLLM detects the method, and a flag that
 * disagreed with the checkpoint would be refused).
 */
function modelNotes(plan: ServePlan): string[] {
  const m = plan.model;
  const shape = layerShape(m);
  const parts: string[] = [];
  if (!('differs' in shape)) {
    if (shape.moe) parts.push(`${shape.moe.experts} experts, top ${shape.moe.topK}`);
    if (shape.attention.kind === 'mla') parts.push('MLA');
    if (shape.window !== undefined) parts.push(`sliding window ${shape.window}`);
  }
  if (m.ropeScaling) parts.push(`${m.ropeScaling.type} rope scaling`);
  const notes: string[] = [];
  if (parts.length > 0) notes.push(`vLLM reads the model's structure (${parts.join(', ')}) from the checkpoint's config.json.`);
  if (m.quant)
    notes.push(
      `Weights: ${m.quant.method}${m.quant.groupSize > 0 ? `, group ${m.quant.groupSize}` : ''}; vLLM reads the method from the checkpoint's quantization_config (no --quantization flag).`,
    );
  return notes;
}
