/** A `model` declaration → ModelSpec: architecture presets, defaults, head arithmetic. */
import type { BlockValue, Declaration, Entry, Value } from '../ast.js';
import { diag, hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Dtype } from '../facts/dtypes.js';
import { KEYS, type Arch } from '../facts/keys.js';
import {
  buildModel,
  defaultFfn,
  type Activation,
  type ModelSizes,
  type Norm,
  type Positions,
  type QuantMethod,
  type Quantization,
  type RopeScaling,
} from '../model.js';
import { mapHfConfig, type ConfigEntry, type HfConfigs } from '../hf/config.js';
import type { ModelSpec } from '../plan.js';
import { divisors } from '../util/divisors.js';
import { readBlock, type Fields } from './values.js';

/**
 * `configs`: the Hugging Face configs the loader read (`hf_config`); `quiet`: keys whose absence
 * is already reported (`parplan import`, which checks a config's keys as a block of its own).
 */
export function checkModel(
  decl: Declaration,
  out: Diagnostic[],
  configs: HfConfigs = new Map(),
  quiet?: ReadonlySet<string>,
): ModelSpec | undefined {
  // Without hf_config the outcome depends on the declaration alone: a file of models imported by
  // many plan files is checked once per parse, not once per importing file.
  const own = quiet === undefined && !decl.body.entries.some((e) => e.key === 'hf_config');
  const known = own ? CHECKED.get(decl) : undefined;
  if (known) {
    out.push(...known.diagnostics);
    return known.spec;
  }
  const before = out.length;
  const spec = checkConfigured(decl, out, configs, quiet);
  if (own) CHECKED.set(decl, { spec, diagnostics: out.slice(before) });
  return spec;
}

/** Checked models by declaration (an AST is never changed once parsed). */
const CHECKED = new WeakMap<Declaration, { spec: ModelSpec | undefined; diagnostics: readonly Diagnostic[] }>();

function checkConfigured(
  decl: Declaration,
  out: Diagnostic[],
  configs: HfConfigs,
  quiet: ReadonlySet<string> | undefined,
): ModelSpec | undefined {
  const before = out.length;
  const body = withConfig(decl, configs, out);
  if (!body) return undefined;
  try {
    return checkBody(decl, body.block, out, quiet ?? body.reported);
  } finally {
    if (body.fields) nameFields(out, before, body.fields);
  }
}

