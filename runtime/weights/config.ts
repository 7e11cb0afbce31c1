/**
 * A checkpoint directory is one thing: its `config.json` says which model its tensors are
 * for. Before anything is allocated, the model that config describes is compared with the
 * graph's, field by field, and a checkpoint made for another model (another norm epsilon,
 * rope base, layer count …) is refused with every difference listed, instead of loading
 * tensors of the right shapes that compute the wrong thing.
 *
 * The config is read by the compiler's own mapping (src/hf/config.ts, the table behind
 * `hf_config` and `parplan import`) and checked as a model block by the checker, so "the
 * model this config describes" means exactly what `hf_config = "DIR/config.json"` would
 * compile. Only facts that change the computation or the weights' shapes are compared: not
 * the name, not `dtype` (the loader converts), and `max_seq` only as a bound (a graph may
 * serve shorter sequences than max_position_embeddings, never longer). See docs/weights.md.
 */
import { lstatSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkModel } from '../../src/check/model.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import type { Graph } from '../../src/graph/types.js';
import { configDeclaration, FAMILIES, mapHfConfig, type ConfigEntry } from '../../src/hf/config.js';
import { member, type JsonValue } from '../../src/hf/json.js';
import { nodeHost, readConfigFile } from '../../src/load.js';
import { layerAt, type LayerSpec, type Model } from '../../src/model.js';
import type { WeightsSource } from './load.js';

export const CONFIG_FILE = 'config.json';

/** One fact on which the checkpoint's config and the graph's model differ. */
export interface ConfigMismatch {
  /** The plan key (`norm_eps`). */
  key: string;
  /** The config.json field it comes from (`rms_norm_eps`; `model_type` for a family's fixed facts). */
  field: string;
  /** Where the field is in config.json; absent when the config does not write it (the mapping's default applies). */
  at?: { line: number; column: number };
  config: string;
  graph: string;
  /** The layers that differ, when not all of them (`1, 3, 5–7`). */
  layers?: string;
}

/**
 * A checkpoint whose config.json cannot be read as a model, or describes another model
 * than the graph's. `lines` are the findings (each `config.json:line:col: …`), `help` the fix.
 */
export class CheckpointConfigError extends Error {
  constructor(
    readonly kind: 'mismatch' | 'unreadable',
    /** The config.json path. */
    readonly path: string,
    readonly headline: string,
    readonly lines: readonly string[],
    readonly help: string,
    readonly mismatches: readonly ConfigMismatch[] = [],
  ) {
    super(`${headline}${lines.map((l) => `\n  ${l}`).join('')}\n  help: ${help}`);
    this.name = 'CheckpointConfigError';
  }
}

export interface ConfigCheck {
  /** The config.json files compared and found to match. */
  checked: string[];
  /** Checkpoint directories without a config.json: nothing about the model could be checked. */
  warnings: string[];
}

/**
 * The checkpoint directories of a weights source, each with its config.json path: a
 * directory given, or the directory of an index file. Plain safetensors files are not a
 * checkpoint directory: nothing is checked for them (docs/weights.md).
 */
export function checkpointDirs(source: WeightsSource): { dir: string; config: string }[] {
  if (source.kind !== 'safetensors') return [];
  const dirs = new Set<string>();
  for (const p of source.paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      continue; // the loader reports a missing path
    }
    if (isDir) dirs.add(p);
    else if (p.endsWith('.json')) dirs.add(dirname(p));
  }
  return [...dirs].map((dir) => ({ dir, config: join(dir, CONFIG_FILE) }));
}

/**
 * Compare every checkpoint directory's config.json with the graph's model. Throws a
 * CheckpointConfigError listing all differences (or why the config cannot be read); a
 * directory without config.json is a warning, not an error.
 */
export function checkCheckpointConfig(graph: Graph, source: WeightsSource): ConfigCheck {
  const result: ConfigCheck = { checked: [], warnings: [] };
  for (const { dir, config } of checkpointDirs(source)) {
    // lstat: a config.json that is a broken link is there, and unreadable (readConfigFile says so), not absent.
    if (lstatSync(config, { throwIfNoEntry: false }) === undefined) {
      result.warnings.push(
        `the checkpoint ${dir} has no ${CONFIG_FILE}: only its tensors' names and shapes are checked against the graph, ` +
          `not the facts they do not show (norm epsilon, rope base and scaling, activation, window …)`,
      );
      continue;
    }
    compareConfig(graph, config);
    result.checked.push(config);
  }
  return result;
}

