/**
 * `model`, `cluster`, `plan` and `planFile`: plans written in TypeScript.
 *
 *   const llama = model('llama3_8b', { arch: 'llama', layers: 32, … });
 *   const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 });
 *   const serve = plan('serve', { model: llama, cluster: node, mode: 'serve', … });
 *   const train = plan`train { model = ${llama}  cluster = ${node}  mode = train … }`;
 *
 * A builder records what it was given and where it was called; nothing is checked until
 * `analyzePlans` (or `parplan check` reads the source). Builder values become the same
 * `.plan` AST as the equivalent text, so both roads share one checker and memory model.
 */
import { callSite, type CallSite } from './callsite.js';
import { declaredNames } from './names.js';
import { recordOf, withRecord } from './record.js';
import type { Recorded } from './runtime.js';
import type { Keyword } from './tree.js';
import type {
  Cluster,
  ClusterOptions,
  Embedded,
  HfModelOptions,
  Interpolation,
  Model,
  ModelOptions,
  Plan,
  PlanFileValue,
  PlanOptions,
} from './types.js';

/** A builder value: `kind`, and `name` (or a planFile's `names`), parsed from a template on first use. */
function make(kind: Keyword | 'file', record: Recorded): object {
  let parsed: string[] | undefined;
  const declared = () => (parsed ??= declaredNames(record));
  const given = 'name' in record && typeof record.name === 'string' ? record.name : undefined;
  const value =
    kind === 'file'
      ? {
          kind,
          get names() {
            return declared();
          },
        }
      : {
          kind,
          get name() {
            return given ?? declared()[0]!;
          },
        };
  return withRecord(value, record);
}

function isTemplate(first: unknown): first is TemplateStringsArray {
  return Array.isArray(first) && 'raw' in first;
}

function builder(keyword: Keyword, fn: Function, first: unknown, rest: unknown[]): object {
  const site: CallSite | undefined = callSite(fn);
  const at = site ? { site } : {};
  if (isTemplate(first)) return make(keyword, { keyword, ...at, raw: [...first.raw], values: rest });
  return make(keyword, { keyword, ...at, name: first, options: snapshot(rest[0]) });
}

/** Options are read when the builder is called: later changes to the object do not change the plan. */
function snapshot(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snapshot);
  if (typeof v === 'object' && v !== null && !recordOf(v) && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, snapshot(x)]));
  }
  return v;
}

/**
 * The arguments of a builder: a name and options, or (as a template tag) the template.
 * One signature rather than two overloads, so that TypeScript reports a wrong option at
 * the option itself (overloads would report "no overload matches" at the call).
 */
type Args<First, Options> = First extends TemplateStringsArray ? Interpolation[] : [options: Options];

/** A model: `model('llama3_8b', { arch: 'llama', … })`, or ``model`llama3_8b { arch = llama … }` ``. */
export function model<First extends string | TemplateStringsArray>(
  first: First,
  ...rest: Args<First, ModelOptions | HfModelOptions>
): Model {
  return builder('model', model, first, rest) as unknown as Model;
}

/** A cluster: `cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 })`, or ``cluster`node { … }` ``. */
export function cluster<First extends string | TemplateStringsArray>(first: First, ...rest: Args<First, ClusterOptions>): Cluster {
  return builder('cluster', cluster, first, rest) as unknown as Cluster;
}

/** A plan: `plan('serve', { model: llama, cluster: node, mode: 'serve', … })`, or ``plan`serve { model = ${llama} … }` ``. */
export function plan<First extends string | TemplateStringsArray>(first: First, ...rest: Args<First, PlanOptions>): Plan {
  return builder('plan', plan, first, rest) as unknown as Plan;
}

/** A whole `.plan` file's worth of declarations (and imports, relative to the calling file). */
export function planFile(strings: TemplateStringsArray, ...values: Interpolation[]): PlanFileValue {
  const site = callSite(planFile);
  return make('file', { keyword: 'file', ...(site ? { site } : {}), raw: [...strings.raw], values }) as unknown as PlanFileValue;
}

/** Whether a value was made by a builder or a template. */
export function isEmbedded(v: unknown): v is Embedded {
  return recordOf(v) !== undefined;
}