function checkBody(
  decl: Declaration,
  block: BlockValue,
  out: Diagnostic[],
  reported: ReadonlySet<string> | undefined,
): ModelSpec | undefined {
  const where = `model '${decl.name}'`;
  const before = out.length;
  const f = readBlock(block, 'model', { where, anchor: decl.nameSpan, out, ...(reported ? { quiet: reported } : {}) });
  const arch = f.value<Arch>('arch');
  const layers = f.value<number>('layers');
  const hidden = f.value<number>('hidden');
  const heads = f.value<number>('heads');
  const vocab = f.value<number>('vocab');
  const maxSeq = f.value<number>('max_seq');
  if (
    arch === undefined ||
    layers === undefined ||
    hidden === undefined ||
    heads === undefined ||
    vocab === undefined ||
    maxSeq === undefined
  ) {
    return undefined;
  }
  const kvHeads = f.value<number>('kv_heads') ?? heads;
  let ffn = f.value<number>('ffn');
  // An all-MoE model's ffn is its experts' width unless given (Mixtral's intermediate_size is both).
  if (ffn === undefined) ffn = defaultFfn(arch, hidden) ?? (f.has('experts') ? f.value<number>('expert_ffn') : undefined);
  if (ffn === undefined) {
    if (!f.sets('ffn')) {
      out.push(
        diag(
          'PP2003',
          decl.nameSpan,
          { where, key: 'ffn' },
          { help: `llama models have no default MLP size; add e.g. \`ffn = ${Math.round((hidden * 8) / 3 / 256) * 256}\`` },
        ),
      );
      return undefined;
    } else return undefined;
  }
  let headDim = f.value<number>('head_dim');
  // MLA has its own head dimensions (checkMla).
  if (headDim === undefined && !f.has('kv_lora_rank')) {
    if (hidden % heads !== 0) {
      const hs = f.get('heads')!.span;
      out.push(
        diag(
          'PP3021',
          hs,
          { hidden, heads },
          { help: `add \`head_dim = ${Math.floor(hidden / heads)}\`, or use heads that divide ${hidden}` },
        ),
      );
      return undefined;
    }
    headDim = hidden / heads;
  }
  const kvField = f.get('kv_heads');
  if (kvField && (kvHeads > heads || heads % kvHeads !== 0)) {
    const divs = divisors(heads);
    out.push(
      diag('PP3016', kvField.span, { kvHeads, heads }, { help: `kv_heads must divide heads; e.g. ${nearest(divs, kvHeads).join(' or ')}` }),
    );
  }
  const moe = checkMoe(f, layers, ffn, where, decl, out);
  const mla = checkMla(f, where, decl, out);
  const ropeScaling = checkRopeScaling(f, where, decl, out);
  const quant = checkQuant(f, out);
  const window = f.value<number>('sliding_window');
  if (window === undefined) needs(f, ['sliding_window_pattern'], 'without sliding_window', out);
  if (hasErrors(out.slice(before))) return undefined;
  const model = buildModel(arch, {
    name: decl.name,
    layers,
    hidden,
    heads,
    kvHeads,
    headDim,
    ffn,
    vocab,
    maxSeq,
    tiedEmbeddings: f.valueOrDefault<boolean>('tied_embeddings', arch),
    dtype: f.valueOrDefault<Dtype>('dtype'),
    norm: f.valueOrDefault<Norm>('norm', arch),
    activation: f.valueOrDefault<Activation>('activation', arch),
    bias: f.valueOrDefault<boolean>('bias', arch),
    qkvBias: f.valueOrDefault<boolean>('qkv_bias'),
    normsPerLayer: f.valueOrDefault<number>('norms_per_layer'),
    qkNorm: f.valueOrDefault<boolean>('qk_norm'),
    positions: f.valueOrDefault<Positions>('positions', arch),
    normEps: f.valueOrDefault<number>('norm_eps'),
    ropeTheta: f.valueOrDefault<number>('rope_theta'),
    ...(ropeScaling ? { ropeScaling } : {}),
    attnSoftcap: f.value<number>('attn_softcap'),
    logitSoftcap: f.value<number>('logit_softcap'),
    queryPreAttnScalar: f.value<number>('query_pre_attn_scalar'),
    scaleEmbeddings: f.valueOrDefault<boolean>('scale_embeddings'),
    normOffset: f.valueOrDefault<number>('norm_offset'),
    ...(window !== undefined ? { slidingWindow: window } : {}),
    ...(f.has('sliding_window_pattern') ? { slidingWindowPattern: f.value<number>('sliding_window_pattern')! } : {}),
    sinks: f.valueOrDefault<boolean>('attention_sinks'),
    ...(moe ? { moe } : {}),
    ...(mla ? { mla } : {}),
    ...(quant ? { quant } : {}),
  });
  return { ...model, span: decl.nameSpan };
}

const REQUIRED_MODEL_KEYS = Object.entries(KEYS.model)
  .filter(([, spec]) => spec.required)
  .map(([key]) => key);

/**
 * Config keys that a value written in the block leaves without meaning (they would be PP3020):
 * `quantization = none` drops the config's quant_group; another rope_scaling drops the factors
 * of the config's type that the new one does not read.
 */
function meaningless(key: string, v: Value): readonly string[] {
  const name = v.kind === 'ident' ? v.name : undefined;
  if (key === 'quantization' && name === 'none') return ['quant_group', 'quant_lm_head'];
  if (key === 'rope_scaling' && name !== undefined) {
    const used: readonly string[] = Object.hasOwn(ROPE_KEYS_BY_TYPE, name) ? ROPE_KEYS_BY_TYPE[name as RopeScaling['type']] : [];
    return ROPE_KEYS.filter((k) => !used.includes(k));
  }
  return [];
}

/**
 * The block with its Hugging Face config merged in (`hf_config`): the config's keys, then the
 * block's own, which win (PP2024 notes each that changes a config value). Config entries carry
 * spans into config.json, so readBlock's type and range checks point there. Undefined when the
 * config could not be read (that is reported already; the model's other errors would be noise).
 */
