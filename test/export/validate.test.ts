/**
 * Exports checked against the engines' own parsers at the stated versions
 * (src/export/options/versions.ts): the option tables extracted from the engines' source by the
 * scripts under scripts/ (committed JSON), applied to what each exported script actually
 * launches (its arguments after bash expanded them, from fake launchers: ./launch.ts), for
 * every example, fixture and the generated matrix (./matrix.ts). Plus semantic checks: global
 * batch = micro × data × accumulation as the engine computes data from the world size, and the
 * layers of the pipeline stages add up as the engine counts them.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPlan } from '../../src/export/index.js';
import { MEGATRON_CHOICES, MEGATRON_MODEL_SOURCES, MEGATRON_SOURCES } from '../../src/export/options/megatron.js';
import { ENGINE_VERSIONS } from '../../src/export/options/versions.js';
import type { CheckedPlan, TrainPlan } from '../../src/plan.js';
import { allCases, filledEnv, Launcher } from './launch.js';

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
    const stages = layout.split('|').map((s) => [...s.matchAll(/t\*?(\d*)/g)].reduce((n, m) => n + (m[1] ? Number(m[1]) : 1), 0));
    expect(stages.length, label).toBe(pp * vp);
    expect(
      stages.reduce((a, b) => a + b, 0),
      label,
    ).toBe(layers);
    expect(stages, label).toEqual(plan.stages.map((s) => s.layers));
  } else if (!values.has('--decoder-first-pipeline-num-layers') && !values.has('--decoder-last-pipeline-num-layers')) {
    expect(layers % (pp * vp), `${label}: layers divide over pipeline × virtual`).toBe(0);
    if (vp === 1) for (const s of plan.stages) expect(s.layers, label).toBe(layers / pp);
  }
}
