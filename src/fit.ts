/**
 * Does the plan fit? Compares each device's memory with its usable capacity and,
 * when a device is over, proposes the least disruptive change that fits, found by
 * re-running the (pure, fast) memory model on variants of the plan.
 */
import { shardOver } from './memory/zero.js';
import { diag, type Diagnostic } from './diagnostics/diagnostic.js';
import { balancedStages } from './check/pipeline.js';
import { deriveFacts, validTensorDegrees } from './check/tensor.js';
import { LIMITS } from './facts/limits.js';
import { formatBytes } from './format.js';
import { stagesFit } from './memory/index.js';
import { CATEGORIES, HOST_CATEGORIES, type DeviceMemory, type MemoryPlan } from './memory/types.js';
import type { CheckedPlan, Mesh } from './plan.js';
import { divisors } from './util/divisors.js';

/** Above this share of usable memory a fitting plan gets a warning. */
export const LOW_HEADROOM = 0.98;

export interface FitResult {
  fits: boolean;
  diagnostics: Diagnostic[];
}

/** The device with the highest total/usable ratio (first in rank order on ties). */
export function worstDevice(memory: MemoryPlan): DeviceMemory {
  let worst = memory.devices[0]!;
  for (const d of memory.devices) if (d.totalBytes / d.usableBytes > worst.totalBytes / worst.usableBytes) worst = d;
  return worst;
}

/** Every device's total is within its usable bytes. */
export function fitsAll(m: MemoryPlan): boolean {
  return m.devices.every((d) => d.totalBytes <= d.usableBytes);
}

/**
 * PP4003 when a device's memory figures reach LIMITS.deviceBytes (8 PiB): no GPU holds
 * that, and past it byte counts are no longer exact integers (the JSON output carries
 * them as such). Such a plan gets no memory result.
 */
export function beyondBytes(plan: CheckedPlan, memory: MemoryPlan): Diagnostic | undefined {
  const within = (n: number) => n >= 0 && n < LIMITS.deviceBytes;
  if (!within(memory.params)) return beyond(plan, 'one GPU', `${memory.params.toExponential(2)} parameters`);
  // Devices of a stage share one breakdown: look at each once (3,072 devices, a few stages).
  // Neighbours in rank order mostly share it (a tensor group): compared first, before the set.
  const seen = new Set<object>();
  let last: object | undefined;
  for (const d of memory.devices) {
    if (d.breakdown === last) continue;
    last = d.breakdown;
    if (seen.has(d.breakdown)) continue;
    seen.add(d.breakdown);
    if (within(d.totalBytes) && within(d.params) && CATEGORIES.every((c) => within(d.breakdown[c]))) continue;
    const largest = CATEGORIES.reduce((a, c) => (d.breakdown[c] > d.breakdown[a] ? c : a), CATEGORIES[0]);
    return beyond(plan, `rank ${d.rank}`, `largest part: ${largest}`);
  }
  return undefined;
}

function beyond(plan: CheckedPlan, where: string, detail: string): Diagnostic {
  return diag(
    'PP4003',
    plan.span,
    { plan: plan.name, where, limit: `${LIMITS.deviceBytes / 2 ** 50} PiB`, detail },
    {
      help: 'the model or the batch is far larger than any GPU: check layers, hidden, ffn, vocab, seq and the batch, or split the model over more GPUs',
    },
  );
}

export function fitDiagnostics(plan: CheckedPlan, memory: MemoryPlan): FitResult {
  const gpu = gpuFitDiagnostics(plan, memory);
  const host = hostFitDiagnostics(plan, memory);
  return { fits: gpu.fits && host.fits, diagnostics: [...gpu.diagnostics, ...host.diagnostics] };
}

/**
 * The CPU memory of offload plans, per node (memory.hosts), against the cluster's host_memory:
 * PP4004 when a node's total is over, PP4005 (a note) when the cluster does not say how much it has.
 */
export function hostFitDiagnostics(plan: CheckedPlan, memory: MemoryPlan): FitResult {
  if (memory.hosts.length === 0) return { fits: true, diagnostics: [] };
  const worst = memory.hosts.reduce((a, h) => (h.totalBytes > a.totalBytes ? h : a));
  const capacity = worst.capacityBytes;
  if (capacity === undefined) {
    return {
      fits: true,
      diagnostics: [
        diag(
          'PP4005',
          plan.span,
          { plan: plan.name, needs: formatBytes(worst.totalBytes), cluster: plan.cluster.name },
          {
            help: `add \`host_memory = …\` (CPU memory per node) to cluster '${plan.cluster.name}' to check it; no default is safe, hosts differ too much`,
          },
        ),
      ],
    };
  }
  if (worst.totalBytes <= capacity) return { fits: true, diagnostics: [] };
  const largest = HOST_CATEGORIES.reduce((a, c) => (worst.breakdown[c] > worst.breakdown[a] ? c : a), HOST_CATEGORIES[0]);
  const text = `node ${worst.node} needs ${formatBytes(worst.totalBytes)} of CPU memory for its ${worst.gpus} ${worst.gpus === 1 ? "GPU's" : "GPUs'"} offloaded state, but cluster '${plan.cluster.name}' has host_memory = ${formatBytes(capacity)} (largest part: ${largest} ${formatBytes(worst.breakdown[largest])})`;
  const more = plan.mode === 'train' && shardOver(plan) < plan.mesh.data ? ', a larger shard_group' : '';
  return {
    fits: false,
    diagnostics: [
      diag(
        'PP4004',
        plan.span,
        { plan: plan.name, worst: text },
        {
          help: `spread the partitions over more nodes (more data ranks${more}), use fewer GPUs per node, offload less (offload = optimizer keeps the weights on the GPU; none keeps everything there), or use hosts with more memory`,
          related: [{ span: plan.cluster.span, message: `cluster '${plan.cluster.name}' declared here` }],
        },
      ),
    ],
  };
}