function withConfig(
  decl: Declaration,
  configs: HfConfigs,
  out: Diagnostic[],
): { block: BlockValue; reported?: Set<string>; fields?: ReadonlyMap<string, string> } | undefined {
  const entry = decl.body.entries.find((e) => e.key === 'hf_config');
  if (!entry) return { block: decl.body };
  // hf_config of the wrong type is readBlock's PP2006: the keys the config was to give are not also missing.
  if (entry.value.kind !== 'string') return { block: decl.body, reported: new Set([...REQUIRED_MODEL_KEYS, 'ffn']) };
  const loaded = configs.get(entry.value);
  if (!loaded) {
    out.push(
      diag(
        'PP2017',
        entry.value.span,
        { path: entry.value.value, reason: 'this check was given no files to read' },
        { help: 'check the plan with `parplan check` or analyze(), which read the config' },
      ),
    );
    return undefined;
  }
  if (!loaded.ok) return undefined;
  const own = new Map(decl.body.entries.map((e) => [e.key, e] as const));
  const mapped = mapHfConfig(loaded.json, loaded.source, new Set(own.keys()));
  out.push(...mapped.diagnostics);
  if (mapped.unread) return undefined;
  const dropped = new Set([...own].flatMap(([key, e]) => meaningless(key, e.value)));
  const entries: Entry[] = [];
  for (const e of mapped.entries) {
    const mine = own.get(e.key);
    if (mine) overridden(mine, e, loaded.source.path, out);
    else if (!dropped.has(e.key)) entries.push(e);
  }
  const fields = new Map(entries.map((e) => [`${e.value.span.file}:${e.value.span.start}`, (e as ConfigEntry).field] as const));
  return { block: { ...decl.body, entries: [...entries, ...decl.body.entries] }, reported: mapped.reported, fields };
}

/** A key's diagnostic at a value from the config (PP2008 on `layers`) also names the config field it came from. */
function nameFields(out: Diagnostic[], from: number, fields: ReadonlyMap<string, string>): void {
  for (let i = from; i < out.length; i++) {
    const d = out[i]!;
    const field = d.span ? fields.get(`${d.span.file}:${d.span.start}`) : undefined;
    if (field === undefined) continue;
    const note = field === 'model_type' ? "given by the config's model_type" : `from the config field ${field}`;
    out[i] = { ...d, help: d.help ? `${note}; ${d.help}` : note };
  }
}

/** PP2024 when a key written in the block changes the config's value. */
function overridden(mine: Entry, theirs: ConfigEntry, path: string, out: Diagnostic[]): void {
  if (valueKey(mine.value) === valueKey(theirs.value)) return;
  const file = path.slice(path.lastIndexOf('/') + 1);
  out.push(
    diag(
      'PP2024',
      mine.keySpan,
      { key: mine.key, value: valueText(mine.value), field: theirs.field, configValue: valueText(theirs.value) },
      { related: [{ span: theirs.value.span, message: `the value in ${file}` }] },
    ),
  );
}

/** A value's meaning, to compare a written value with a config's (8 and 8.0 are the same). */
function valueKey(v: Value): string {
  return v.kind === 'number' ? `n${v.value}` : v.kind === 'ident' ? `i${v.name}` : v.kind === 'string' ? `s${v.value}` : `${v.kind}`;
}

function valueText(v: Value): string {
  return v.kind === 'number'
    ? v.raw + (v.unit ? ` ${v.unit.text}` : '')
    : v.kind === 'ident'
      ? v.name
      : v.kind === 'string'
        ? `"${v.value}"`
        : v.kind;
}

/** PP3020 for each of `keys` the block sets though the key that gives it meaning is absent. */
function needs(f: Fields, keys: readonly string[], why: string, out: Diagnostic[]): void {
  for (const key of keys) {
    const e = f.get(key);
    // Writing a key's default changes nothing either way (every default may be written out).
    const d = KEYS.model[key]?.default;
    if (e && d && 'value' in d && e.value === d.value) continue;
    if (e) out.push(diag('PP3020', e.entry.keySpan, { key, why }, { help: `remove \`${key}\`` }));
  }
}

function missing(key: string, because: string, where: string, decl: Declaration, example: string, out: Diagnostic[]): void {
  out.push(diag('PP2003', decl.nameSpan, { where, key }, { help: `${because}; add e.g. \`${key} = ${example}\`` }));
}

