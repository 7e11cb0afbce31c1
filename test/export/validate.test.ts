/**
 * Exports checked against the engines' own parsers at the stated versions
 * (src/export/options/versions.ts): the option tables extracted from the engines' source by the
 * scripts under scripts/ (committed JSON), applied to what each exported script actually
 * launches (its arguments after bash expanded them, from fake launchers: ./launch.ts), for
 * every example, fixture and the generated matrix (./matrix.ts). Plus semantic checks: global
 * batch = micro × data × accumulation as the engine computes data from the world size, and the
 * layers of the pipeline stages add up as the engine counts them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPlan } from '../../src/export/index.js';
import { DEEPSPEED_GRAD_ACCUM_DTYPES, DEEPSPEED_SOURCES } from '../../src/export/options/deepspeed.js';
import { MEGATRON_CHOICES, MEGATRON_MODEL_SOURCES, MEGATRON_SOURCES } from '../../src/export/options/megatron.js';
import {
  TORCHTITAN_CHOICES,
  TORCHTITAN_EXPERT_CONFIG,
  TORCHTITAN_MODELS,
  TORCHTITAN_SOURCES,
} from '../../src/export/options/torchtitan.js';
import { ENGINE_VERSIONS } from '../../src/export/options/versions.js';
import {
  VLLM_CACHE_DTYPES,
  VLLM_ENGINE_ARGS,
  VLLM_FRONTEND_ARGS,
  VLLM_MODEL_DTYPES,
  VLLM_SERVE_CLI,
} from '../../src/export/options/vllm.js';
import type { TrainPlan } from '../../src/plan.js';
import { allCases, filledEnv, Launcher, nodesOf } from './launch.js';

interface OptionSpec {
  type?: string;
  action?: string;
  choices?: (string | number)[] | 'dynamic';
  nargs?: string | number | null;
}
interface OptionTable {
  tag: string;
  commit: string;
  options: Record<string, OptionSpec>;
}

const readTable = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as OptionTable;

let launcher: Launcher;
beforeAll(() => {
  launcher = new Launcher();
});
afterAll(() => launcher.dispose());

const FLAG_ACTIONS = new Set(['store_true', 'store_false', 'store_const', 'count']);

/**
 * argparse's reading of an argument list against a table: every option known (no
 * abbreviations: Megatron's parser sets allow_abbrev=False), flags take no value, others their
 * nargs; int and float values parse; a value is among literal choices. Returns the problems and
 * the values by option.
 */
export function parseArgs(argv: readonly string[], table: OptionTable): { problems: string[]; values: Map<string, string[]> } {
  const problems: string[] = [];
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (!name.startsWith('--')) {
      problems.push(`'${name}' is not an option (a stray value)`);
      continue;
    }
    const spec = table.options[name];
    if (spec === undefined) {
      problems.push(`${name} is not an option of ${table.tag}`);
      continue;
    }
    const taken: string[] = [];
    const isValue = (s: string | undefined) => s !== undefined && !(s.startsWith('--') && s.length > 2);
    if (spec.action !== undefined && FLAG_ACTIONS.has(spec.action)) {
      // A flag: the next word must be another option.
    } else if (spec.nargs === '+' || spec.nargs === '*') {
      while (isValue(argv[i + 1])) taken.push(argv[++i]!);
      if (spec.nargs === '+' && taken.length === 0) problems.push(`${name} needs at least one value`);
    } else if (spec.nargs === '?') {
      if (isValue(argv[i + 1])) taken.push(argv[++i]!);
    } else {
      const n = typeof spec.nargs === 'number' ? spec.nargs : 1;
      for (let k = 0; k < n; k++) {
        if (!isValue(argv[i + 1])) {
          problems.push(`${name} needs ${n} value(s)`);
          break;
        }
        taken.push(argv[++i]!);
      }
    }
    for (const v of taken) {
      if (spec.type === 'int' && !/^[+-]?\d+$/.test(v)) problems.push(`${name} ${v}: not an int`);
      if (spec.type === 'float' && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) problems.push(`${name} ${v}: not a float`);
      if (Array.isArray(spec.choices) && !spec.choices.map(String).includes(v))
        problems.push(`${name} ${v}: not one of ${spec.choices.join(', ')}`);
    }
    if (values.has(name)) problems.push(`${name} given twice`);
    values.set(name, taken);
  }
  return { problems, values };
}