/** Read `path` (a config.json) and compare the model it describes with the graph's; throws on any difference. */
export function compareConfig(graph: Graph, path: string): void {
  const model = graph.model;
  // hf_config is confined to the plan's repository (docs/security.md): a checkpoint elsewhere needs --root.
  const outside = "add --root DIR when the checkpoint is outside the plan's repository";
  const fix =
    `recompile with hf_config = ${JSON.stringify(path)} in the plan's model block (keys written beside it override the config)` +
    (graph.plan?.file ? `: parplan compile ${graph.plan.file} --plan ${graph.plan.name} (${outside})` : ` (${outside})`) +
    `, or serve a checkpoint made for model '${model.name}'`;
  const read = readConfigModel(path, model.name);
  if (!read.ok) {
    throw new CheckpointConfigError(
      'unreadable',
      path,
      `cannot check the checkpoint against the graph: ${path} cannot be read as a model`,
      read.diagnostics.map(diagnosticLine),
      `a checkpoint's ${CONFIG_FILE} is the Hugging Face config it was saved with; fix or restore it (parplan import ${path} shows what parplan reads)`,
    );
  }
  const mismatches = diffModels(read.model, model, read.where);
  if (mismatches.length === 0) return;
  throw new CheckpointConfigError(
    'mismatch',
    path,
    `the checkpoint's ${path} does not match the graph's model '${model.name}' (${mismatches.length} ${
      mismatches.length === 1 ? 'difference' : 'differences'
    }):`,
    mismatches.map((m) => mismatchLine(path, m)),
    fix,
    mismatches,
  );
}

/** `config.json:15:3: rms_norm_eps (norm_eps): config 0.000001, graph 0.00001`. */
function mismatchLine(path: string, m: ConfigMismatch): string {
  const where = m.at ? `${path}:${m.at.line}:${m.at.column}` : `${path} (no ${m.field}: its default)`;
  const field = m.field === m.key ? m.key : `${m.field} (${m.key})`;
  return `${where}: ${field}${m.layers ? ` in layers ${m.layers}` : ''}: config ${m.config}, graph ${m.graph}`;
}

