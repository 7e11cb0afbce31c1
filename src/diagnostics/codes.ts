/**
 * THE table of diagnostic codes: every user-visible message of parplan lives here.
 *
 * Ranges: 1xxx syntax, 2xxx names, keys, types and units, 3xxx parallelism and batch
 * arithmetic, 4xxx memory fit, 5xxx execution graph, 6xxx command line and files,
 * 7xxx plans embedded in TypeScript, 8xxx export to other engines, 9xxx internal errors
 * (bugs in parplan). Codes are stable: a retired code stays in the table with `retired`
 * set, and is never reused.
 *
 * `message` is a template: `{name}` is replaced by the argument of that name. Style:
 * lower case, no final period, says what is wrong (not how to fix it: that is `help`).
 * Each code has a long form in `src/diagnostics/explain/<CODE>.md` (`parplan explain CODE`).
 */
import { clip, groupDigits } from '../format.js';
import { LIMITS } from '../facts/limits.js';
export type Severity = 'error' | 'warning' | 'note';

export interface CodeInfo {
  severity: Severity;
  /** A short name for the rule (SARIF rule name, docs headings). */
  title: string;
  message: string;
  retired?: string;
}

export const CODES = {
  // 1xxx: syntax
  PP1001: { severity: 'error', title: 'unexpected-character', message: "unexpected character '{text}'" },
  PP1002: { severity: 'error', title: 'syntax-error', message: '{detail}' },
  PP1003: { severity: 'error', title: 'unterminated', message: 'unterminated {what}' },
  PP1004: { severity: 'error', title: 'invalid-number', message: "invalid number '{text}'" },
  PP1005: { severity: 'error', title: 'too-many-errors', message: 'further syntax errors in this file are not shown: {count} more' },

  // 2xxx: names, keys, types, units
  PP2001: { severity: 'error', title: 'unknown-declaration', message: "unknown declaration '{keyword}'" },
  PP2002: { severity: 'error', title: 'unknown-key', message: "unknown key '{key}' in {where}" },
  PP2003: { severity: 'error', title: 'missing-key', message: "{where} is missing required key '{key}'" },
  PP2004: { severity: 'error', title: 'duplicate-key', message: "key '{key}' is set twice in {where}" },
  PP2005: { severity: 'error', title: 'duplicate-declaration', message: "{kind} '{name}' is declared twice" },
  PP2006: { severity: 'error', title: 'wrong-type', message: "'{key}' expects {expected}, found {found}" },
  PP2007: { severity: 'error', title: 'wrong-unit', message: "'{key}' expects {expected}, found unit '{unit}'" },
  PP2008: { severity: 'error', title: 'out-of-range', message: "'{key}' = {value} is out of range: {range}" },
  PP2009: { severity: 'error', title: 'unknown-value', message: "'{value}' is not a valid {key}" },
  PP2010: { severity: 'error', title: 'unknown-reference', message: "no {kind} named '{name}'" },
  PP2011: { severity: 'error', title: 'unknown-gpu', message: "'{name}' is not in the GPU catalog" },
  PP2012: { severity: 'error', title: 'import-failed', message: "cannot import '{path}': {reason}" },
  PP2013: { severity: 'error', title: 'key-not-for-mode', message: "'{key}' does not apply to a {mode} plan" },
  PP2014: { severity: 'error', title: 'conflicting-keys', message: "'{key}' conflicts with '{other}'" },
  PP2015: { severity: 'error', title: 'unknown-unit', message: "unknown unit '{unit}'" },
  PP2016: { severity: 'error', title: 'import-not-allowed', message: "import '{path}' is not allowed: {reason}" },
  PP2017: { severity: 'error', title: 'hf-config-failed', message: "cannot read hf_config '{path}': {reason}" },
  PP2018: { severity: 'error', title: 'hf-config-not-allowed', message: "hf_config '{path}' is not allowed: {reason}" },
  PP2019: { severity: 'error', title: 'invalid-json', message: "'{path}' is not valid JSON: {detail}" },
  PP2020: { severity: 'error', title: 'unsupported-model-type', message: "model_type '{type}' is not supported" },
  PP2021: { severity: 'error', title: 'config-wrong-type', message: "config field '{field}' expects {expected}, found {found}" },
  PP2022: { severity: 'error', title: 'config-not-expressible', message: "config field '{field}' = {value} cannot be expressed: {why}" },
  PP2023: { severity: 'error', title: 'config-field-missing', message: "the config has no field '{field}' (for '{key}')" },
  PP2024: { severity: 'note', title: 'config-overridden', message: "'{key}' = {value} overrides the config's {field} = {configValue}" },
  PP2025: { severity: 'error', title: 'unsupported-value', message: '{key} = {value} is not supported yet' },
  PP2035: {
    severity: 'error',
    title: 'reshard-needs-zero3',
    message: 'reshard_after_forward applies to sharded weights (zero = 3), and the plan has zero = {zero}',
  },
  PP2036: { severity: 'error', title: 'offload-needs-zero', message: 'offload = {offload} needs {needs}, and the plan has zero = {zero}' },
  // Traffic and latency objectives (src/check/traffic.ts).
  PP2050: { severity: 'error', title: 'slo-without-traffic', message: 'an slo block needs a traffic block to be predicted under' },
  PP2051: { severity: 'error', title: 'traffic-lengths-missing', message: "the traffic block is missing '{key}' ({what})" },
  PP2052: { severity: 'error', title: 'trace-failed', message: "cannot read trace '{path}': {reason}" },
  PP2053: { severity: 'error', title: 'trace-not-allowed', message: "trace '{path}' is not allowed: {reason}" },
  PP2054: { severity: 'error', title: 'trace-invalid', message: "'{path}' is not a request trace: {detail}" },
  PP2055: { severity: 'error', title: 'profile-failed', message: "cannot read profile '{path}': {reason}" },
  PP2056: { severity: 'error', title: 'profile-not-allowed', message: "profile '{path}' is not allowed: {reason}" },
  PP2057: { severity: 'error', title: 'profile-invalid', message: "'{path}' is not a step-time profile: {detail}" },
  // Pipeline layouts (src/check/layout.ts).
  PP2043: { severity: 'error', title: 'layout-syntax', message: 'layout: {detail}' },
  PP2044: { severity: 'error', title: 'layout-unsupported', message: 'layout: {what} is not supported yet' },

  // 3xxx: parallelism and batch arithmetic
  PP3001: { severity: 'error', title: 'heads-not-divisible', message: 'heads = {heads} is not divisible by tensor = {tensor}' },
  PP3002: {
    severity: 'error',
    title: 'kv-heads-vs-tensor',
    message: 'kv_heads = {kvHeads} and tensor = {tensor}: neither divides the other',
  },
  PP3003: {
    severity: 'note',
    title: 'kv-heads-replicated',
    message: 'tensor = {tensor} > kv_heads = {kvHeads}: each KV head is replicated on {copies} tensor ranks',
  },
  PP3004: { severity: 'error', title: 'ffn-not-divisible', message: 'ffn = {ffn} is not divisible by tensor = {tensor}' },
  PP3005: {
    severity: 'note',
    title: 'vocab-padded',
    message: 'vocab = {vocab} is padded to {padded} to split evenly over tensor = {tensor}',
  },
  PP3006: { severity: 'error', title: 'stage-layout', message: '{detail}' },
  PP3007: { severity: 'error', title: 'stage-count', message: '{count} stage ranges given for pipeline = {pipeline}' },
  PP3008: {
    severity: 'error',
    title: 'pipeline-exceeds-layers',
    message: "pipeline = {pipeline} is more than the model's {layers} layers",
  },
  PP3009: {
    severity: 'error',
    title: 'too-many-gpus',
    message: "{axes} = {sizes} = {product} GPUs, but cluster '{cluster}' has {gpus}",
  },
  PP3010: { severity: 'warning', title: 'idle-gpus', message: '{axes} = {product} leaves {idle} of {gpus} GPUs idle' },
  PP3011: {
    severity: 'error',
    title: 'global-batch',
    message: 'global = {global} is not divisible by micro × data = {micro} × {data} = {product}',
  },
  PP3012: {
    severity: 'error',
    title: 'microbatches-mismatch',
    message: 'microbatches = {microbatches}, but global / (micro × data) = {derived}',
  },
  PP3013: {
    severity: 'error',
    title: 'interleaved-needs-virtual',
    message: "schedule = interleaved needs 'virtual' (model chunks per stage) of at least 2",
  },
  PP3014: {
    severity: 'error',
    title: 'interleaved-layers',
    message: 'layers = {layers} is not divisible by pipeline × virtual = {pipeline} × {virtual} = {product}',
  },
  PP3015: { severity: 'error', title: 'seq-exceeds-max-seq', message: "seq = {seq} exceeds the model's max_seq = {maxSeq}" },
  PP3016: { severity: 'error', title: 'kv-heads-not-dividing-heads', message: 'kv_heads = {kvHeads} does not divide heads = {heads}' },
  PP3017: {
    severity: 'warning',
    title: 'tensor-across-nodes',
    message: 'tensor = {tensor} is larger than gpus_per_node = {perNode}: tensor-parallel collectives cross nodes',
  },
  PP3018: {
    severity: 'error',
    title: 'interleaved-microbatches',
    message: 'schedule = interleaved needs microbatches = {microbatches} to be a multiple of pipeline = {pipeline}',
  },
  PP3019: {
    severity: 'warning',
    title: 'pipeline-bubble',
    message: 'microbatches = {microbatches} < pipeline = {pipeline}: stages idle most of the step',
  },
  PP3020: { severity: 'warning', title: 'no-effect', message: "'{key}' has no effect {why}" },
  PP3021: {
    severity: 'error',
    title: 'hidden-not-divisible',
    message: 'hidden = {hidden} is not divisible by heads = {heads}, so head_dim must be given',
  },
  PP3022: { severity: 'error', title: 'virtual-without-interleaved', message: "'virtual' needs schedule = interleaved" },
  PP3024: { severity: 'error', title: 'engine-dtype', message: 'the webgpu engine cannot run {what} = {dtype}' },
  PP3023: { severity: 'error', title: 'bf16-unsupported', message: '{what} is bf16, but {gpu} has no bf16 arithmetic' },
  PP3025: { severity: 'error', title: 'experts-not-divisible', message: 'experts = {experts} is not divisible by expert = {expert}' },
  PP3026: {
    severity: 'error',
    title: 'expert-grid-does-not-fit',
    message: '{product} does not divide the {grid} ranks of a pipeline stage',
  },
  PP3028: {
    severity: 'error',
    title: 'expert-tensor-without-sequence-parallel',
    message: 'expert = {expert} with tensor = {tensor} needs sequence parallelism',
  },
  PP3029: { severity: 'error', title: 'expert-fp16', message: 'expert = {expert} cannot train in fp16' },
  PP3035: { severity: 'error', title: 'expert-width-not-divisible', message: '{key} = {width} is not divisible by {axis} = {degree}' },
  PP3036: { severity: 'error', title: 'engine-model', message: "the webgpu engine cannot run model '{model}': {what}" },
  PP3070: { severity: 'error', title: 'engine-train-model', message: "engine = webgpu cannot train model '{model}' yet: {what}" },
  PP3071: {
    severity: 'error',
    title: 'engine-train-dtype',
    message: 'engine = webgpu trains in fp32 or bf16 with fp32 gradients, not {key} = {value}',
  },
  PP3072: { severity: 'error', title: 'engine-train-recompute', message: '{what} is not supported yet on engine = webgpu' },
  PP3073: { severity: 'error', title: 'engine-train-feature', message: '{what} is not supported yet on engine = webgpu training' },
  PP3074: { severity: 'error', title: 'engine-train-optimizer', message: 'optimizer = {value} is not supported on engine = webgpu' },
  PP3055: {
    severity: 'error',
    title: 'context-parallel-serving',
    message: 'context = {context} is not modelled for serving',
  },
  PP3056: {
    severity: 'error',
    title: 'context-seq',
    message: 'seq = {seq} is not divisible by 2 × context = {chunks}',
  },
  PP3057: {
    severity: 'error',
    title: 'context-attention',
    message: 'context = {context} needs attention = flash',
  },
  PP3058: {
    severity: 'error',
    title: 'context-a2a-heads',
    message: 'context_comm = a2a splits heads over context = {context}, but {what} = {heads} per tensor rank is not divisible by it',
  },
  PP3059: {
    severity: 'error',
    title: 'context-not-modelled',
    message: 'context = {context} with {what} is not modelled',
  },
  PP3040: {
    severity: 'error',
    title: 'amp-grad-dtype',
    message: "grad_dtype = {gradDtype} with precision = {precision}: autocast keeps gradients in the fp32 parameters' dtype",
  },
  PP3041: { severity: 'error', title: 'selective-op-layer', message: 'recompute = selective_op is not modelled for {what}' },
  PP3045: { severity: 'error', title: 'fp8-unsupported-gpu', message: 'fp8 = {recipe} needs fp8 tensor cores, but {gpu} has none' },
  PP3046: {
    severity: 'error',
    title: 'mxfp8-unsupported-gpu',
    message: 'fp8 = te_mxfp8 needs Blackwell MXFP8 tensor cores, but {gpu} has none',
  },
  PP3047: { severity: 'error', title: 'fp8-gemm-shape', message: 'fp8 = {recipe}: {what}' },
  PP3048: { severity: 'error', title: 'fp8-precision', message: 'fp8 = {recipe} is modelled on precision = {need}, not {precision}' },
  PP3050: { severity: 'error', title: 'shard-group-not-dividing', message: 'shard_group = {group} does not divide data = {data}' },
  PP3051: {
    severity: 'error',
    title: 'shard-group-not-modelled',
    message: 'shard_group = {group} < data = {data} with {with} is not modelled yet',
  },
  // Pipeline layouts (src/check/layout.ts).
  PP3065: {
    severity: 'error',
    title: 'layout-stage-count',
    message: 'the layout has {count} stages, not a multiple of pipeline = {pipeline}',
  },
  PP3066: { severity: 'error', title: 'layout-layers', message: "the layout places {count} layers, and model '{model}' has {layers}" },
  PP3067: { severity: 'error', title: 'layout-ends', message: 'layout: {detail}' },
  PP3068: { severity: 'error', title: 'layout-virtual', message: '{detail}' },
  PP3069: { severity: 'error', title: 'layout-empty-rank', message: 'pipeline rank {rank} holds no layer in the layout' },
  PP3060: {
    severity: 'error',
    title: 'quantized-training',
    message: "model '{model}' has {method}-quantized weights, which training cannot update",
  },
  PP3061: { severity: 'error', title: 'adapter-target', message: "adapter target '{target}' is not a linear of model '{model}'{detail}" },
  PP3062: {
    severity: 'warning',
    title: 'adapter-rank',
    message: 'rank = {rank} is not below {module} {dims}: that adapter is not low-rank',
  },

  // Traffic arithmetic (src/check/traffic.ts).
  PP3080: { severity: 'error', title: 'traffic-range-inverted', message: '{what}_min = {min} is above {what}_max = {max}' },
  PP3081: {
    severity: 'error',
    title: 'traffic-lengths-shape',
    message: 'no lognormal {what} length has mean {mean} and p99 {p99}',
  },
  PP3082: {
    severity: 'error',
    title: 'traffic-exceeds-seq',
    message: 'a typical request (prompt {prompt} + output {output} = {total} tokens) exceeds batch.seq = {seq}',
  },
  PP3083: { severity: 'warning', title: 'burst-without-burst-process', message: 'burst = {burst} has no effect: process is poisson' },

  // Measured step-time profiles (src/latency/profile.ts, src/latency/check.ts).
  PP3090: { severity: 'error', title: 'profile-mismatch', message: "profile '{path}' does not describe plan '{plan}': {reason}" },
  PP3091: {
    severity: 'warning',
    title: 'profile-out-of-range',
    message: "profile '{path}' does not cover plan '{plan}' ({reason}): its latency is predicted from the cost model",
  },

  // 4xxx: memory fit
  PP4001: { severity: 'error', title: 'does-not-fit', message: "plan '{plan}' does not fit: {worst}" },
  PP4002: { severity: 'warning', title: 'low-headroom', message: "plan '{plan}' fits with only {headroom} headroom on {where}" },
  PP4003: {
    severity: 'error',
    title: 'beyond-any-gpu',
    message: "plan '{plan}' needs more than {limit} on {where} ({detail}): beyond any GPU",
  },
  PP4004: {
    severity: 'error',
    title: 'host-does-not-fit',
    message: "plan '{plan}' does not fit in host memory: {worst}",
  },
  PP4005: {
    severity: 'note',
    title: 'host-unchecked',
    message:
      "plan '{plan}' offloads to CPU memory ({needs} per node), and cluster '{cluster}' gives no host_memory: the host check is skipped",
  },
  // Latency under the traffic block (src/latency/check.ts).
  PP4010: {
    severity: 'error',
    title: 'slo-miss',
    message: "plan '{plan}' misses {key} = {target}: predicted {predicted} at {rate} requests/s",
  },
  PP4011: {
    severity: 'note',
    title: 'latency-capped',
    message: 'the latency prediction is cut short: {detail}',
  },
  PP4012: { severity: 'note', title: 'latency-unknown', message: "plan '{plan}' has no latency prediction: {reason}" },

  // 5xxx: execution graph and schedules
  PP5001: { severity: 'error', title: 'deadlock', message: 'the schedule deadlocks: {detail}' },
  PP5003: { severity: 'error', title: 'bad-action', message: "'{text}' is not a pipeline action" },
  PP5004: { severity: 'error', title: 'action-table', message: '{detail}' },
  PP5005: { severity: 'error', title: 'graph-too-large', message: "plan '{plan}' would compile to a graph of {size}, more than {limit}" },

  // 6xxx: command line and files
  PP6001: { severity: 'error', title: 'cannot-read', message: "cannot read '{path}': {reason}" },
  PP6002: { severity: 'error', title: 'no-plan-files', message: "no .plan files found in '{path}'" },
  PP6003: { severity: 'error', title: 'no-such-plan', message: "no plan named '{name}'" },
  PP6004: { severity: 'error', title: 'cannot-write', message: "cannot write '{path}': {reason}" },
  // parplan train (src/cli/commands/train.ts)
  PP6010: { severity: 'error', title: 'train-missing-argument', message: 'parplan train needs {what}' },
  PP6011: { severity: 'error', title: 'train-invalid-argument', message: "'{option}' needs {expected}, found '{value}'" },
  PP6012: { severity: 'error', title: 'train-not-a-training-graph', message: "'{path}' cannot be trained: {reason}" },
  PP6013: { severity: 'error', title: 'train-bad-data', message: "cannot use the token file '{path}': {reason}" },
  PP6014: { severity: 'error', title: 'train-not-executed', message: 'the WebGPU runtime cannot train this graph yet: {reason}' },

  // 7xxx: plans embedded in TypeScript (src/embedded/)
  PP7001: { severity: 'warning', title: 'cannot-evaluate', message: "cannot evaluate '{expr}' statically" },
  PP7002: { severity: 'error', title: 'bad-interpolation', message: 'cannot interpolate {found} into plan text' },
  PP7003: { severity: 'error', title: 'template-declarations', message: 'a {tag} template must declare one {tag}, found {found}' },
  PP7004: { severity: 'error', title: 'bad-option-value', message: "'{key}' cannot be {found}" },
  PP7005: {
    severity: 'error',
    title: 'typescript-not-read',
    message: "'{path}' is TypeScript, and analyze() reads .plan files only (analyzeProject() reads both)",
  },
  PP7006: { severity: 'error', title: 'typescript-too-deep', message: "cannot read the plans in '{path}': {reason}" },

  // 8xxx: export to other engines (src/export/)
  PP8001: { severity: 'error', title: 'export-wrong-mode', message: "{engine} runs {expected} plans, and plan '{plan}' is a {mode} plan" },
  PP8002: { severity: 'error', title: 'export-not-expressible', message: '{engine} cannot express {knob}: {why}' },
  PP8003: { severity: 'warning', title: 'export-approximated', message: '{engine} runs {knob} differently: {how}' },
  PP8004: {
    severity: 'note',
    title: 'export-placeholder',
    message: "the plan does not name {what}: the {engine} export leaves '{placeholder}' to fill in",
  },

  // 9xxx: internal
  PP9001: { severity: 'error', title: 'internal-error', message: 'internal error: {detail} (this is a bug in parplan; please report it)' },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

export function codeInfo(code: Code): CodeInfo {
  return CODES[code];
}

export function isCode(s: string): s is Code {
  return Object.prototype.hasOwnProperty.call(CODES, s);
}

/** Fill `{name}` placeholders; a missing argument is a bug in parplan, not user input. */
export function formatMessage(template: string, args: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = args[name];
    if (v === undefined) throw new InternalError(`diagnostic argument '${name}' missing for '${template}'`);
    // A quoted name or string is shown by its start: a 1 MB identifier is not a 1 MB message.
    return typeof v === 'number' ? formatNumber(v) : clip(v, LIMITS.messageArgChars);
  });
}

/** 4096 → "4096", 1234567 → "1,234,567"; non-integers as written. */
export function formatNumber(n: number): string {
  return Number.isInteger(n) && Math.abs(n) >= 10000 ? groupDigits(n) : String(n);
}

/** A bug in parplan (never a user mistake). The CLI reports it as PP9001. */
export class InternalError extends Error {
  constructor(detail: string) {
    super(`internal error: ${detail} (this is a bug in parplan; please report it)`);
    this.name = 'InternalError';
  }
}