/** The torchrun calls of a script, node 0, with every placeholder filled in. */
function torchrunCalls(text: string, files: Parameters<Launcher['write']>[0], name: string): string[][] {
  const dir = launcher.write(files);
  const env = filledEnv(text);
  const r = launcher.run(`${dir}/${name}`, text.includes('NODE_RANK') ? { ...env, NODE_RANK: '0' } : env);
  if (r.status !== 0) throw new Error(`${name} did not run: ${r.stderr}`);
  return r.calls.filter((c) => c[0] === 'torchrun');
}

/** The value of a torchrun option in a call. */
const opt = (call: readonly string[], flag: string) => call[call.indexOf(flag) + 1]!;

describe('Megatron-LM: every launch parses with its core_v0.19.0 argument table', () => {
  const v = ENGINE_VERSIONS.megatron;
  const table = readTable(v.table!);

  it('the table is the stated version and holds the whole parser', () => {
    expect(table.tag).toBe(v.version);
    expect(table.commit).toBe(v.commit);
    expect(Object.keys(table.options).length).toBeGreaterThan(500);
    expect(table.options['--train-iters']).toMatchObject({ type: 'int' });
    expect(table.options['--bf16']).toMatchObject({ action: 'store_true' });
  });

  it('every option name the exporter may write is in the table, every listed choice among its choices', () => {
    const missing = [...MEGATRON_SOURCES, ...MEGATRON_MODEL_SOURCES]
      .flatMap((s) => [...s.names])
      .filter((n) => n.startsWith('--') && table.options[n] === undefined);
    expect(missing).toEqual([]);
    for (const [flag, choices] of Object.entries(MEGATRON_CHOICES)) {
      const allowed = table.options[flag]?.choices;
      if (!Array.isArray(allowed)) continue;
      for (const c of choices) expect(allowed.map(String), `${flag} ${c}`).toContain(c);
    }
  });

  it('the check can fail: an unknown option, a value for a flag, a bad int and a bad choice are found', () => {
    const { problems } = parseArgs(
      ['--num-layer', '4', '--bf16', 'yes', '--micro-batch-size', 'two', '--normalization', 'rmsnorm', '--swiglu'],
      table,
    );
    expect(problems).toEqual([
      '--num-layer is not an option of core_v0.19.0',
      "'4' is not an option (a stray value)",
      "'yes' is not an option (a stray value)",
      '--micro-batch-size two: not an int',
      '--normalization rmsnorm: not one of LayerNorm, RMSNorm',
    ]);
  });

  const cases = allCases().filter((c) => c.plan.mode === 'train');
  it(`every training plan's launch (${cases.length} plans) parses, starts, and sizes the batch and stages as the plan`, () => {
    let checked = 0;
    for (const { label, plan } of cases) {
      const out = exportPlan('megatron', plan, { model: 'org/tokenizer' });
      const file = out.files.find((f) => f.name.endsWith('.megatron.sh'));
      if (file === undefined) continue;
      const [call] = torchrunCalls(file.text, out.files, file.name);
      expect(call, label).toBeDefined();
      const entry = call!.indexOf('pretrain_gpt.py');
      const { problems, values } = parseArgs(call!.slice(entry + 1), table);
      expect(problems, label).toEqual([]);
      checkMegatron(label, plan as TrainPlan, call!, values);
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
  });
});

const int = (values: Map<string, string[]>, flag: string, fallback?: number): number => {
  const v = values.get(flag)?.[0];
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`${flag} missing`);
    return fallback;
  }
  return Number(v);
};

/**
 * What Megatron computes at start-up from these arguments and the world size
 * (megatron/training/arguments.py validate_args, at core_v0.19.0): the data-parallel size is
 * world / (tensor × pipeline × context); global batch = micro × data × microbatches; layers
 * per stage from --pipeline-model-parallel-layout (t per stage) or num_layers / (pipeline ×
 * virtual), which must divide.
 */