const MOE_KEYS = [
  'experts_per_token',
  'expert_ffn',
  'shared_experts',
  'shared_expert_ffn',
  'shared_expert_gate',
  'router_bias',
  'norm_topk',
  'dense_layers',
];

/** The MoE keys: experts and experts_per_token go together; the rest need experts. */
function checkMoe(f: Fields, layers: number, ffn: number, where: string, decl: Declaration, out: Diagnostic[]): ModelSizes['moe'] {
  const experts = f.value<number>('experts');
  if (experts === undefined) {
    if (!f.sets('experts')) needs(f, MOE_KEYS, 'without experts', out);
    return undefined;
  }
  const topK = f.value<number>('experts_per_token');
  if (topK === undefined) {
    if (!f.sets('experts_per_token'))
      missing('experts_per_token', 'a MoE model routes each token to some of its experts', where, decl, String(Math.min(2, experts)), out);
    return undefined;
  }
  if (topK > experts) {
    out.push(
      diag('PP2008', f.get('experts_per_token')!.span, {
        key: 'experts_per_token',
        value: String(topK),
        range: `must be at most experts = ${experts}`,
      }),
    );
    return undefined;
  }
  const denseLayers = f.valueOrDefault<number>('dense_layers');
  if (denseLayers >= layers) {
    out.push(
      diag(
        'PP2008',
        f.get('dense_layers')!.span,
        { key: 'dense_layers', value: String(denseLayers), range: `must be less than layers = ${layers}` },
        { help: 'without MoE layers, remove experts and its keys' },
      ),
    );
    return undefined;
  }
  const sharedExperts = f.valueOrDefault<number>('shared_experts');
  if (sharedExperts === 0) needs(f, ['shared_expert_ffn', 'shared_expert_gate'], 'without shared_experts', out);
  const expertFfn = f.value<number>('expert_ffn') ?? ffn;
  return {
    experts,
    topK,
    expertFfn,
    sharedExperts,
    sharedFfn: f.value<number>('shared_expert_ffn') ?? expertFfn,
    sharedGate: f.valueOrDefault<boolean>('shared_expert_gate'),
    routerBias: f.valueOrDefault<boolean>('router_bias'),
    normTopK: f.valueOrDefault<boolean>('norm_topk'),
    denseLayers,
  };
}