function gpuFitDiagnostics(plan: CheckedPlan, memory: MemoryPlan): FitResult {
  const worst = worstDevice(memory);
  const label = `rank ${worst.rank}${plan.mesh.pipeline > 1 ? ` (stage ${worst.stage})` : ''}`;
  if (fitsAll(memory)) {
    const out: Diagnostic[] = [];
    if (worst.totalBytes > LOW_HEADROOM * worst.usableBytes) {
      const headroom = formatBytes(worst.usableBytes - worst.totalBytes);
      out.push(
        diag(
          'PP4002',
          plan.span,
          { plan: plan.name, headroom, where: label },
          {
            help: 'fragmentation or extra framework buffers may push it over; leave more room by lowering the batch or sequence length, or by splitting over more GPUs',
          },
        ),
      );
    }
    return { fits: true, diagnostics: out };
  }
  const largest = CATEGORIES.reduce((a, c) => (worst.breakdown[c] > worst.breakdown[a] ? c : a), CATEGORIES[0]);
  const worstText = `${label} needs ${formatBytes(worst.totalBytes)}, but ${formatBytes(worst.usableBytes)} of ${plan.cluster.gpu.id}'s ${formatBytes(worst.capacityBytes)} is usable (largest part: ${largest} ${formatBytes(worst.breakdown[largest])})`;
  const fixes = suggestFixes(plan, worst);
  const help =
    fixes.length > 0
      ? `these fit: ${fixes.slice(0, 3).join('; or ')}`
      : `no single change of batch, tensor, pipeline, ZeRO or recompute fits; ${searchHint(plan)}, or use a larger GPU or more of them`;
  return { fits: false, diagnostics: [diag('PP4001', plan.span, { plan: plan.name, worst: worstText }, { help })] };
}

/** Several changes at once may fit where no single one does: `parplan suggest` tries every combination. */
function searchHint(plan: CheckedPlan): string {
  const mode = plan.mode === 'serve' ? ' --mode serve' : '';
  return `\`parplan suggest --model ${plan.model.name} --cluster ${plan.cluster.name}${mode} ${plan.file}\` searches every combination`;
}

/** Variants of the plan, least disruptive first; each described as the knob to write. */
function* variants(plan: CheckedPlan): Generator<[string, CheckedPlan]> {
  if (plan.mode === 'serve') {
    if (plan.kvDtype !== 'fp8' && plan.kvDtype !== 'int8' && plan.kvDtype !== 'int4')
      yield ['kv_dtype = fp8', { ...plan, kvDtype: 'fp8' as const }];
  } else {
    if (plan.mesh.data * plan.mesh.context > 1)
      for (const z of [1, 2, 3] as const) if (z > plan.zero) yield [`zero = ${z}`, { ...plan, zero: z }];
    // engine = webgpu trains without sequence parallelism and selective recomputation (src/check/webgpu-train.ts).
    const webgpu = plan.engine === 'webgpu';
    if (plan.mesh.tensor > 1 && !plan.sequenceParallel && !webgpu) yield ['sequence_parallel = true', { ...plan, sequenceParallel: true }];
    if (plan.recompute === 'none' && !webgpu) yield ['recompute = selective', { ...plan, recompute: 'selective' }];
    if (plan.recompute !== 'full') yield ['recompute = full', { ...plan, recompute: 'full' }];
  }
  // A hand-written schedule fixes the mesh and the microbatches: only the knobs above apply.
  if (plan.mode === 'train' && plan.schedule === 'table') return;
  const { tensor: t, context: c, pipeline: p, data: d } = plan.mesh;
  // Context parallelism stays as the plan has it: the GPUs left for the other axes are gpus / c.
  const gpus = Math.floor(plan.cluster.gpus / c);
  // A plan that used every GPU is only offered meshes that do too (no idle-GPU warning after the fix).
  const full = t * c * p * d === plan.cluster.gpus;
  for (const t2 of validTensorDegrees(plan.model, Math.min(gpus, plan.cluster.gpusPerNode))) {
    if (t2 <= t) continue;
    const d2 = Math.min(d, Math.floor(gpus / (t2 * p)));
    if (d2 < 1 || (full && t2 * p * d2 !== gpus) || (plan.mode === 'train' && plan.batch.global % (plan.batch.micro * d2) !== 0)) continue;
    yield [
      d2 === d ? `tensor = ${t2}` : `tensor = ${t2} with data = ${d2}`,
      remesh(plan, { tensor: t2, context: c, pipeline: p, data: d2 }),
    ];
  }
  if (!(plan.mode === 'train' && plan.schedule === 'interleaved') && !plan.spans['stages']) {
    // A few deeper pipelines, not every one: the search must stay bounded for any plan.
    const limit = Math.min(plan.model.layers, Math.floor(gpus / t));
    const candidates = [...new Set([p + 1, p + 2, 2 * p, 3 * p, 4 * p, 8 * p])].filter((x) => x > p && x <= limit).sort((a, b) => a - b);
    for (const p2 of candidates) {
      const d2 = Math.min(d, Math.floor(gpus / (t * p2)));
      if (d2 < 1) break;
      if (full && t * p2 * d2 !== gpus) continue;
      if (plan.mode === 'train' && plan.batch.global % (plan.batch.micro * d2) !== 0) continue;
      yield [
        d2 === d ? `pipeline = ${p2}` : `pipeline = ${p2} with data = ${d2}`,
        remesh(plan, { tensor: t, context: c, pipeline: p2, data: d2 }),
      ];
    }
  }
}