function checkMegatron(label: string, plan: TrainPlan, call: readonly string[], values: Map<string, string[]>): void {
  // What start-up requires (update_train_iters, the optimizer's lr, the model's size).
  for (const flag of ['--num-layers', '--hidden-size', '--num-attention-heads', '--seq-length', '--max-position-embeddings', '--lr'])
    expect(values.has(flag), `${label}: ${flag}`).toBe(true);
  expect(values.has('--train-iters') || values.has('--train-samples'), `${label}: run length`).toBe(true);
  const world = Number(opt(call, '--nnodes')) * Number(opt(call, '--nproc-per-node'));
  const tp = int(values, '--tensor-model-parallel-size', 1);
  const pp = int(values, '--pipeline-model-parallel-size', 1);
  const cp = int(values, '--context-parallel-size', 1);
  expect(world % (tp * pp * cp), label).toBe(0);
  const dp = world / (tp * pp * cp);
  expect(dp, `${label}: data-parallel size`).toBe(plan.mesh.data);
  const micro = int(values, '--micro-batch-size');
  const global = int(values, '--global-batch-size');
  expect(global % (micro * dp), `${label}: global batch divisible by micro × data`).toBe(0);
  expect(global / (micro * dp), `${label}: microbatches`).toBe(plan.microbatches);
  // Stage sizes.
  const layers = int(values, '--num-layers');
  expect(layers, label).toBe(plan.model.layers);
  const vp = int(values, '--num-virtual-stages-per-pipeline-rank', 1);
  const layout = values.get('--pipeline-model-parallel-layout')?.[0];
  if (layout !== undefined) {
    // PipelineParallelLayerLayout.parse_str_to_list (megatron/core/transformer/pipeline_parallel_layer_layout.py
    // at core_v0.19.0): drop commas, unroll (…)*n then x*n, split at |; the stage count fixes the virtual stages.
    const unrolled = layout
      .replaceAll(',', '')
      .replace(/\(([^)]+)\)\*(\d+)/g, (_, x: string, n: string) => x.repeat(Number(n)))
      .replace(/(.)\*(\d+)/g, (_, x: string, n: string) => x.repeat(Number(n)));
    const stages = unrolled.split('|').map((st) => [...st].filter((c) => c === 't').length);
    expect(stages.length % pp, `${label}: layout stages per rank`).toBe(0);
    if (values.has('--num-virtual-stages-per-pipeline-rank')) expect(stages.length, label).toBe(pp * vp);
    expect(
      stages.reduce((a, b) => a + b, 0),
      label,
    ).toBe(layers);
    const chunks = plan.stages.some((st) => st.chunks)
      ? plan.stages.flatMap((st) => st.chunks ?? []).sort((a, b) => a.index - b.index)
      : plan.stages;
    expect(stages, label).toEqual(chunks.map((c) => c.layers));
  } else if (!values.has('--decoder-first-pipeline-num-layers') && !values.has('--decoder-last-pipeline-num-layers')) {
    expect(layers % (pp * vp), `${label}: layers divide over pipeline × virtual`).toBe(0);
    if (vp === 1) for (const s of plan.stages) expect(s.layers, label).toBe(layers / pp);
  }
}

interface TorchtitanTable extends OptionTable {
  options: Record<string, { type: string; choices?: string[] }>;
  models: string[];
  flavors: Record<string, string[]>;
}