const MLA_KEYS = ['q_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'v_head_dim'] as const;

/** The MLA keys: kv_lora_rank turns MLA on and needs the three head dimensions; kv_heads and head_dim then conflict. */
function checkMla(f: Fields, where: string, decl: Declaration, out: Diagnostic[]): ModelSizes['mla'] {
  const kvLoraRank = f.value<number>('kv_lora_rank');
  if (kvLoraRank === undefined) {
    if (!f.sets('kv_lora_rank')) needs(f, MLA_KEYS, 'without kv_lora_rank (MLA)', out);
    return undefined;
  }
  for (const key of ['kv_heads', 'head_dim', 'sliding_window', 'attention_sinks']) {
    const e = f.get(key);
    if (e) {
      out.push(diag('PP2014', e.entry.keySpan, { key, other: 'kv_lora_rank' }, { help: `MLA attention has no ${key}; remove \`${key}\`` }));
    }
  }
  const [qNope, qRope, v] = [f.value<number>('qk_nope_head_dim'), f.value<number>('qk_rope_head_dim'), f.value<number>('v_head_dim')];
  const examples = { qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128 };
  for (const [key, value] of Object.entries({ qk_nope_head_dim: qNope, qk_rope_head_dim: qRope, v_head_dim: v }))
    if (value === undefined && !f.sets(key))
      missing(key, 'MLA (kv_lora_rank) needs its head dimensions', where, decl, String(examples[key as keyof typeof examples]), out);
  if (qNope === undefined || qRope === undefined || v === undefined) return undefined;
  const qLoraRank = f.value<number>('q_lora_rank');
  return { kvLoraRank, qkNopeHeadDim: qNope, qkRopeHeadDim: qRope, vHeadDim: v, ...(qLoraRank !== undefined ? { qLoraRank } : {}) };
}

const ROPE_KEYS = [
  'rope_factor',
  'rope_original_max_seq',
  'rope_low_freq_factor',
  'rope_high_freq_factor',
  'rope_beta_fast',
  'rope_beta_slow',
];
const ROPE_KEYS_BY_TYPE: Record<RopeScaling['type'], readonly string[]> = {
  linear: ['rope_factor'],
  dynamic: ['rope_factor', 'rope_original_max_seq'],
  llama3: ['rope_factor', 'rope_original_max_seq', 'rope_low_freq_factor', 'rope_high_freq_factor'],
  yarn: ['rope_factor', 'rope_original_max_seq', 'rope_beta_fast', 'rope_beta_slow'],
};

/** rope_scaling and the keys of its type (the others have no effect). */
function checkRopeScaling(f: Fields, where: string, decl: Declaration, out: Diagnostic[]): RopeScaling | undefined {
  const type = f.valueOrDefault<string>('rope_scaling');
  if (type === 'none') {
    if (!f.sets('rope_scaling')) needs(f, ROPE_KEYS, 'without rope_scaling', out);
    else needs(f, ROPE_KEYS, 'with rope_scaling = none', out);
    return undefined;
  }
  const t = type as RopeScaling['type'];
  const used = ROPE_KEYS_BY_TYPE[t];
  needs(
    f,
    ROPE_KEYS.filter((k) => !used.includes(k)),
    `with rope_scaling = ${t}`,
    out,
  );
  const factor = f.value<number>('rope_factor');
  if (factor === undefined && !f.sets('rope_factor'))
    missing('rope_factor', `rope_scaling = ${t} scales by a factor`, where, decl, '8', out);
  const original = f.value<number>('rope_original_max_seq');
  if ((t === 'llama3' || t === 'yarn') && original === undefined && !f.sets('rope_original_max_seq'))
    missing('rope_original_max_seq', `rope_scaling = ${t} needs the context the model was trained with`, where, decl, '8192', out);
  if (factor === undefined) return undefined;
  return {
    type: t,
    factor,
    ...(original !== undefined ? { originalMaxSeq: original } : {}),
    ...(t === 'llama3'
      ? {
          lowFreqFactor: f.valueOrDefault<number>('rope_low_freq_factor'),
          highFreqFactor: f.valueOrDefault<number>('rope_high_freq_factor'),
        }
      : {}),
    ...(t === 'yarn' ? { betaFast: f.valueOrDefault<number>('rope_beta_fast'), betaSlow: f.valueOrDefault<number>('rope_beta_slow') } : {}),
  };
}

/** The default quant_group of each method (vLLM's AWQ/GPTQ checkpoints: 128; MXFP4: 32; fp8: per tensor). */
/** nf4: bitsandbytes' quantize_4bit blocksize, 64 (bitsandbytes functional.py). */
export const DEFAULT_QUANT_GROUP: Record<QuantMethod, number> = { awq: 128, gptq: 128, mxfp4: 32, fp8: 0, nf4: 64 };

function checkQuant(f: Fields, out: Diagnostic[]): Quantization | undefined {
  const method = f.valueOrDefault<string>('quantization');
  if (method === 'none') {
    needs(f, ['quant_group', 'quant_lm_head', 'quant_double'], 'without quantization', out);
    return undefined;
  }
  const m = method as QuantMethod;
  if (m !== 'nf4') needs(f, ['quant_double'], `with quantization = ${m} (double quantization is bitsandbytes' nf4's)`, out);
  const group = f.value<number>('quant_group') ?? DEFAULT_QUANT_GROUP[m];
  if (group === 0 && m !== 'fp8') {
    out.push(
      diag(
        'PP2008',
        f.get('quant_group')!.span,
        { key: 'quant_group', value: '0', range: `${m} stores one scale per group of input channels` },
        { help: `e.g. quant_group = ${DEFAULT_QUANT_GROUP[m]}` },
      ),
    );
    return undefined;
  }
  return {
    method: m,
    groupSize: group,
    lmHead: f.valueOrDefault<boolean>('quant_lm_head'),
    ...(m === 'nf4' ? { double: f.valueOrDefault<boolean>('quant_double') } : {}),
  };
}

/** Up to two values of `xs` closest to `x` (below and above), in ascending order. */
export function nearest(xs: number[], x: number): number[] {
  const below = xs.filter((v) => v < x).pop();
  const above = xs.find((v) => v > x);
  return [below, above].filter((v): v is number => v !== undefined);
}