/** The same plan on another mesh (derived facts, stages and microbatches follow). */
function remesh(plan: CheckedPlan, mesh: Mesh): CheckedPlan {
  const base = { ...plan, mesh, derived: deriveFacts(plan.model, mesh), stages: balancedStages(plan.model.layers, mesh.pipeline) };
  if (base.mode === 'train') return { ...base, microbatches: base.batch.global / (base.batch.micro * mesh.data) };
  return base;
}

function suggestFixes(plan: CheckedPlan, worst: DeviceMemory): string[] {
  const fixes: string[] = [];
  // Serving: when the prefill's activations are a large part, a smaller prefill chunk first (no model or cache change).
  const chunk = plan.mode === 'serve' && worst.breakdown.activations >= worst.breakdown.kvCache / 4 ? prefillChunk(plan) : undefined;
  if (chunk) fixes.push(chunk);
  for (const [text, variant] of variants(plan)) {
    if (stagesFit(variant)) fixes.push(text);
    if (fixes.length >= 3) return fixes;
  }
  const batch = plan.mode === 'train' && plan.schedule === 'table' ? undefined : largestFittingBatch(plan);
  if (batch) fixes.push(batch);
  return fixes;
}

/**
 * Serving: the largest prefill chunk (max_prefill_tokens, a power of two below the plan's and at
 * least max_batch, as vLLM's max_num_batched_tokens must be) with which the plan fits: the
 * prefill's activations scale with the tokens of one step (vLLM's chunked prefill).
 */
function prefillChunk(plan: CheckedPlan): string | undefined {
  if (plan.mode !== 'serve') return undefined;
  const { maxPrefillTokens, maxBatch } = plan.batch;
  for (let n = 2 ** Math.floor(Math.log2(maxPrefillTokens - 1 || 1)); n >= Math.max(1, maxBatch); n /= 2) {
    if (n >= maxPrefillTokens) continue;
    if (stagesFit({ ...plan, batch: { ...plan.batch, maxPrefillTokens: n } }))
      return `max_prefill_tokens = ${n} (prefill in chunks of ${n} tokens, as vLLM's chunked prefill does)`;
  }
  return undefined;
}

/** Serving: the largest max_batch that fits; training: the largest micro that fits and divides. */
function largestFittingBatch(plan: CheckedPlan): string | undefined {
  if (plan.mode === 'serve') {
    let lo = 0;
    let hi = plan.batch.maxBatch - 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi + 1) / 2); // not `>> 1`: max_batch may pass 2^31
      if (stagesFit({ ...plan, batch: { ...plan.batch, maxBatch: mid } })) lo = mid;
      else hi = mid - 1;
    }
    return lo >= 1 ? `max_batch = ${lo}` : undefined;
  }
  // Only divisors of global / data can be micro: try those below it, largest first (not every number below micro).
  for (const micro of divisors(plan.batch.global / plan.mesh.data)
    .filter((d) => d < plan.batch.micro)
    .reverse()) {
    const per = micro * plan.mesh.data;
    // Interleaved 1F1B needs microbatches in multiples of the pipeline (PP3018): never propose one that breaks it.
    if (plan.schedule === 'interleaved' && (plan.batch.global / per) % plan.mesh.pipeline !== 0) continue;
    const v: CheckedPlan = { ...plan, batch: { ...plan.batch, micro }, microbatches: plan.batch.global / per };
    if (stagesFit(v)) return `micro = ${micro}`;
  }
  return undefined;
}