/** TOML files read by Python's tomllib (an independent parser; the one torchtitan uses): path → JSON, or the parse error. */
function readToml(paths: readonly string[]): Map<string, Record<string, Record<string, unknown>> | string> {
  const py = `
import json, sys, tomllib
out = {}
for p in sys.argv[1:]:
    try:
        with open(p, 'rb') as f:
            out[p] = tomllib.load(f)
    except Exception as e:
        out[p] = 'error: ' + str(e)
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', py, ...paths], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`python3 tomllib failed: ${r.stderr}`);
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, Record<string, Record<string, unknown>> | string>));
}

/** Whether a TOML value has a field's annotated type (the scalar and list types the export writes). */
function hasType(value: unknown, type: string): boolean {
  const t = type.replace(/ \| None$/, '');
  if (t === 'int') return Number.isInteger(value);
  if (t === 'float') return typeof value === 'number';
  if (t === 'bool') return typeof value === 'boolean';
  if (t === 'str' || t.startsWith('Literal[')) return typeof value === 'string';
  if (t === 'list[str]') return Array.isArray(value) && value.every((v) => typeof v === 'string');
  if (t === 'list[list[str]]') return Array.isArray(value) && value.every((v) => hasType(v, 'list[str]'));
  return false;
}

describe('torchtitan: every job file and command line is accepted by its v0.2.2 JobConfig', () => {
  const v = ENGINE_VERSIONS.torchtitan;
  const table = readTable(v.table!) as TorchtitanTable;

  it('the table is the stated version', () => {
    expect(table.tag).toBe(v.version);
    expect(table.commit).toBe(v.commit);
    expect(table.options['parallelism.module_fqns_per_model_part']).toBeDefined();
    // 0.2.0 removed the split points the issue names.
    expect(table.options['parallelism.pipeline_parallel_split_points']).toBeUndefined();
  });

  it('every key and model name the exporter may write is in the table, every listed choice among its choices', () => {
    const names = [...TORCHTITAN_SOURCES, TORCHTITAN_EXPERT_CONFIG].flatMap((s) => [...s.names]).filter((n) => !n.startsWith('--'));
    expect(names.filter((n) => table.options[n] === undefined)).toEqual([]);
    expect(TORCHTITAN_MODELS.names.filter((m) => !table.models.includes(m))).toEqual([]);
    for (const [key, choices] of Object.entries(TORCHTITAN_CHOICES)) {
      const allowed = table.options[key]?.choices;
      if (allowed === undefined) continue;
      for (const c of choices) expect(allowed, `${key} ${c}`).toContain(c);
    }
  });

  const cases = allCases().filter((c) => c.plan.mode === 'train');
  it(`every training plan's job (${cases.length} plans) parses as TOML, holds only JobConfig fields of their types, and splits and batches as the plan`, () => {
    const jobs: { label: string; plan: TrainPlan; toml: string; call: string[] }[] = [];
    for (const { label, plan } of cases) {
      const out = exportPlan('torchtitan', plan, { model: 'custom' });
      const sh = out.files.find((f) => f.name.endsWith('.torchtitan.sh'));
      if (sh === undefined) continue;
      const dir = launcher.write(out.files);
      const env = filledEnv(sh.text);
      const r = launcher.run(`${dir}/${sh.name}`, sh.text.includes('NODE_RANK') ? { ...env, NODE_RANK: '0' } : env);
      expect(r.status, `${label}: ${r.stderr}`).toBe(0);
      const call = r.calls.find((c) => c[0] === 'torchrun')!;
      const toml = call[call.indexOf('--job.config_file') + 1]!;
      jobs.push({ label, plan: plan as TrainPlan, toml, call });
    }
    expect(jobs.length).toBeGreaterThan(30);
    const parsed = readToml(jobs.map((j) => j.toml));
    for (const { label, plan, toml, call } of jobs) {
      const job = parsed.get(toml)!;
      expect(typeof job, `${label}: ${String(job)}`).toBe('object');
      const fields = new Map<string, unknown>();
      // Tables nest (quantize.linear.float8); a key is the path to a non-table value.
      const walk = (prefix: string, body: Record<string, unknown>): void => {
        for (const [field, value] of Object.entries(body)) {
          const key = prefix === '' ? field : `${prefix}.${field}`;
          if (value !== null && typeof value === 'object' && !Array.isArray(value)) walk(key, value as Record<string, unknown>);
          else fields.set(key, value);
        }
      };
      walk('', job as Record<string, unknown>);
      // Command-line fields (--section.field VALUE) after the entry point.
      const args = call.slice(call.indexOf('torchtitan.train') + 1);
      for (let i = 0; i < args.length; i += 2) {
        const key = args[i]!.replace(/^--/, '');
        expect(table.options[key], `${label}: --${key}`).toBeDefined();
        if (key !== 'job.config_file') fields.set(key, args[i + 1]);
      }
      for (const [key, value] of fields) {
        const spec = table.options[key];
        expect(spec, `${label}: ${key} is not a JobConfig field at ${table.tag}`).toBeDefined();
        expect(hasType(value, spec!.type), `${label}: ${key} = ${JSON.stringify(value)} is not ${spec!.type}`).toBe(true);
        if (spec!.choices) expect(spec!.choices, `${label}: ${key}`).toContain(value);
      }
      expect(table.models, label).toContain(fields.get('model.name'));
      checkTorchtitan(label, plan, call, fields);
    }
  });
});

/**
 * What torchtitan computes from the job (v0.2.2): data-parallel degree = replicate × shard;
 * tensor × pipeline × context × data = world; gradient accumulation = global / (local × data), and with a
 * pipeline local / microbatch size microbatches; the model parts hold every module once, in
 * order, the embedding first and the output last, a whole number per rank (pipeline_module_split
 * asserts it), each with the plan's layers.
 */