function diagnosticLine(d: Diagnostic): string {
  const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.column}` : (d.file ?? '');
  return `${where}: ${d.severity}[${d.code}]: ${d.message}${d.help ? ` (${d.help})` : ''}`;
}

type Where = (key: string) => { field: string; at?: { line: number; column: number } };

/**
 * The model a config.json describes, through the compiler's mapping and model checker (as
 * `hf_config` compiles it, with no keys written beside it), and where each key came from.
 */
export function readConfigModel(
  path: string,
  name: string,
): { ok: true; model: Model; where: Where } | { ok: false; diagnostics: Diagnostic[] } {
  const out: Diagnostic[] = [];
  const loaded = readConfigFile(path, nodeHost, out);
  if (!loaded.ok) return { ok: false, diagnostics: out };
  const mapped = mapHfConfig(loaded.json, loaded.source);
  const errors = mapped.diagnostics.filter((d) => d.severity === 'error');
  if (mapped.unread || errors.length > 0) return { ok: false, diagnostics: errors };
  const spec = checkModel(configDeclaration(loaded.source, loaded.json, name, mapped.entries), out, new Map(), mapped.reported);
  const checked = out.filter((d) => d.severity === 'error');
  if (!spec || checked.length > 0) return { ok: false, diagnostics: checked };
  return { ok: true, model: spec, where: whereOf(loaded.json, mapped.entries) };
}

/** A key's config field and position: its entry's, or (absent: a default) the family table's field name. */
function whereOf(json: JsonValue, entries: readonly ConfigEntry[]): Where {
  const mt = member(json, 'model_type');
  const family = mt?.value.kind === 'string' && Object.hasOwn(FAMILIES, mt.value.value) ? FAMILIES[mt.value.value] : undefined;
  return (key) => {
    const e = entries.find((x) => x.key === key);
    if (e) return { field: e.field, at: { line: e.value.span.line, column: e.value.span.column } };
    const rule = family?.fields.find((r) => r.key === key);
    const special = Object.hasOwn(SPECIAL_FIELDS, key) ? SPECIAL_FIELDS[key] : undefined;
    // Neither a field of the family's table nor one read apart: the family decides it (qk_norm, qkv_bias …).
    if (!rule && !special && mt) return { field: 'model_type', at: { line: mt.value.span.line, column: mt.value.span.column } };
    const fields = rule ? (typeof rule.field === 'string' ? [rule.field] : rule.field) : special!;
    // Written as null (`"rope_scaling": null`): the position of that.
    const written = fields.map((f) => member(json, f)).find((m) => m !== undefined);
    return written
      ? { field: written.name, at: { line: written.value.span.line, column: written.value.span.column } }
      : { field: fields[0]! };
  };
}

/** Keys src/hf/config.ts reads from fields outside the family tables (rope, window, bias, quantization). */
const SPECIAL_FIELDS: Readonly<Record<string, readonly string[]>> = {
  rope_theta: ['rope_theta', 'rope_parameters'],
  rope_scaling: ['rope_scaling', 'rope_parameters'],
  rope_factor: ['rope_scaling', 'rope_parameters'],
  rope_original_max_seq: ['rope_scaling', 'rope_parameters'],
  rope_low_freq_factor: ['rope_scaling', 'rope_parameters'],
  rope_high_freq_factor: ['rope_scaling', 'rope_parameters'],
  rope_beta_fast: ['rope_scaling', 'rope_parameters'],
  rope_beta_slow: ['rope_scaling', 'rope_parameters'],
  sliding_window: ['sliding_window', 'layer_types'],
  sliding_window_pattern: ['layer_types', 'sliding_window_pattern', 'sliding_window'],
  bias: ['attention_bias', 'mlp_bias'],
  quantization: ['quantization_config'],
  quant_group: ['quantization_config'],
  quant_lm_head: ['quantization_config'],
};

/** Model properties never compared: the name, the weights' storage dtype (converted at load), max_seq (a bound, below). */
const NOT_COMPARED = new Set(['name', 'dtype', 'maxSeq', 'span', 'vocabPadded', 'params', 'layer', 'overrides']);

/** Model-wide facts: property → plan key, and the value when absent. */
const MODEL_KEYS: Readonly<Record<string, readonly [string, unknown?]>> = {
  arch: ['arch'],
  layers: ['layers'],
  hidden: ['hidden'],
  vocab: ['vocab'],
  norm: ['norm'],
  bias: ['bias'],
  qkvBias: ['qkv_bias', false],
  normsPerLayer: ['norms_per_layer', 2],
  qkNorm: ['qk_norm', false],
  positions: ['positions'],
  tiedEmbeddings: ['tied_embeddings'],
  normEps: ['norm_eps'],
  ropeTheta: ['rope_theta'],
  attnSoftcap: ['attn_softcap'],
  logitSoftcap: ['logit_softcap'],
  queryPreAttnScalar: ['query_pre_attn_scalar'],
  scaleEmbeddings: ['scale_embeddings', false],
  normOffset: ['norm_offset', 0],
};
const ROPE_KEYS: Readonly<Record<string, string>> = {
  type: 'rope_scaling',
  factor: 'rope_factor',
  originalMaxSeq: 'rope_original_max_seq',
  lowFreqFactor: 'rope_low_freq_factor',
  highFreqFactor: 'rope_high_freq_factor',
  betaFast: 'rope_beta_fast',
  betaSlow: 'rope_beta_slow',
};
const QUANT_KEYS: Readonly<Record<string, string>> = { method: 'quantization', groupSize: 'quant_group', lmHead: 'quant_lm_head' };
/** A layer's facts: attention and MLP properties → plan key (`kind` says which kind of layer: MLA, MoE). */
const ATTENTION_KEYS: Readonly<Record<string, string>> = {
  kind: 'kv_lora_rank',
  heads: 'heads',
  kvHeads: 'kv_heads',
  headDim: 'head_dim',
  window: 'sliding_window',
  sinks: 'attention_sinks',
  qLoraRank: 'q_lora_rank',
  kvLoraRank: 'kv_lora_rank',
  qkNopeHeadDim: 'qk_nope_head_dim',
  qkRopeHeadDim: 'qk_rope_head_dim',
  vHeadDim: 'v_head_dim',
};
const MLP_KEYS: Readonly<Record<string, string>> = {
  kind: 'experts',
  activation: 'activation',
  ffn: 'ffn',
  experts: 'experts',
  topK: 'experts_per_token',
  expertFfn: 'expert_ffn',
  sharedExperts: 'shared_experts',
  sharedFfn: 'shared_expert_ffn',
  sharedGate: 'shared_expert_gate',
  routerBias: 'router_bias',
  normTopK: 'norm_topk',
};
/** A layer's kinds, and the key that decides each (MLA attention with kv_lora_rank, MoE MLPs with experts). */
const KIND_KEYS: Readonly<Record<string, string>> = { attention: 'kv_lora_rank', mlp: 'experts' };
/** Layer facts whose absence has a meaning (no window, no sinks). */
const LAYER_ABSENT: Readonly<Record<string, unknown>> = { window: 'none', sinks: false };

const show = (v: unknown): string => (v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v));
const same = (a: unknown, b: unknown): boolean => (typeof a === 'number' && typeof b === 'number' ? a === b : show(a) === show(b));

/**
 * Every fact on which `config` (the checkpoint's model) and `graph` (the graph's) differ.
 * Properties not in the tables above are compared too, under their own name: a fact added to
 * the model description is never skipped silently.
 */
export function diffModels(config: Model, graph: Model, where: Where = (key) => ({ field: key })): ConfigMismatch[] {
  const out: ConfigMismatch[] = [];
  const add = (key: string, c: unknown, g: unknown, layers?: string) => {
    if (same(c, g)) return;
    out.push({ key, ...where(key), config: show(c), graph: show(g), ...(layers ? { layers } : {}) });
  };
  const c = config as unknown as Record<string, unknown>;
  const g = graph as unknown as Record<string, unknown>;
  for (const prop of new Set([...Object.keys(c), ...Object.keys(g)])) {
    if (NOT_COMPARED.has(prop)) continue;
    if (prop === 'ropeScaling') nested(c[prop], g[prop], ROPE_KEYS, 'type', add);
    else if (prop === 'quant') nested(c[prop], g[prop], QUANT_KEYS, 'method', add);
    else {
      const [key, absent] = MODEL_KEYS[prop] ?? [prop];
      add(key, c[prop] ?? absent, g[prop] ?? absent);
    }
  }
  if (graph.maxSeq > config.maxSeq) {
    const w = where('max_seq');
    out.push({ key: 'max_seq', ...w, config: `${config.maxSeq}`, graph: `${graph.maxSeq} (a graph may be shorter, not longer)` });
  }
  out.push(...layerDiff(config, graph, where));
  return out;
}

/** rope_scaling / quantization: absent on one side is `none`; their parameters only when both have the same type. */
function nested(
  c: unknown,
  g: unknown,
  keys: Readonly<Record<string, string>>,
  kind: string,
  add: (key: string, c: unknown, g: unknown) => void,
): void {
  const co = (c ?? {}) as Record<string, unknown>;
  const go = (g ?? {}) as Record<string, unknown>;
  if (!same(co[kind] ?? 'none', go[kind] ?? 'none')) {
    add(keys[kind]!, co[kind] ?? 'none', go[kind] ?? 'none');
    return;
  }
  for (const prop of new Set([...Object.keys(co), ...Object.keys(go)])) if (prop !== kind) add(keys[prop] ?? prop, co[prop], go[prop]);
}

/** Per-layer facts (heads, window, MLP kind and widths …), each difference once with the layers it holds for. */
function layerDiff(config: Model, graph: Model, where: Where): ConfigMismatch[] {
  const n = Math.min(config.layers, graph.layers);
  const found = new Map<string, { key: string; c: string; g: string; layers: number[] }>();
  for (let l = 0; l < n; l++) {
    const a = flatLayer(layerAt(config, l));
    const b = flatLayer(layerAt(graph, l));
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      const [c, g] = [a.get(key), b.get(key)];
      if (same(c, g)) continue;
      const id = `${key}\u0000${show(c)}\u0000${show(g)}`;
      const f = found.get(id) ?? { key, c: show(c), g: show(g), layers: [] };
      f.layers.push(l);
      found.set(id, f);
    }
  }
  return [...found.values()].map((f) => ({
    key: f.key,
    ...where(KIND_KEYS[f.key] ?? f.key),
    config: f.c,
    graph: f.g,
    ...(f.layers.length < n ? { layers: ranges(f.layers) } : {}),
  }));
}

/** A layer's facts by plan key: `kind` as `gqa`/`mla`, `dense`/`moe`; a kind's absent facts as none. */
function flatLayer(layer: LayerSpec): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const put = (obj: object, keys: Readonly<Record<string, string>>) => {
    const o = obj as Record<string, unknown>;
    for (const prop of Object.keys(o)) {
      const key = keys[prop] ?? prop;
      // kv_lora_rank is both MLA's kind and its rank: the kind is shown as its own fact.
      out.set(prop === 'kind' ? `${key === 'experts' ? 'mlp' : 'attention'}` : key, o[prop]);
    }
  };
  put(layer.attention, ATTENTION_KEYS);
  put(layer.mlp, MLP_KEYS);
  // Without shared experts their width and gate mean nothing (the width defaults to expert_ffn).
  if (layer.mlp.kind === 'moe' && layer.mlp.sharedExperts === 0)
    for (const key of ['shared_expert_ffn', 'shared_expert_gate']) out.delete(key);
  for (const [prop, absent] of Object.entries(LAYER_ABSENT)) {
    const key = ATTENTION_KEYS[prop]!;
    if (layer.attention.kind === 'gqa' && !out.has(key)) out.set(key, absent);
  }
  return out;
}

/** `[1, 3, 4, 5]` → `1, 3–5`. */
function ranges(xs: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    parts.push(i === j ? `${xs[i]}` : `${xs[i]}–${xs[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}