function checkTorchtitan(label: string, plan: TrainPlan, call: readonly string[], f: Map<string, unknown>): void {
  const n = (key: string, fallback: number) => (f.has(key) ? Number(f.get(key)) : fallback);
  const world = Number(opt(call, '--nnodes')) * Number(opt(call, '--nproc-per-node'));
  const dp = n('parallelism.data_parallel_replicate_degree', 1) * n('parallelism.data_parallel_shard_degree', -1);
  const tp = n('parallelism.tensor_parallel_degree', 1);
  const pp = n('parallelism.pipeline_parallel_degree', 1);
  const cp = n('parallelism.context_parallel_degree', 1);
  expect(dp * cp * tp * pp, `${label}: world`).toBe(world);
  expect(dp, label).toBe(plan.mesh.data);
  const local = n('training.local_batch_size', 8);
  const global = n('training.global_batch_size', -1);
  expect(global % (local * dp), `${label}: global divisible by local × data`).toBe(0);
  const mbs = n('parallelism.pipeline_parallel_microbatch_size', 1);
  if (pp > 1) {
    expect(global / (local * dp), `${label}: no accumulation beside the pipeline`).toBe(1);
    expect(local % mbs, label).toBe(0);
    expect(local / mbs, `${label}: pipeline microbatches`).toBe(plan.microbatches);
    const parts = f.get('parallelism.module_fqns_per_model_part') as string[][];
    expect(parts.length % pp, `${label}: parts per rank`).toBe(0);
    const L = plan.model.layers;
    expect(parts.flat(), label).toEqual(['tok_embeddings', ...Array.from({ length: L }, (_, i) => `layers.${i}`), 'norm', 'output']);
    const sizes = parts.map((p) => p.filter((m) => m.startsWith('layers.')).length);
    const want =
      plan.virtual > 1 ? Array.from({ length: pp * plan.virtual }, () => L / (pp * plan.virtual)) : plan.stages.map((s) => s.layers);
    expect(sizes, label).toEqual(want);
    const looped = ['Interleaved1F1B', 'PipelineScheduleMulti'].includes(String(f.get('parallelism.pipeline_parallel_schedule')));
    expect(parts.length / pp > 1, `${label}: a looped schedule has several parts per rank`).toBe(looped);
  } else {
    expect(local, label).toBe(plan.batch.micro);
    expect(global / (local * dp), `${label}: accumulation`).toBe(plan.microbatches);
  }
}

interface DeepSpeedTable {
  tag: string;
  commit: string;
  keys: string[];
  sections: Record<string, Record<string, { type: string; choices?: (string | number)[] }>>;
  optimizers: string[];
  launcher: Record<string, { action?: string; type?: string }>;
  script: Record<string, { action?: string; type?: string }>;
}

/** `--flag value` / `--flag` words against a table of flags; returns the problems and values. */
function parseFlags(
  words: readonly string[],
  flags: DeepSpeedTable['launcher'],
  what: string,
): { problems: string[]; values: Map<string, string> } {
  const problems: string[] = [];
  const values = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const spec = flags[words[i]!];
    if (spec === undefined) {
      problems.push(`${words[i]} is not a ${what} flag`);
      continue;
    }
    if (spec.action === 'store_true' || spec.action === 'store_false') values.set(words[i]!, '');
    else {
      const v = words[++i];
      if (v === undefined || v.startsWith('--')) problems.push(`${words[i - 1]} needs a value`);
      else if (spec.type === 'int' && !/^\d+$/.test(v)) problems.push(`${words[i - 1]} ${v}: not an int`);
      values.set(words[i - 1]!, v ?? '');
    }
  }
  return { problems, values };
}

describe('DeepSpeed: every config and launch is accepted by v0.19.5', () => {
  const v = ENGINE_VERSIONS.deepspeed;
  const table = JSON.parse(readFileSync(v.table!, 'utf8')) as DeepSpeedTable;

  it('the table is the stated version', () => {
    expect(table.tag).toBe(v.version);
    expect(table.commit).toBe(v.commit);
    expect(table.sections.zero_optimization!.stage!.choices).toEqual([0, 1, 2, 3, 3]);
  });

  it('every key and flag the exporter may write is in the table', () => {
    for (const s of DEEPSPEED_SOURCES)
      for (const name of s.names) {
        if (name.startsWith('--')) expect({ ...table.launcher, ...table.script }[name], name).toBeDefined();
        else {
          const [section, field] = name.split('.') as [string, string | undefined];
          if (table.sections[section] !== undefined) expect(table.sections[section]![field!], name).toBeDefined();
          else expect(table.keys, name).toContain(field ?? section);
        }
      }
  });

  const cases = allCases().filter((c) => c.plan.mode === 'train');
  it(`every training plan's config (${cases.length} plans) holds only keys DeepSpeed reads, of their values, with the plan's batch`, () => {
    let checked = 0;
    for (const { label, plan } of cases) {
      const out = exportPlan('deepspeed', plan);
      const sh = out.files.find((f) => f.name.endsWith('.deepspeed.sh'));
      if (sh === undefined) continue;
      const dir = launcher.write(out.files);
      const r = launcher.run(`${dir}/${sh.name}`, filledEnv(sh.text));
      expect(r.status, `${label}: ${r.stderr}`).toBe(0);
      expect(r.calls.length, label).toBe(1);
      const call = r.calls[0]!.slice(1);
      const script = call.findIndex(
        (w) =>
          !w.startsWith('-') && !['--hostfile', '--num_nodes', '--num_gpus', '--master_addr'].includes(call[call.indexOf(w) - 1] ?? ''),
      );
      const launch = parseFlags(call.slice(0, script), table.launcher, 'deepspeed launcher');
      const own = parseFlags(call.slice(script + 1), table.script, 'add_config_arguments');
      expect([...launch.problems, ...own.problems], label).toEqual([]);
      const config = JSON.parse(readFileSync(own.values.get('--deepspeed_config')!, 'utf8')) as Record<string, unknown>;
      for (const [key, value] of Object.entries(config)) {
        const section = table.sections[key];
        if (section === undefined) {
          expect(table.keys, `${label}: ${key}`).toContain(key);
          continue;
        }
        for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
          const spec = section[field];
          expect(spec, `${label}: ${key}.${field} is not a field of its model`).toBeDefined();
          if (spec!.type === 'bool') expect(typeof v, `${label}: ${key}.${field}`).toBe('boolean');
          if (spec!.type === 'int') expect(Number.isInteger(v), `${label}: ${key}.${field}`).toBe(true);
          if (spec!.choices) expect(spec!.choices, `${label}: ${key}.${field}`).toContain(v);
        }
      }
      const data = config.data_types as { grad_accum_dtype: string };
      expect(DEEPSPEED_GRAD_ACCUM_DTYPES, label).toContain(data.grad_accum_dtype);
      const type = (config.optimizer as { type: string }).type;
      // Other names are looked up in torch.optim (DeepSpeedEngine._configure_basic_optimizer): SGD is torch.optim.SGD.
      expect(table.optimizers.includes(type.toLowerCase()) || type === 'SGD', `${label}: optimizer ${type}`).toBe(true);
      // The batch triple as DeepSpeedConfig checks it, over the data-parallel world (the mpu's with tensor > 1).
      const world = Number(launch.values.get('--num_nodes') ?? 1) * Number(launch.values.get('--num_gpus'));
      const tp = Number((config.tensor_parallel as { autotp_size?: number } | undefined)?.autotp_size ?? 1);
      const dp = world / (tp * plan.mesh.pipeline);
      expect(dp, label).toBe(plan.mesh.data);
      expect(config.train_batch_size, `${label}: train_batch_size = micro × accumulation × data`).toBe(
        Number(config.train_micro_batch_size_per_gpu) * Number(config.gradient_accumulation_steps) * dp,
      );
      expect(config.gradient_accumulation_steps, label).toBe((plan as TrainPlan).microbatches);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });
});

/** vLLM flags that take no value (store_true / BooleanOptionalAction). */
const VLLM_BOOLEAN = new Set(['--enable-chunked-prefill', '--enable-expert-parallel', '--headless']);
const VLLM_INT = new Set([
  '--port',
  '--tensor-parallel-size',
  '--pipeline-parallel-size',
  '--data-parallel-size',
  '--data-parallel-size-local',
  '--data-parallel-start-rank',
  '--data-parallel-rpc-port',
  '--max-model-len',
  '--max-num-seqs',
  '--max-num-batched-tokens',
  '--block-size',
]);

describe(`vLLM: every launch uses the flags and values of ${ENGINE_VERSIONS.vllm.version}, and places the plan's ranks`, () => {
  const allowed = new Set([...VLLM_ENGINE_ARGS.names, ...VLLM_FRONTEND_ARGS.names, ...VLLM_SERVE_CLI.names] as string[]);
  const choices: Record<string, readonly string[]> = { '--dtype': VLLM_MODEL_DTYPES.names, '--kv-cache-dtype': VLLM_CACHE_DTYPES.names };
  const cases = allCases().filter((c) => c.plan.mode === 'serve');

  it(`every serve plan (${cases.length} plans), on every node`, () => {
    let checked = 0;
    for (const { label, plan } of cases) {
      const out = exportPlan('vllm', plan, { model: 'org/model' });
      const sh = out.files[0];
      if (sh === undefined) continue;
      const dir = launcher.write(out.files);
      const env = filledEnv(sh.text);
      const nodes = nodesOf(sh.text);
      const { tensor, pipeline, data } = plan.mesh;
      let replicas = 0;
      let engineRanks = 0;
      for (let rank = 0; rank < nodes; rank++) {
        const r = launcher.run(`${dir}/${sh.name}`, nodes > 1 ? { ...env, NODE_RANK: String(rank) } : env);
        expect(r.status, `${label} node ${rank}: ${r.stderr}`).toBe(0);
        const gpus = new Set<number>();
        const ports = new Set<string>();
        r.calls.forEach((call, k) => {
          expect(call.slice(0, 3), label).toEqual(['vllm', 'serve', 'org/model']);
          const values = new Map<string, string>();
          const argv = call.slice(3);
          for (let i = 0; i < argv.length; i++) {
            const flag = argv[i]!;
            expect(allowed.has(flag), `${label}: ${flag}`).toBe(true);
            if (VLLM_BOOLEAN.has(flag)) {
              values.set(flag, '');
              continue;
            }
            const v = argv[++i]!;
            expect(v !== undefined && !v.startsWith('--'), `${label}: ${flag} needs a value`).toBe(true);
            if (VLLM_INT.has(flag)) expect(v, `${label}: ${flag}`).toMatch(/^\d+$/);
            if (choices[flag]) expect(choices[flag], `${label}: ${flag}`).toContain(v);
            values.set(flag, v);
          }
          expect(Number(values.get('--tensor-parallel-size')), label).toBe(tensor);
          expect(Number(values.get('--pipeline-parallel-size')), label).toBe(pipeline);
          expect(Number(values.get('--max-num-batched-tokens')), label).toBeGreaterThanOrEqual(Number(values.get('--max-num-seqs')));
          const partition = r.envs[k]!.VLLM_PP_LAYER_PARTITION;
          if (partition) {
            const sizes = partition.split(',').map(Number);
            expect(sizes.length, label).toBe(pipeline);
            expect(
              sizes.reduce((a, b) => a + b, 0),
              label,
            ).toBe(plan.model.layers);
          }
          const visible = r.envs[k]!.CUDA_VISIBLE_DEVICES;
          const dpLocal = values.has('--data-parallel-size')
            ? Number(values.get('--data-parallel-size-local') ?? values.get('--data-parallel-size'))
            : 1;
          if (visible) {
            const ids = visible.split(',').map(Number);
            expect(ids.length, `${label}: GPUs of one launch`).toBe(tensor * pipeline * dpLocal);
            for (const g of ids) {
              expect(gpus.has(g), `${label}: GPU ${g} of node ${rank} given twice`).toBe(false);
              expect(g, label).toBeLessThan(plan.cluster.gpusPerNode);
              gpus.add(g);
            }
          }
          if (values.has('--port')) {
            expect(ports.has(values.get('--port')!), `${label}: port`).toBe(false);
            ports.add(values.get('--port')!);
          }
          if (values.has('--data-parallel-size')) {
            expect(Number(values.get('--data-parallel-size')), label).toBe(data);
            if (values.has('--data-parallel-start-rank')) expect(Number(values.get('--data-parallel-start-rank')), label).toBe(engineRanks);
            engineRanks += dpLocal;
          } else replicas++;
        });
      }
      // Every data-parallel rank is launched exactly once over the nodes.
      expect(replicas + engineRanks, `${label}: data-parallel ranks launched`).toBe(data);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });
});
